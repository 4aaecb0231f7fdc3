"""How a cloud run is cut (segments in time, shards in rate) and what it needs of the account.

Pure except :func:`check_concurrency`, which reads the account's Lambda settings through an
injected client. The CLI checks before it starts an execution; Prepare checks again (a schedule or
a console user starts executions too).
"""

from __future__ import annotations

import itertools
from typing import Any

from surge.cloud.execution_input import PER_WORKER_USERS, RunOptions
from surge.engine.worker import plan_shapes
from surge.errors import UserError
from surge.plan import Plan
from surge.schedule import Segment, segments

# Two segments overlap (the next one's workers start during the current one's last lead seconds),
# and the workflow's own functions (Prepare, Aggregate, Collect, Report) run beside them.
CONTROL_FUNCTIONS = 4


def plan_segments(plan: Plan, options: RunOptions) -> list[Segment]:
    capacity = options.per_worker_rate if plan.load.model == "open" else float(PER_WORKER_USERS)
    return segments(
        plan_shapes(plan),
        max_segment_s=options.segment_seconds,
        per_shard_capacity=capacity,
        max_shards=plan.limits.max_workers,
    )


def required_concurrency(cuts: list[Segment]) -> int:
    """Concurrent Lambda executions at the run's peak: two adjacent segments' workers at once."""
    peak = max((a.shards + b.shards for a, b in itertools.pairwise(cuts)), default=0)
    peak = max(peak, max((s.shards for s in cuts), default=0))
    return peak + CONTROL_FUNCTIONS


class ConcurrencyError(UserError):
    """The account cannot run the plan's workers at once."""


def check_concurrency(lambda_client: Any, needed: int, *, reserved: int | None = None) -> str | None:
    """Refuse a run the account's Lambda concurrency cannot hold (throttled workers would start late
    or never); returns a note when the settings cannot be read (the run goes on, unchecked).
    ``reserved``: the worker function's reserved concurrency, when the stack sets one."""
    try:
        settings = lambda_client.get_account_settings()
    except Exception as exc:  # permissions, an emulator without the API: say so, do not block
        return f"the account's Lambda concurrency was not checked ({type(exc).__name__}: {exc})"
    limit = settings.get("AccountLimit", {})
    available = reserved if reserved is not None else int(limit.get("UnreservedConcurrentExecutions", 0))
    if needed > available:
        where = "reserved for the worker function" if reserved is not None else "unreserved in the account"
        raise ConcurrencyError(
            f"the run needs {needed} concurrent Lambda executions at its peak (two overlapping "
            f"segments' workers, plus {CONTROL_FUNCTIONS} for the workflow), but only {available} are "
            f"{where} (account limit {limit.get('ConcurrentExecutions', '?')}): request a higher "
            "Lambda concurrency quota, raise options.per_worker_rate, or lower the plan's rate"
        )
    return None
