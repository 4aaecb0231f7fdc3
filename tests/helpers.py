"""Builders shared by tests: plans and an in-process worker run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from surge.engine.worker import WorkerSpec, run_worker
from surge.plan import Plan, parse_plan
from surge.stats import WorkerResult


def make_plan(target: str, **overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "test-plan",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 20}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "seed": 1,
    }
    data.update(overrides)
    return parse_plan(data, base_dir=Path.cwd())


def run_in_process(plan: Plan, *, shard: int = 0, shards: int = 1, lead_s: float = 0.2) -> WorkerResult:
    spec = WorkerSpec(plan, shard, shards, time.time() + lead_s, None, f"test-{shard}")
    return asyncio.run(run_worker(spec))
