"""Two runs side by side (``surge compare A B``): a plain-text table and a small self-contained HTML page.

Built from history records alone (headline figures and every check's measured value), so runs whose
files live elsewhere (S3) compare as well as local ones. The HTML page uses the report's styling and
no script or network resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from reports.formatting import DASH, format_datetime, format_delta, format_value
from reports.html import Cell, escape_html, html_note, html_section, html_table, report_css
from surge.baseline import (
    NOISE_MIN_RUNS,
    Noise,
    baseline_from_record,
    change_noise,
    default_direction,
    delta_pct,
    metric_unit,
    noise_between,
)
from surge.report_model import Report
from surge.store.history import HEADLINE_METRICS, RunRecord
from surge.thresholds import MetricRef
from surge.uncertainty import Interval

__all__ = [
    "ComparisonRow",
    "compare_records",
    "detail_metrics",
    "regressions",
    "render_compare_html",
    "render_compare_text",
]

Judgement = Literal["better", "worse", "same", "noise", ""]
Group = Literal["headline", "checks", "endpoints", "phases"]

_HEADLINE_LABELS = {
    "http.requests": "Requests",
    "http.errors": "Errors",
    "http.error_rate": "Error rate",
    "http.throughput": "Throughput",
    "http.latency.p50": "Response time p50",
    "http.latency.p95": "Response time p95",
    "http.latency.p99": "Response time p99",
    "http.service_time.p95": "Service time p95",
    "http.dropped_iterations": "Dropped iterations",
}
_HEADLINE_ORDER = (
    "http.requests",
    "http.errors",
    "http.error_rate",
    "http.throughput",
    "http.latency.p50",
    "http.latency.p95",
    "http.latency.p99",
    "http.service_time.p95",
    "http.dropped_iterations",
)
assert set(_HEADLINE_ORDER) == set(HEADLINE_METRICS)


@dataclass(frozen=True)
class ComparisonRow:
    group: Group
    label: str
    metric: str
    unit: str
    a: float | None
    b: float | None
    delta_pct: float | None  # B against A: +12.5 == B is 12.5 % higher
    # For B against A, where the metric has a better direction; "noise" when the change is within
    # the metric's noise band (how much it moved between earlier runs of the plan).
    judgement: Judgement
    noise_pct: float | None = None


def _judge(metric: str, a: float | None, b: float | None, band_pct: float | None) -> Judgement:
    if a is None or b is None:
        return ""
    if a == b:
        return "same"
    direction = default_direction(metric)
    if direction is None:
        return ""
    change = delta_pct(b, a)
    if band_pct is not None and change is not None and abs(change) <= band_pct:
        return "noise"
    higher = b > a
    return "worse" if higher == (direction == "higher") else "better"


def detail_metrics(report: Report) -> dict[str, float]:
    """A run's per-endpoint and per-phase figures, by metric path, from its report."""
    out: dict[str, float] = {}
    for name, e in report["endpoints"].items():
        key = MetricRef("endpoint", name, ("latency", "p95"), "ms").canonical
        if e["latency_ms"]["p95"] is not None:
            out[key] = float(e["latency_ms"]["p95"])
        out[MetricRef("endpoint", name, ("error_rate",), "ratio").canonical] = e["error_rate"]
    for p in report["phases"]:
        if p["status"] == "not run":
            continue
        if p["latency_ms"]["p95"] is not None:
            out[MetricRef("phase", p["name"], ("latency", "p95"), "ms").canonical] = float(
                p["latency_ms"]["p95"]
            )
        out[MetricRef("phase", p["name"], ("throughput",), "per_s").canonical] = p["throughput_rps"]
    return out


