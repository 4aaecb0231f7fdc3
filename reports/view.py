"""The report's view: what every output shows of a report, as text.

The labels, cells and rows of each section and the notes under them, built from report.json once;
Markdown, HTML, JUnit, the terminal and ``surge compare`` only lay them out, so a number and a
sentence read the same in every output. The value formatters are ``reports.formatting``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from reports.formatting import (
    DASH,
    format_count,
    format_datetime,
    format_duration,
    format_ms,
    format_offset,
    format_per_s,
    format_ratio,
    format_value,
    unit_for_path,
)
from surge.baseline import is_regression_check
from surge.report_model import (
    AppliedLoad,
    Check,
    CheckStatus,
    LatencySummary,
    PhaseReport,
    RecoveryReport,
    Report,
    Verdict,
)
from surge.thresholds import MetricRef
from surge.validity import PREFIX as VALIDITY_PREFIX
from surge.validity import counted, is_validity_check

SATURATION_WARNING = (
    "The load generator was saturated: latencies may include the generator's own queueing; "
    "rerun with more workers."
)
LatencyKey = Literal["min", "mean", "p50", "p90", "p95", "p99", "p999", "max"]
LATENCY_KEYS: tuple[tuple[LatencyKey, str], ...] = (
    ("min", "min"),
    ("mean", "mean"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "max"),
)
_VERDICT_WORDS: dict[Verdict, str] = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}
_STATUS_WORDS: dict[CheckStatus, str] = {"pass": "PASS", "fail": "FAIL", "no-data": "NO DATA"}


# --- labels (shared) -----------------------------------------------------------------------------


def format_target(check: Check) -> str:
    """A check's target; an A/B comparison's says what it was computed from."""
    if check.get("detail") and "against" not in check and check["kind"] == "threshold":
        return f"{check['op']} ?"  # a comparison whose other side had no figure (its detail says)
    text = f"{check['op']} {format_value(check['target'], check['unit'])}{counted(check)}"
    against = check.get("against")
    if against:
        sides = ", ".join(f"{name} = {format_value(value, check['unit'])}" for name, value in against.items())
        text += f" (from {sides})"
    return text


def status_label(status: CheckStatus) -> str:
    return _STATUS_WORDS.get(status, status.upper())


def verdict_label(report: Report) -> str:
    return _VERDICT_WORDS.get(report["verdict"], report["verdict"].upper())


def partial_note(report: Report) -> str | None:
    """ "PARTIAL — stopped early: <why>" for a run that did not complete, else None."""
    if not report["partial"]:
        return None
    if report["aborted_by"]:
        why = f"check “{report['aborted_by']}” failed and is set to abort the run"
    elif report["error"]:
        why = report["error"].strip().splitlines()[0]
    else:
        why = "the run was stopped before the planned end"
    return f"PARTIAL — stopped early: {why}"


def check_label(check: Check) -> str:
    """The sign-off's name for a check: its metric, or the whole rule for a regression check (which
    would otherwise read as a second, contradictory threshold on the same metric) and for a
    validity check (whose "metric" is the test's own health, not the service's)."""
    if is_regression_check(check) or is_validity_check(check):
        return check["name"]
    # A check that stops the run when it fails is a guard, often beside a stricter check of the
    # same metric: named so, the two do not read as one check listed twice.
    return f"{check['metric']} (abort guard)" if check["abort_on_fail"] else check["metric"]


def at_least_reason(check: Check) -> str:
    """Why a measured value is only a lower bound: a recovery that had not come back when the run
    ended, or a percentile that fell among timed-out requests."""
    return "not back by the run's end" if check["metric"].startswith("recovery[") else "timeouts"


def format_measured(check: Check) -> str:
    """A check's measured value; "≥ …" when it is only a lower bound (it fell among timeouts);
    with its 95 % interval when the run's data gave one, and "within the uncertainty" when the
    target lies inside it."""
    text = format_value(check["measured"], check["unit"])
    if check["measured"] is not None:
        text += counted(check)
    if check.get("at_least") and check["measured"] is not None:
        return f"≥ {text} ({at_least_reason(check)})"
    span = check.get("interval")
    if span:
        text += " " + format_interval(span, check["unit"])
    if check.get("uncertain"):
        text += " (within the uncertainty)"
    return text


def format_interval(span: Sequence[float | None], unit: str) -> str:
    """A 95 % interval, "[455–510 ms]"; an open upper end is "[455 ms–?]"."""
    lo, hi = span[0], span[1]
    if hi is None:
        return f"[{format_value(lo, unit)}–?]"
    low, high = format_value(lo, unit), format_value(hi, unit)
    # One unit for both ends when they share it: [455–510 ms].
    low_num, _, low_unit = low.partition(" ")
    high_unit = high.partition(" ")[2]
    if low_unit and low_unit == high_unit:
        return f"[{low_num}–{high}]"
    return f"[{low}–{high}]"


UNCERTAINTY_LABELS = (
    ("http.latency.p50", "p50"),
    ("http.latency.p95", "p95"),
    ("http.latency.p99", "p99"),
    ("http.error_rate", "error rate"),
    ("http.throughput", "throughput"),
)


def uncertainty_line(report: Report) -> str | None:
    """The headline figures with their 95 % intervals, or None for a report without them."""
    found = report["uncertainty"]
    parts = []
    for metric, label in UNCERTAINTY_LABELS:
        span = found.get(metric)
        if span:
            unit = "ms" if ".latency." in metric else "ratio" if metric.endswith("error_rate") else "per_s"
            parts.append(f"{label} {format_interval(span, unit)}")
    return ("95% intervals from the run's own data: " + ", ".join(parts)) if parts else None


def scoped_latency(report: Report, scope: str, name: str, summary: LatencySummary, key: LatencyKey) -> str:
    """An endpoint's or phase's latency statistic, with its 95 % interval when the report has one:
    "12.3 ms [11.8–13.0 ms]"."""
    text = format_latency(summary, key)
    span = report["uncertainty"].get(MetricRef(scope, name, ("latency", key), "ms").canonical)
    if span and summary[key] is not None and key not in summary.get("at_least", ()):
        text += " " + format_interval(span, "ms")
    return text


def endpoint_cells(report: Report, name: str) -> list[str]:
    """An endpoint's row (shared by the HTML), its p95 and p99 with their 95 % intervals."""
    e = report["endpoints"][name]
    return [
        name,
        format_count(e["requests"]),
        format_count(e["errors"]),
        format_ratio(e["error_rate"]),
        format_per_s(e["throughput_rps"]),
        format_latency(e["latency_ms"], "p50"),
        scoped_latency(report, "endpoint", name, e["latency_ms"], "p95"),
        scoped_latency(report, "endpoint", name, e["latency_ms"], "p99"),
        format_latency(e["latency_ms"], "max"),
        format_latency(e["service_time_ms"], "p95"),
    ]


