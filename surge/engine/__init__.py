"""The aiohttp load generator: worker (the load loops), flow (compiled steps), http_step and
fastclient (requests), aws (AWS calls as steps), health (generator saturation).

Nothing is imported here, so the plan models can use the step specs without loading the engine.
"""
