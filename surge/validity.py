"""Validity checks: what every run must show before its verdict can be PASS. Pure.

A plan's thresholds judge the service; these judge the test itself. A run where a worker was lost,
the generator fell behind, arrivals were dropped, nothing got an answer or the plan was cut short
proved nothing, whatever its thresholds say: each of those is a failed check here, listed in every
report format beside the plan's own, and the verdict fails with it. A plan may loosen the limits
under ``validity:`` (the report names what it changed); none can be switched off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from surge.plan import Plan, Validity
from surge.report_model import Check, CheckStatus
from surge.schedule import expected_arrivals
from surge.stats import TIMED_OUT_CLASSES, Aggregate, HealthData, RunStats, aggregate

PREFIX = "validity: "
# Errors that mean a request got no answer at all.
_NO_ANSWER_HINT = "refused, reset, connect, dns, tls, timeout"


@dataclass(frozen=True)
class RunEnd:
    """How the run ended, as the runner saw it."""

    stopped_by: str | None = None  # "Ctrl-C", "SIGTERM", "surge stop", "aborted by CHECK", ...
    workers_lost: int = 0  # results missing on top of the failed workers stats already counts
    lost_reasons: tuple[str, ...] = ()


def stop_reason(
    *, signal: str | None = None, aborted_by: str | None = None, early: bool = False
) -> str | None:
    """How a stopped run says why: the signal, the abort-on-fail check, or just "stopped early"."""
    if signal is not None:
        return signal
    if aborted_by is not None:
        return f"aborted by check '{aborted_by}'"
    return "stopped early" if early else None


# What a validity check's count counts: "0 workers lost", never a bare "0".
COUNTED = {
    "run.workers_lost": "workers lost",
    "run.workers_saturated": "workers that fell behind",
    "run.succeeded_requests": "requests answered as expected",
}


def counted(check: Check) -> str:
    """The noun a validity check's figures count (" workers lost"), or "" for other checks."""
    noun = COUNTED.get(check["metric"]) if check["kind"] == "validity" else None
    return f" {noun}" if noun else ""


def _check(
    name: str,
    metric: str,
    op: str,
    target: float,
    unit: str,
    measured: float | None,
    ok: bool,
    detail: str,
) -> Check:
    status: CheckStatus = "no-data" if measured is None else "pass" if ok else "fail"
    return Check(
        name=PREFIX + name,
        metric=metric,
        op=op,
        target=target,
        unit=unit,
        measured=None if measured is None else round(measured, 6),
        baseline=None,
        delta_pct=None,
        status=status,
        abort_on_fail=False,
        kind="validity",
        detail=detail,
    )


def _pct(share: float) -> str:
    return f"{share * 100:.3g}%"


def _changed(v: Validity, name: str, shown: str) -> str:
    """ "(validity.NAME changed by the plan; default D)" when the plan loosened the limit."""
    if name not in v.changed():
        return ""
    return f" (validity.{name} changed by the plan; default {shown})"


def _ran_s(plan: Plan, stats: RunStats) -> float:
    return max(min(stats["ended_at"] - stats["t0"], plan.load.duration_s), 0.0)


def workers_check(plan: Plan, stats: RunStats, end: RunEnd, total: Aggregate) -> Check:
    v = plan.validity
    workers = stats["workers"] + end.workers_lost
    lost = stats["workers_failed"] + end.workers_lost
    allowed = (
        int(v.max_workers_lost)
        if isinstance(v.max_workers_lost, int)
        else math.floor(v.max_workers_lost * workers + 1e-9)
    )
    reasons = [*stats["errors"], *end.lost_reasons]
    if not lost:
        detail = f"all {workers} worker(s) delivered their results"
    else:
        missing = _missing_share(plan, stats, total)
        share = (
            f"; about {_pct(missing)} of the planned iterations are in no figure"
            if missing is not None and missing > 0
            else ""
        )
        why = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        detail = f"{lost} of {workers} worker(s) delivered no complete result ({why}){share}. " + (
            "The plan tolerates it (validity.max_workers_lost)."
            if lost <= allowed
            else "The figures understate the load: rerun; if workers crash, see their error above."
        )
    return _check(
        "every worker reported" + _changed(v, "max_workers_lost", "0"),
        "run.workers_lost",
        "<=",
        float(allowed),
        "count",
        float(lost),
        lost <= allowed,
        detail,
    )