ENDPOINT_HEADERS = (
    "Endpoint",
    "Requests",
    "Errors",
    "Error rate",
    "Throughput",
    "p50",
    "p95",
    "p99",
    "Max",
    "Service p95",
)
PHASE_HEADERS = (
    "Phase",
    "Start",
    "Duration",
    "Requests",
    "Error rate",
    "Throughput",
    "Dropped",
    "p50",
    "p95",
    "p99",
)
SCOPED_INTERVAL_NOTE = "p95 and p99 with their 95% intervals [low–high] from the run's own data."


def latency_interval_cell(report: Report, key: str) -> str:
    """The 95 % interval of one statistic of the run's response time, or a dash."""
    span = report["uncertainty"].get(f"http.latency.{key}")
    return format_interval(span, "ms") if span else DASH


def judgement_lines(report: Report) -> list[str]:
    """What the checks judged with their noise: a threshold within its figure's uncertainty, a
    regression check the noise decided, and the smallest change each regression check could see."""
    lines = []
    for c in report["checks"]:
        if c.get("uncertain") and c.get("detail"):
            lines.append(f"{c['name']}: {c.get('detail')}")
        elif is_regression_check(c) and c.get("detectable_pct") is not None:
            detail = c.get("detail")
            seen = f"this pair of runs tells a change of {c.get('detectable_pct'):.1f}% from noise (95% of the time)"
            lines.append(f"{c['name']}: " + (f"{detail}; {seen}" if detail else seen))
    return lines


def format_latency(summary: LatencySummary, key: LatencyKey) -> str:
    """One statistic of a latency summary; "≥ …" when it fell among timed-out requests."""
    text = format_ms(summary[key])
    return f"≥ {text}" if key in summary.get("at_least", ()) and summary[key] is not None else text


def validity_problem_lines(report: Report) -> list[str]:
    """Why the run is not a valid test, one line per failed validity check, with what to do."""
    return [
        f"{c['name'].removeprefix(VALIDITY_PREFIX)}: {c.get('detail', '')}".rstrip(": ")
        for c in report["checks"]
        if is_validity_check(c) and c["status"] != "pass"
    ]


