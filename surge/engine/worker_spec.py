"""What one load-generator worker runs: its plan, its shard of the fleet and window of the plan,
and what it is given before the load (secrets, what the setup flow captured)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from surge.plan import Plan


@dataclass(frozen=True)
class WorkerSpec:
    plan: Plan
    shard: int = 0
    shards: int = 1
    t0_epoch: float = 0.0  # wall-clock instant of plan time 0 (all workers share it)
    window: tuple[float, float] | None = None  # plan seconds; None: the whole plan
    worker_id: str = "w0"
    base_dir: Path = field(default_factory=Path.cwd)
    # The plan's `$secret`/`$ssm` references, read before the run (surge.secrets): in memory only.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # What the plan's setup flow captured (surge.setup_flow): every iteration reads it.
    setup_vars: Mapping[str, object] = field(default_factory=dict, repr=False)
    debug: int = 0  # print this worker's first N exchanges to stderr, secrets masked (surge run --debug)
