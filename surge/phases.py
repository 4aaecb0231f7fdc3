"""A plan's phases in plan time: each phase's window, the seconds whose intervals count in it, and
how much of the plan a run measured. Pure; below the report builder and the findings alike."""

from __future__ import annotations

import math

from surge.plan import Plan, phase_label
from surge.stats import RunStats


def phase_windows(plan: Plan) -> list[tuple[str, float, float]]:
    out, t = [], 0.0
    for i, p in enumerate(plan.load.phases):
        out.append((phase_label(p, i), t, t + p.duration))
        t += p.duration
    return out


def phase_range(plan: Plan, start: float, end: float) -> tuple[float, float]:
    """The plan seconds whose intervals count in a phase: its own window, and for the last phase
    everything after the plan's end too (a request completing after the last arrival is recorded
    there): every request of a run is in one phase, so the phases add up to the totals."""
    return (start, math.inf) if end >= total_duration_of(plan) - 1e-9 else (start, end)


def measured_duration(plan: Plan, stats: RunStats) -> float:
    """Seconds of plan time that actually ran: the plan's length, or less when stopped early."""
    planned = total_duration_of(plan)
    ran = stats["ended_at"] - stats["t0"]
    return max(min(planned, ran), stats["interval_s"])


def total_duration_of(plan: Plan) -> float:
    return sum(p.duration for p in plan.load.phases)
