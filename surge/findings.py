"""Findings: why a run failed and what to do, computed from the run's own data. Pure.

Each finding cites its numbers: the endpoints that account for a failed latency check (their share
of the requests slower than its target), the load at which latency broke (the knee), error bursts and
their classes, validity problems, and the service metrics that explain a failure, with the
recommendation the evidence supports. No finding without data; a failed run whose data explains
nothing says so ("no clear cause").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

from surge.phases import phase_range, phase_windows
from surge.plan import Plan
from surge.report_model import (
    Check,
    CostSection,
    FailureGroup,
    Finding,
    ServiceEntry,
    ServiceMetricsSection,
    TimeseriesPoint,
)
from surge.schedule import phase_index_at, total_duration
from surge.stats import RunStats, aggregate, is_stage
from surge.thresholds import MetricRef, parse_metric
from surge.validity import PREFIX, is_validity_check
from surge.vocabulary import metric_kind, report_key

# An endpoint is named as a cause when it holds at least this share of the slow requests.
CAUSE_SHARE = 0.10
MAX_CAUSES = 3
MAX_BURSTS = 3
# The early level of latency: the median over the first intervals with requests.
EARLY_INTERVALS = 3
# A knee is a crossing that holds: this many intervals in a row above the level (or the run's last).
KNEE_HOLD = 2
MIN_INTERVAL_REQUESTS = 20  # an interval's p95 needs this many requests to have one above it
BURST_MIN_RATE = 0.05  # an interval is in an error burst above this error rate ...
BURST_FACTOR = 2.0  # ... and above this many times the run's own error rate
# A service metric that rose within this long of the load's failure moved with it (CloudWatch
# periods are a minute at most for a run's window).
SAME_TIME_S = 60.0
QUEUE_BACKLOG_FACTOR = 1.1  # a queue sent this many times what it processed has grown


@dataclass(frozen=True)
class FindingScope:
    """One target's data (an A/B run), or the run's."""

    @property
    def label(self) -> str:
        return f'target "{self.target}": ' if self.target else ""

    target: str | None  # an A/B run's target; None: the run's only one
    stats: RunStats
    timeseries: Sequence[TimeseriesPoint]


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:02.0f}" if abs(s - round(s)) < 1e-6 else f"{int(m)}:{s:04.1f}"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%" if share >= 0.1 else f"{share * 100:.1f}%"


def count_above(h: HdrHistogram, value_us: float) -> int:
    """Recorded values above ``value_us`` (to the histogram's precision: a bucket counts when its
    lowest equivalent value is above)."""
    above = 0
    for item in h.get_recorded_iterator():
        if h.get_lowest_equivalent_value(item.value_iterated_to) > value_us:
            above += item.count_added_in_this_iter_step
    return above


def _latency_check(check: Check) -> MetricRef | None:
    """The metric of a failed latency check on the whole run or a phase (an upper bound)."""
    if check["status"] != "fail" or check["unit"] != "ms" or check["op"] not in ("<", "<="):
        return None
    try:
        ref = parse_metric(check["metric"])
    except ValueError:
        return None
    if (
        ref.namespace not in ("http", "phase")
        or not ref.path
        or ref.path[0] not in ("latency", "service_time")
    ):
        return None
    return ref


def _phase_range(plan: Plan, name: str | None) -> tuple[float, float] | None:
    for label, a, b in phase_windows(plan):
        if label == name:
            return phase_range(plan, a, b)
    return None


def slow_endpoints(plan: Plan, scope: FindingScope, check: Check, ref: MetricRef) -> Finding | None:
    """Which endpoints hold the requests slower than the check's target."""
    t_range = _phase_range(plan, ref.key) if ref.namespace == "phase" else None
    limit_us = check["target"] * 1000.0
    which = ref.path[0]
    names = {n for d in scope.stats["intervals"].values() for n in d["endpoints"] if not is_stage(n)}
    slow: dict[str, tuple[int, int, float | None]] = {}
    for name in names:
        agg = aggregate(scope.stats, endpoint=name, t_range=t_range)
        samples, timeouts = (agg.rt, agg.rt_timeouts) if which == "latency" else (agg.st, agg.st_timeouts)
        n = count_above(samples, limit_us) + count_above(timeouts, limit_us)
        if n:
            p95 = agg.latency(which, "p95", 95.0)
            slow[name] = (n, agg.requests, None if p95 is None else float(p95))
    total = sum(n for n, _, _ in slow.values())
    if total == 0 or len(names) < 2:
        return None  # with one endpoint, it holds every slow request: nothing to point at
    requests = sum(aggregate(scope.stats, endpoint=n, t_range=t_range).requests for n in names)
    overall = total / requests if requests else 0.0
    target = _ms(check["target"])
    where = f" in phase {ref.key}" if ref.namespace == "phase" else ""
    fractions = {name: n / max(sent, 1) for name, (n, sent, _) in slow.items()}
    evenly = len(fractions) == len(names) and all(
        0.67 * overall <= f <= 1.5 * overall for f in fractions.values()
    )
    if evenly:
        return Finding(
            kind="slow-endpoints",
            title=f"{scope.label}every endpoint was slow alike{where}: {_pct(overall)} of the requests over {target}, "
            f"between {_pct(min(fractions.values()))} and {_pct(max(fractions.values()))} of each endpoint's",
            evidence=[
                f"{name}: {n:,} of its {sent:,} requests over {target}"
                + (f", its p95 {_ms(p95)}" if p95 is not None else "")
                for name, (n, sent, p95) in sorted(slow.items(), key=lambda kv: -kv[1][0])[:MAX_CAUSES]
            ],
            recommendation="The cause is shared, not one endpoint: the service's capacity or a dependency "
            "every request uses (see the latency knee and the service findings)",
            check=check["name"],
        )
    # Endpoints slower than the run as a whole, holding a fair share of its slow requests.
    ranked = sorted(slow.items(), key=lambda kv: -kv[1][0])
    causes = [(name, v) for name, v in ranked if fractions[name] >= overall and v[0] / total >= CAUSE_SHARE][
        :MAX_CAUSES
    ] or ranked[:1]
    evidence = [
        f"{name}: {n:,} of its {sent:,} requests over {target} ({_pct(n / sent)} of its requests, "
        f"{_pct(n / total)} of the slow ones)" + (f", its p95 {_ms(p95)}" if p95 is not None else "")
        for name, (n, sent, p95) in causes
    ]
    evidence.append(f"all endpoints: {total:,} of {requests:,} requests over {target} ({_pct(overall)})")
    first, (n_first, _, _) = causes[0]
    if len(causes) == 1:
        title = f"{scope.label}{first} holds {_pct(n_first / total)} of the {total:,} requests slower than {target}{where}"
    else:
        shares = sum(v[0] for _, v in causes) / total
        names_text = ", ".join(name for name, _ in causes)
        title = f"{scope.label}{names_text} hold {_pct(shares)} of the {total:,} requests slower than {target}{where}"
    return Finding(
        kind="slow-endpoints",
        title=title,
        evidence=evidence,
        recommendation=f"Look at {first} first: it is slower than the rest and holds most of the slow requests.",
        check=check["name"],
    )