def _noises(
    a: RunRecord,
    b: RunRecord,
    values: Sequence[tuple[str, Mapping[str, float], Mapping[str, float]]],
    earlier: Sequence[Mapping[str, float]],
) -> dict[str, Noise]:
    """Each compared metric's noise, read as the plan's regression rule reads it: both runs' own
    95 % intervals, or the spread between earlier runs of the plan, whichever is larger."""
    baseline = baseline_from_record(a, a.run_id, a.run_id)
    if len(earlier) >= NOISE_MIN_RUNS:
        baseline = replace(baseline, noise=noise_between(earlier), noise_runs=len(earlier))
    out: dict[str, Noise] = {}
    for metric, va, vb in values:
        direction = default_direction(metric)
        figure, measured = va.get(metric), vb.get(metric)
        if direction is None or figure is None or measured is None:
            continue
        span = b.intervals.get(metric)
        interval = None if span is None else Interval(span[0] or 0.0, span[1])
        noise = change_noise(metric, measured, figure, interval, baseline, direction)
        if noise is not None:
            out[metric] = noise
    return out


def compare_records(
    a: RunRecord,
    b: RunRecord,
    *,
    details: tuple[Mapping[str, float], Mapping[str, float]] | None = None,
    earlier: Sequence[Mapping[str, float]] = (),
) -> list[ComparisonRow]:
    """Headline metrics first, then every other metric either run checked, by name, then each
    endpoint and phase when both runs' reports are at hand (``details``). A change is "noise" when
    it is within what the plan's regression rule would call noise (``earlier``: earlier runs' figures
    of the plan, as the rule reads them; the false-alarm rate shared among the metrics compared)."""
    wanted: list[tuple[Group, str, str, Mapping[str, float], Mapping[str, float]]] = [
        ("headline", _HEADLINE_LABELS[m], m, a.metrics, b.metrics) for m in _HEADLINE_ORDER
    ]
    others = sorted((set(a.metrics) | set(b.metrics)) - set(HEADLINE_METRICS))
    wanted += [("checks", m, m, a.metrics, b.metrics) for m in others]
    if details is not None:
        da, db = details
        groups: tuple[tuple[Group, str], ...] = (("endpoints", "endpoint["), ("phases", "phase["))
        for group, prefix in groups:
            names = sorted(m for m in set(da) | set(db) if m.startswith(prefix) and m not in others)
            wanted += [(group, m, m, da, db) for m in names]
    noises = _noises(a, b, [(m, va, vb) for _, _, m, va, vb in wanted], earlier)
    rows = []
    for group, label, metric, va, vb in wanted:
        x, y, noise = va.get(metric), vb.get(metric), noises.get(metric)
        band = None if noise is None or x is None else noise.band_pct(x, len(noises))
        rows.append(
            ComparisonRow(
                group,
                label,
                metric,
                metric_unit(metric),
                x,
                y,
                delta_pct(y, x),
                _judge(metric, x, y, band),
                band,
            )
        )
    return rows


def regressions(rows: Sequence[ComparisonRow], pct: float) -> list[ComparisonRow]:
    """Rows where B is worse than A by more than ``pct`` percent and beyond the metric's noise."""
    out = []
    for row in rows:
        if row.judgement != "worse" or row.delta_pct is None:
            continue
        if abs(row.delta_pct) > max(pct, row.noise_pct or 0.0):
            out.append(row)
    return out


def _change(row: ComparisonRow) -> str:
    if row.delta_pct is None and row.a is not None and row.b is not None and row.a != row.b:
        return "from 0" + (f" ({row.judgement})" if row.judgement else "")
    text = format_delta(row.delta_pct)
    if row.judgement in ("better", "worse"):
        text = f"{text} ({row.judgement})"
    elif row.judgement == "noise":
        text = f"{text} (within noise)"
    return text + (f"  noise ±{row.noise_pct:.1f}%" if row.noise_pct is not None else "")


def _run_line(tag: str, r: RunRecord) -> str:
    verdict = r.verdict.upper() + (" (partial)" if r.partial else "")
    return (
        f"{tag}: {r.run_id}  plan {r.plan}  started {format_datetime(r.started_at)}  {verdict}  {r.location}"
    )


