"""`surge report RUN`: a stored run judged again, beside its own files (never over them)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from surge.cli.common import exit_for, history_for
from surge.cli.run import RunFolder, notes_beyond_figures, run_end_of
from surge.cli.terminal import print_summary
from surge.errors import UserError

if TYPE_CHECKING:
    from datetime import datetime

    from surge.baseline import Baseline
    from surge.metrics.collect import ServiceMetrics
    from surge.plan import Plan
    from surge.report_model import Report
    from surge.stats import RunStats


def _cmd_report(args: argparse.Namespace) -> int:
    """Re-evaluate a stored run from its merged histograms (e.g. with changed thresholds). The
    run's own files and its history record are never changed: the re-evaluation is written beside
    them (``RUN/reevaluations/<time>-<plan>/``) or to --out, and says what it is."""
    if args.cloud:
        from surge.cli.cloud import cmd_report_cloud

        return cmd_report_cloud(args)
    import zlib
    from datetime import UTC, datetime

    from surge.baseline import BaselineError
    from surge.errors import PlanError
    from surge.plan_load import load_plan
    from surge.store.local import (
        PLAN_FILE,
        REEVALUATIONS_DIR,
        DamagedRunError,
        has_report,
        locate_run,
        new_run_id,
        prepare_run_dir,
        read_metrics,
        read_report,
        read_results,
        release_run_dir,
    )

    run_dir = locate_run(args.run)
    if run_dir is None or not has_report(run_dir):
        raise UserError(f"no stored run at '{args.run}': pass a run folder or an id under ./surge-runs")
    plan_path = Path(args.plan) if args.plan else run_dir / PLAN_FILE
    try:
        plan = load_plan(plan_path)
    except PlanError as exc:
        if args.plan:
            raise
        # The run's own copy, not a plan the user is editing: say which file is wrong.
        raise DamagedRunError(
            f"{plan_path} is damaged (the run's stored plan does not load: {exc}); its files are left as they are"
        ) from None
    old = read_report(run_dir)
    if plan.name != old["plan"] and not args.other_plan:
        raise UserError(
            f"--plan {plan_path} is plan '{plan.name}', but run {old['run_id']} ran plan '{old['plan']}'; "
            "pass --other-plan to evaluate it with another plan's checks anyway"
        )
    now = datetime.now(UTC)
    out_dir = Path(args.out) if args.out else run_dir / REEVALUATIONS_DIR / new_run_id(plan.name, now)
    stats = read_results(run_dir)
    metrics = read_metrics(run_dir)
    prepare_run_dir(out_dir)
    try:
        return _reevaluate(args, run_dir, out_dir, plan, plan_path, old, stats, metrics, now)
    except BaselineError as exc:
        release_run_dir(out_dir)
        if args.plan:
            raise
        raise BaselineError(f"{exc} (the baseline the run's stored plan names: {plan_path})") from None
    except UserError:
        release_run_dir(out_dir)
        raise
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error) as exc:
        # What the shape checks cannot see (a histogram's bytes): the stored run, not surge.
        release_run_dir(out_dir)
        raise DamagedRunError(
            f"{run_dir} holds a damaged run ({type(exc).__name__}: {exc}); its files are left as they are"
        ) from None


def _reevaluate(
    args: argparse.Namespace,
    run_dir: Path,
    out_dir: Path,
    plan: Plan,
    plan_path: Path,
    old: Report,
    stats: RunStats,
    metrics: ServiceMetrics | None,
    now: datetime,
) -> int:
    from surge.baseline import Baseline, resolve_baseline
    from surge.finish import finish
    from surge.redact import redactor_for
    from surge.report_model import ReevaluationInfo
    from surge.run_facts import RunFacts

    history = history_for(args, Path(args.plan) if args.plan else None)
    stored = old["baseline"]
    baseline: Baseline | None = None
    notes: list[str] = []
    if stored and stored["spec"] == plan.baseline_spec and stored["source"] is not None:
        # The figures the run was compared to, not whatever last-pass means today.
        baseline = Baseline.from_info(stored)
    else:
        baseline, notes = resolve_baseline(
            plan, history, base_dir=plan_path.parent, before=old["started_at"], exclude_run=old["run_id"]
        )
    end = run_end_of(old)
    facts = RunFacts(
        run_id=old["run_id"],
        mode=old["mode"],
        partial=old["partial"],
        aborted_by=old["aborted_by"],
        error=old["error"],
        end=end,
        metrics=metrics,
        baseline=baseline,
        baseline_notes=notes,
        # Every section of the original that the figures alone do not give stays in the re-evaluation.
        flows=tuple(old.get("flows") or ()),
        generator_notes=notes_beyond_figures(old, stats, end),
        reevaluation=ReevaluationInfo(
            of_run=old["run_id"],
            plan=plan.name,
            plan_hash=plan.plan_hash(),
            plan_path=str(plan_path.resolve()),
            at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            original_verdict=old["verdict"],
        ),
    )
    # The re-evaluation is written beside the run; the history keeps the run's own record.
    done = finish(
        plan, stats, facts, redactor=redactor_for(plan, os.environ), store=RunFolder(out_dir, plan, None)
    )
    report, paths = done.report, done.written.paths
    print(f"re-evaluation of run {old['run_id']} with plan '{plan.name}' (the run's own files are unchanged)")
    print_summary(report, paths)
    return exit_for(report["verdict"])