def _planned_iterations(plan: Plan, window: tuple[float, float]) -> int:
    return expected_arrivals(plan.load.shapes(), window)


def _missing_share(plan: Plan, stats: RunStats, total: Aggregate) -> float | None:
    """The share of the planned iterations that no worker accounts for (open model)."""
    if plan.load.model != "open":
        return None
    planned = _planned_iterations(plan, (0.0, _ran_s(plan, stats)))
    if planned <= 0:
        return None
    return max(planned - total.iterations - total.dropped, 0) / planned


def dropped_check(plan: Plan, stats: RunStats, total: Aggregate) -> Check | None:
    """Dropped arrivals are latencies nobody measured: the figures understate what users saw."""
    if plan.load.model != "open":
        return None  # virtual users wait for each other: nothing is dropped
    v = plan.validity
    planned = _planned_iterations(plan, (0.0, _ran_s(plan, stats)))
    dropped = total.dropped
    share = dropped / planned if planned else 0.0
    ok = share <= v.max_dropped + 1e-12
    if not dropped:
        detail = f"all {planned} planned iteration(s) came due and were started"
    else:
        per_worker = plan.load.per_worker_limits(max(stats["workers"], 1))[0]
        detail = f"{dropped} of {planned} planned iterations ({_pct(share)}) were dropped: "
        saturated = [h for h in stats["health"] if _saturation(h, v)]
        late = [h for h in stats["health"] if h.get("late_start_s", 0.0) > 0]
        if late:
            worst = max(h.get("late_start_s", 0.0) for h in late)
            detail += (
                f"{len(late)} worker(s) started up to {worst:.1f} s after their window began, and the "
                "arrivals due by then were not sent (in the cloud: Lambda throttling or slow cold "
                "starts; raise the account's concurrency for the function, or options.lead_seconds)"
            )
        elif saturated:
            detail += (
                f"the generator could not keep up ({_saturation(saturated[0], v)}); "
                "add workers (--workers, or more shards in the cloud) or lower the rate"
            )
        else:
            p95 = total.latency("latency", "p95", 95.0)
            slow = f" (p95 latency {p95:,.0f} ms)" if p95 is not None else ""
            detail += (
                f"iterations in flight reached the cap of {per_worker} per worker because the target "
                f"answered slowly{slow}; raise load.max_in_flight if the target should take it, "
                "or read the slowdown as the finding"
            )
        detail += ". Dropped arrivals are latencies nobody measured, so the figures understate."
    return _check(
        f"at most {_pct(v.max_dropped)} of the planned iterations dropped" + _changed(v, "max_dropped", "1%"),
        "run.dropped_share",
        "<=",
        v.max_dropped,
        "ratio",
        share,
        ok,
        detail,
    )


def _saturation(h: HealthData, v: Validity) -> str:
    """Why a worker could not keep up with the plan, or "" when it could."""
    why: list[str] = []
    lag_limit = v.max_loop_lag * 1000
    if h["loop_lag_p99_ms"] > lag_limit:
        why.append(f"event-loop lag p99 {h['loop_lag_p99_ms']:.0f} ms > {lag_limit:.0f} ms")
    cpu_limit = v.max_cpu * 100
    wait = h.get("wait_pct")
    if h["cpu_pct"] > cpu_limit:
        why.append(f"CPU {h['cpu_pct']:.0f}% of a core > {cpu_limit:.0f}%")
    elif wait is not None and h["cpu_pct"] + wait > cpu_limit:
        why.append(
            f"runnable {h['cpu_pct'] + wait:.0f}% of the time (waiting for a core {wait:.0f}%): "
            "it shares its core"
        )
    arrivals, late = h.get("arrivals", 0), h.get("late_arrivals", 0)
    if arrivals and late > arrivals * v.max_late + 1e-9:
        why.append(f"{late} of {arrivals} arrivals started late (up to {h.get('max_late_ms', 0.0):,.0f} ms)")
    return f"{h['worker']}: " + ", ".join(why) if why else ""


