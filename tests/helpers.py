"""Builders shared by tests: plans and an in-process worker run."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from surge.engine.worker import run_worker
from surge.engine.worker_spec import WorkerSpec
from surge.plan import Plan
from surge.plan_load import parse_plan
from surge.stats import WorkerResult


def make_plan(target: str, base_dir: Path | None = None, **overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "test-plan",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 20}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "seed": 1,
    }
    data.update(overrides)
    return parse_plan(data, base_dir=base_dir or Path.cwd())


def run_in_process(
    plan: Plan, *, shard: int = 0, shards: int = 1, lead_s: float = 2.0, base_dir: Path | None = None
) -> WorkerResult:
    """One worker in this process. ``lead_s``: its time to get ready (sessions, warm connections)
    before its window; one that starts late drops the arrivals due by then (as it should), which on
    a busy machine (two CPU hogs on two cores) turned 20 arrivals into 4 with a 0.6 s lead."""
    spec = WorkerSpec(
        plan, shard, shards, time.time() + lead_s, None, f"test-{shard}", base_dir or Path.cwd()
    )
    return asyncio.run(run_worker(spec))


def inbox_event_types(target_url: str) -> Counter[str]:
    """How many events of each "type" the demo target received (POST /v1/events), read from its
    inbox page by page: the values a run's requests carried, e.g. from a CSV data file's rows. The
    reads count as requests in the target's stats: take those first."""
    types: Counter[str] = Counter()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    cursor: str | None = "0"
    while cursor is not None:
        with opener.open(f"{target_url}/v1/inbox?limit=100&cursor={cursor}", timeout=10) as resp:
            page = json.load(resp)
        types.update(event["type"] for event in page["events"])
        cursor = page["next_cursor"]
    return types
