"""Recovery after a phase (typically a spike): how long from the phase's end (or start) until the
service is back, that is every interval's p95 (or p99) and error rate at or under the plan's levels,
and stays there for ``hold``. Pure: read from the merged intervals, as the report's time series is.

A service that never got back within the run has recovered in *at least* the time it was watched
(an :class:`AtLeast`): a ``< 2m`` check on it fails, as a timed-out latency does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from surge.plan import Plan, Recovery, phase_label
from surge.stats import Aggregate, AtLeast, RunStats, is_stage


@dataclass(frozen=True)
class RecoveryResult:
    name: str
    phase: str
    since: Literal["end", "start"]
    since_s: float  # seconds since the run's start the clock starts at
    recovered_at_s: float | None  # the first interval of the holding stretch; None: not within the run
    time_ms: float | None  # recovered_at - since in ms; an AtLeast when not recovered; None: never watched
    levels: str  # "p95 <= 100 ms, error rate <= 1% for 30 s"


def levels_text(spec: Recovery) -> str:
    parts = []
    if spec.p95 is not None:
        parts.append(f"p95 <= {spec.p95 * 1000:g} ms")
    if spec.p99 is not None:
        parts.append(f"p99 <= {spec.p99 * 1000:g} ms")
    if spec.error_rate is not None:
        parts.append(f"error rate <= {spec.error_rate * 100:g}%")
    return ", ".join(parts) + f" for {spec.hold:g} s"


def _since_s(plan: Plan, spec: Recovery) -> float:
    t = 0.0
    for i, phase in enumerate(plan.load.phases):
        if phase_label(phase, i) == spec.after:
            return t if spec.since == "start" else t + phase.duration
        t += phase.duration
    raise ValueError(f"no phase named {spec.after!r}")  # the plan's validation rules this out


def _interval_ok(agg: Aggregate, spec: Recovery) -> bool:
    if agg.requests == 0:
        return False  # nothing answered: no evidence of recovery (a stall)
    for level, stat, pct in ((spec.p95, "p95", 95.0), (spec.p99, "p99", 99.0)):
        if level is None:
            continue
        value = agg.latency("latency", stat, pct)
        if value is None or isinstance(value, AtLeast) or value > level * 1000:
            return False
    return spec.error_rate is None or agg.error_count / agg.requests <= spec.error_rate


def recovery_of(plan: Plan, spec: Recovery, stats: RunStats, run_s: float) -> RecoveryResult:
    """``run_s``: how long the run was measured (a stopped run watched less)."""
    since = _since_s(plan, spec)
    step = stats["interval_s"]
    name = spec.name or f"after-{spec.after}"
    result = RecoveryResult(name, spec.after, spec.since, since, None, None, levels_text(spec))
    if since >= run_s - 1e-9:
        return result  # the run ended before the clock started: nothing to say
    need = max(1, math.ceil(spec.hold / step - 1e-9))
    first = math.ceil(since / step - 1e-9)
    last = math.ceil(run_s / step - 1e-9)  # intervals [first, last) lie in the watched time
    ok = []
    for idx in range(first, last):
        agg = Aggregate()
        data = stats["intervals"].get(str(idx))
        for ep_name, ep in (data["endpoints"] if data else {}).items():
            if not is_stage(ep_name):
                agg.add_endpoint(ep)
        ok.append(_interval_ok(agg, spec))
    for i in range(len(ok) - need + 1):
        if all(ok[i : i + need]):
            at = (first + i) * step
            return RecoveryResult(
                name,
                spec.after,
                spec.since,
                since,
                round(at, 3),
                round(max(at - since, 0.0) * 1000, 3),
                result.levels,
            )
    return RecoveryResult(
        name, spec.after, spec.since, since, None, AtLeast(round((run_s - since) * 1000, 3)), result.levels
    )
