"""`surge runs` and `surge compare`: the run history listed, and two runs side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from surge.cli.common import ExitStatus, history_for
from surge.errors import UserError
from surge.history_changes import history_changes, terminal_value

if TYPE_CHECKING:
    from surge.report_model import Report
    from surge.store.history import RunHistory, RunRecord


def _short_location(location: str) -> str:
    if "://" in location:
        return location
    try:
        return str(Path(location).relative_to(Path.cwd()))
    except ValueError:
        return location


def _cmd_runs(args: argparse.Namespace) -> int:
    if args.cloud:
        from surge.cli.cloud import cmd_runs_cloud

        return cmd_runs_cloud(args)
    history = history_for(args)
    records = history.list(plan=args.plan, limit=args.limit)
    print(f"history: {history.where}", file=sys.stderr)
    for damaged in history.damaged:
        print(f"surge: warning: skipped {damaged}", file=sys.stderr)
    if not records:
        which = f" of plan '{args.plan}'" if args.plan else ""
        print(f"no runs{which} recorded in {history.where}")
        return ExitStatus.OK
    rows = [("RUN", "PLAN", "STARTED", "VERDICT", "REQUESTS", "P95", "ERROR RATE", "LOCATION")]
    for r in records:
        rows.append(
            (
                r.run_id,
                r.plan,
                r.started_at,
                r.verdict.upper() + (" (partial)" if r.partial else ""),
                str(r.requests),
                terminal_value(r.latency_p95_ms, "ms"),
                terminal_value(r.error_rate, "ratio"),
                _short_location(r.location),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for line in history_changes(records):
        print(line)
    return ExitStatus.OK


def _find_record(history: RunHistory, ref: str) -> RunRecord:
    from surge.store.history import RunRecord
    from surge.store.local import has_report, locate_run, read_report

    record = history.get(ref)
    if record is not None:
        return record
    run_dir = locate_run(ref)
    if run_dir is not None and has_report(run_dir):
        return RunRecord.from_report(read_report(run_dir), str(run_dir.resolve()))
    raise UserError(
        f"no run '{ref}' in the history ({history.where}) nor a run folder at that path; "
        "list runs with `surge runs`"
    )


def _report_of(record: RunRecord) -> Report | None:
    """A run's report, when its folder is on this machine (cloud runs' are in S3: headline only)."""
    from surge.store.local import has_report, locate_run, read_report

    run_dir = locate_run(record.location) if record.location else None
    if run_dir is None or not has_report(run_dir):
        return None
    try:
        return read_report(run_dir)
    except (OSError, ValueError, UserError):
        return None


def _noise_runs(history: RunHistory, a: RunRecord, b: RunRecord, limit: int) -> list[dict[str, float]]:
    """Earlier complete runs of A's load (repeats included), A's own too, B excluded: how much each
    metric moves between runs of the same plan (the runs the plan's regression rule reads)."""
    from reports.compare import detail_metrics

    runs = []
    for record in history.list(plan=a.plan, limit=limit + 1):
        same_load = (
            record.load_hash == a.load_hash
            if record.load_hash and a.load_hash
            else record.plan_hash == a.plan_hash
        )
        if record.run_id == b.run_id or record.partial or record.verdict == "error" or not same_load:
            continue
        report = _report_of(record)
        runs.append({**record.metrics, **(detail_metrics(report) if report is not None else {})})
    return runs[:limit]


def _cmd_compare(args: argparse.Namespace) -> int:
    from reports.compare import (
        compare_records,
        detail_metrics,
        regressions,
        render_compare_html,
        render_compare_text,
    )
    from surge.baseline import NOISE_MIN_RUNS, default_direction

    history = history_for(args)
    a, b = _find_record(history, args.run_a), _find_record(history, args.run_b)
    ra, rb = _report_of(a), _report_of(b)
    details = (detail_metrics(ra), detail_metrics(rb)) if ra is not None and rb is not None else None
    earlier = _noise_runs(history, a, b, args.noise_runs)
    rows = compare_records(a, b, details=details, earlier=earlier)
    print(render_compare_text(a, b, rows), end="")
    blind = [
        r.label
        for r in rows
        if r.noise_pct is None and r.judgement in ("worse", "better") and default_direction(r.metric)
    ]
    if blind:
        few = len(earlier) < NOISE_MIN_RUNS
        print(
            f"\nno noise known for {len(blind)} metric(s) ({', '.join(blind[:4])}{', ...' if len(blind) > 4 else ''}): "
            "compared on the figures alone"
            + (
                f" (no interval recorded for them, and fewer than {NOISE_MIN_RUNS} complete earlier runs of "
                f"{a.plan} with this load: `surge run --repeat 3` makes them)"
                if few
                else " (no interval recorded for them)"
            )
        )
    out = Path(args.out) if args.out else Path("surge-runs") / f"compare-{a.run_id}-vs-{b.run_id}.html"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_compare_html(a, b, rows), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"\ncomparison: {out}")
    if args.fail_if_worse is not None:
        worse = regressions(rows, args.fail_if_worse)
        if worse:
            print(f"B is worse than A beyond {args.fail_if_worse:g}% and the noise on {len(worse)}:")
            for row in worse:
                band = f", noise ±{row.noise_pct:.1f}%" if row.noise_pct is not None else ""
                print(f"  {row.label}: {row.delta_pct:+.1f}%{band}")
            return ExitStatus.CHECKS_FAILED
        print(f"B is not worse than A beyond {args.fail_if_worse:g}% (and the noise) on any metric")
    return ExitStatus.OK
