"""Markdown report: the document a manager reads and signs off.

The value formatters (``reports.formatting``, re-exported here) and the labels below are shared by
the HTML and JUnit renderers, so a number reads the same in every output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from reports.formatting import (
    DASH,
    format_bytes,
    format_count,
    format_datetime,
    format_delta,
    format_duration,
    format_ms,
    format_offset,
    format_per_s,
    format_ratio,
    format_usd,
    format_value,
    unit_for_key,
    unit_for_path,
)
from reports.services import (
    CostLine,
    ServiceMetricsView,
    ServiceView,
    by_service_rows,
    cost_view,
    service_heading,
    service_metrics_view,
    split_notes,
    threshold_example,
    window_line,
)
from reports.targets import targets_view, together
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

__all__ = [
    "DASH",
    "ENDPOINT_HEADERS",
    "LATENCY_KEYS",
    "PHASE_HEADERS",
    "SATURATION_WARNING",
    "SCOPED_INTERVAL_NOTE",
    "LatencyKey",
    "baseline_lines",
    "check_counts",
    "check_label",
    "endpoint_cells",
    "flatten_metrics",
    "format_bytes",
    "format_count",
    "format_datetime",
    "format_delta",
    "format_duration",
    "format_interval",
    "format_latency",
    "format_measured",
    "format_ms",
    "format_offset",
    "format_per_s",
    "format_ratio",
    "format_target",
    "format_usd",
    "format_value",
    "generator_rows",
    "generator_warnings",
    "judgement_lines",
    "latency_interval_cell",
    "partial_note",
    "phase_cells",
    "phase_not_run",
    "reevaluation_note",
    "render_markdown",
    "scoped_latency",
    "status_label",
    "uncertainty_line",
    "unit_for_key",
    "validity_problem_lines",
    "verdict_label",
]

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


# --- markdown building blocks --------------------------------------------------------------------


# Control characters (a terminal escape, a NUL) from names and messages: shown as a space.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CODE_SPAN = re.compile(r"(`[^`]*`)")
# Only what would start a tag, a comment or an entity: "< 500 ms" and "<0.01%" stay readable.
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])|&(?=[A-Za-z#])")


def _plain(text: str) -> str:
    """User text as Markdown shows it, never as HTML a viewer would render: names and messages
    come from plans and targets. Code spans are shown literally by Markdown, so left as they are."""
    parts = _CODE_SPAN.split(_CONTROL.sub(" ", text))
    return "".join(
        p if len(p) > 1 and p.startswith("`") and p.endswith("`") else _HTML_START.sub(_entity, p)
        for p in parts
    )


def _entity(m: re.Match[str]) -> str:
    return "&lt;" if m.group() == "<" else "&amp;"


def _cell(text: str) -> str:
    # A pipe or newline in user text (plan names, error messages) would break the table.
    return _plain(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    right_cols = set(right)
    align = ["---:" if i in right_cols else ":---" for i in range(len(headers))]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _code(text: str) -> str:
    return "`" + _CONTROL.sub(" ", text).replace("`", "'") + "`"


def _section(title: str) -> list[str]:
    return [f"## {title}", ""]


# --- sections --------------------------------------------------------------------------------------


def _header(report: Report) -> list[str]:
    lines = [f"# Load test report: {report['plan']}", "", f"**Verdict: {verdict_label(report)}**", ""]
    reeval = reevaluation_note(report)
    if reeval:
        lines += [f"> **{_cell(reeval)}.**", ""]
    note = partial_note(report)
    if note:
        lines += [
            f"> **{_cell(note)}.** The figures below cover only the part of the run that completed.",
            "",
        ]
    findings = validity_problem_lines(report)
    if findings:
        lines += ["> **Not a valid test:** " + " ".join(_cell(f) + "." for f in findings), ""]
    if report["verdict"] == "error" and report["error"]:
        lines += [f"> **Error:** {_cell(report['error'])}", ""]
    facts = [
        ("Run ID", _code(report["run_id"])),
        ("Plan", f"{report['plan']} (hash {_code(report['plan_hash'][:12])})"),
        ("Target", _cell(report["target"])),
        ("Started", format_datetime(report["started_at"])),
        ("Ended", format_datetime(report["ended_at"])),
        ("Duration", format_duration(report["duration_s"])),
        ("Mode", f"{report['mode']}, {report['model']} model"),
    ]
    return lines + [f"- **{key}:** {value}" for key, value in facts] + [""]


def _signoff(report: Report) -> list[str]:
    checks = report["checks"]
    counts = check_counts(checks)
    lines = _section("Sign-off")
    if not checks:
        return [*lines, "No checks were defined for this run.", ""]
    lines += [
        f"{len(checks)} checks: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['no-data']} without data.",
        "",
    ]
    rows = [
        (
            _code(check_label(c)),
            format_target(c),
            format_value(c["baseline"], c["unit"]),
            format_measured(c),
            format_delta(c["delta_pct"]) + (f" ({d})" if (d := delta_direction(c)) else ""),
            status_label(c["status"]) if c["status"] == "pass" else f"**{status_label(c['status'])}**",
        )
        for c in checks
    ]
    headers = ("Metric", "Target", "Baseline", "Measured", "Delta", "Status")
    note = (
        "_Delta: measured against the baseline. NO DATA counts as not passed: a missing metric never passes._"
    )
    if any(is_validity_check(c) for c in checks):
        note += (
            " _Checks named “validity:” are every run's own: a run that loses a worker, drops load, "
            "outruns its generator, gets no answer or is cut short proved nothing, whatever its "
            "thresholds say._"
        )
    extra = [f"- {_cell(line)}" for line in [*baseline_lines(report), *judgement_lines(report)]]
    return lines + _table(headers, rows, (2, 3, 4)) + [note, ""] + ([*extra, ""] if extra else [])


def _findings(report: Report) -> list[str]:
    """Why the run failed and what to do, from its own data (surge.findings)."""
    findings = report["findings"]
    if not findings:
        return []
    lines = _section("Findings")
    for i, f in enumerate(findings, 1):
        lines.append(f"{i}. **{_cell(f['title'])}**")
        lines += [f"   - {_cell(line)}" for line in f["evidence"]]
        if f.get("recommendation"):
            lines.append(f"   - _What to do:_ {_cell(f['recommendation'])}")
    return [*lines, ""]


def _targets(report: Report) -> list[str]:
    """An A/B run: the targets, their own verdicts, and their figures side by side."""
    view = targets_view(report)
    if view is None:
        return []
    lines = _section("Targets compared")
    lines += _table(
        ("Target", "URL", "Its checks"),
        [
            (_code(n), _code(u), v.upper() if v == "pass" else f"**{v.upper()}**")
            for n, u, v in zip(view.names, view.urls, view.verdicts, strict=True)
        ],
    )
    lines += [f"The same load on each: {view.load}. Changes are against {view.names[0]}.", ""]
    for table in view.tables:
        headers = (table.first_column, *view.names, *view.delta_headers)
        rows = [
            (
                _cell(row.label),
                *row.values,
                *(f"{d.text} ({d.verdict})" if d.verdict else d.text for d in row.deltas),
            )
            for row in table.rows
        ]
        lines += [f"### {table.title}", "", *_table(headers, rows, range(1, len(headers))), ""]
    return lines


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


def _applied_load(report: Report) -> list[str]:
    load = report.get("applied_load")
    if not load:
        return []
    lines = _section("Applied load")
    lines += _table(
        ("Phase", "Duration", "Planned", "Iterations started", "Requests/s"),
        applied_load_rows(load),
        (1, 3, 4),
    )
    return lines + [f"- {_cell(line)}" for line in applied_load_lines(load)] + [""]


def _totals(report: Report) -> list[str]:
    t = report["totals"]
    row = (
        format_count(t["requests"]),
        format_count(t["errors"]),
        format_ratio(t["error_rate"]),
        format_per_s(t["throughput_rps"]),
        format_count(t["dropped_iterations"]),
        format_count(t["iterations"]),
        format_bytes(t["bytes_received"]),
        format_bytes(t["bytes_sent"]) if "bytes_sent" in t else DASH,
    )
    headers = (
        "Requests",
        "Errors",
        "Error rate",
        "Throughput",
        "Dropped iterations",
        "Iterations",
        "Received",
        "Sent (bodies)",
    )
    return _section("Totals" + together(report)) + _table(headers, [row], range(8))


def _latency(report: Report) -> list[str]:
    corrected, service = report["latency_ms"], report["service_time_ms"]
    spans = bool(report["uncertainty"])  # a report written before intervals existed has none
    rows = [
        (
            label,
            format_latency(corrected, key),
            *((latency_interval_cell(report, key),) if spans else ()),
            format_latency(service, key),
        )
        for key, label in LATENCY_KEYS
    ]
    note = (
        "_Response time is measured from each request's intended start (corrected for coordinated "
        "omission); service time from send to last byte. Both cover answered requests; a timed-out "
        "request counts as at least its timeout (≥), and requests that got no answer (refused, "
        "reset, connect, DNS, TLS, interrupted) are errors, not latencies. The 95% interval is "
        "where the true figure lies, read from the run's own data (neighbouring requests' "
        "correlation included)._"
    )
    return (
        _section("Latency" + together(report))
        + _table(
            ("Statistic", "Response time (corrected)", *(("95% interval",) if spans else ()), "Service time"),
            rows,
            (1, 2, 3) if spans else (1, 2),
        )
        + [
            note,
            "",
        ]
    )


def _endpoints(report: Report) -> list[str]:
    if not report["endpoints"]:
        return []
    rows = [tuple(endpoint_cells(report, name)) for name in report["endpoints"]]
    note = "_Latency is response time (corrected)"
    if report["uncertainty"]:
        note += "; " + SCOPED_INTERVAL_NOTE
    return (
        _section("Endpoints" + together(report))
        + _table(ENDPOINT_HEADERS, rows, range(1, 10))
        + [note + "_", ""]
    )


def _phases(report: Report) -> list[str]:
    if not report["phases"]:
        return []
    rows = [tuple(phase_cells(report, p)) for p in report["phases"]]
    return _section("Phases" + together(report)) + _table(PHASE_HEADERS, rows, range(1, 10))


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


def _recovery(report: Report) -> list[str]:
    entries = report.get("recovery") or []
    if not entries:
        return []
    rows = [tuple(_cell(c) for c in row) for row in recovery_rows(entries)]
    return (
        _section("Recovery")
        + _table(("Recovery", "Clock from", "Back when", "Back at", "Took"), rows, (3, 4))
        + [""]
    )


def _stages(report: Report) -> list[str]:
    stages = report.get("stages") or {}
    if not stages:
        return []
    headers = ("Stage", "Completed", "Failed", "p50", "p95", "p99", "Max", "Waterfall (p95)")
    longest = max((s["latency_ms"]["p95"] or 0.0) for s in stages.values()) or 1.0
    rows = []
    folded = {s["poll_metric"] for s in stages.values() if "poll_metric" in s}
    for name, s in stages.items():
        if name in folded:
            continue  # shown on the row of the stage that holds only this poll
        if "poll_metric" in s:
            name = f"{name} (its poll: {s['poll_metric']})"
        p95 = s["latency_ms"]["p95"] or 0.0
        bar = "█" * max(1, round(20 * p95 / longest)) if p95 else ""
        failed = format_count(s["failures"])
        if s["failures_by_class"]:
            failed += " (" + ", ".join(f"{k} {v}" for k, v in s["failures_by_class"].items()) + ")"
        rows.append(
            (
                name,
                format_count(s["count"]),
                failed,
                format_latency(s["latency_ms"], "p50"),
                format_latency(s["latency_ms"], "p95"),
                format_latency(s["latency_ms"], "p99"),
                format_latency(s["latency_ms"], "max"),
                bar,
            )
        )
    return _section("Stages") + _table(headers, rows, range(1, 7))


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


def _failures(report: Report) -> list[str]:
    if not report["failures"]:
        return []
    return [*_section("Failures"), FAILURES_NOTE, "", *_table(FAILURE_HEADERS, failure_rows(report), (2,))]


def _flows(report: Report) -> list[str]:
    flows = report.get("flows") or []
    if not flows:
        return []
    lines = [*_section("Setup and teardown"), FLOWS_NOTE, "", *_table(FLOW_HEADERS, flow_rows(report), (2,))]
    lines += [f"- {_cell(f['message'])}" for f in flows if f["message"]]
    return [*lines, ""] if any(f["message"] for f in flows) else lines


def _share_rows(counts: Mapping[str, int], whole: int) -> list[tuple[str, str, str]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(key, format_count(n), format_ratio(n / whole) if whole else DASH) for key, n in ordered]


def _errors(report: Report) -> list[str]:
    lines = _section("Errors")
    requests = report["totals"]["requests"]
    if report["errors_by_class"]:
        lines += ["### By class", ""]
        lines += _table(
            ("Class", "Count", "Share of requests"), _share_rows(report["errors_by_class"], requests), (1, 2)
        )
    else:
        lines += ["No errors were recorded.", ""]
    if report["status_codes"]:
        lines += ["### Status codes", ""]
        lines += _table(
            ("Status", "Count", "Share of requests"), _share_rows(report["status_codes"], requests), (1, 2)
        )
    return lines


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


def _generator(report: Report) -> list[str]:
    lines = _section("Generator health")
    for warning in generator_warnings(report):
        lines += [f"> **Warning:** {_cell(warning)}", ""]
    lines += _table(("Indicator", "Value"), generator_rows(report), (1,))
    notes = report["generator"]["notes"]
    return lines + ([f"- {_cell(n)}" for n in notes] + [""] if notes else [])


def _key_values(title: str, values: Mapping[str, object]) -> list[str]:
    if not values:
        return []
    return _section(title) + _table(("Key", "Value"), flatten_metrics(values), (1,))


def _notes(notes: Sequence[str]) -> list[str]:
    lines: list[str] = []
    titles = (("Note", "Notes"), ("About this figure", "About these figures"))
    for (one, many), group in zip(titles, split_notes(notes), strict=True):
        if len(group) == 1:
            lines += [f"> **{one}:** {_cell(group[0])}", ""]
        elif group:
            lines += [f"> **{many}:**", ">", *[f"> - {_cell(n)}" for n in group], ""]
    return lines


def _service(service: ServiceView) -> list[str]:
    lines = [f"### {_code(service.key)} — {_cell(service_heading(service))}", ""]
    lines += _notes(service.notes)
    rows = [(_code(v.name), v.text) for v in service.values]
    return lines + (_table(("Metric", "Value"), rows, (1,)) if rows else [])


def _service_metrics(report: Report) -> list[str]:
    section = report["service_metrics"]
    view: ServiceMetricsView | None = service_metrics_view(section)
    if view is None:
        return _key_values("Service metrics", section)
    intro = window_line(view)
    example = threshold_example(view)
    if example:
        intro += f" Thresholds name these values by service and metric, e.g. {_code(example)}."
    lines = [*_section("Service metrics"), intro, "", *_notes(view.notes)]
    for service in view.services:
        lines += _service(service)
    return lines


def _cost_rows(lines: Sequence[CostLine]) -> list[tuple[str, str]]:
    rows = []
    for line in lines:
        label = f"of which {_code(line.label)}" if line.part else line.label
        if line.metric:
            label += f" ({_code(line.metric)})"
        value = f"**{line.value}**" if line.status == "fail" else line.value
        rows.append((label, value))
    return rows


def _cost(report: Report) -> list[str]:
    cost = report["cost"]
    if not cost:
        return []
    view = cost_view(cost)
    lines = [*_section("Cost"), *_notes(view.notes)]
    if view.projection:
        lines += ["### Monthly cost against the baseline", ""]
        lines += _table(("Item", "Value"), _cost_rows(view.projection), (1,))
        lines += [f"_{_cell(view.source)}._", ""] if view.source else []
    if view.by_service:
        lines += ["### By service (monthly projection)", ""]
        lines += _table(("Service", "Monthly", "Share"), by_service_rows(view), (1, 2))
    if view.target:
        lines += ["### Target cost per million requests", ""]
        lines += _table(("Item", "Value"), _cost_rows(view.target), (1,))
    if view.run:
        lines += ["### This run's own cost", ""]
        lines += _table(("Item", "Value"), _cost_rows(view.run), (1,))
    return lines


SIGNATURE = "Reviewed and approved by: ______________________    Date: ____________"


def delta_direction(check: Check) -> str | None:
    """Whether a check's change against its baseline is "better" or "worse" (None: no change
    known, or the check has no direction, == / !=): lower is better for a < check, higher for >."""
    delta = check["delta_pct"]
    if delta is None or delta == 0 or check["op"] not in ("<", "<=", ">", ">="):
        return None
    lower_is_better = check["op"] in ("<", "<=")
    return "better" if (delta < 0) == lower_is_better else "worse"


def _signature() -> list[str]:
    return ["---", "", SIGNATURE, ""]


def render_markdown(report: Report) -> str:
    lines = [
        *_header(report),
        *_findings(report),
        *_signoff(report),
        *_targets(report),
        *_applied_load(report),
        *_totals(report),
        *_latency(report),
        *_endpoints(report),
        *_phases(report),
        *_recovery(report),
        *_stages(report),
        *_flows(report),
        *_errors(report),
        *_failures(report),
        *_generator(report),
        *_service_metrics(report),
        *_cost(report),
        *_signature(),
    ]
    return "\n".join(lines).rstrip() + "\n"
