"""Self-contained HTML report: one file that opens offline and is small enough to attach to a ticket.

Tables are rendered here, in Python, so they read (and print) without JavaScript; only the charts
are drawn in the browser, by the vendored uPlot, from data embedded as JSON.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Container, Iterable, Mapping, Sequence
from importlib import resources

from reports.charts import ChartData, ChartSpec, chart_data
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
    CostView,
    ServiceMetricsView,
    ServiceView,
    by_service_rows,
    cost_view,
    service_heading,
    service_metrics_view,
    split_notes,
    threshold_example,
    window_line,
    zero_series,
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
    uncertainty_line,
    validity_problem_lines,
    verdict_label,
)
from surge.report_model import Check, Report

__all__ = [
    "Cell",
    "chart_data",
    "escape_html",
    "html_note",
    "html_section",
    "html_table",
    "render_html",
    "report_css",
]

Cell = str | tuple[str, str]  # plain text, or (text, CSS class)


def _finite(value: object) -> object:
    # JSON.parse rejects NaN/Infinity, and one bad number must not cost the reader every chart.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _without_series(section: Mapping[str, object]) -> dict[str, object]:
    services = section.get("services")
    if not isinstance(services, Mapping):
        return dict(section)
    slim = {
        k: {f: v for f, v in s.items() if f != "series"} if isinstance(s, Mapping) else s
        for k, s in services.items()
    }
    return {**section, "services": slim}


def _embedded_json(report: Report, charts: ChartData) -> str:
    # The time series travel in columns (in "charts"): the load's as recorded, the services' as drawn
    # over the run. The rest of report.json rides along so the numbers can be recovered from the
    # HTML alone; carrying every series twice would cost a long soak its size budget.
    summary: dict[str, object] = {key: value for key, value in report.items() if key != "timeseries"}
    summary["service_metrics"] = _without_series(report["service_metrics"])
    payload = {"report": _finite(summary), "charts": _finite(charts)}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # "<" never occurs outside JSON strings, so this cannot change the value, and it keeps "</script>"
    # or "<!--" in a plan name or error message from ending the element early.
    return text.replace("<", "\\u003c")


# --- vendored assets ----------------------------------------------------------------------------


@functools.cache
def _vendor(name: str) -> str:
    return (resources.files("reports") / "vendor" / name).read_text(encoding="utf-8")


@functools.cache
def _asset(name: str) -> str:
    """The report page's own stylesheet and script, kept as files beside the code (reports/assets)."""
    return (resources.files("reports") / "assets" / name).read_text(encoding="utf-8")


def report_css() -> str:
    """The report page's stylesheet: every page surge writes (the report, surge compare) uses it."""
    return _asset("report.css")


def _inline_script(code: str) -> str:
    # Rewriting minified code to escape "</script" could change its meaning; refuse it instead, so a
    # vendor upgrade that introduces one fails the tests rather than the page.
    if "</script" in code.lower():
        raise ValueError("inline script contains '</script'")
    return f"<script>{code}</script>"


def _library() -> str:
    license_text = _vendor("uPlot.LICENSE").replace("*/", "* /")
    return _inline_script(f"/*\n{license_text}*/\n{_vendor('uPlot.iife.min.js')}")


# --- HTML building blocks -------------------------------------------------------------------------


