"""Two runs side by side (``surge compare A B``): a plain-text table and a small self-contained HTML page.

Built from history records alone (headline figures and every check's measured value), so runs whose
files live elsewhere (S3) compare as well as local ones. The HTML page uses the report's styling and
no script or network resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reports.html import _CSS, Cell, _e, _note, _section, _table
from reports.markdown import DASH, format_datetime, format_delta, format_value
from surge.baseline import default_direction, delta_pct, metric_unit
from surge.store.history import HEADLINE_METRICS, RunRecord

__all__ = ["ComparisonRow", "compare_records", "render_compare_html", "render_compare_text"]

Judgement = Literal["better", "worse", "same", ""]

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
    group: Literal["headline", "checks"]
    label: str
    metric: str
    unit: str
    a: float | None
    b: float | None
    delta_pct: float | None  # B against A: +12.5 == B is 12.5 % higher
    judgement: Judgement  # for B against A, where the metric has a better direction


def _judge(metric: str, a: float | None, b: float | None) -> Judgement:
    if a is None or b is None:
        return ""
    if a == b:
        return "same"
    direction = default_direction(metric)
    if direction is None:
        return ""
    higher = b > a
    return "worse" if higher == (direction == "higher") else "better"


def _row(
    group: Literal["headline", "checks"], label: str, metric: str, a: RunRecord, b: RunRecord
) -> ComparisonRow:
    va, vb = a.metrics.get(metric), b.metrics.get(metric)
    return ComparisonRow(
        group, label, metric, metric_unit(metric), va, vb, delta_pct(vb, va), _judge(metric, va, vb)
    )


def compare_records(a: RunRecord, b: RunRecord) -> list[ComparisonRow]:
    """Headline metrics first, then every other metric either run checked, by name."""
    rows = [_row("headline", _HEADLINE_LABELS[m], m, a, b) for m in _HEADLINE_ORDER]
    others = sorted((set(a.metrics) | set(b.metrics)) - set(HEADLINE_METRICS))
    rows += [_row("checks", m, m, a, b) for m in others]
    return rows


def _change(row: ComparisonRow) -> str:
    if row.delta_pct is None and row.a is not None and row.b is not None and row.a != row.b:
        return "from 0" + (f" ({row.judgement})" if row.judgement else "")
    text = format_delta(row.delta_pct)
    return f"{text} ({row.judgement})" if row.judgement in ("better", "worse") else text


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
        parts.append(_note("bad", f"B is worse on {len(worse)}:", ", ".join(worse)))
    if better:
        parts.append(f"<p>B is better on {len(better)}: {_e(', '.join(better))}.</p>")
    return "".join(parts)


def _metrics_table(rows: Sequence[ComparisonRow], a_id: str, b_id: str) -> str:
    body: list[list[Cell]] = []
    for row in rows:
        name: Cell = (row.label, "") if row.group == "headline" else (row.metric, "mono")
        change: Cell = (_change(row), row.judgement) if row.judgement else _change(row)
        body.append([name, format_value(row.a, row.unit), format_value(row.b, row.unit), change])
    return _table(("Metric", f"A {a_id}", f"B {b_id}", "B vs A"), body, (1, 2, 3))


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
    body = "".join(
        [
            f'<header class="banner compare"><div><h1>{_e(a.plan)}'
            + ("" if a.plan == b.plan else f" vs {_e(b.plan)}")
            + '</h1><p class="meta">Run comparison: B against A</p></div></header>',
            _section("runs", "Runs", _table(("", "Run", "Plan", "Started", "Verdict", "Artifacts"), runs)),
            _section("summary", "Summary", _summary(rows)),
            _section("headline", "Headline", _metrics_table(headline, a.run_id, b.run_id)),
            _section("checks", "Checked metrics", _metrics_table(checks, a.run_id, b.run_id))
            if checks
            else "",
            "<p class='hint'>B vs A: percent change of B against A; better or worse where the metric "
            "has a direction (latency, errors and cost: lower is better; throughput: higher).</p>",
            "<footer>Generated by surge · surge compare</footer>",
        ]
    )
    title = f"surge compare {a.run_id} vs {b.run_id}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="surge"><title>{_e(title)}</title>'
        f"<style>{_CSS}{_COMPARE_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


_COMPARE_CSS = """
.banner.compare{background:#24292f}
td.worse{color:var(--fail);font-weight:700}td.better{color:var(--pass);font-weight:700}
td.st-pass{color:var(--pass);font-weight:700}td.st-fail{color:var(--fail);font-weight:700}
td.st-error{color:var(--error);font-weight:700}
"""