def render_compare_text(a: RunRecord, b: RunRecord, rows: Sequence[ComparisonRow] | None = None) -> str:
    rows = compare_records(a, b) if rows is None else rows
    table = [("metric", "A", "B", "B vs A")] + [
        (row.label, format_value(row.a, row.unit), format_value(row.b, row.unit), _change(row))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = [_run_line("A", a), _run_line("B", b), ""]
    for i, line in enumerate(table):
        cells = [line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:3], widths[1:3], strict=True))]
        lines.append("  ".join([*cells, line[3]]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _summary(rows: Sequence[ComparisonRow]) -> str:
    worse = [r.label for r in rows if r.judgement == "worse"]
    better = [r.label for r in rows if r.judgement == "better"]
    if not worse and not better:
        return "<p>No metric changed in a direction that matters.</p>"
    parts = []
    if worse:
        parts.append(html_note("bad", f"B is worse on {len(worse)}:", ", ".join(worse)))
    if better:
        parts.append(f"<p>B is better on {len(better)}: {escape_html(', '.join(better))}.</p>")
    return "".join(parts)


def _metrics_table(rows: Sequence[ComparisonRow], a_id: str, b_id: str) -> str:
    body: list[list[Cell]] = []
    for row in rows:
        name: Cell = (row.label, "") if row.group == "headline" else (row.metric, "mono")
        change: Cell = (_change(row), row.judgement) if row.judgement else _change(row)
        body.append([name, format_value(row.a, row.unit), format_value(row.b, row.unit), change])
    return html_table(("Metric", f"A {a_id}", f"B {b_id}", "B vs A"), body, (1, 2, 3))


def render_compare_html(a: RunRecord, b: RunRecord, rows: Sequence[ComparisonRow] | None = None) -> str:
    rows = compare_records(a, b) if rows is None else rows
    runs: list[list[Cell]] = [
        [
            tag,
            (r.run_id, "mono"),
            r.plan,
            format_datetime(r.started_at),
            (r.verdict.upper() + (" (partial)" if r.partial else ""), f"st-{r.verdict}"),
            (r.location or DASH, "mono"),
        ]
        for tag, r in (("A", a), ("B", b))
    ]
    headline = [r for r in rows if r.group == "headline"]
    checks = [r for r in rows if r.group == "checks"]
    endpoints = [r for r in rows if r.group == "endpoints"]
    phases = [r for r in rows if r.group == "phases"]
    body = "".join(
        [
            f'<header class="banner compare"><div><h1>{escape_html(a.plan)}'
            + ("" if a.plan == b.plan else f" vs {escape_html(b.plan)}")
            + '</h1><p class="meta">Run comparison: B against A</p></div></header>',
            html_section(
                "runs", "Runs", html_table(("", "Run", "Plan", "Started", "Verdict", "Artifacts"), runs)
            ),
            html_section("summary", "Summary", _summary(rows)),
            html_section("headline", "Headline", _metrics_table(headline, a.run_id, b.run_id)),
            html_section("checks", "Checked metrics", _metrics_table(checks, a.run_id, b.run_id))
            if checks
            else "",
            html_section("endpoints", "Endpoints", _metrics_table(endpoints, a.run_id, b.run_id))
            if endpoints
            else "",
            html_section("phases", "Phases", _metrics_table(phases, a.run_id, b.run_id)) if phases else "",
            "<p class='hint'>B vs A: percent change of B against A; better or worse where the metric "
            "has a direction (latency, errors and cost: lower is better; throughput: higher); within "
            "noise when the change is no larger than the noise the plan's regression rule reads (both runs' own "
            "95% intervals, or the spread between earlier runs of the plan, whichever is larger).</p>",
            "<footer>Generated by surge · surge compare</footer>",
        ]
    )
    title = f"surge compare {a.run_id} vs {b.run_id}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="surge"><title>{escape_html(title)}</title>'
        f"<style>{report_css()}{_COMPARE_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


_COMPARE_CSS = """
.banner.compare{background:#24292f}
td.worse{color:var(--fail);font-weight:700}td.better{color:var(--pass);font-weight:700}
td.st-pass{color:var(--pass);font-weight:700}td.st-fail{color:var(--fail);font-weight:700}
td.st-error{color:var(--error);font-weight:700}
"""