def _stat_key(ref: MetricRef | None) -> Literal["p50", "p95", "p99"]:
    stat = ref.path[1] if ref is not None and len(ref.path) == 2 else "p95"
    return stat if stat in ("p50", "p95", "p99") else "p95"  # type: ignore[return-value]


def planned_level(plan: Plan, t: float) -> float | None:
    """The arrival rate (open model) or users (closed) the plan asks for at ``t`` seconds."""
    phases = plan.load.shapes()
    if not 0.0 <= t < total_duration(phases):
        return None
    return phases[phase_index_at(phases, t)].level_at(t)


def _load_at(point: TimeseriesPoint, closed: bool, plan: Plan | None = None) -> str:
    if closed and point.get("users"):
        return f"{point.get('users')} users ({point['rps']:,.0f} requests/s)"
    offered = planned_level(plan, point["t"]) if plan is not None and not closed else None
    if offered is not None:
        return f"{offered:,.0f} arrivals/s ({point['rps']:,.0f} requests/s)"
    return f"{point['rps']:,.0f} requests/s"


def latency_knee(plan: Plan, scope: FindingScope, checks: Sequence[Check]) -> Finding | None:
    """When latency broke: the first interval (held for KNEE_HOLD) whose percentile crossed the
    failed check's target, or doubled its early level when no latency check failed."""
    failed = next(
        (
            (c, ref)
            for c in checks
            if (ref := _latency_check(c)) is not None
            and ref.namespace == "http"
            and ref.path[0] == "latency"
            and ref.target == scope.target
        ),
        None,
    )
    ref = failed[1] if failed else None
    key = _stat_key(ref)
    # An interval's percentile says little from a handful of requests: only well-filled ones count.
    points = [p for p in scope.timeseries if p["requests"] >= MIN_INTERVAL_REQUESTS and p[key] is not None]
    if len(points) < EARLY_INTERVALS + KNEE_HOLD:
        return None
    early = statistics.median(float(p[key] or 0.0) for p in points[:EARLY_INTERVALS])
    level = failed[0]["target"] if failed else 2 * early
    what = f"its target {_ms(level)}" if failed else f"twice its early level ({_ms(early)})"
    closed = plan.load.model == "closed"
    if failed and early > level:
        first = points[0]
        return Finding(
            kind="slow-from-start",
            title=f"{scope.label}{key} was above {what} from the start: slow at any load, not only under the peak",
            evidence=[
                f"{key} {_ms(early)} over the first {EARLY_INTERVALS} intervals, from {_clock(first['t'])} "
                f"at {_load_at(first, closed, plan)}"
            ],
            recommendation="The slowness does not come with the load: profile a single request "
            "(its slowest endpoint, cold paths, downstream calls).",
            check=failed[0]["name"],
            at_s=first["t"],
        )
    above = [float(q[key] or 0.0) > level for q in points]
    for i, p in enumerate(points):
        held = above[i : i + KNEE_HOLD]
        full = len(held) == KNEE_HOLD or i == len(points) - 1
        if not (i > 0 and full and all(held) and _stays_broken(plan, closed, points, above, i)):
            continue
        before = points[i - 1]
        # Where the data places the knee: from the first interval that crossed at all (an earlier
        # crossing that did not hold is the knee's noise) to the one from which it stayed crossed.
        crossed = next(j for j in range(i + 1) if above[j])
        low = points[crossed - 1] if crossed == i else points[crossed]
        evidence = [
            f"{key} {_ms(early)} over the first {EARLY_INTERVALS} intervals",
            f"{key} {_ms(float(before[key] or 0.0))} at {_clock(before['t'])}, at {_load_at(before, closed, plan)}",
            f"{key} {_ms(float(p[key] or 0.0))} at {_clock(p['t'])}, at {_load_at(p, closed, plan)}",
        ]
        placed = f"between {_load_at(low, closed, plan)} and {_load_at(p, closed, plan)}"
        evidence.append(
            f"the data places the knee {placed}: {key} first crossed at {_clock(points[crossed]['t'])} and "
            f"stayed over from {_clock(p['t'])} ({sum(above[i:])} of the {len(above) - i} intervals since)"
        )
        knee = Finding(
            kind="latency-knee",
            title=f"{scope.label}latency broke at {_clock(p['t'])}, at {_load_at(p, closed, plan)}: {key} crossed {what}",
            evidence=evidence,
            recommendation=f"The service holds up to somewhere {placed}; above it, scale the part "
            "that saturates (see the service findings, if collected) or cap the load there.",
            at_s=p["t"],
        )
        if failed:
            knee["check"] = failed[0]["name"]
        if _generator_behind(checks):
            # The load then left late and latencies include the generator's own queueing: the knee
            # may be this machine's, not the service's (two runs on a busy machine place it apart).
            evidence.append(
                "the generator did not keep up in this run (see its validity check): the knee may be "
                "the generator's own limit, not the service's; rerun with more workers or on a quieter machine"
            )
        return knee
    return None