def generator_check(plan: Plan, stats: RunStats) -> Check:
    v = plan.validity
    reasons = [r for r in (_saturation(h, v) for h in stats["health"]) if r]
    if reasons:
        detail = (
            "; ".join(reasons[:3])
            + ". Latencies include the generator's own queueing and arrivals left late: add workers "
            "(--workers, or more shards in the cloud), lower the rate, or run the target elsewhere."
        )
    else:
        detail = (
            f"every worker kept up: loop lag p99 <= {v.max_loop_lag * 1000:.0f} ms, "
            f"CPU <= {v.max_cpu * 100:.0f}%, late arrivals <= {_pct(v.max_late)}"
        )
    changed = "".join(
        _changed(v, name, shown)
        for name, shown in (("max_cpu", "90%"), ("max_loop_lag", "25ms"), ("max_late", "1%"))
    )
    return _check(
        "the generator kept up" + changed,
        "run.workers_saturated",
        "<=",
        0.0,
        "count",
        float(len(reasons)),
        not reasons,
        detail,
    )


def measured_check(total: Aggregate) -> Check:
    succeeded = total.requests - total.error_count
    answered = total.answered
    if total.requests == 0:
        detail = "no request was sent"
    elif answered == 0:
        classes = ", ".join(f"{k} {n}" for k, n in sorted(total.errors.items()))
        detail = f"none of the {total.requests} requests got an answer ({classes})"
        if any(k in TIMED_OUT_CLASSES for k in total.errors):
            detail += "; a timeout is no latency sample: raise the timeout or check the target"
        else:
            detail += f"; check that the target is up and reachable ({_NO_ANSWER_HINT})"
    elif succeeded <= 0:
        classes = ", ".join(f"{k} {n}" for k, n in sorted(total.errors.items()))
        detail = (
            f"every one of the {total.requests} requests failed ({classes}): the latencies measured "
            "only failures; check the URLs, expectations and credentials"
        )
    else:
        detail = f"{succeeded} of {total.requests} requests succeeded"
    return _check(
        "something was measured",
        "run.succeeded_requests",
        ">=",
        1.0,
        "count",
        float(max(succeeded, 0)),
        succeeded >= 1,
        detail,
    )


def coverage_check(plan: Plan, stats: RunStats, end: RunEnd) -> Check:
    planned = plan.load.duration_s
    ran = _ran_s(plan, stats)
    # The last interval may close a hair before the planned end: one interval's slack.
    covered = 1.0 if ran >= planned - stats["interval_s"] else ran / planned
    stopped = end.stopped_by
    ok = stopped is None and covered >= 1.0
    if stopped is not None:
        detail = f"stopped at {ran:.1f} s of {planned:g} s ({stopped}): a partial run never passes"
    elif covered < 1.0:
        detail = f"the workers' results cover {ran:.1f} s of the planned {planned:g} s"
    else:
        detail = f"the whole plan ran ({planned:g} s)"
    return _check(
        "the whole plan ran",
        "run.coverage",
        ">=",
        1.0,
        "ratio",
        covered if stopped is None else min(covered, ran / planned),
        ok,
        detail,
    )


def validity_checks(plan: Plan, stats: RunStats, end: RunEnd, total: Aggregate | None = None) -> list[Check]:
    """Every run's own checks, in the order a reader asks: did it all run, did the load go out,
    did the generator keep up, did anything answer. ``total``: ``aggregate(stats)``, when the
    caller has it already (decoding every histogram again costs as much as the report)."""
    total = total if total is not None else aggregate(stats)
    checks = [workers_check(plan, stats, end, total)]
    dropped = dropped_check(plan, stats, total)
    if dropped is not None:
        checks.append(dropped)
    checks += [generator_check(plan, stats), measured_check(total), coverage_check(plan, stats, end)]
    return checks


def is_validity_check(check: Check) -> bool:
    return check["kind"] == "validity"


def failed_validity(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if is_validity_check(c) and c["status"] != "pass"]
