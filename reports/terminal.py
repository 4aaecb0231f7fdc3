"""The terminal's account of a run as it ends: the headline figures, the applied load, each
target's and endpoint's figures, recoveries, checks, findings and the verdict, as lines of text.
What each line says comes from the report's view (reports.view) as in every other output; names
that come from plans are shown without control characters (no terminal escapes)."""

from __future__ import annotations

import re

from reports.targets import targets_view
from reports.view import at_least_reason, format_interval, scoped_latency, status_label
from surge.history_changes import terminal_value
from surge.report_model import Report
from surge.validity import counted


def endpoint_lines(rep: Report, limit: int = 15) -> list[str]:
    """Errors by class, and one line per endpoint (the busiest first) when there is more than one
    or any failed: where a failing run's errors and slowness are."""
    endpoints = rep["endpoints"]
    classes: dict[str, int] = {}
    for ep in endpoints.values():
        for name, n in ep["errors_by_class"].items():
            classes[name] = classes.get(name, 0) + n
    if len(endpoints) <= 1 and not classes:
        return []
    lines = []
    if classes:
        lines.append(
            "errors by class: "
            + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1]))
        )
    width = min(max(len(n) for n in endpoints), 48)
    if rep.get("targets"):
        return lines + _failure_lines(rep, width)  # an A/B run's endpoints are shown per target

    busiest = sorted(endpoints.items(), key=lambda kv: -kv[1]["requests"])[:limit]
    p95s = [scoped_latency(rep, "endpoint", name, ep["latency_ms"], "p95") for name, ep in busiest]
    p95_width = max(len("p95 [95% interval]"), *(len(p) for p in p95s))
    lines.append(
        f"  {'endpoint':<{width}} {'requests':>9} {'errors':>7} {'p95 [95% interval]':>{p95_width}}  error classes"
    )
    for (name, ep), p95 in zip(busiest, p95s, strict=True):
        shown = re.sub(r"[\x00-\x1f\x7f]", " ", name)[:width]  # names come from plans: no terminal escapes
        errors = ", ".join(f"{k} {v}" for k, v in ep["errors_by_class"].items())
        lines.append(f"  {shown:<{width}} {ep['requests']:>9} {ep['errors']:>7} {p95:>{p95_width}}  {errors}")
    if len(endpoints) > limit:
        lines.append(f"  ... {len(endpoints) - limit} more in the report")
    return lines + _failure_lines(rep, width)


def _failure_lines(rep: Report, width: int) -> list[str]:
    lines = []
    failures = rep["failures"]
    if failures:
        lines.append("what failed (first of each, most frequent first):")
    for group in failures[:5]:
        first = group["samples"][0]
        what = re.sub(r"[\x00-\x1f\x7f]", " ", first["detail"] or f"status {first['status']}")[:160]
        shown = re.sub(r"[\x00-\x1f\x7f]", " ", group["endpoint"])[:width]
        lines.append(f"  {shown} {group['error']} x{group['count']}: {what}")
    return lines


_TERMINAL_TARGET_ROWS = ("Requests", "Error rate", "Throughput", "Latency p50", "Latency p95", "Latency p99")


def _target_lines(rep: Report) -> list[str]:
    """An A/B run: each target's headline figures and endpoints side by side, changes against the first."""
    view = targets_view(rep)
    if view is None:
        return []
    endpoint_rows = next((t.rows for t in view.tables if t.first_column == "Endpoint"), [])
    rows = [r for r in view.tables[0].rows if r.label in _TERMINAL_TARGET_ROWS] + endpoint_rows[:15]
    labels = [re.sub(r"[\x00-\x1f\x7f]", " ", r.label.removeprefix("Latency "))[:40] for r in rows]
    width = max(len(label) for label in labels)
    heads = [*(n[:16] for n in view.names), *(h[:24] for h in view.delta_headers)]
    lines = [f"  {'':<{width}} " + " ".join(f"{h:>16}" for h in heads)]
    for label, row in zip(labels, rows, strict=True):
        deltas = [f"{d.text} {d.verdict or ''}".strip() for d in row.deltas]
        lines.append(f"  {label:<{width}} " + " ".join(f"{v:>16}" for v in [*row.values, *deltas]))
    return lines


def _finding_lines(rep: Report, limit: int = 6) -> list[str]:
    """Why it failed and what to do (surge.findings), the first few; the report has them all."""
    findings = rep["findings"]
    if not findings:
        return []
    lines = ["findings:"]
    for f in findings[:limit]:
        lines.append("  - " + re.sub(r"[\x00-\x1f\x7f]", " ", f["title"]))
        if f.get("recommendation"):
            lines.append("    what to do: " + re.sub(r"[\x00-\x1f\x7f]", " ", f["recommendation"]))
    if len(findings) > limit:
        lines.append(f"  ... {len(findings) - limit} more in the report")
    return lines