def reevaluation_note(report: Report) -> str | None:
    info = report.get("reevaluation")
    if not info:
        return None
    return (
        f"Re-evaluation of run {info['of_run']} with plan '{info['plan']}' ({info['plan_path']}) "
        f"on {format_datetime(info['at'])}; the run's own verdict was {info['original_verdict'].upper()}"
    )


def phase_not_run(phase: PhaseReport) -> bool:
    return phase["status"] == "not run"


def phase_cells(report: Report, p: PhaseReport) -> list[str]:
    """A phase's row (shared by the HTML): a phase a stop came before says "not run", not zeros;
    its p95 and p99 with their 95 % intervals."""
    if phase_not_run(p):
        return [p["name"], format_offset(p["start_s"]), "not run", *([DASH] * 7)]
    return [
        p["name"],
        format_offset(p["start_s"]),
        format_duration(p["duration_s"]) + (" (cut short)" if p["status"] == "partial" else ""),
        format_count(p["requests"]),
        format_ratio(p["error_rate"]),
        format_per_s(p["throughput_rps"]),
        format_count(p["dropped_iterations"]),
        format_latency(p["latency_ms"], "p50"),
        scoped_latency(report, "phase", p["name"], p["latency_ms"], "p95"),
        scoped_latency(report, "phase", p["name"], p["latency_ms"], "p99"),
    ]


def baseline_lines(report: Report) -> list[str]:
    """What the checks were compared to, the regression rule, and what could not be compared."""
    info = report["baseline"]
    if not info:
        return []
    lines = [f"Baseline: {info['label']}."]
    if info["max_worse_pct"] is not None:
        aware = any(c.get("noise_pct") is not None for c in report["checks"] if is_regression_check(c))
        lines.append(
            f"Regression rule: no metric worse than the baseline by more than {info['max_worse_pct']:g}%"
            + (
                " and beyond the noise (both runs' 95% intervals"
                + (
                    f", the spread between {info.get('noise_runs')} earlier runs of the plan)."
                    if info.get("noise_runs")
                    else ")."
                )
                if aware
                else "."
            )
        )
    return lines + [f"Note: {note}." for note in info["notes"]]


def check_counts(checks: Sequence[Check]) -> dict[CheckStatus, int]:
    counts: dict[CheckStatus, int] = {"pass": 0, "fail": 0, "no-data": 0}
    for check in checks:
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    return counts


def _format_any(value: object, path: Sequence[str]) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        unit = unit_for_path(path)
        if not unit and isinstance(value, int):
            unit = "count"
        return format_value(float(value), unit)
    if isinstance(value, list | tuple):
        return ", ".join(_format_any(item, path) for item in value)
    return str(value)


