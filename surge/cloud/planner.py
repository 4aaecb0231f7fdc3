"""How a cloud run is cut (segments in time, shards in rate) and what it needs of the account.

Pure except :func:`check_concurrency`, which reads the account's Lambda settings through an
injected client. The CLI checks before it starts an execution; Prepare checks again (a schedule or
a console user starts executions too).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, NamedTuple, assert_never

from surge.cloud.execution_input import PER_WORKER_USERS, RunOptions
from surge.errors import PlanError, UserError
from surge.lanes import worker_count
from surge.plan import Plan
from surge.plan_steps import Step
from surge.schedule import Segment, segments
from surge.secrets import ssm_calls

# Two segments overlap (the next one's workers start during the current one's last lead seconds),
# and the workflow's own functions (Prepare, Aggregate, Collect, Report) run beside them.
CONTROL_FUNCTIONS = 4


# With no latency threshold to go by, a request is expected to take this long (capped by its timeout).
ASSUMED_LATENCY_S = 1.0


def expected_latency_s(plan: Plan) -> tuple[float, str]:
    """How long a request is expected to take, and why. Little's law needs the mean; a plan that
    meets its checks has a mean near its central ones (mean, p50 ... p95), so the slowest of those
    is taken; checks on the tail only (p99, max) bound it from above and are taken when they are
    all there is. No latency check: ASSUMED_LATENCY_S within the request timeout."""
    central: list[float] = []
    tail: list[float] = []
    for th in plan.parsed_thresholds():
        m = th.metric
        if not (
            m.namespace in ("http", "endpoint", "phase")
            and m.path
            and m.path[0] in ("latency", "service_time")
        ):
            continue
        if th.op not in ("<", "<="):
            continue
        pct = m.percentile
        (
            central
            if (pct is None and m.path[-1] in ("mean", "avg")) or (pct is not None and pct <= 95)
            else tail
        ).append(th.target / 1000.0)
    chosen = central or tail
    if chosen:
        return max(chosen), f"the plan's latency threshold of {max(chosen) * 1000:g} ms"
    assumed = min(ASSUMED_LATENCY_S, plan.defaults.timeout)
    return assumed, f"{assumed * 1000:g} ms per request (no latency threshold to go by)"


def iteration_in_flight_s(plan: Plan, latency_s: float) -> float:
    """How long an iteration is expected to stay in flight (open model): its requests at
    ``latency_s`` each (capped by their timeouts), its think times, its polls' timeouts, a loop's
    steps times its expected passes; the scenarios weighted as the plan mixes them."""
    total_weight = sum(sc.weight for sc in plan.scenarios)
    mean = sum(_flow_s(plan, sc.flow, latency_s) * sc.weight / total_weight for sc in plan.scenarios)
    return max(mean, 1e-3)


def _flow_s(plan: Plan, flow: list[Step], latency_s: float) -> float:
    seconds = 0.0
    for step in flow:
        match step.kind:
            case "request":
                assert step.request is not None
                seconds += min(latency_s, step.request.timeout or plan.defaults.timeout)
            case "aws":
                seconds += latency_s
            case "think":
                assert step.think is not None
                seconds += step.think.mean_s
            case "poll":
                assert step.poll is not None
                seconds += step.poll.timeout  # the longest it may wait for its condition
            case "loop" | "if":
                assert step.steps is not None
                passes = step.loop.expected_passes if step.loop is not None else 1.0  # an if: as if it ran
                seconds += passes * _flow_s(plan, step.steps, latency_s)
            case "mark" | "stage":
                pass  # instants: they take no time
            case unknown:
                assert_never(unknown)
    return seconds


def shard_capacity(plan: Plan, options: RunOptions) -> tuple[float, str]:
    """What one worker is given at most, and how that was decided. Open model: the lower of its
    CPU capacity (options.per_worker_rate) and Little's law, arrivals/s x seconds in flight <= the
    iterations one worker may hold (kept under Lambda's 1,024 file descriptors); a target that
    slows down then fills more workers rather than dropping arrivals."""
    if plan.load.model == "closed":
        return float(PER_WORKER_USERS), f"{PER_WORKER_USERS} virtual users per worker"
    in_flight, connections = plan.load.per_worker_limits(1)
    cpu = options.per_worker_rate
    if plan.load.max_in_flight is not None:
        # A per-run cap is shared out whatever the shard count: more shards cannot raise it.
        return cpu, f"{cpu:g}/s per worker (CPU; load.max_in_flight caps the run's in-flight iterations)"
    latency, basis = expected_latency_s(plan)
    held = iteration_in_flight_s(plan, latency)
    budget = min(in_flight, connections)
    little = budget / held
    if little < cpu:
        return little, (
            f"{little:.4g}/s per worker by Little's law: {budget} iterations in flight per worker / "
            f"{held:.3g} s each (requests at {basis}); CPU would allow {cpu:g}/s"
        )
    return cpu, (
        f"{cpu:g}/s per worker (CPU); Little's law allows {little:.4g}/s ({budget} in flight / {held:.3g} s, "
        f"requests at {basis})"
    )


def min_workers(plan: Plan, options: RunOptions) -> int:
    """The fewest workers a segment runs (each target's, in an A/B run): the run's option, else the
    plan's ``workers`` when it is a number: one meaning, locally and in the cloud."""
    if options.min_workers is not None:
        return options.min_workers
    return plan.workers if isinstance(plan.workers, int) else 1


def plan_segments(plan: Plan, options: RunOptions) -> list[Segment]:
    """The run's segments and each one's workers. An A/B plan's schedule is cut as any plan's,
    then each segment has as many workers per target (target_load: each), or the next multiple of
    the target count (split): worker i runs target i mod n (surge.lanes), as locally."""
    capacity, _ = shard_capacity(plan, options)
    cuts = segments(
        plan.load.shapes(),
        max_segment_s=options.segment_seconds,
        per_shard_capacity=capacity,
        min_shards=min_workers(plan, options),
        # limits.max_workers bounds the whole fleet: each target's part of it, when each gets the whole load
        max_shards=max(1, plan.limits.max_workers // len(plan.targets))
        if plan.targets and plan.target_load == "each"
        else plan.limits.max_workers,
    )
    return [dataclasses.replace(seg, shards=worker_count(plan, seg.shards)) for seg in cuts]


# A segment of up to this many shards is merged by Aggregate alone (a few seconds: ~0.14 s per
# 10-minute, 10-endpoint result, bench/RESULTS.md). A larger one is merged as a tree: merge tasks
# of about sqrt(shards) results each run side by side, then Aggregate folds their partials, so the
# merge's wall time grows with sqrt(shards), not with shards.
DIRECT_MERGE_MAX_SHARDS = 32
MAX_MERGE_TASKS = 40  # an inline Map runs at most 40 iterations at once (Step Functions' limit)


def merge_slices(shards: int) -> list[list[int]]:
    """``[first shard, count]`` of each merge task of a segment; none when Aggregate merges it alone."""
    if shards <= DIRECT_MERGE_MAX_SHARDS:
        return []
    size = max(math.ceil(math.sqrt(shards)), math.ceil(shards / MAX_MERGE_TASKS))
    return [[first, min(size, shards - first)] for first in range(0, shards, size)]


# What a worker does between its invocation and its segment's start besides reading secrets: a cold
# start (the bundle's imports, bench/RESULTS.md), the plan and the data file. The lead leaves this.
LEAD_MARGIN_S = 10
MAX_LEAD_S = 120


def secrets_read_s(plan: Plan, options: RunOptions, shards: int) -> float:
    """How long a segment of ``shards`` workers takes to read the plan's ``$ssm`` references when
    each reads in its own slot, within ``options.ssm_reads_per_second``: Parameter Store's
    throughput is the account's, 40 requests a second by default, and a fleet starting at once
    would be throttled (and fail) past it. Secrets Manager (10,000/s) needs no pacing."""
    return shards * ssm_calls(plan) / options.ssm_reads_per_second


def lead_seconds(plan: Plan, options: RunOptions, cuts: list[Segment]) -> int:
    """The run's lead (a segment's workers are invoked this long before its start): the option's
    value, raised (when the run did not set it) so that every worker reads its secrets in its slot
    and starts before the segment does. PlanError when the option set is too short, or when no
    lead within Lambda's time would do."""
    spread = max((secrets_read_s(plan, options, seg.shards) for seg in cuts), default=0.0)
    needed = math.ceil(spread) + LEAD_MARGIN_S if spread else 0
    if needed > MAX_LEAD_S:
        raise PlanError(
            f"{max(s.shards for s in cuts)} workers reading {ssm_calls(plan)} Parameter Store call(s) each at "
            f"{options.ssm_reads_per_second:g}/s take {spread:.0f} s, more than a lead of {MAX_LEAD_S} s allows: "
            "store the secrets in Secrets Manager ({{ $secret.NAME }}: 10,000 reads/s), or enable Parameter "
            "Store's higher throughput and raise options.ssm_reads_per_second"
        )
    if "lead_seconds" in options.model_fields_set:
        # Set by the run: its own idea of the cold start stands, but the last slot must end in time.
        if options.lead_seconds < math.ceil(spread):
            raise PlanError(
                f"options.lead_seconds: {options.lead_seconds} s is too short for {max(s.shards for s in cuts)} "
                f"workers to read the plan's $ssm references at {options.ssm_reads_per_second:g}/s "
                f"({spread:.0f} s) and start: at least {needed} s"
            )
        return options.lead_seconds
    return max(options.lead_seconds, needed)


class Concurrency(NamedTuple):
    """Concurrent Lambda executions a run needs at its peak."""

    workers: int  # two adjacent segments' workers at once
    workflow: int  # the workflow's functions, and a segment's merge tasks (beside the next segment)

    @property
    def total(self) -> int:
        return self.workers + self.workflow


def required_concurrency(cuts: list[Segment]) -> Concurrency:
    peak = max((a.shards + b.shards for a, b in itertools.pairwise(cuts)), default=0)
    peak = max(peak, max((s.shards for s in cuts), default=0))
    merging = max((len(merge_slices(s.shards)) for s in cuts), default=0)
    return Concurrency(workers=peak, workflow=CONTROL_FUNCTIONS + merging)


class ConcurrencyError(UserError):
    """The account cannot run the plan's workers at once."""


def check_concurrency(lambda_client: Any, needed: Concurrency, *, reserved: int | None = None) -> str | None:
    """Refuse a run the account's Lambda concurrency cannot hold (throttled workers would start late
    or never); returns a note when the settings cannot be read (the run goes on, unchecked).
    ``reserved``: the worker function's reserved concurrency, when the stack sets one."""
    try:
        settings = lambda_client.get_account_settings()
    except Exception as exc:  # permissions, an emulator without the API: say so, do not block
        return f"the account's Lambda concurrency was not checked ({type(exc).__name__}: {exc})"
    limit = settings.get("AccountLimit", {})
    if reserved is not None:
        # The workers draw on their own reserve; the workflow's functions on the unreserved pool.
        workers = needed.workers
        if workers > reserved:
            raise ConcurrencyError(
                f"the run needs {workers} concurrent workers at its peak (two overlapping segments), "
                f"but the worker function has {reserved} reserved: redeploy with a higher "
                "surge:workerReservedConcurrency, raise options.per_worker_rate, or lower the plan's rate"
            )
        return None
    available = int(limit.get("UnreservedConcurrentExecutions", 0))
    if needed.total > available:
        raise ConcurrencyError(
            f"the run needs {needed.total} concurrent Lambda executions at its peak (two overlapping "
            f"segments' {needed.workers} workers, plus {needed.workflow} for the workflow and its merge "
            f"tasks), but only {available} are "
            f"unreserved in the account (account limit {limit.get('ConcurrentExecutions', '?')}): request a "
            "higher Lambda concurrency quota, reserve concurrency for the worker "
            "(surge:workerReservedConcurrency), raise options.per_worker_rate, or lower the plan's rate"
        )
    return None