def is_loopback(host: str) -> bool:
    """A host name of this machine: localhost, 127.0.0.0/8 or ::1."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# What a collector's note says when the caller may not read a metric (surge.metrics.aws): the
# metrics exist, these credentials cannot see them.
_UNREADABLE = ("access denied:", "expired or invalid")


def _unreadable_note(service_metrics: ServiceMetricsSection) -> str | None:
    """The first note saying the declared services' metrics could not be read (permissions,
    expired credentials), from the collection's own notes or any service's."""
    notes = list(service_metrics.get("notes", []))
    for entry in service_metrics.get("services", {}).values():
        notes += entry["notes"]
    return next((n for n in notes if any(mark in n for mark in _UNREADABLE)), None)


def _where_to_look(plan: Plan, service_metrics: ServiceMetricsSection) -> str:
    """What would say why, given what the plan declared and what was collected."""
    if plan.services or plan.cost is not None:
        notes = service_metrics.get("notes", [])
        if service_metrics.get("collected") is False and notes:
            why = notes[0].removeprefix("not collected: ")
            return (
                f"The declared services' metrics were not collected ({why}): run again where they "
                "can be, so the run can judge them and say which part was slow"
            )
        unreadable = _unreadable_note(service_metrics)
        if unreadable is not None:
            return (
                f"Some of the declared services' metrics could not be read ({unreadable}): give the "
                "credentials the run uses that permission (docs/service-metrics.md, Permissions) and run "
                "again, so the run can judge them and say which part was slow"
            )
        return (
            "The declared services' metrics do not explain it: look at the target's own logs and "
            "traces for the failing window, or declare the services it calls (docs/service-metrics.md)"
        )
    hosts = [
        urlsplit(url).hostname or "" for url in (plan.targets.values() if plan.targets else [plan.target])
    ]
    if hosts and all(is_loopback(h) for h in hosts):
        return (
            "The target runs on this machine: look at its own logs and metrics for the failing window "
            "(pauses, garbage collection, a slow dependency) and at what else the machine was running"
        )
    return (
        "Declare the target's services (docs/service-metrics.md) so the next run collects the "
        "metrics that could say why"
    )


def _generator_behind(checks: Sequence[Check]) -> bool:
    return any(c["metric"] == "run.workers_saturated" and c["status"] == "fail" for c in checks)


# A knee stays broken: at least this share of the intervals after it, while the load does not fall,
# are over the level. A few slow intervals that recover at the same or higher load are noise.
KNEE_STAYS = 0.75


def _stays_broken(
    plan: Plan, closed: bool, points: Sequence[TimeseriesPoint], above: Sequence[bool], i: int
) -> bool:
    start = _level_at(plan, closed, points[i])
    rest = [above[j] for j in range(i, len(points)) if _level_at(plan, closed, points[j]) >= start - 1e-9]
    return bool(rest) and sum(rest) >= KNEE_STAYS * len(rest)


def _level_at(plan: Plan, closed: bool, point: TimeseriesPoint) -> float:
    """The load the plan asked for at a point (users or arrivals/s), else what was measured."""
    if closed and point.get("users"):
        return float(point.get("users") or 0)
    offered = planned_level(plan, point["t"]) if not closed else None
    return offered if offered is not None else point["rps"]


def error_bursts(plan: Plan, scope: FindingScope, failure_lines: Sequence[str]) -> list[Finding]:
    """Stretches of intervals where errors ran high, with their classes and the load at the time."""
    points = [p for p in scope.timeseries if p["requests"] > 0]
    requests = sum(p["requests"] for p in points)
    errors = sum(p["errors"] for p in points)
    if not errors:
        return []
    level = max(BURST_MIN_RATE, BURST_FACTOR * errors / requests) if errors / requests < 0.5 else 0.0
    bursts: list[list[TimeseriesPoint]] = []
    for p in points:
        high = p["errors"] > 0 and p["error_rate"] >= level
        if high and bursts and bursts[-1][-1]["t"] + scope.stats["interval_s"] >= p["t"] - 1e-6:
            bursts[-1].append(p)
        elif high:
            bursts.append([p])

    # A burst worth naming holds a fair part of the errors, far more than the run's own error rate
    # gives its requests by chance (4 standard deviations of a Poisson count); scattered ones are one finding.
    def significant_burst(burst: list[TimeseriesPoint]) -> bool:
        n, sent = sum(p["errors"] for p in burst), sum(p["requests"] for p in burst)
        expected = sent * errors / requests
        return n >= max(5, 0.1 * errors) and (level == 0.0 or n >= expected + 4 * math.sqrt(expected) + 3)

    significant = [b for b in bursts if significant_burst(b)]
    closed = plan.load.model == "closed"
    if not significant:
        spread: dict[str, int] = {}
        for p in points:
            for k, v in p["errors_by_class"].items():
                spread[k] = spread.get(k, 0) + v
        named = ", ".join(f"{k} {v:,}" for k, v in sorted(spread.items(), key=lambda kv: -kv[1]))
        return [
            Finding(
                kind="error-burst",
                title=f"{scope.label}errors spread through the run, no burst: {errors:,} of {requests:,} requests ({_pct(errors / requests)}): {named}",
                evidence=list(failure_lines[:2]),
                recommendation=_error_advice(spread),
            )
        ]
    out: list[Finding] = []
    for burst in sorted(significant, key=lambda b: -sum(p["errors"] for p in b))[:MAX_BURSTS]:
        n = sum(p["errors"] for p in burst)
        sent = sum(p["requests"] for p in burst)
        classes: dict[str, int] = {}
        for p in burst:
            for k, v in p["errors_by_class"].items():
                classes[k] = classes.get(k, 0) + v
        named = ", ".join(f"{k} {v:,}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1]))
        start, end = burst[0]["t"], burst[-1]["t"] + scope.stats["interval_s"]
        whole = len(burst) >= max(len(points) - 1, 1)
        when = "throughout the run" if whole else f"{_clock(start)}–{_clock(end)}"
        out.append(
            Finding(
                kind="error-burst",
                title=f"{scope.label}errors {when}: {n:,} of {sent:,} requests ({_pct(n / sent)}): {named}",
                evidence=[
                    f"at {_clock(start)} the load was {_load_at(burst[0], closed, plan)}",
                    *failure_lines[:2],
                ],
                recommendation=_error_advice(classes),
                at_s=start,
            )
        )
    return out


def _error_advice(classes: Mapping[str, int]) -> str:
    top = max(classes, key=lambda k: classes[k]) if classes else ""
    return {
        "expect": "An expectation failed: the answers differ from what the plan expects (see the failure samples for status and body).",
        "capture": "A capture found nothing: the answer lacks the field the flow needs next (see the failure samples).",
        "http_4xx": "The service refused the requests (4xx): check the plan's URLs, credentials and payloads against the failure samples.",
        "http_5xx": "The service failed (5xx): read its logs around the failures; if they come with the load, it is capacity.",
        "timeout": "Requests timed out: the service stopped answering in time, typically a saturated dependency or pool.",
        "connect": "Connections failed: the service or its load balancer refused new connections (limits, scaling).",
        "refused": "Connections were refused: nothing listened (a restart or a crash).",
        "interrupted": "Requests still in flight when the load ended (or was stopped) were cut after the drain: "
        "the service answered slower than the run could wait; they count as errors.",
    }.get(top, "See the failure samples for what came back.")


# The service metrics the findings read, each one the vocabulary names (checked at import: a
# renamed preset path cannot silently turn a finding off).
_READS = {
    "lambda": (
        "throttles.sum",
        "concurrent_executions.max",
        "cold_start.p99",
        "cold_start.count",
        "concurrency_utilization.max",
    ),
    "dynamodb": ("throttled_requests.sum", "read_throttle_events.sum", "write_throttle_events.sum"),
    "rds": ("connection_utilization.max", "connections.max"),
    "elasticache": ("hit_rate", "evictions.sum"),
    "sqs": ("sent.sum", "deleted.sum", "visible_messages.max", "oldest_message_age.max"),
}
assert all(metric_kind(t, m) is not None for t, ms in _READS.items() for m in ms)


def first_rise(entry: ServiceEntry, path: str) -> float | None:
    """When a service metric's series first went above zero (seconds since the run's start)."""
    return next((float(p["t"]) for p in entry["series"].get(path, []) if p["value"] > 0), None)


def _val(values: Mapping[str, float | None], service_type: str, path: str) -> float | None:
    """A service metric by its vocabulary path, read under its report.json name (unit suffixed)."""
    return values.get(report_key(path, metric_kind(service_type, path) or "count"))


def _line(key: str, kind: str, v: Mapping[str, float | None], path: str) -> list[str]:
    """An evidence line for a count the service reported (none when it has no data)."""
    value = _val(v, kind, path)
    return [] if value is None else [f"{key}.{path} = {value:,.0f}"]


# Memory right-sizing: a function that used at most this share of its memory is offered a smaller
# size (what it used, with this much headroom, in 64 MB steps, at least 128 MB); at this share or
# more it is near out of memory.
MEMORY_SPARE_SHARE = 0.5
MEMORY_FULL_SHARE = 0.9
MEMORY_HEADROOM = 1.3


def memory_finding(key: str, v: Mapping[str, float | None], cost: CostSection) -> Finding | None:
    """A Lambda's memory from its REPORT lines: near its limit, or far more than it used, with the
    cost effect at the same duration (as AWS Lambda Power Tuning reasons: cost = duration x memory,
    and CPU grows with memory, so a smaller size is to be measured, not assumed)."""
    kind = "lambda"
    used, size = _val(v, kind, "memory_used_mb.max"), _val(v, kind, "memory_size_mb")
    if not used or not size:
        return None
    share = used / size
    evidence = [
        f"{key}.memory_used_mb.max = {used:,.0f} MB of memory_size_mb = {size:,.0f} MB ({_pct(share)})"
    ]
    if share >= MEMORY_FULL_SHARE:
        return Finding(
            kind="service",
            title=f"{key} used {_pct(share)} of its memory",
            evidence=evidence,
            recommendation="Raise its memory: near the limit an invocation fails out of memory, and more "
            "memory also brings more CPU, which often shortens the duration",
        )
    suggest = max(128.0, math.ceil(used * MEMORY_HEADROOM / 64) * 64)
    if share > MEMORY_SPARE_SHARE or suggest >= size:
        return None
    saving = 1 - suggest / size
    name = key.split('"')[1] if '"' in key else key
    spent = cost.get("target_components_usd", {}).get(f"lambda.{name}_usd")
    money = (
        f"; at the same duration this run's ${spent:.4f} of its compute would have been ${spent * (1 - saving):.4f}"
        if spent is not None and spent > 0
        else ""
    )
    return Finding(
        kind="service",
        title=f"{key} used at most {used:,.0f} MB of its {size:,.0f} MB",
        evidence=evidence,
        recommendation=f"Try {suggest:,.0f} MB: {_pct(saving)} less memory{money}. Lambda's CPU grows with "
        "memory, so measure the duration at the smaller size (AWS Lambda Power Tuning) before changing it",
    )


def service_findings(
    service_metrics: ServiceMetricsSection, checks: Sequence[Check], cost: CostSection | None = None
) -> list[Finding]:
    """What the collected service metrics explain, each with the recommendation its numbers support;
    a throttling finding says when the throttling began (its series' first non-zero point)."""
    out = _service_findings(service_metrics, checks, cost)
    services = service_metrics.get("services", {})
    for finding in out:
        head = finding["evidence"][0].split(" = ", 1)[0] if finding["evidence"] else ""
        key, _, path = head.partition("].")
        entry = services.get(key + "]")
        if "throttl" not in path or entry is None:
            continue
        series_key = report_key(path, metric_kind(entry["type"], path) or "count")
        if (t := first_rise(entry, series_key)) is not None:
            finding["at_s"] = t
            finding["evidence"].append(f"first at {_clock(t)} into the run")
    return out


def _service_findings(
    service_metrics: ServiceMetricsSection, checks: Sequence[Check], cost: CostSection | None = None
) -> list[Finding]:
    """What the collected service metrics explain, each with the recommendation its numbers support."""
    failed = {c["metric"] for c in checks if c["status"] == "fail"}
    out: list[Finding] = []
    for key, entry in service_metrics.get("services", {}).items():
        kind, v = entry["type"], entry["values"]
        if kind == "lambda" and (memory := memory_finding(key, v, cost or {})) is not None:
            out.append(memory)
        if kind == "lambda":
            throttles = _val(v, kind, "throttles.sum")
            if throttles:
                peak = _val(v, kind, "concurrent_executions.max")
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key} was throttled {throttles:,.0f} times",
                        evidence=[
                            f"{key}.throttles.sum = {throttles:,.0f}",
                            *_line(key, kind, v, "concurrent_executions.max"),
                        ],
                        recommendation="Raise the function's reserved concurrency (or the account's limit), "
                        "or add provisioned concurrency for the peak",
                    )
                )
            cold_p99 = _val(v, kind, "cold_start.p99")
            if f"{key}.cold_start.p99" in failed and cold_p99 is not None:
                peak = _val(v, kind, "concurrent_executions.max")
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key}'s cold starts broke their target: p99 {_ms(cold_p99)}",
                        evidence=[
                            f"{key}.cold_start.p99 = {_ms(cold_p99)}",
                            *_line(key, kind, v, "cold_start.count"),
                        ],
                        recommendation="Provisioned concurrency for the function"
                        + (f", at least its peak of {peak:,.0f} concurrent executions" if peak else "")
                        + "; or a smaller package and fewer imports at init",
                    )
                )
            usage = _val(v, kind, "concurrency_utilization.max")
            if usage is not None and usage >= 0.9:
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key} used {_pct(usage)} of its concurrency limit",
                        evidence=[f"{key}.concurrency_utilization.max = {_pct(usage)}"],
                        recommendation="Raise the concurrency limit before the real peak: at the limit, requests are throttled",
                    )
                )
        elif kind == "dynamodb":
            throttled = sum(
                x
                for k in ("throttled_requests.sum", "read_throttle_events.sum", "write_throttle_events.sum")
                if (x := _val(v, kind, k))
            )
            if throttled:
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key} throttled {throttled:,.0f} requests",
                        evidence=[
                            f"{key}.{k} = {_val(v, kind, k) or 0:,.0f}"
                            for k in (
                                "throttled_requests.sum",
                                "read_throttle_events.sum",
                                "write_throttle_events.sum",
                            )
                            if _val(v, kind, k)
                        ],
                        recommendation="Switch the table to on-demand capacity, or raise its provisioned "
                        "capacity (and auto scaling's maximum) above the run's consumption",
                    )
                )
        elif kind == "rds":
            usage = _val(v, kind, "connection_utilization.max")
            if usage is not None and usage >= 0.8:
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key}'s connections reached {_pct(usage)} of the pool",
                        evidence=[
                            f"{key}.connection_utilization.max = {_pct(usage)}",
                            *_line(key, kind, v, "connections.max"),
                        ],
                        recommendation="Put RDS Proxy (or a connection pool) between the functions and the "
                        "database, or size the pool for the peak",
                    )
                )
        elif kind == "sqs":
            sent, deleted = _val(v, kind, "sent.sum"), _val(v, kind, "deleted.sum")
            waiting, oldest = _val(v, kind, "visible_messages.max"), _val(v, kind, "oldest_message_age.max")
            if sent and deleted is not None and waiting and sent > deleted * QUEUE_BACKLOG_FACTOR:
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key} grew: {sent:,.0f} messages sent, {deleted:,.0f} processed, up to {waiting:,.0f} waiting",
                        evidence=[f"{key}.visible_messages.max = {waiting:,.0f}"]
                        + ([f"{key}.oldest_message_age.max = {_ms(oldest)}"] if oldest is not None else []),
                        recommendation="The consumers do not keep up with the load: raise their concurrency "
                        "(the event source mapping's maximum concurrency, batch size) or their processing rate",
                    )
                )
        elif kind == "elasticache":
            hit = _val(v, kind, "hit_rate")
            if hit is not None and hit < 0.8:
                out.append(
                    Finding(
                        kind="service",
                        title=f"{key}'s hit rate was {_pct(hit)}",
                        evidence=[f"{key}.hit_rate = {_pct(hit)}"]
                        + (_line(key, kind, v, "evictions.sum") if _val(v, kind, "evictions.sum") else []),
                        recommendation="Cache more of what the load reads (keys, TTLs)"
                        + (
                            "; evictions say the cache is too small" if _val(v, kind, "evictions.sum") else ""
                        ),
                    )
                )
    return out


