"""AWS service calls as flow steps: plan model, allow-list, async client pool, compiled calls.

The public surface is :mod:`surge.engine.aws_steps`; these modules are its parts.
"""
