"""Markdown report: the document a manager reads and signs off.

What each section says is the report's view (``reports.view``); this lays it out as Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from reports.formatting import (
    DASH,
    format_bytes,
    format_count,
    format_datetime,
    format_delta,
    format_duration,
    format_per_s,
    format_ratio,
    format_value,
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
from reports.view import (
    ENDPOINT_HEADERS,
    FAILURE_HEADERS,
    FAILURES_NOTE,
    FLOW_HEADERS,
    FLOWS_NOTE,
    LATENCY_KEYS,
    PHASE_HEADERS,
    SCOPED_INTERVAL_NOTE,
    SIGNATURE,
    applied_load_lines,
    applied_load_rows,
    baseline_lines,
    check_counts,
    check_label,
    delta_direction,
    endpoint_cells,
    failure_rows,
    flatten_metrics,
    flow_rows,
    format_latency,
    format_measured,
    format_target,
    generator_rows,
    generator_warnings,
    judgement_lines,
    latency_interval_cell,
    partial_note,
    phase_cells,
    recovery_rows,
    reevaluation_note,
    status_label,
    validity_problem_lines,
    verdict_label,
)
from surge.report_model import (
    Report,
)
from surge.validity import is_validity_check

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
