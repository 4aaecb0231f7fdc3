"""What a run prints when it ends: the checks, the headline figures, endpoints, findings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from surge.cli.common import ExitStatus
from surge.history_changes import terminal_value

if TYPE_CHECKING:
    from surge.baseline import Baseline
    from surge.report_model import Report


def print_baseline(baseline: Baseline | None, notes: list[str]) -> None:
    if baseline is not None:
        print(f"baseline: {baseline.label}", file=sys.stderr)
    for note in notes:
        print(f"surge: note: {note}", file=sys.stderr)


def severity(code: int) -> int:
    # A stop signal (128+n) or an error outranks failed checks, which outrank a pass.
    if code >= 128:
        return 3
    return {int(ExitStatus.OK): 0, int(ExitStatus.CHECKS_FAILED): 1}.get(code, 2)


def spread_lines(reports: list[Report]) -> list[str]:
    """How much each headline and checked metric moved across the repeats (run 3x, consistent?)."""
    import statistics

    from surge.baseline import metric_unit
    from surge.store.history import RunRecord

    runs = [RunRecord.from_report(r, "").metrics for r in reports if not r["partial"]]
    if len(runs) < 2:
        return [f"repeatability: {len(runs)} complete run(s), nothing to compare"]
    lines = [f"repeatability over {len(runs)} runs: min / median / max, spread (max - min) of the median"]
    for metric in sorted(set().union(*runs)):
        values = [m[metric] for m in runs if metric in m]
        if len(values) < 2:
            continue
        middle = statistics.median(values)
        unit = metric_unit(metric)
        spread = f"{(max(values) - min(values)) / abs(middle) * 100:.1f}%" if middle else "—"
        lines.append(
            f"  {metric:<40} {terminal_value(min(values), unit):>12} {terminal_value(middle, unit):>12} {terminal_value(max(values), unit):>12}  spread {spread}"
        )
    lines.append("  (every run is in the history: `surge compare` reads its noise band from them)")
    return lines


def print_summary(rep: Report, paths: dict[str, Path]) -> None:
    from reports.terminal import summary_lines

    for line in summary_lines(rep):
        print(line)
    print(f"report: {paths.get('html', paths.get('json'))}")
    print(f"        {paths.get('md')}  {paths.get('json')}  {paths.get('junit')}")