def validity_findings(checks: Sequence[Check]) -> list[Finding]:
    return [
        Finding(
            kind="validity",
            title=f"not a valid test: {c['name'].removeprefix(PREFIX)} did not hold",
            evidence=[c["detail"]] if c.get("detail") else [],
            check=c["name"],
        )
        for c in checks
        if is_validity_check(c) and c["status"] != "pass"
    ]


def _failure_lines(failures: Sequence[FailureGroup]) -> list[str]:
    lines = []
    for group in failures[:2]:
        if group["samples"]:
            first = group["samples"][0]
            what = first.get("detail") or f"status {first['status']}"
            lines.append(f"first failure of {group['endpoint']}: {what}")
    return lines


def find(
    plan: Plan,
    scopes: Sequence[FindingScope],
    checks: Sequence[Check],
    *,
    service_metrics: ServiceMetricsSection,
    failures: Sequence[FailureGroup] = (),
    verdict: str,
    cost: CostSection | None = None,
) -> list[Finding]:
    """Every finding the run's data supports: validity first (a test that proved nothing), then
    what explains the failed checks, then what the service metrics show."""
    out = validity_findings(checks)
    causes: list[Finding] = []
    by_target = {s.target: s for s in scopes}
    for check in checks:
        ref = _latency_check(check)
        if ref is None:
            continue
        scope = by_target.get(ref.target)
        if scope is not None and (found := slow_endpoints(plan, scope, check, ref)) is not None:
            causes.append(found)
    for scope in scopes:
        knee = latency_knee(plan, scope, checks)
        if knee is not None:
            causes.append(knee)
        causes.extend(error_bursts(plan, scope, _failure_lines(failures) if scope.target is None else []))
    services = service_findings(service_metrics, checks, cost)
    broke = [f["at_s"] for f in causes if f["kind"] in ("latency-knee", "error-burst") and "at_s" in f]
    for finding in services:
        if broke and "at_s" in finding:
            gap = finding["at_s"] - min(broke)
            when = "with" if abs(gap) <= SAME_TIME_S else "after" if gap > 0 else "before"
            finding["evidence"].append(
                f"{when} the failure in the run's own figures (from {_clock(min(broke))})"
                + (f", {abs(gap):.0f} s {when}" if when != "with" else "")
            )
    out += causes + services
    unjudged = [c["name"] for c in checks if c["status"] == "no-data"]
    if verdict == "fail" and unjudged and not any(c["status"] == "fail" for c in checks):
        # Nothing failed: the verdict is the checks that could not be judged, and why is known.
        out.append(
            Finding(
                kind="no-data",
                title=f"{len(unjudged)} check(s) had no data, and a check without data cannot pass",
                evidence=["no data: " + "; ".join(unjudged[:5])],
                recommendation=_where_to_look(plan, service_metrics),
            )
        )
    elif verdict == "fail" and not causes and not services and not any(f["kind"] == "validity" for f in out):
        failed = [c["name"] for c in checks if c["status"] == "fail"]
        nodata = sum(c["status"] == "no-data" for c in checks)
        evidence = ["failed: " + "; ".join(failed[:5])]
        if nodata:
            evidence.append(f"{nodata} check(s) had no data")
        evidence.append(
            "no endpoint holds most of the slow requests, latency did not break at a load level, "
            "errors did not burst, and no collected service metric explains it"
        )
        out.append(
            Finding(
                kind="no-clear-cause",
                title="no clear cause in the run's own data",
                evidence=evidence,
                recommendation=_where_to_look(plan, service_metrics),
            )
        )
    return out