def escape_html(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell(tag: str, cell: Cell, numeric: bool) -> str:
    text, css = (cell, "") if isinstance(cell, str) else cell
    classes = " ".join(c for c in (css, "num" if numeric else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{escape_html(text)}</{tag}>"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], numeric: Container[int] = ()) -> str:
    head = "".join(_cell("th", h, i in numeric) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(_cell("td", c, i in numeric) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    # Key/value tables stretched over the full width are hard to read across.
    width = "wide" if len(headers) > 3 else "narrow"
    table = f'<table class="{width}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'


def html_section(section_id: str, title: str, *parts: str) -> str:
    return f'<section id="{section_id}"><h2>{escape_html(title)}</h2>{"".join(parts)}</section>'


def html_note(kind: str, title: str, text: str) -> str:
    return f'<div class="note {kind}" role="note"><strong>{escape_html(title)}</strong> {escape_html(text)}</div>'


def _notes(notes: Sequence[str]) -> str:
    """Warnings in one box, explanations of how figures were read in a quieter one."""
    boxes = []
    titles = (("Note:", "Notes:"), ("About this figure:", "About these figures:"))
    for kind, (one, many), group in zip(("warn", "info"), titles, split_notes(notes), strict=True):
        if len(group) == 1:
            boxes.append(html_note(kind, one, group[0]))
        elif group:
            items = "".join(f"<li>{escape_html(n)}</li>" for n in group)
            boxes.append(
                f'<div class="note {kind}" role="note"><strong>{escape_html(many)}</strong><ul>{items}</ul></div>'
            )
    return "".join(boxes)


def _delta_cell(check: Check) -> Cell:
    """The change against the baseline, coloured by whether it is better or worse for the check."""
    direction = delta_direction(check)
    text = format_delta(check["delta_pct"])
    return (f"{text} ({direction})", f"delta-{direction}") if direction else text


def _status_cell(check: Check) -> Cell:
    return (status_label(check["status"]), f"st-{check['status']}")


# --- sections ---------------------------------------------------------------------------------------


def _banner(report: Report) -> str:
    verdict = report["verdict"]
    label = verdict_label(report) + (" · PARTIAL" if report["partial"] else "")
    meta = " · ".join(
        [
            f"Run <code>{escape_html(report['run_id'])}</code>",
            f"{escape_html(format_datetime(report['started_at']))} → {escape_html(format_datetime(report['ended_at']))}",
            escape_html(format_duration(report["duration_s"])),
            f"Target <code>{escape_html(report['target'])}</code>",
            escape_html(f"{report['mode']}, {report['model']} model"),
        ]
    )
    return (
        f'<header class="banner verdict-{escape_html(verdict)}"><div class="verdict">{escape_html(label)}</div>'
        f'<div><h1>{escape_html(report["plan"])}</h1><p class="meta">{meta}</p></div></header>'
    )


def _alerts(report: Report) -> str:
    notes = []
    reeval = reevaluation_note(report)
    if reeval:
        notes.append(html_note("warn", "Re-evaluation:", reeval + "."))
    findings = validity_problem_lines(report)
    if findings:
        notes.append(html_note("bad", "Not a valid test:", " ".join(f + "." for f in findings)))
    partial = partial_note(report)
    if partial:
        notes.append(
            html_note("warn", partial + ".", "The figures cover only the part of the run that completed.")
        )
    if report["verdict"] == "error" and report["error"]:
        notes.append(html_note("bad", "Error:", report["error"]))
    notes += [html_note("warn", "Warning:", w) for w in generator_warnings(report)]
    return "".join(notes)


def _failed_check_line(check: Check) -> str:
    if check["status"] == "no-data":
        detail = f"no data (target {format_target(check)})"
    else:
        detail = f"measured {format_measured(check)}, target {format_target(check)}"
        if check["baseline"] is not None:
            baseline = format_value(check["baseline"], check["unit"])
            detail += f" (baseline {baseline}, {format_delta(check['delta_pct'])})"
    badge = f'<span class="badge st-{check["status"]}">{escape_html(status_label(check["status"]))}</span>'
    return f"<li>{badge} <code>{escape_html(check_label(check))}</code> {escape_html(detail)}</li>"


def _summary_text(checks: Sequence[Check]) -> str:
    if not checks:
        return "No checks were defined for this run."
    counts = check_counts(checks)
    text = f"{counts['pass']} of {len(checks)} checks passed"
    if counts["fail"]:
        text += f", {counts['fail']} failed"
    if counts["no-data"]:
        text += f", {counts['no-data']} had no data"
    return text + "."


def _card(label: str, value: str, sub: str = "", status: str = "") -> str:
    css = f"value st-{status}" if status else "value"
    extra = f'<div class="sub">{escape_html(sub)}</div>' if sub else ""
    return (
        f'<div class="card"><div class="label">{escape_html(label)}</div><div class="{css}">{escape_html(value)}</div>'
        f"{extra}</div>"
    )


def _summary(report: Report) -> str:
    totals, latency = report["totals"], report["latency_ms"]
    failed = [c for c in report["checks"] if c["status"] != "pass"]
    cards = [
        _card("Requests", format_count(totals["requests"])),
        _card("Error rate", format_ratio(totals["error_rate"])),
        _card("Throughput", format_per_s(totals["throughput_rps"])),
        _card("p95 response time", format_latency(latency, "p95")),
        _card("p99 response time", format_latency(latency, "p99")),
        _card("Dropped iterations", format_count(totals["dropped_iterations"])),
    ]
    targets = report.get("targets")
    if targets:  # an A/B run: latency is per target, a mix of them would describe neither
        cards[3:5] = [
            _card(f"p95 {name}", format_latency(t["latency_ms"], "p95")) for name, t in targets.items()
        ]
    failed_list = f'<ul class="failed">{"".join(map(_failed_check_line, failed))}</ul>' if failed else ""
    return html_section(
        "summary",
        "Summary",
        f"<p>{escape_html(_summary_text(report['checks']))}</p>",
        failed_list,
        f'<div class="cards">{"".join(cards)}</div>',
    )


def _findings(report: Report) -> str:
    """Why the run failed and what to do, from its own data (surge.findings)."""
    findings = report["findings"]
    if not findings:
        return ""
    items = []
    for f in findings:
        evidence = "".join(f"<li>{escape_html(line)}</li>" for line in f["evidence"])
        advice = (
            f"<p class='advice'><strong>What to do:</strong> {escape_html(f['recommendation'])}</p>"
            if f.get("recommendation")
            else ""
        )
        items.append(
            f"<li class='finding {escape_html(f['kind'])}'><strong>{escape_html(f['title'])}</strong>"
            f"{f'<ul>{evidence}</ul>' if evidence else ''}{advice}</li>"
        )
    return html_section("findings", "Findings", f"<ol class='findings'>{''.join(items)}</ol>")


def _signoff(report: Report) -> str:
    checks = report["checks"]
    if not checks:
        return html_section("signoff", "Sign-off", "<p>No checks were defined for this run.</p>")
    rows = [
        [
            (check_label(c), "mono"),
            format_target(c),
            format_value(c["baseline"], c["unit"]),
            format_measured(c),
            _delta_cell(c),
            _status_cell(c),
        ]
        for c in checks
    ]
    table = html_table(("Metric", "Target", "Baseline", "Measured", "Delta", "Status"), rows, (2, 3, 4))
    note = (
        "<p class='hint'>Delta: measured against the baseline, green when better for the check, red "
        "when worse. NO DATA never passes.</p>"
    )
    lines = [*baseline_lines(report), *judgement_lines(report)]
    baseline = (
        f'<ul class="baseline">{"".join(f"<li>{escape_html(x)}</li>" for x in lines)}</ul>' if lines else ""
    )
    signature = f"<p class='signature'>{escape_html(SIGNATURE)}</p>"
    return html_section("signoff", "Sign-off", table, note, baseline, signature)


def _targets(report: Report) -> str:
    """An A/B run: the targets, their own verdicts, and their figures side by side."""
    view = targets_view(report)
    if view is None:
        return ""
    heads = html_table(
        ("Target", "URL", "Its checks"),
        [
            [
                (name, "mono"),
                (url, "mono"),
                (verdict.upper(), f"st-{'pass' if verdict == 'pass' else 'fail'}"),
            ]
            for name, url, verdict in zip(view.names, view.urls, view.verdicts, strict=True)
        ],
    )
    parts = [
        heads,
        f"<p class='hint'>The same load on each: {escape_html(view.load)}. Changes are against "
        f"{escape_html(view.names[0])}, green when better, red when worse.</p>",
    ]
    for table in view.tables:
        headers = (table.first_column, *view.names, *view.delta_headers)
        rows: list[list[Cell]] = [
            [
                (row.label, "mono") if table.first_column != "Metric" else row.label,
                *row.values,
                *((d.text, f"delta-{d.verdict}") if d.verdict else d.text for d in row.deltas),
            ]
            for row in table.rows
        ]
        parts.append(
            f"<h3>{escape_html(table.title)}</h3>" + html_table(headers, rows, range(1, len(headers)))
        )
    return html_section("targets", "Targets compared", *parts)


def _charts(charts: Sequence[ChartSpec]) -> str:
    if not charts:
        return html_section("charts", "Over time", "<p>No time series was recorded for this run.</p>")
    figures = "".join(
        f'<figure class="chart-box"><figcaption>{escape_html(c["title"])}</figcaption>'
        f'<div class="chart" id="{escape_html(c["id"])}"></div></figure>'
        for c in charts
    )
    hint = "<p class='hint screen-only'>Drag across a chart to zoom, double-click to reset.</p>"
    return html_section("charts", "Over time", hint, figures)


def _latency(report: Report) -> str:
    corrected, service = report["latency_ms"], report["service_time_ms"]
    spans = bool(report["uncertainty"])  # a report written before intervals existed has none
    rows: list[list[Cell]] = [
        [
            label,
            format_latency(corrected, key),
            *([latency_interval_cell(report, key)] if spans else []),
            format_latency(service, key),
        ]
        for key, label in LATENCY_KEYS
    ]
    heads = ("Statistic", "Response time (corrected)", *(("95% interval",) if spans else ()), "Service time")
    table = html_table(heads, rows, (1, 2, 3) if spans else (1, 2))
    line = uncertainty_line(report)
    hint = (
        f"<p class='hint'>{escape_html(line)} (neighbouring requests' correlation included).</p>"
        if line
        else ""
    )
    return html_section("latency", "Latency" + together(report), table, hint)


def _applied_load(report: Report) -> str:
    load = report.get("applied_load")
    if not load:
        return ""
    rows: list[list[Cell]] = [list(r) for r in applied_load_rows(load)]
    table = html_table(("Phase", "Duration", "Planned", "Iterations started", "Requests/s"), rows, (1, 3, 4))
    items = "".join(f"<li>{escape_html(line)}</li>" for line in applied_load_lines(load))
    return html_section("applied-load", "Applied load", table, f"<ul class='baseline'>{items}</ul>")


def _totals(report: Report) -> str:
    t = report["totals"]
    rows = [
        ["Requests", format_count(t["requests"])],
        ["Errors", format_count(t["errors"])],
        ["Error rate", format_ratio(t["error_rate"])],
        ["Throughput", format_per_s(t["throughput_rps"])],
        ["Dropped iterations", format_count(t["dropped_iterations"])],
        ["Iterations", format_count(t["iterations"])],
        ["Received", format_bytes(t["bytes_received"])],
        ["Sent (request bodies)", format_bytes(t["bytes_sent"]) if "bytes_sent" in t else DASH],
    ]
    return html_section("totals", "Totals" + together(report), html_table(("Total", "Value"), rows, (1,)))


def _endpoints(report: Report) -> str:
    if not report["endpoints"]:
        return ""
    rows: list[list[Cell]] = []
    for name in report["endpoints"]:
        cells: list[Cell] = list(endpoint_cells(report, name))
        cells[0] = (name, "mono")
        rows.append(cells)
    table = html_table(ENDPOINT_HEADERS, rows, range(1, 10))
    if report["uncertainty"]:
        table += f"<p class='hint'>{escape_html(SCOPED_INTERVAL_NOTE)}</p>"
    return html_section("endpoints", "Endpoints" + together(report), table)


def _phases(report: Report) -> str:
    if not report["phases"]:
        return ""
    rows: list[Sequence[Cell]] = [phase_cells(report, p) for p in report["phases"]]
    return html_section("phases", "Phases" + together(report), html_table(PHASE_HEADERS, rows, range(1, 10)))


def _recovery(report: Report) -> str:
    entries = report.get("recovery") or []
    if not entries:
        return ""
    rows: list[list[Cell]] = [list(row) for row in recovery_rows(entries)]
    table = html_table(("Recovery", "Clock from", "Back when", "Back at", "Took"), rows, (3, 4))
    return html_section("recovery", "Recovery", table)


def _stages(report: Report) -> str:
    """A waterfall: one bar per stage, p50 solid and p95 lighter, on a shared scale."""
    stages = report.get("stages") or {}
    if not stages:
        return ""
    longest = max((s["latency_ms"]["p95"] or s["latency_ms"]["max"] or 0.0) for s in stages.values()) or 1.0
    rows = []
    folded = {s["poll_metric"] for s in stages.values() if "poll_metric" in s}
    for name, s in stages.items():
        if name in folded:
            continue  # shown on the row of the stage that holds only this poll
        if "poll_metric" in s:
            name = f"{name} (its poll: {s['poll_metric']})"
        lat = s["latency_ms"]
        p50, p95 = lat["p50"] or 0.0, lat["p95"] or 0.0
        bars = (
            f'<div class="wf-track"><div class="wf-p95" style="width:{100 * p95 / longest:.2f}%"></div>'
            f'<div class="wf-p50" style="width:{100 * p50 / longest:.2f}%"></div></div>'
        )
        failed = format_count(s["failures"])
        if s["failures_by_class"]:
            failed += " (" + ", ".join(f"{k} {v}" for k, v in s["failures_by_class"].items()) + ")"
        rows.append(
            f"<tr><td>{escape_html(name)}</td><td class='num'>{escape_html(format_count(s['count']))}</td>"
            f"<td class='num'>{escape_html(failed)}</td><td class='num'>{escape_html(format_latency(lat, 'p50'))}</td>"
            f"<td class='num'>{escape_html(format_latency(lat, 'p95'))}</td><td class='num'>{escape_html(format_latency(lat, 'p99'))}</td>"
            f"<td class='wf'>{bars}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("Stage", "Completed", "Failed", "p50", "p95", "p99", "Waterfall")
    )
    table = f'<table class="waterfall"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    legend = "<p class='hint'>Bars: p50 (dark) and p95 (light), on one scale; the slowest stage is the longest.</p>"
    return html_section("stages", "Stages", table, legend)


def _failures(report: Report) -> str:
    if not report["failures"]:
        return ""
    rows: list[list[Cell]] = [list(r) for r in failure_rows(report)]
    return html_section(
        "failures",
        "Failures",
        f"<p class='hint'>{escape_html(FAILURES_NOTE)}</p>",
        html_table(FAILURE_HEADERS, rows, (2,)),
    )


def _flows(report: Report) -> str:
    flows = report.get("flows") or []
    if not flows:
        return ""
    rows: list[list[Cell]] = [list(r) for r in flow_rows(report)]
    notes = "".join(f"<p class='note'>{escape_html(f['message'])}</p>" for f in flows if f["message"])
    return html_section(
        "flows",
        "Setup and teardown",
        f"<p class='hint'>{escape_html(FLOWS_NOTE)}</p>",
        html_table(FLOW_HEADERS, rows, (2,)),
        notes,
    )


def _share_rows(counts: Mapping[str, int], whole: int) -> list[list[Cell]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[key, format_count(n), format_ratio(n / whole) if whole else DASH] for key, n in ordered]


def _errors(report: Report) -> str:
    requests = report["totals"]["requests"]
    by_class = report["errors_by_class"]
    parts = [
        "<h3>By class</h3>",
        html_table(("Class", "Count", "Share of requests"), _share_rows(by_class, requests), (1, 2))
        if by_class
        else "<p>No errors were recorded.</p>",
    ]
    if report["status_codes"]:
        codes = _share_rows(report["status_codes"], requests)
        parts += [
            "<h3>Status codes</h3>",
            html_table(("Status", "Count", "Share of requests"), codes, (1, 2)),
        ]
    return html_section("errors", "Errors", *parts)


def _key_values(section_id: str, title: str, values: Mapping[str, object]) -> str:
    if not values:
        return ""
    rows: list[list[Cell]] = [[(key, "mono"), value] for key, value in flatten_metrics(values)]
    return html_section(section_id, title, html_table(("Key", "Value"), rows, (1,)))


def _chart_figure(chart: ChartSpec, compact: bool = False) -> str:
    css = "chart-box compact" if compact else "chart-box"
    return (
        f'<figure class="{css}"><figcaption>{escape_html(chart["title"])}</figcaption>'
        f'<div class="chart" id="{escape_html(chart["id"])}"></div></figure>'
    )


def _value_tables(service: ServiceView) -> str:
    rows: list[list[Cell]] = [
        [(v.name, "mono"), (v.text, "nodata" if v.value is None else "")] for v in service.values
    ]
    if not rows:
        return ""
    # A long list reads better in two columns than as one tall table beside empty space.
    if len(rows) <= 8:
        return html_table(("Metric", "Value"), rows, (1,))
    half = (len(rows) + 1) // 2
    return (
        '<div class="kv-cols">'
        + html_table(("Metric", "Value"), rows[:half], (1,))
        + html_table(("Metric", "Value"), rows[half:], (1,))
        + "</div>"
    )


def _service_block(index: int, service: ServiceView, charts: Sequence[ChartSpec]) -> str:
    heading = f'<h3><code>{escape_html(service.key)}</code> <span class="svc-meta">{escape_html(service_heading(service))}</span></h3>'
    notes = _notes(service.notes)
    zeros = zero_series(service.series)
    zero_line = (
        "<p class='hint'>Zero throughout: "
        + ", ".join(f"<code>{escape_html(z)}</code>" for z in zeros)
        + ".</p>"
        if zeros
        else ""
    )
    figures = "".join(_chart_figure(c, compact=True) for c in charts)
    if not charts and not zeros:
        figures = "<p class='hint'>No time series was recorded for this service in the window.</p>"
    return (
        f'<div class="service" id="svc-{index}">{heading}{notes}{_value_tables(service)}'
        f"{zero_line}{figures}</div>"
    )


def _service_metrics(report: Report, view: ServiceMetricsView | None, charts: ChartData) -> str:
    section = report["service_metrics"]
    if view is None:
        return _key_values("service-metrics", "Service metrics", section)
    by_service: dict[int, list[ChartSpec]] = {}
    for chart in charts["service_charts"]:
        by_service.setdefault(chart.get("service", -1), []).append(chart)
    intro = window_line(view)
    if by_service:
        intro += (
            " Charts share the load's time axis and phase markers; each CloudWatch period is drawn as a"
            " step over the time it covers."
        )
    example = threshold_example(view)
    if example:
        intro = f"<p>{escape_html(intro)} Thresholds name these values by service and metric, e.g. <code>{escape_html(example)}</code>.</p>"
    else:
        intro = f"<p>{escape_html(intro)}</p>"
    notes = _notes(view.notes)
    blocks = "".join(_service_block(i, s, by_service.get(i, [])) for i, s in enumerate(view.services))
    return html_section("service-metrics", "Service metrics", intro, notes, blocks)


def _cost_table(lines: Sequence[CostLine]) -> str:
    rows = []
    for line in lines:
        # The threshold's name rides beside the label, where a reader writing the threshold looks.
        label = escape_html(line.label) + (
            f' <code class="tname">{escape_html(line.metric)}</code>' if line.metric else ""
        )
        label_attr = ' class="part"' if line.part else ""
        value_css = f"num st-{line.status}" if line.status else "num"
        rows.append(
            f'<tr><td{label_attr}>{label}</td><td class="{value_css}">{escape_html(line.value)}</td></tr>'
        )
    head = '<thead><tr><th>Item</th><th class="num">Value</th></tr></thead>'
    return f'<div class="table-wrap"><table class="narrow">{head}<tbody>{"".join(rows)}</tbody></table></div>'


def _cost_cards(view: CostView) -> str:
    cards = []
    if view.monthly_usd is not None:
        sub = ""
        if view.baseline_usd is not None:
            sub = f"baseline {format_value(view.baseline_usd, 'usd')}"
            if view.delta_pct is not None:
                sub += f", {format_delta(view.delta_pct)}"
        status = "" if view.within_baseline is None else ("pass" if view.within_baseline else "fail")
        cards.append(_card("Monthly projection", format_value(view.monthly_usd, "usd"), sub, status))
    if view.per_million_usd is not None:
        cards.append(_card("Cost per million requests", format_value(view.per_million_usd, "usd")))
    if view.run_usd is not None:
        cards.append(_card("This run cost", format_value(view.run_usd, "usd")))
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _cost(report: Report) -> str:
    cost = report["cost"]
    if not cost:
        return ""
    view = cost_view(cost)
    parts = [_cost_cards(view)]
    parts.append(_notes(view.notes))
    if view.projection:
        source = f"<p class='hint'>{escape_html(view.source)}.</p>" if view.source else ""
        parts += ["<h3>Monthly cost against the baseline</h3>", _cost_table(view.projection), source]
    if view.by_service:
        rows: list[list[Cell]] = [[name, usd, share] for name, usd, share in by_service_rows(view)]
        bars = [
            f'<div class="wf-track"><div class="wf-p50" style="width:{100 * min(max(share or 0, 0), 1):.1f}%"></div></div>'
            for _, _, share in view.by_service
        ]
        parts += [
            "<h3>By service (monthly projection)</h3>",
            _bar_table(("Service", "Monthly", "Share"), rows, bars),
        ]
    if view.target:
        parts += ["<h3>Target cost per million requests</h3>", _cost_table(view.target)]
    if view.run:
        parts += ["<h3>This run's own cost</h3>", _cost_table(view.run)]
    return html_section("cost", "Cost", *parts)


def _bar_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], bars: Sequence[str]) -> str:
    head = "".join(f"<th>{escape_html(h)}</th>" for h in headers) + "<th></th>"
    body = "".join(
        "<tr>"
        + "".join(_cell("td", c, i > 0) for i, c in enumerate(row))
        + f'<td class="bar">{bar}</td></tr>'
        for row, bar in zip(rows, bars, strict=True)
    )
    return f'<div class="table-wrap"><table class="wide"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _generator(report: Report) -> str:
    warnings = "".join(html_note("warn", "Warning:", w) for w in generator_warnings(report))
    rows: list[list[Cell]] = [[k, v] for k, v in generator_rows(report)]
    notes = report["generator"]["notes"]
    listed = f"<ul>{''.join(f'<li>{escape_html(n)}</li>' for n in notes)}</ul>" if notes else ""
    return html_section(
        "generator", "Generator health", warnings, html_table(("Indicator", "Value"), rows, (1,)), listed
    )


def _footer(report: Report) -> str:
    return (
        f"<footer>Generated by surge · report schema v{escape_html(report['schema_version'])} · "
        f"plan hash <code>{escape_html(report['plan_hash'])}</code> · charts drawn with uPlot (MIT licence, "
        "included in this file)</footer>"
    )


def _title(report: Report) -> str:
    return f"{verdict_label(report)} · {report['plan']} · surge report {report['run_id']}"


def render_html(report: Report) -> str:
    charts = chart_data(report)
    services = service_metrics_view(report["service_metrics"])
    body = "".join(
        [
            _banner(report),
            _alerts(report),
            _summary(report),
            _findings(report),
            _signoff(report),
            _targets(report),
            _charts(charts["charts"]),
            _applied_load(report),
            _totals(report),
            _latency(report),
            _endpoints(report),
            _phases(report),
            _recovery(report),
            _stages(report),
            _flows(report),
            _errors(report),
            _failures(report),
            _service_metrics(report, services, charts),
            _cost(report),
            _generator(report),
            _footer(report),
        ]
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="surge"><title>{escape_html(_title(report))}</title>'
        f"<style>{_vendor('uPlot.min.css')}</style><style>{report_css()}</style></head>"
        f"<body><main>{body}</main>"
        f'<script type="application/json" id="surge-data">{_embedded_json(report, charts)}</script>'
        f"{_library()}{_inline_script(_asset('report.js'))}</body></html>\n"
    )
