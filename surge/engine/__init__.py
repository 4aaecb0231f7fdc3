"""The aiohttp load generator."""

from surge.engine.worker import WorkerSpec, run_worker

__all__ = ["WorkerSpec", "run_worker"]
