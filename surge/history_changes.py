"""What a terminal shows of a plan's history: where its figures changed (surge.changepoints),
for the local history and the cloud stack's alike, and figures in the terminal's units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from surge.changepoints import MIN_SIDE, change_points

if TYPE_CHECKING:
    from surge.store.history import RunRecord

# Where a plan's history changed, read on the figures a gate judges.
_CHANGE_METRICS = (
    ("latency_p95_ms", "p95", "ms"),
    ("latency_p99_ms", "p99", "ms"),
    ("error_rate", "error rate", "ratio"),
)


def terminal_value(value: float | None, unit: str) -> str:
    """A figure as the terminal shows it ("no data" when there is none)."""
    if value is None:
        return "no data"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "per_s":
        return f"{value:.1f}/s"
    if unit == "usd":
        return f"${value:,.2f}"
    return f"{value:g}"


def history_changes(records: Sequence[RunRecord]) -> list[str]:
    """Change points in each plan's history of complete runs of one load (oldest first): where
    its p95, p99 or error rate stepped, and whether the step is beyond the runs' own variation."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in reversed(records):  # oldest first
        if not r.partial and r.verdict != "error":
            groups.setdefault((r.plan, r.load_hash), []).append(r)
    lines: list[str] = []
    for (plan, _), runs in groups.items():
        if len(runs) < 2 * MIN_SIDE:
            continue
        for attr, label, unit in _CHANGE_METRICS:
            series = [(r, getattr(r, attr)) for r in runs if getattr(r, attr) is not None]
            for change in change_points([float(v) for _, v in series]):
                pct = change.change_pct
                moved = f", {pct:+.1f}%" if pct is not None else ""
                lines.append(
                    f"  {plan}: {label} changed at run {series[change.at][0].run_id}: "
                    f"{terminal_value(change.before, unit)} -> {terminal_value(change.after, unit)} (medians{moved}; "
                    f"p = {change.p_value:.3f})"
                )
    if lines:
        lines.insert(
            0, "changes in the history (complete runs of one load, oldest first; shown above: --limit):"
        )
    return lines