def flatten_metrics(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Nested dicts as (dotted key, formatted value) rows for a generic key/value table."""
    rows: list[tuple[str, str]] = []

    def walk(node: Mapping[str, object], path: list[str]) -> None:
        for key, value in node.items():
            here = [*path, str(key)]
            if isinstance(value, Mapping) and value:
                walk(value, here)
            else:
                rows.append((".".join(here), _format_any(value, here)))

    walk(values, [])
    return rows


def applied_load_rows(load: AppliedLoad) -> list[list[str]]:
    """Each phase as planned beside what ran: iterations started and requests per second."""
    rows = []
    for p in load["phases"]:
        measured = (
            [format_count(p["iterations"]), format_per_s(p["throughput_rps"])]
            if p["ran_s"] > 0
            else ["not run", "not run"]  # a stop came first: zeros would read as a measurement
        )
        rows.append([p["name"], format_duration(p["duration_s"]), p["planned"], *measured])
    return rows


def applied_load_lines(load: AppliedLoad) -> list[str]:
    """The rest of the applied load in words: the mix, think time, caps, polls."""
    mix = ", ".join(f"{sc['name']} {sc['share'] * 100:.0f}%" for sc in load["scenarios"])
    lines = [f"{load['model']} model" + (f", {load['arrival']} arrivals" if load["model"] == "open" else "")]
    lines.append(f"scenario mix (planned): {mix}")
    if load["think_time"]:
        lines.append(f"think time between a user's iterations: {load['think_time']}")
    if load["max_in_flight"]:
        lines.append(f"at most {load['max_in_flight']:,} iterations in flight (more arrivals are dropped)")
    for name in load["polls"]:
        lines.append(
            f"{name} is polled: its attempts before the condition holds (e.g. 404 until delivered) are "
            "requests, not errors; a poll fails only when it times out (its stage)"
        )
    return lines


def recovery_rows(entries: Sequence[RecoveryReport]) -> list[list[str]]:
    """One row per recovery: its name, when its clock started, what "back" meant, when, how long."""
    rows = []
    for r in entries:
        since = f"{r['phase']} {r['since']} ({format_offset(r['since_s'])})"
        if r["time_s"] is None:
            at, took = "—", "not watched (the run ended first)"
        elif r["at_least"]:
            at, took = "not within the run", f"at least {format_duration(r['time_s'])}"
        else:
            at = format_offset(r["recovered_at_s"] or 0.0)
            took = format_duration(r["time_s"])
        rows.append([r["name"], since, r["levels"], at, took])
    return rows


FLOW_HEADERS = ("Flow", "Endpoint", "Requests", "Errors", "Status", "p95")
FLOWS_NOTE = (
    "Run once around the load (setup before it, teardown after it, whatever ended it): their "
    "requests count in no figure or check above."
)


def flow_rows(report: Report) -> list[tuple[str, str, str, str, str, str]]:
    """One row per endpoint of the setup and teardown flows (the HTML and Markdown tables)."""
    rows = []
    for flow in report.get("flows") or []:
        target = flow.get("target")
        label = flow["name"] + (f" ({target})" if target else "") + ("" if flow["ok"] else " (failed)")
        for ep in flow["endpoints"] or [None]:  # type: ignore[list-item]
            if ep is None:
                rows.append((label, "—", "0", "—", "—", "—"))
                continue
            errors = ", ".join(f"{k} {v}" for k, v in ep["errors"].items()) or "0"
            status = ", ".join(f"{k} ×{v}" for k, v in ep["status"].items()) or "—"
            p95 = DASH if ep["p95_ms"] is None else f"{ep['p95_ms']:.1f} ms"
            rows.append((label, ep["name"], format_count(ep["requests"]), errors, status, p95))
    return rows


FAILURE_HEADERS = ("Endpoint", "Class", "Count", "At", "What happened", "Request", "Answer (first bytes)")


def failure_rows(report: Report, per_group: int = 2) -> list[tuple[str, str, str, str, str, str, str]]:
    """The first failures of each endpoint and class (the HTML and Markdown tables)."""
    rows = []
    for group in report["failures"]:
        for i, sample in enumerate(group["samples"][:per_group]):
            status = f"{sample['status']}" if sample["status"] else "no answer"
            body = (sample["body"] or "").replace("\n", " ")
            rows.append(
                (
                    group["endpoint"] if i == 0 else "",
                    group["error"] if i == 0 else "",
                    format_count(group["count"]) if i == 0 else "",
                    f"{sample['t']:.1f} s",
                    sample["detail"] or status,
                    f"{sample['request']} → {status}",
                    body[:120] + ("…" if len(body) > 120 else ""),
                )
            )
    return rows


FAILURES_NOTE = (
    "The first few failures of each endpoint and error class, as they happened (secrets masked); "
    "the counts are every failure."
)


def generator_warnings(report: Report) -> list[str]:
    """Plain-text warnings about the generator that a reader must see before trusting latencies."""
    g = report["generator"]
    warnings = [SATURATION_WARNING] if g["saturated"] else []
    if g["workers_failed"]:
        warnings.append(
            f"{g['workers_failed']} of {g['workers']} workers failed; "
            "the figures cover only the workers that finished."
        )
    return warnings


def generator_rows(report: Report) -> list[tuple[str, str]]:
    g = report["generator"]
    return [
        ("Workers", format_count(g["workers"])),
        ("Workers failed", format_count(g["workers_failed"])),
        ("Max event-loop lag", format_ms(g["max_loop_lag_ms"])),
        ("Peak CPU (busiest worker)", f"{g['cpu_pct']:.0f}% of one core"),
        ("Saturated", "yes" if g["saturated"] else "no"),
    ]


SIGNATURE = "Reviewed and approved by: ______________________    Date: ____________"


def delta_direction(check: Check) -> str | None:
    """Whether a check's change against its baseline is "better" or "worse" (None: no change
    known, or the check has no direction, == / !=): lower is better for a < check, higher for >."""
    delta = check["delta_pct"]
    if delta is None or delta == 0 or check["op"] not in ("<", "<=", ">", ">="):
        return None
    lower_is_better = check["op"] in ("<", "<=")
    return "better" if (delta < 0) == lower_is_better else "worse"