def summary_lines(rep: Report) -> list[str]:
    """What a run prints when it ends, the files it wrote aside."""
    t = rep["totals"]
    lat = rep["latency_ms"]
    lines = [
        "",
        f"requests {t['requests']}  errors {t['errors']} ({t['error_rate'] * 100:.2f}%)  "
        f"throughput {t['throughput_rps']:.1f}/s  dropped {t['dropped_iterations']}",
    ]
    load = rep.get("applied_load")
    if load:
        phases = "; ".join(
            f"{p['name']} {p['planned']} over {p['duration_s']:g} s: "
            + (
                f"{p['iterations']} iterations, {p['throughput_rps']:.1f} req/s"
                if p["ran_s"] > 0
                else "not run"
            )
            for p in load["phases"]
        )
        lines.append(f"applied: {phases}")
    sent = t.get("bytes_sent")
    lines.append(
        f"received {t['bytes_received']:,} bytes"
        + (f", sent {sent:,} bytes of request bodies" if sent else "")
    )
    if not rep.get("targets"):  # an A/B run's latencies are per target (below): together they mean nothing
        spans = rep["uncertainty"]

        def with_span(key: str, value: float | None) -> str:
            span = spans.get(f"http.latency.{key}")
            return terminal_value(value, "ms") + (f" {format_interval(span, 'ms')}" if span else "")

        lines.append(
            f"latency (corrected) p50 {with_span('p50', lat['p50'])}  p95 {with_span('p95', lat['p95'])}  "
            f"p99 {with_span('p99', lat['p99'])}"
        )
        if spans:
            lines.append("  (95% intervals from the run's own data: where the true figure lies)")
    lines += _target_lines(rep)
    lines += endpoint_lines(rep)
    for r in rep.get("recovery") or []:
        if r["time_s"] is None:
            took = "not watched: the run ended before the clock started"
        elif r["at_least"]:
            took = f"not back within the run (at least {r['time_s']:g} s)"
        else:
            took = f"back {r['time_s']:g} s after the {r['phase']} {r['since']}"
        lines.append(f"recovery {r['name']}: {took} ({r['levels']})")
    if rep["generator"]["saturated"]:
        lines.append("WARNING: the load generator saturated; latencies may include its own queueing:")
        for note in rep["generator"]["notes"]:
            lines.append(f"  - {note}")
    info = rep["baseline"]
    if info:
        lines.append(f"baseline: {info['label']}")
        for note in info["notes"]:
            lines.append(f"  note: {note}")

    for c in rep["checks"]:
        mark = status_label(c["status"])
        versus = ""
        if c["baseline"] is not None:
            delta = "" if c["delta_pct"] is None else f", {c['delta_pct']:+.1f}%"
            versus = f" (baseline {terminal_value(c['baseline'], c['unit'])}{delta})"
        measured = terminal_value(c["measured"], c["unit"]) + (
            counted(c) if c["measured"] is not None else ""
        )
        if c.get("at_least"):
            measured = f">= {measured} ({at_least_reason(c)})"
        elif c.get("interval"):
            measured += " " + format_interval(c.get("interval") or [None, None], c["unit"])
        if "against" in c:  # an A/B comparison: its target was computed from the other side
            versus += f" vs {c['op']} {terminal_value(c['target'], c['unit'])}"
        guard = " (abort guard)" if c["abort_on_fail"] else ""
        lines.append(f"  [{mark:>7}] {c['name'] + guard:<45} measured {measured}{versus}")
        if c.get("detail") and (c["status"] != "pass" or c.get("uncertain") or "noise_pct" in c):
            seen = c.get("detectable_pct")
            tail = f"; this pair of runs tells a change of {seen:.1f}% from noise" if seen is not None else ""
            lines.append(f"            {c['detail']}{tail}")
    nodata = sum(c["status"] == "no-data" for c in rep["checks"])
    missing = rep["service_metrics"].get("notes") or rep["cost"].get("notes")
    if nodata and missing:
        lines.append(f"  {nodata} check(s) have no data: {'; '.join(missing)}")
    lines += _finding_lines(rep)
    verdict = rep["verdict"].upper()
    if rep["partial"]:
        why = rep["end"]["stopped_by"] or (
            f"aborted: {rep['aborted_by']}" if rep["aborted_by"] else "stopped early"
        )
        verdict += f" (partial, {why})"
    lines.append(f"verdict: {verdict}")
    if rep["error"]:
        lines.append(f"error: {rep['error']}")
    return lines
