"""Self-contained HTML report: one file that opens offline and is small enough to attach to a ticket.

Tables are rendered here, in Python, so they read (and print) without JavaScript; only the charts
are drawn in the browser, by the vendored uPlot, from data embedded as JSON.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import math
import statistics
from collections.abc import Container, Iterable, Mapping, Sequence
from importlib import resources
from typing import Literal, NotRequired, TypedDict

from reports.markdown import (
    DASH,
    LATENCY_KEYS,
    baseline_lines,
    check_counts,
    check_label,
    flatten_metrics,
    format_bytes,
    format_count,
    format_datetime,
    format_delta,
    format_duration,
    format_ms,
    format_offset,
    format_per_s,
    format_ratio,
    format_target,
    format_value,
    generator_rows,
    generator_warnings,
    partial_note,
    status_label,
    verdict_label,
)
from surge.report_model import Check, Report, TimeseriesPoint

__all__ = ["chart_data", "render_html"]

Cell = str | tuple[str, str]  # plain text, or (text, CSS class)
Number = float | int | None


class AxisSpec(TypedDict):
    scale: str
    label: str
    unit: str
    side: Literal["left", "right"]
    max: NotRequired[float]  # shared upper bound, so two charts compare at a glance


class SeriesSpec(TypedDict):
    key: str
    label: str
    color: str
    unit: str
    scale: str
    dash: bool
    stack: bool  # drawn as stepped, stacked areas: per-interval counts that add up


class ChartSpec(TypedDict):
    id: str
    title: str
    axes: list[AxisSpec]
    series: list[SeriesSpec]


class PhaseMark(TypedDict):
    name: str
    start_s: float


class ChartData(TypedDict):
    t: list[float]
    interval_s: float
    columns: dict[str, list[Number]]
    phases: list[PhaseMark]
    charts: list[ChartSpec]


_BLUE, _ORANGE, _RED, _GREY = "#2f6fdf", "#e8871e", "#cf222e", "#6e7781"
_CLASS_COLORS = ("#cf222e", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781", "#0969da")


# --- chart data -------------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    # Rounding to what the eye can see keeps a 600-point run well inside the size budget.
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _interval(points: Sequence[TimeseriesPoint]) -> float:
    steps = [b["t"] - a["t"] for a, b in itertools.pairwise(points)]
    return round(statistics.median(steps), 3) if steps else 0.0


def _columns(points: Sequence[TimeseriesPoint], classes: Sequence[str]) -> dict[str, list[Number]]:
    columns: dict[str, list[Number]] = {
        "rps": [_round(p["rps"], 3) for p in points],
        "p50": [_round(p["p50"], 3) for p in points],
        "p95": [_round(p["p95"], 3) for p in points],
        "p99": [_round(p["p99"], 3) for p in points],
        "service_p50": [_round(p["service_p50"], 3) for p in points],
        "service_p95": [_round(p["service_p95"], 3) for p in points],
        "service_p99": [_round(p["service_p99"], 3) for p in points],
        "errors": [p["errors"] for p in points],
        "error_rate": [_round(p["error_rate"], 6) for p in points],
        "dropped": [p["dropped"] for p in points],
        "in_flight": [p["in_flight"] for p in points],
    }
    for name in classes:
        columns[f"errors.{name}"] = [p["errors_by_class"].get(name, 0) for p in points]
    return columns


def _latency_max(columns: Mapping[str, list[Number]]) -> float:
    keys = ("p50", "p95", "p99", "service_p50", "service_p95", "service_p99")
    values = [v for k in keys for v in columns[k] if v is not None]
    return max(values, default=1.0) * 1.08


def _series(
    key: str, label: str, color: str, unit: str, scale: str = "y", dash: bool = False, stack: bool = False
) -> SeriesSpec:
    return {
        "key": key,
        "label": label,
        "color": color,
        "unit": unit,
        "scale": scale,
        "dash": dash,
        "stack": stack,
    }


def _axis(label: str, unit: str, scale: str = "y", side: Literal["left", "right"] = "left") -> AxisSpec:
    return {"scale": scale, "label": label, "unit": unit, "side": side}


def _latency_chart(chart_id: str, title: str, prefix: str, top: float) -> ChartSpec:
    axis = _axis("ms", "ms")
    axis["max"] = top
    colors = (("p50", _BLUE), ("p95", _ORANGE), ("p99", _RED))
    return {
        "id": chart_id,
        "title": title,
        "axes": [axis],
        "series": [_series(f"{prefix}{p}", p, color, "ms") for p, color in colors],
    }


def _error_chart(classes: Sequence[str], interval_s: float) -> ChartSpec:
    per = f"per {interval_s:g} s" if interval_s else "per interval"
    series = [
        _series(f"errors.{name}", name, _CLASS_COLORS[i % len(_CLASS_COLORS)], "count", stack=True)
        for i, name in enumerate(classes)
    ] or [_series("errors", "errors", _RED, "count", stack=True)]
    series.append(_series("error_rate", "error rate", _GREY, "ratio", scale="rate", dash=True))
    return {
        "id": "chart-errors",
        "title": f"Errors by class ({per})",
        "axes": [_axis(f"errors {per}", "count"), _axis("error rate", "ratio", "rate", "right")],
        "series": series,
    }


def _chart_specs(
    columns: Mapping[str, list[Number]], classes: Sequence[str], interval_s: float
) -> list[ChartSpec]:
    top = _latency_max(columns)
    rate: ChartSpec = {
        "id": "chart-rps",
        "title": "Request rate",
        "axes": [_axis("requests/s", "per_s")],
        "series": [_series("rps", "requests/s", _BLUE, "per_s")],
    }
    load: ChartSpec = {
        "id": "chart-load",
        "title": "Dropped iterations and requests in flight",
        "axes": [_axis("dropped", "count"), _axis("in flight", "count", "flight", "right")],
        "series": [
            _series("dropped", "dropped iterations", _RED, "count"),
            _series("in_flight", "in flight", _BLUE, "count", scale="flight"),
        ],
    }
    return [
        rate,
        _latency_chart("chart-latency", "Response time (corrected for coordinated omission)", "", top),
        _latency_chart("chart-service", "Service time (send to last byte)", "service_", top),
        _error_chart(classes, interval_s),
        load,
    ]


def chart_data(report: Report) -> ChartData:
    """Columnar time series plus chart definitions: everything the inline script needs to draw."""
    points = report["timeseries"]
    classes = sorted({name for p in points for name in p["errors_by_class"]})
    columns = _columns(points, classes)
    interval_s = _interval(points)
    return {
        "t": [round(p["t"], 3) for p in points],
        "interval_s": interval_s,
        "columns": columns,
        "phases": [{"name": p["name"], "start_s": p["start_s"]} for p in report["phases"]],
        "charts": _chart_specs(columns, classes, interval_s) if points else [],
    }


def _finite(value: object) -> object:
    # JSON.parse rejects NaN/Infinity, and one bad number must not cost the reader every chart.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _embedded_json(report: Report, charts: ChartData) -> str:
    # The time series travels in columns (in "charts"); the rest of report.json rides along so the
    # numbers can be recovered from the HTML alone.
    summary = {key: value for key, value in report.items() if key != "timeseries"}
    payload = {"report": _finite(summary), "charts": _finite(charts)}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # "<" never occurs outside JSON strings, so this cannot change the value, and it keeps "</script>"
    # or "<!--" in a plan name or error message from ending the element early.
    return text.replace("<", "\\u003c")


# --- vendored assets ----------------------------------------------------------------------------


@functools.cache
def _vendor(name: str) -> str:
    return (resources.files("reports") / "vendor" / name).read_text(encoding="utf-8")


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


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell(tag: str, cell: Cell, numeric: bool) -> str:
    text, css = (cell, "") if isinstance(cell, str) else cell
    classes = " ".join(c for c in (css, "num" if numeric else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{_e(text)}</{tag}>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], numeric: Container[int] = ()) -> str:
    head = "".join(_cell("th", h, i in numeric) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(_cell("td", c, i in numeric) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    # Key/value tables stretched over the full width are hard to read across.
    width = "wide" if len(headers) > 3 else "narrow"
    table = f'<table class="{width}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'


def _section(section_id: str, title: str, *parts: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{"".join(parts)}</section>'


def _note(kind: str, title: str, text: str) -> str:
    return f'<div class="note {kind}" role="note"><strong>{_e(title)}</strong> {_e(text)}</div>'


def _status_cell(check: Check) -> Cell:
    return (status_label(check["status"]), f"st-{check['status']}")


# --- sections ---------------------------------------------------------------------------------------


def _banner(report: Report) -> str:
    verdict = report["verdict"]
    label = verdict_label(report) + (" · PARTIAL" if report["partial"] else "")
    meta = " · ".join(
        [
            f"Run <code>{_e(report['run_id'])}</code>",
            f"{_e(format_datetime(report['started_at']))} → {_e(format_datetime(report['ended_at']))}",
            _e(format_duration(report["duration_s"])),
            f"Target <code>{_e(report['target'])}</code>",
            _e(f"{report['mode']}, {report['model']} model"),
        ]
    )
    return (
        f'<header class="banner verdict-{_e(verdict)}"><div class="verdict">{_e(label)}</div>'
        f'<div><h1>{_e(report["plan"])}</h1><p class="meta">{meta}</p></div></header>'
    )


def _alerts(report: Report) -> str:
    notes = []
    partial = partial_note(report)
    if partial:
        notes.append(
            _note("warn", partial + ".", "The figures cover only the part of the run that completed.")
        )
    if report["verdict"] == "error" and report["error"]:
        notes.append(_note("bad", "Error:", report["error"]))
    notes += [_note("warn", "Warning:", w) for w in generator_warnings(report)]
    return "".join(notes)


def _failed_check_line(check: Check) -> str:
    if check["status"] == "no-data":
        detail = f"no data (target {format_target(check)})"
    else:
        detail = f"measured {format_value(check['measured'], check['unit'])}, target {format_target(check)}"
        if check["baseline"] is not None:
            baseline = format_value(check["baseline"], check["unit"])
            detail += f" (baseline {baseline}, {format_delta(check['delta_pct'])})"
    badge = f'<span class="badge st-{check["status"]}">{_e(status_label(check["status"]))}</span>'
    return f"<li>{badge} <code>{_e(check_label(check))}</code> {_e(detail)}</li>"


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


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div></div>'


def _summary(report: Report) -> str:
    totals, latency = report["totals"], report["latency_ms"]
    failed = [c for c in report["checks"] if c["status"] != "pass"]
    cards = [
        _card("Requests", format_count(totals["requests"])),
        _card("Error rate", format_ratio(totals["error_rate"])),
        _card("Throughput", format_per_s(totals["throughput_rps"])),
        _card("p95 response time", format_ms(latency["p95"])),
        _card("p99 response time", format_ms(latency["p99"])),
        _card("Dropped iterations", format_count(totals["dropped_iterations"])),
    ]
    failed_list = f'<ul class="failed">{"".join(map(_failed_check_line, failed))}</ul>' if failed else ""
    return _section(
        "summary",
        "Summary",
        f"<p>{_e(_summary_text(report['checks']))}</p>",
        failed_list,
        f'<div class="cards">{"".join(cards)}</div>',
    )


def _signoff(report: Report) -> str:
    checks = report["checks"]
    if not checks:
        return _section("signoff", "Sign-off", "<p>No checks were defined for this run.</p>")
    rows = [
        [
            (check_label(c), "mono"),
            format_target(c),
            format_value(c["baseline"], c["unit"]),
            format_value(c["measured"], c["unit"]),
            format_delta(c["delta_pct"]),
            _status_cell(c),
        ]
        for c in checks
    ]
    table = _table(("Metric", "Target", "Baseline", "Measured", "Delta", "Status"), rows, (2, 3, 4))
    note = "<p class='hint'>Delta: measured against the baseline. NO DATA never passes.</p>"
    lines = baseline_lines(report)
    baseline = f'<ul class="baseline">{"".join(f"<li>{_e(x)}</li>" for x in lines)}</ul>' if lines else ""
    return _section("signoff", "Sign-off", table, note, baseline)


def _charts(charts: Sequence[ChartSpec]) -> str:
    if not charts:
        return _section("charts", "Over time", "<p>No time series was recorded for this run.</p>")
    figures = "".join(
        f'<figure class="chart-box"><figcaption>{_e(c["title"])}</figcaption>'
        f'<div class="chart" id="{_e(c["id"])}"></div></figure>'
        for c in charts
    )
    hint = "<p class='hint screen-only'>Drag across a chart to zoom, double-click to reset.</p>"
    return _section("charts", "Over time", hint, figures)


def _latency(report: Report) -> str:
    corrected, service = report["latency_ms"], report["service_time_ms"]
    rows = [[label, format_ms(corrected[key]), format_ms(service[key])] for key, label in LATENCY_KEYS]
    table = _table(("Statistic", "Response time (corrected)", "Service time"), rows, (1, 2))
    return _section("latency", "Latency", table)


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
    ]
    return _section("totals", "Totals", _table(("Total", "Value"), rows, (1,)))


def _endpoints(report: Report) -> str:
    if not report["endpoints"]:
        return ""
    headers = (
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
    rows: list[list[Cell]] = [
        [
            (name, "mono"),
            format_count(e["requests"]),
            format_count(e["errors"]),
            format_ratio(e["error_rate"]),
            format_per_s(e["throughput_rps"]),
            format_ms(e["latency_ms"]["p50"]),
            format_ms(e["latency_ms"]["p95"]),
            format_ms(e["latency_ms"]["p99"]),
            format_ms(e["latency_ms"]["max"]),
            format_ms(e["service_time_ms"]["p95"]),
        ]
        for name, e in report["endpoints"].items()
    ]
    return _section("endpoints", "Endpoints", _table(headers, rows, range(1, 10)))


def _phases(report: Report) -> str:
    if not report["phases"]:
        return ""
    headers = (
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
    rows = [
        [
            p["name"],
            format_offset(p["start_s"]),
            format_duration(p["duration_s"]),
            format_count(p["requests"]),
            format_ratio(p["error_rate"]),
            format_per_s(p["throughput_rps"]),
            format_count(p["dropped_iterations"]),
            format_ms(p["latency_ms"]["p50"]),
            format_ms(p["latency_ms"]["p95"]),
            format_ms(p["latency_ms"]["p99"]),
        ]
        for p in report["phases"]
    ]
    return _section("phases", "Phases", _table(headers, rows, range(1, 10)))


def _stages(report: Report) -> str:
    """A waterfall: one bar per stage, p50 solid and p95 lighter, on a shared scale."""
    stages = report.get("stages") or {}
    if not stages:
        return ""
    longest = max((s["latency_ms"]["p95"] or s["latency_ms"]["max"] or 0.0) for s in stages.values()) or 1.0
    rows = []
    for name, s in stages.items():
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
            f"<tr><td>{_e(name)}</td><td class='num'>{_e(format_count(s['count']))}</td>"
            f"<td class='num'>{_e(failed)}</td><td class='num'>{_e(format_ms(lat['p50']))}</td>"
            f"<td class='num'>{_e(format_ms(lat['p95']))}</td><td class='num'>{_e(format_ms(lat['p99']))}</td>"
            f"<td class='wf'>{bars}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("Stage", "Completed", "Failed", "p50", "p95", "p99", "Waterfall")
    )
    table = f'<table class="waterfall"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    legend = "<p class='hint'>Bars: p50 (dark) and p95 (light), on one scale; the slowest stage is the longest.</p>"
    return _section("stages", "Stages", table, legend)


def _share_rows(counts: Mapping[str, int], whole: int) -> list[list[Cell]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[key, format_count(n), format_ratio(n / whole) if whole else DASH] for key, n in ordered]


def _errors(report: Report) -> str:
    requests = report["totals"]["requests"]
    by_class = report["errors_by_class"]
    parts = [
        "<h3>By class</h3>",
        _table(("Class", "Count", "Share of requests"), _share_rows(by_class, requests), (1, 2))
        if by_class
        else "<p>No errors were recorded.</p>",
    ]
    if report["status_codes"]:
        codes = _share_rows(report["status_codes"], requests)
        parts += ["<h3>Status codes</h3>", _table(("Status", "Count", "Share of requests"), codes, (1, 2))]
    return _section("errors", "Errors", *parts)


def _key_values(section_id: str, title: str, values: Mapping[str, object]) -> str:
    if not values:
        return ""
    rows: list[list[Cell]] = [[(key, "mono"), value] for key, value in flatten_metrics(values)]
    return _section(section_id, title, _table(("Key", "Value"), rows, (1,)))


def _generator(report: Report) -> str:
    warnings = "".join(_note("warn", "Warning:", w) for w in generator_warnings(report))
    rows: list[list[Cell]] = [[k, v] for k, v in generator_rows(report)]
    notes = report["generator"]["notes"]
    listed = f"<ul>{''.join(f'<li>{_e(n)}</li>' for n in notes)}</ul>" if notes else ""
    return _section(
        "generator", "Generator health", warnings, _table(("Indicator", "Value"), rows, (1,)), listed
    )


def _footer(report: Report) -> str:
    return (
        f"<footer>Generated by surge · report schema v{_e(report['schema_version'])} · "
        f"plan hash <code>{_e(report['plan_hash'])}</code> · charts drawn with uPlot (MIT licence, "
        "included in this file)</footer>"
    )


def _title(report: Report) -> str:
    return f"{verdict_label(report)} · {report['plan']} · surge report {report['run_id']}"


def render_html(report: Report) -> str:
    charts = chart_data(report)
    body = "".join(
        [
            _banner(report),
            _alerts(report),
            _summary(report),
            _signoff(report),
            _charts(charts["charts"]),
            _totals(report),
            _latency(report),
            _endpoints(report),
            _phases(report),
            _stages(report),
            _errors(report),
            _key_values("service-metrics", "Service metrics", report["service_metrics"]),
            _key_values("cost", "Cost", report["cost"]),
            _generator(report),
            _footer(report),
        ]
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="surge"><title>{_e(_title(report))}</title>'
        f"<style>{_vendor('uPlot.min.css')}</style><style>{_CSS}</style></head>"
        f"<body><main>{body}</main>"
        f'<script type="application/json" id="surge-data">{_embedded_json(report, charts)}</script>'
        f"{_library()}{_inline_script(_CHART_JS)}</body></html>\n"
    )


_CSS = """
.waterfall td.wf{width:40%}.wf-track{position:relative;height:14px;background:var(--zebra)}
.wf-p95{position:absolute;left:0;top:0;bottom:0;background:#9ecbff}
.wf-p50{position:absolute;left:0;top:0;bottom:0;background:#0969da}
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--zebra:#f6f8fa;--pass:#1a7f37;--fail:#cf222e;
--nodata:#9a6700;--error:#8250df}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
border-bottom:1px solid var(--line)}h3{font-size:15px;margin:16px 0 6px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.banner{display:flex;gap:20px;align-items:center;padding:16px 20px;border-radius:8px;color:#fff}
.banner .meta{margin:4px 0 0;opacity:.95}.banner code{color:#fff}
.verdict{font-size:30px;font-weight:800;letter-spacing:.04em;white-space:nowrap}
.verdict-pass{background:var(--pass)}.verdict-fail{background:var(--fail)}
.verdict-error{background:var(--error)}
.note{margin:12px 0;padding:10px 14px;border-left:4px solid var(--nodata);background:#fff8c5}
.note.bad{border-color:var(--fail);background:#ffebe9}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin-top:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .label{color:var(--muted);font-size:12px}.card .value{font-size:22px;font-weight:600}
ul.failed{padding-left:0;list-style:none}ul.failed li{margin:4px 0}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;margin:4px 0 8px}table.wide{width:100%}table.narrow{min-width:min(100%,520px)}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--zebra);font-weight:600}tbody tr:nth-child(even){background:#fbfcfd}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:700;font-size:12px;color:#fff}
.badge.st-fail{background:var(--fail)}.badge.st-no-data{background:var(--nodata)}.badge.st-pass{background:var(--pass)}
td.st-pass,td.st-fail,td.st-no-data{font-weight:700}
td.st-pass{color:var(--pass)}td.st-fail{color:var(--fail)}td.st-no-data{color:var(--nodata)}
.hint{color:var(--muted);font-size:12px;margin:4px 0}
figure.chart-box{margin:0 0 18px;border:1px solid var(--line);border-radius:6px;padding:8px 8px 0}
figcaption{font-weight:600;margin:0 0 4px 6px}
.chart{width:100%;min-height:300px}
.u-legend{font-size:12px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
@media print{
@page{size:A4;margin:12mm}
body{font-size:10pt}main{max-width:none;padding:0}
.banner,.badge,.note,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.screen-only,.u-cursor-x,.u-cursor-y,.u-cursor-pt,.u-select{display:none!important}
.u-legend .u-value,.u-legend .u-series:first-child{display:none}
h2{break-after:avoid}figure.chart-box,.card,tr,.note{break-inside:avoid}
.table-wrap{overflow:visible}
.uplot,.uplot .u-wrap,.uplot canvas{max-width:100%!important}
.uplot .u-wrap,.uplot canvas{height:auto!important}
}
"""

_CHART_JS = """
(() => {
  "use strict";
  const body = document.body;
  const fail = (err) => { body.dataset.chartError = String((err && err.message) || err); };
  window.addEventListener("error", (ev) => fail(ev.error || ev.message));
  const HEIGHT = 240, PRINT_WIDTH = 680;
  const num = (v, d) => v.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  const FMT = {
    ms: (v) => num(v, Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0) + " ms",
    per_s: (v) => num(v, Math.abs(v) < 1 ? 2 : Math.abs(v) < 1000 ? 1 : 0) + "/s",
    ratio: (v) => num(v * 100, Math.abs(v) < 0.1 ? 2 : 1) + "%",
    count: (v) => num(v, Number.isInteger(v) ? 0 : 1),
  };
  const fmt = (v, unit) => (v == null ? "\u2014" : (FMT[unit] || FMT.count)(v));
  const tick = (v, unit) => (unit === "ratio" ? num(v * 100, 1) + "%" : num(v, Number.isInteger(v) ? 0 : 1));
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (s) => {
    const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
    return h ? `${h}:${pad(m)}:${pad(t % 60)}` : `${m}:${pad(t % 60)}`;
  };
  // Whole seconds, minutes and hours read better on an elapsed-time axis than 1-2-5 steps.
  const X_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
  // Counts have no fractions: integer-only ticks.
  const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7];

  // Phase boundaries as dashed lines, so a latency rise can be read against the ramp that caused it.
  const phaseLines = (phases) => ({hooks: {draw: [(u) => {
    const ctx = u.ctx, px = uPlot.pxRatio, b = u.bbox;
    ctx.save();
    ctx.strokeStyle = "#8c959f"; ctx.fillStyle = "#59636e"; ctx.lineWidth = px;
    ctx.setLineDash([4 * px, 4 * px]); ctx.font = `${11 * px}px system-ui, sans-serif`;
    ctx.textBaseline = "top"; ctx.textAlign = "left";
    const xs = phases.map((p) => Math.round(u.valToPos(p.start_s, "x", true)));
    phases.forEach((p, i) => {
      const x = xs[i], next = i + 1 < xs.length ? xs[i + 1] : b.left + b.width;
      if (x < b.left || x > b.left + b.width) return;
      if (x > b.left + 1) {
        ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
      }
      // A short phase gets no label rather than one written over its neighbour's.
      if (ctx.measureText(p.name).width + 8 * px < next - x) ctx.fillText(p.name, x + 4 * px, b.top + 4 * px);
    });
    ctx.restore();
  }]}});

  const scalesAndAxes = (spec) => {
    const scales = {x: {time: false}};
    const axes = [{values: (u, ticks) => ticks.map(clock), incrs: X_INCRS}];
    for (const a of spec.axes) {
      scales[a.scale] = {range: (u, lo, hi) => [0, a.max != null ? a.max : hi > 0 ? hi * 1.1 : 1]};
      axes.push({scale: a.scale, label: a.label, side: a.side === "right" ? 1 : 3, size: 64,
        grid: {show: a.side !== "right"}, values: (u, ticks) => ticks.map((v) => tick(v, a.unit)),
        incrs: a.unit === "count" ? COUNT_INCRS : undefined});
    }
    return [scales, axes];
  };

  const seriesAndColumns = (spec, data) => {
    const series = [{label: "elapsed", value: (u, v) => (v == null ? "\u2014" : clock(v))}];
    for (const s of spec.series) {
      const raw = data.columns[s.key];
      series.push({label: s.label, scale: s.scale, stroke: s.color, width: 1.5, points: {show: false},
        dash: s.dash ? [6, 4] : undefined, fill: s.stack ? s.color + "99" : undefined,
        paths: s.stack ? uPlot.paths.stepped({align: 1}) : undefined,
        // Stacked series plot running sums; the legend must still show the series' own value.
        value: (u, v, si, i) => fmt(i == null ? v : raw[i], s.unit)});
    }
    return [series, stackColumns(spec, data)];
  };

  // Each stacked series plots itself plus every stacked series after it, so the first is the top
  // of the stack; drawn first, it is then covered by the smaller ones in turn.
  const stackColumns = (spec, data) => {
    const cols = [data.t, ...spec.series.map((s) => data.columns[s.key])];
    let acc = null;
    for (let i = spec.series.length - 1; i >= 0; i--) {
      if (!spec.series[i].stack) continue;
      const own = cols[i + 1].map((v) => v || 0);
      acc = acc ? acc.map((a, j) => a + own[j]) : own;
      cols[i + 1] = acc;
    }
    return cols;
  };

  const widthOf = (el) => Math.max(el.clientWidth, 280);

  const build = (spec, data, el) => {
    const [scales, axes] = scalesAndAxes(spec);
    const [series, cols] = seriesAndColumns(spec, data);
    const plugins = [phaseLines(data.phases)];
    const opts = {width: widthOf(el), height: HEIGHT, scales, axes, series, plugins};
    return new uPlot(opts, cols, el);
  };

  try {
    const data = JSON.parse(document.getElementById("surge-data").textContent).charts;
    const plots = data.charts.map((spec) => {
      const el = document.getElementById(spec.id);
      return {el, plot: build(spec, data, el), width: widthOf(el)};
    });
    const fit = (width) => {
      for (const p of plots) {
        const w = width || widthOf(p.el);
        // Only a width change resizes: the chart's own height change must not loop the observer.
        if (w !== p.width) { p.width = w; p.plot.setSize({width: w, height: HEIGHT}); }
      }
    };
    if (window.ResizeObserver) new ResizeObserver(() => fit()).observe(document.querySelector("main"));
    window.addEventListener("resize", () => fit());
    window.addEventListener("beforeprint", () => fit(PRINT_WIDTH));
    window.addEventListener("afterprint", () => fit());
    body.dataset.chartsReady = String(plots.length);
  } catch (err) {
    fail(err);
  }
})();
"""
