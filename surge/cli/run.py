"""`surge validate` and `surge run`: a plan checked, run on this machine, finished and recorded."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge import __version__
from surge.cli.common import ExitStatus, aws_session, exit_for, history_for, targets_text
from surge.cli.terminal import print_baseline, print_summary, severity, spread_lines
from surge.errors import UserError

if TYPE_CHECKING:
    from surge.finish import Written
    from surge.load_override import LoadOverride
    from surge.metrics.collect import ServiceMetrics
    from surge.plan import Plan
    from surge.redact import Redactor
    from surge.report_model import Report
    from surge.stats import RunStats
    from surge.store.history import RunHistory
    from surge.validity import RunEnd


def _cmd_validate(args: argparse.Namespace) -> int:
    from surge.baseline import check_regression_covers, load_baseline_file
    from surge.plan import BaselineFile, is_s3_uri
    from surge.plan_load import load_plan
    from surge.redact import redactor_for

    plan_path = Path(args.plan)
    plan = load_plan(
        plan_path, target=args.target, cloud=args.cloud, load=_load_override(args), settings=tuple(args.set)
    )
    baseline = ""
    if isinstance(plan.baseline, BaselineFile) and is_s3_uri(plan.baseline.file):
        baseline = f"  baseline: {plan.baseline.file} (read by the cloud run when it starts)"
    elif isinstance(plan.baseline, BaselineFile):
        # A file can be checked now; runs in the history are looked up when the plan runs.
        path = Path(plan.baseline.file)
        found = load_baseline_file(path if path.is_absolute() else plan_path.parent / path, "", plan.baseline)
        check_regression_covers(plan, found)
        baseline = f"  baseline: {found.label} ({len(found.figures)} figures)"
    elif plan.baseline is not None:
        baseline = f"  baseline: {plan.baseline} (looked up in the run history when the plan runs)"
    phases = ", ".join(
        f"{p.name or f'phase {i + 1}'} {p.duration:g}s" for i, p in enumerate(plan.load.phases)
    )
    print(f"plan '{plan.name}' is valid: {plan.load.model} model, {plan.load.duration_s:g}s ({phases}),")
    mask = redactor_for(plan, os.environ).text
    checks = len(plan.parsed_thresholds())  # an A/B plan's check without a target is one per target
    print(
        f"  {len(plan.scenarios)} scenario(s), {checks} check(s), "
        + (f"target {mask(plan.target)}" if not plan.targets else targets_text(plan, mask))
    )
    if plan.recovery:
        print("  recovery: " + "; ".join(f"{r.key} after {r.after} {r.since}" for r in plan.recovery))
    if baseline:
        print(baseline)
    changed = plan.validity.changed()
    if changed:
        print("  validity limits changed by the plan: " + ", ".join(f"{k}={v:g}" for k, v in changed.items()))
    if args.cloud:
        from surge.cloud.execution_input import parse_options
        from surge.cloud.fleet_figures import fleet_figures

        for line in fleet_figures(plan, parse_options({})).lines():
            print(f"  {line}")
    else:  # a cloud run collects with the stack's role; a local one with this machine's credentials
        _metrics_unavailable(plan)
    _warn_without_thresholds(plan)
    return ExitStatus.OK


def _record(history: RunHistory, report: Report, location: str) -> None:
    from surge.store.history import HistoryError

    try:
        history.record(report, location)
    except HistoryError as exc:
        # The run's verdict and files stand without the history; losing them for it would be worse.
        print(f"surge: warning: the run was not recorded in the history: {exc}", file=sys.stderr)
    else:
        print(f"history: recorded in {history.where}")


def _warn_without_thresholds(plan: Plan) -> None:
    if not plan.thresholds:
        print(
            "surge: warning: the plan has no thresholds: this run can fail only for validity "
            "(workers lost, load not delivered, nothing measured); add thresholds to judge the service",
            file=sys.stderr,
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from surge.plan_load import load_plan
    from surge.store.local import new_run_id

    plan_path = Path(args.plan)
    load = _load_override(args)
    plan = load_plan(plan_path, target=args.target, cloud=args.cloud, load=load, settings=tuple(args.set))
    if args.set:
        print("surge: set from the command line: " + ", ".join(s.text for s in args.set), file=sys.stderr)
    if load:
        print(
            f"surge: the load from the command line: {load.describe()} (in place of the plan's phases)",
            file=sys.stderr,
        )
    if args.workers is not None and not 1 <= args.workers <= plan.limits.max_workers:
        raise UserError(
            f"--workers {args.workers}: must be between 1 and limits.max_workers ({plan.limits.max_workers})"
        )
    if args.cloud:
        from surge.cli.cloud import run_cloud

        # Relative data and baseline files are found beside the plan, as in a local run, and uploaded.
        if args.repeat > 1:
            raise UserError("--repeat runs locally; run a cloud plan again with its own `surge run --cloud`")
        return run_cloud(args, plan, new_run_id(plan.name), base_dir=plan_path.parent)
    _warn_without_thresholds(plan)
    if args.repeat > 1 and args.out:
        raise UserError("--repeat writes one folder per run under surge-runs/: drop --out")
    codes: list[int] = []
    reports: list[Report] = []
    for i in range(args.repeat):
        if args.repeat > 1:
            print(f"surge: repeat {i + 1} of {args.repeat}", file=sys.stderr)
        code, report = _run_once(args, plan, plan_path)
        codes.append(code)
        if report is not None:
            reports.append(report)
        if code not in (ExitStatus.OK, ExitStatus.CHECKS_FAILED):
            break  # an error or a stop signal ends the repeats
    if args.repeat > 1:
        for line in spread_lines(reports):
            print(line)
    return max(codes, key=severity)


def _run_once(args: argparse.Namespace, plan: Plan, plan_path: Path) -> tuple[int, Report | None]:
    """One local run of the plan: results written and recorded; its exit code and report."""
    from surge.baseline import resolve_baseline
    from surge.finish import finish
    from surge.interrupts import StopRequests
    from surge.progress import ProgressPrinter
    from surge.redact import redactor_for
    from surge.runner import run_local
    from surge.store.local import new_run_id, prepare_run_dir, release_run_dir

    history = history_for(args, plan_path)
    # Before any traffic: publishing without credentials or a region would only fail at the end.
    cloudwatch = _cloudwatch_client(args) if args.publish_metrics else None
    # Before any traffic: a secret that cannot be read is a usage error, never failed requests.
    secrets = _resolve_secrets(args, plan)
    # Before any traffic: a baseline that cannot be found is a usage error, not a failed run.
    baseline, notes = resolve_baseline(plan, history, base_dir=plan_path.parent)
    # Before any traffic: service metrics that cannot be collected are said now, not after the load.
    unavailable = _metrics_unavailable(plan)
    run_id = new_run_id(plan.name)
    out_dir = Path(args.out) if args.out else Path("surge-runs") / run_id
    # Before any traffic: every place the run writes must take its results.
    history.check_writable()
    printer = ProgressPrinter(plan.load.duration_s, closed=plan.load.model == "closed")
    redactor = redactor_for(plan, os.environ, secrets.values())
    stops = StopRequests()
    # Stop signals are handled from the moment the run claims its folder until the results are
    # written: a stop before the load gives the folder back; a second Ctrl-C (or a SIGTERM) while
    # the report is being written must not lose what the run measured.
    with stops.installed():
        prepare_run_dir(out_dir)
        print(
            f"surge {__version__}: running '{plan.name}' against {targets_text(plan, redactor.text)} (run {run_id})",
            file=sys.stderr,
        )
        print_baseline(baseline, notes)
        try:
            run = run_local(
                plan,
                run_id=run_id,
                base_dir=plan_path.parent,
                workers=args.workers,
                progress=printer,
                stops=stops,
                secrets=secrets,
                debug=args.debug,
            )
        except UserError:
            # Nothing ran (a setup that failed, a stop before the load): no empty run folder is left.
            release_run_dir(out_dir)
            raise
        finally:
            printer.finish()
        metrics = None
        if not stops.requested:  # a stopped run does not wait minutes for CloudWatch
            metrics = _collect_metrics(plan, run.stats, args.metrics_delay, unavailable)
        facts = replace(run.facts, metrics=metrics, baseline=baseline, baseline_notes=notes)
        store = RunFolder(out_dir, portable(plan, plan_path.parent), history)
        done = finish(plan, run.stats, facts, redactor=redactor, store=store)
        report, stats = done.report, done.stats
        print_summary(report, done.written.paths)
    if cloudwatch is not None:
        _publish(cloudwatch, report, stats["ended_at"])
    if not done.written.where_planned:
        return ExitStatus.ERROR, report
    if run.interrupted:
        return stops.exit_code(), report
    return exit_for(report["verdict"]), report


def run_end_of(report: Report) -> RunEnd:
    from surge.validity import RunEnd

    end = report["end"]
    return RunEnd(end["stopped_by"], end["workers_lost"], tuple(end["lost_reasons"]))


def notes_beyond_figures(old: Report, stats: RunStats, end: RunEnd) -> tuple[str, ...]:
    """The original report's generator notes that its figures do not give again (how a cloud run's
    shards were sized): kept, so a re-evaluation says all the original said."""
    from surge.summary import generator_notes

    derived = set(generator_notes(stats, end))
    return tuple(n for n in old["generator"]["notes"] if n not in derived)


def _write_results(
    out_dir: Path,
    run_id: str,
    plan: Plan,
    stats: RunStats,
    report: Report,
    metrics: ServiceMetrics | None,
    redactor: Redactor,
) -> tuple[dict[str, Path], Path]:
    """Write the run's files; if its folder failed since it was checked (a full disk, a removed
    folder), write them to a temporary folder instead and say so: results are never lost."""
    import tempfile

    from reports.render import write_reports
    from surge.store.local import write_run

    try:
        return write_run(out_dir, plan, stats, report, write_reports, metrics, redactor), out_dir
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix=f"surge-{run_id}-"))
        print(
            f"surge: error: could not write the results to {out_dir} ({exc.strerror or exc}); "
            f"they are in {fallback}",
            file=sys.stderr,
        )
        return write_run(fallback, plan, stats, report, write_reports, metrics, redactor), fallback


class RunFolder:
    """A local run's files go to its folder (or, if that failed since it was checked, to a temporary
    folder, said aloud); the history records where, when there is one to record in (a re-evaluation
    leaves the history as it is)."""

    def __init__(self, out_dir: Path, stored_plan: Plan, history: RunHistory | None) -> None:
        self.out_dir, self.stored_plan, self.history = out_dir, stored_plan, history

    def write(
        self, stats: RunStats, report: Report, metrics: ServiceMetrics | None, redactor: Redactor
    ) -> Written:
        from surge.finish import Written

        paths, where = _write_results(
            self.out_dir, report["run_id"], self.stored_plan, stats, report, metrics, redactor
        )
        return Written(str(where.resolve()), paths, where_planned=where == self.out_dir)

    def record(self, report: Report, written: Written) -> None:
        if self.history is not None:
            _record(self.history, report, written.location)


def _cloudwatch_client(args: argparse.Namespace) -> Any:
    """A CloudWatch client for --publish-metrics, or a usage error naming what is missing."""
    return aws_session(args, "--publish-metrics").client("cloudwatch")


def _resolve_secrets(args: argparse.Namespace, plan: Plan) -> dict[str, str]:
    """The plan's `$secret`/`$ssm` values, read with the user's credentials before any traffic."""
    from surge.secrets import resolve_secrets, secret_refs

    refs = secret_refs(plan)
    if not refs:
        return {}
    first = refs[0]
    session = aws_session(args, f"{{{{ ${first[0]}.{first[1]} }}}}")
    kinds = {kind for kind, _ in refs}
    return resolve_secrets(
        plan,
        secretsmanager=session.client("secretsmanager") if "secret" in kinds else None,
        ssm=session.client("ssm") if "ssm" in kinds else None,
    )


def _publish(cloudwatch: Any, report: Report, ended_at: float) -> None:
    from surge.metrics.publish import publish_run_metrics

    try:
        sent = publish_run_metrics(cloudwatch, report, ended_at)
    except Exception as exc:  # the verdict and files stand without the metrics
        print(f"surge: warning: the run's metrics were not published to CloudWatch: {exc}", file=sys.stderr)
    else:
        print(f"metrics: {sent} datapoints published to CloudWatch (namespace Surge)")


def _metrics_unavailable(plan: Plan) -> str | None:
    """Why the plan's service metrics and cost cannot be collected from this machine, said before
    any traffic (a run would otherwise wait for CloudWatch and then show rows of no data)."""
    if not plan.services and plan.cost is None:
        return None
    from surge.metrics.collect import uncollectable

    reason = uncollectable()
    if reason is not None:
        declared = len(plan.services) + (plan.cost is not None)
        print(
            f"surge: warning: the plan declares {declared} service(s)/cost to collect, but {reason}: "
            "their metrics will not be collected and their checks will have no data; set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run `aws sso login`) to judge them",
            file=sys.stderr,
        )
    return reason


def _collect_metrics(
    plan: Plan, stats: RunStats, delay_s: float, unavailable: str | None = None
) -> ServiceMetrics | None:
    """The target's own metrics for the run's window, when the plan declares services or cost."""
    if not plan.services and plan.cost is None:
        return None
    from surge.metrics import collect_or_skip
    from surge.metrics.collect import skipped_metrics
    from surge.summary_ab import cost_requests

    if unavailable is not None:  # nothing to wait for
        window = (stats["t0"], stats["ended_at"])
        return skipped_metrics(plan.services, plan.cost, window, f"not collected: {unavailable}")
    if delay_s > 0:
        print(
            f"collecting service metrics: waiting {delay_s:g} s for CloudWatch to ingest the last "
            "datapoints (--metrics-delay to change)",
            file=sys.stderr,
        )
    return collect_or_skip(
        plan.services,
        plan.cost,
        (stats["t0"], stats["ended_at"]),
        requests=cost_requests(plan, stats),
        ingestion_delay_s=delay_s,
    )


def portable(plan: Plan, base_dir: Path) -> Plan:
    """The plan as stored with its run: relative files (the data file, the hooks file, a baseline
    file, multipart file parts in any flow) made absolute, so `surge report` can re-validate the
    stored plan from the run folder."""
    from surge.plan import BaselineFile, file_parts, is_s3_uri

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else str((base_dir / path).resolve())

    copy = plan.model_copy(deep=True)
    changed = False
    if copy.data is not None and not Path(copy.data.file).is_absolute():
        copy.data = copy.data.model_copy(update={"file": absolute(copy.data.file)})
        changed = True
    if copy.hooks is not None and not is_s3_uri(copy.hooks) and not Path(copy.hooks).is_absolute():
        copy.hooks, changed = absolute(copy.hooks), True
    baseline = copy.baseline
    if (
        isinstance(baseline, BaselineFile)
        and not is_s3_uri(baseline.file)
        and not Path(baseline.file).is_absolute()
    ):
        copy.baseline, changed = baseline.model_copy(update={"file": absolute(baseline.file)}), True
    for _, part in file_parts(copy):  # the plan's own walk: scenarios, setup, teardown, on_start
        if not Path(part.path).is_absolute():
            part.path, changed = absolute(part.path), True
    return copy if changed else plan


def _load_override(args: argparse.Namespace) -> LoadOverride | None:
    from surge.load_override import LoadOverride

    load = LoadOverride(
        users=args.users, rate=args.rate, duration_s=args.duration, spawn_rate=args.spawn_rate
    )
    problem = load.problem()
    if problem is not None:
        raise UserError(problem)
    return load or None
