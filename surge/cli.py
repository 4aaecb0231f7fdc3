"""`surge ...`: argument parsing only; the work is done by the core modules."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge import __version__
from surge.errors import UserError
from surge.history_changes import history_changes, terminal_value

if TYPE_CHECKING:
    from datetime import datetime

    from surge.baseline import Baseline
    from surge.finish import Written
    from surge.load_override import LoadOverride
    from surge.metrics.collect import ServiceMetrics
    from surge.plan import Plan
    from surge.plan_set import PlanSetting
    from surge.redact import Redactor
    from surge.report_model import Report
    from surge.stats import RunStats
    from surge.store.history import RunHistory, RunRecord
    from surge.validity import RunEnd


class ExitStatus(IntEnum):
    OK = 0  # every check passed
    CHECKS_FAILED = 1
    ERROR = 2  # usage, plan, target or environment error
    INTERRUPTED = 130  # Ctrl-C: the report is written and marked partial


STARTER_PLAN = """\
# yaml-language-server: $schema=./surge-plan.schema.json
# A surge test plan. Validate it with `surge validate plan.yaml`, run it with `surge run plan.yaml`.
# Every field: docs/plans.md; editors complete and check it with the schema named above.
name: my-service
# Base URL of the service under test. Requests go only to this host unless allow_hosts says otherwise.
target: http://127.0.0.1:8080
# allow_hosts: [api.internal.example.com]

defaults:
  headers: {Accept: application/json}
  timeout: 10s

load:
  # Open model: `rate` = scenario iterations started per second (ramp with ramp_to).
  # Closed model instead: `users: 50` (virtual users), with `think_time` between iterations.
  phases:
    - {name: warm-up, duration: 10s, rate: 5}
    - {name: ramp, duration: 20s, rate: 5, ramp_to: 50}
    - {name: sustained, duration: 30s, rate: 50}
  # Iterations that cannot start because this many are already in flight are counted as dropped.
  max_in_flight: 1000
  # Connections are opened before the load starts; false measures cold connections (handshakes).
  # warm_connections: false

variables:
  # token: "Bearer {{ $env.API_TOKEN }}"   # read from the environment, never written to reports
  # key: "{{ $secret.my-service/api-key }}" # or from Secrets Manager (`surge secret put my-service/api-key`)

scenarios:
  - name: browse
    weight: 3
    flow:
      - get:
          url: /api/mocs
          capture: [{json: "$.data[0].id", as: mocId}]
          expect: [{status: 200}, {content_type: json}]
      - think: 300ms..1s           # varied, as users do (or {mean: 600ms, stddev: 200ms})
      - get:
          url: /api/mocs/{{ mocId }}
          name: GET /api/mocs/{id}
          expect: [{json: "$.id", equals: "{{ mocId }}"}, {max: 2s}]
  - name: ingest
    weight: 1
    flow:
      - post:
          url: /v1/events
          json: {type: order.created, id: "{{ $uuid }}", amount: "{{ $randint(1, 500) }}"}
          expect: [{status: 202}]

# Checks: the run fails (exit 1) when one does not hold.
thresholds:
  - http.latency.p95 < 500ms
  - http.error_rate < 1%
  - http.throughput > 10/s
  - 'endpoint["POST /v1/events"].p99 < 300ms'
  - {check: http.error_rate < 10%, abort_on_fail: true, grace: 10s}
"""


HISTORY_HELP = (
    "run history: a SQLite file or dynamodb://TABLE (default: $SURGE_HISTORY, else the project's "
    "surge-runs/history.sqlite: the nearest folder above the plan that has one or is a git root)"
)


def _history(args: argparse.Namespace, plan_path: Path | None = None) -> RunHistory:
    """--history, else SURGE_HISTORY, else the history of the plan's project (or the current
    folder's project, for commands without a plan)."""
    from surge.store.history import open_history

    return open_history(args.history, start=plan_path.parent if plan_path is not None else Path.cwd())


def _cmd_validate(args: argparse.Namespace) -> int:
    from surge.baseline import check_regression_covers, load_baseline_file
    from surge.plan import BaselineFile, is_s3_uri, load_plan
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
        + (f"target {mask(plan.target)}" if not plan.targets else _targets_text(plan, mask))
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


def _print_baseline(baseline: Baseline | None, notes: list[str]) -> None:
    if baseline is not None:
        print(f"baseline: {baseline.label}", file=sys.stderr)
    for note in notes:
        print(f"surge: note: {note}", file=sys.stderr)


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


def _targets_text(plan: Plan, mask: Callable[[str], str]) -> str:
    if not plan.targets:
        return mask(plan.target)
    each = ", ".join(f"{name} {mask(url)}" for name, url in plan.targets.items())
    how = "each with the whole load" if plan.target_load == "each" else "sharing the load"
    return f"{len(plan.targets)} targets, {how}: {each}"


def _cmd_run(args: argparse.Namespace) -> int:
    from surge.plan import load_plan
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
        from surge.cli_cloud import run_cloud

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
        for line in _spread_lines(reports):
            print(line)
    return max(codes, key=_severity)


def _severity(code: int) -> int:
    # A stop signal (128+n) or an error outranks failed checks, which outrank a pass.
    if code >= 128:
        return 3
    return {int(ExitStatus.OK): 0, int(ExitStatus.CHECKS_FAILED): 1}.get(code, 2)


def _spread_lines(reports: list[Report]) -> list[str]:
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


def _run_once(args: argparse.Namespace, plan: Plan, plan_path: Path) -> tuple[int, Report | None]:
    """One local run of the plan: results written and recorded; its exit code and report."""
    from surge.baseline import resolve_baseline
    from surge.finish import finish
    from surge.interrupts import StopRequests
    from surge.progress import ProgressPrinter
    from surge.redact import redactor_for
    from surge.runner import run_local
    from surge.store.local import new_run_id, prepare_run_dir, release_run_dir

    history = _history(args, plan_path)
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
            f"surge {__version__}: running '{plan.name}' against {_targets_text(plan, redactor.text)} (run {run_id})",
            file=sys.stderr,
        )
        _print_baseline(baseline, notes)
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
        store = _RunFolder(out_dir, _portable(plan, plan_path.parent), history)
        done = finish(plan, run.stats, facts, redactor=redactor, store=store)
        report, stats = done.report, done.stats
        _print_summary(report, done.written.paths)
    if cloudwatch is not None:
        _publish(cloudwatch, report, stats["ended_at"])
    if not done.written.where_planned:
        return ExitStatus.ERROR, report
    if run.interrupted:
        return stops.exit_code(), report
    return _exit_for(report["verdict"]), report


def _run_end(report: Report) -> RunEnd:
    from surge.validity import RunEnd, stop_reason

    end = report.get("end")
    if end is None:  # a report written before runs recorded how they ended
        return RunEnd(stopped_by=stop_reason(aborted_by=report["aborted_by"], early=report["partial"]))
    return RunEnd(end["stopped_by"], end["workers_lost"], tuple(end["lost_reasons"]))


def _notes_beyond_figures(old: Report, stats: RunStats, end: RunEnd) -> tuple[str, ...]:
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

    from surge.store.local import write_run

    try:
        return write_run(out_dir, plan, stats, report, metrics, redactor), out_dir
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix=f"surge-{run_id}-"))
        print(
            f"surge: error: could not write the results to {out_dir} ({exc.strerror or exc}); "
            f"they are in {fallback}",
            file=sys.stderr,
        )
        return write_run(fallback, plan, stats, report, metrics, redactor), fallback


class _RunFolder:
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


def _aws_session(args: argparse.Namespace, purpose: str) -> Any:
    """A boto3 session with credentials and a region, or a usage error naming what is missing."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from surge.metrics.aws import credentials_available

    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        raise UserError(f"{purpose}: {exc}") from None
    if not credentials_available(session):
        raise UserError(
            f"{purpose}: no AWS credentials found: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        )
    if not session.region_name:
        raise UserError(f"{purpose}: no AWS region set: pass --region or set AWS_REGION")
    return session


def _cloudwatch_client(args: argparse.Namespace) -> Any:
    """A CloudWatch client for --publish-metrics, or a usage error naming what is missing."""
    return _aws_session(args, "--publish-metrics").client("cloudwatch")


def _resolve_secrets(args: argparse.Namespace, plan: Plan) -> dict[str, str]:
    """The plan's `$secret`/`$ssm` values, read with the user's credentials before any traffic."""
    from surge.secrets import resolve_secrets, secret_refs

    refs = secret_refs(plan)
    if not refs:
        return {}
    first = refs[0]
    session = _aws_session(args, f"{{{{ ${first[0]}.{first[1]} }}}}")
    kinds = {kind for kind, _ in refs}
    return resolve_secrets(
        plan,
        secretsmanager=session.client("secretsmanager") if "secret" in kinds else None,
        ssm=session.client("ssm") if "ssm" in kinds else None,
    )


def _cmd_doctor(args: argparse.Namespace) -> int:
    """`surge doctor --cloud`: the deployed stack against this CLI, and what this caller may do."""
    if not args.cloud:
        raise UserError("surge doctor checks the deployed stack: pass --cloud (with --region/--stack)")
    from surge.cloud.doctor import diagnose, local_definition

    plan = options = None
    if args.plan:
        from surge.cloud.execution_input import parse_options
        from surge.plan import load_plan

        plan = load_plan(Path(args.plan), target=args.target, cloud=True)
        given: dict[str, object] = {}
        if args.workers is not None:
            given["min_workers"] = args.workers
        if args.lead_seconds is not None:
            given["lead_seconds"] = args.lead_seconds
        options = parse_options(given)
    session = _aws_session(args, "surge doctor")
    services = ("sts", "cloudformation", "stepfunctions", "lambda", "iam")
    clients = {name: session.client(name) for name in services}
    failed = 0
    findings = diagnose(
        clients,
        stack=args.stack,
        cli_version=__version__,
        template=local_definition(),
        plan=plan,
        options=options,
    )
    for finding in findings:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[finding.ok]
        print(f"{mark} {finding.check}: {finding.detail}")
        if finding.fix and finding.ok is not True:
            print(f"     -> {finding.fix}")
        failed += finding.ok is False
    return ExitStatus.OK if not failed else ExitStatus.ERROR


def _cmd_secret(args: argparse.Namespace) -> int:
    """`surge secret put NAME`: the value from stdin (or --from-env VAR), stored as surge/NAME."""
    from surge.secrets import put_secret

    if args.from_env:
        if args.from_env not in os.environ:
            raise UserError(f"--from-env {args.from_env}: the variable is not set")
        value = os.environ[args.from_env]
    else:
        if sys.stdin.isatty():
            print(f"value for {args.name} (then Enter, Ctrl-D):", file=sys.stderr)
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise UserError(f"no value for {args.name}: pipe it on stdin or pass --from-env VAR")
    session = _aws_session(args, f"surge secret put {args.name}")
    client = session.client("ssm" if args.ssm else "secretsmanager")
    stored = put_secret(
        args.name, value, ssm=client if args.ssm else None, secretsmanager=None if args.ssm else client
    )
    kind = "ssm" if args.ssm else "secret"
    print(f"stored {stored}; plans read it as {{{{ ${kind}.{args.name} }}}}")
    return ExitStatus.OK


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


def _portable(plan: Plan, base_dir: Path) -> Plan:
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


def _exit_for(verdict: str) -> int:
    return {"pass": ExitStatus.OK, "fail": ExitStatus.CHECKS_FAILED}.get(verdict, ExitStatus.ERROR)


def _endpoint_lines(rep: Report, limit: int = 15) -> list[str]:
    """Errors by class, and one line per endpoint (the busiest first) when there is more than one
    or any failed: where a failing run's errors and slowness are."""
    import re

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
    from reports.markdown import scoped_latency

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
    import re

    lines = []
    failures = rep.get("failures") or []
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
    import re

    from reports.targets import targets_view

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
    import re

    findings = rep.get("findings") or []
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


def _print_summary(rep: Report, paths: dict[str, Path]) -> None:
    t = rep["totals"]
    lat = rep["latency_ms"]
    print()
    print(
        f"requests {t['requests']}  errors {t['errors']} ({t['error_rate'] * 100:.2f}%)  "
        f"throughput {t['throughput_rps']:.1f}/s  dropped {t['dropped_iterations']}"
    )
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
        print(f"applied: {phases}")
    sent = t.get("bytes_sent")
    print(
        f"received {t['bytes_received']:,} bytes"
        + (f", sent {sent:,} bytes of request bodies" if sent else "")
    )
    if not rep.get("targets"):  # an A/B run's latencies are per target (below): together they mean nothing
        from reports.markdown import format_interval

        spans = rep.get("uncertainty") or {}

        def with_span(key: str, value: float | None) -> str:
            span = spans.get(f"http.latency.{key}")
            return terminal_value(value, "ms") + (f" {format_interval(span, 'ms')}" if span else "")

        print(
            f"latency (corrected) p50 {with_span('p50', lat['p50'])}  p95 {with_span('p95', lat['p95'])}  "
            f"p99 {with_span('p99', lat['p99'])}"
        )
        if spans:
            print("  (95% intervals from the run's own data: where the true figure lies)")
    for line in _target_lines(rep):
        print(line)
    for line in _endpoint_lines(rep):
        print(line)
    for r in rep.get("recovery") or []:
        if r["time_s"] is None:
            took = "not watched: the run ended before the clock started"
        elif r["at_least"]:
            took = f"not back within the run (at least {r['time_s']:g} s)"
        else:
            took = f"back {r['time_s']:g} s after the {r['phase']} {r['since']}"
        print(f"recovery {r['name']}: {took} ({r['levels']})")
    if rep["generator"]["saturated"]:
        print("WARNING: the load generator saturated; latencies may include its own queueing:")
        for note in rep["generator"]["notes"]:
            print(f"  - {note}")
    info = rep.get("baseline")
    if info:
        print(f"baseline: {info['label']}")
        for note in info["notes"]:
            print(f"  note: {note}")
    from reports.markdown import at_least_reason
    from reports.markdown import format_interval as interval_text
    from surge.validity import counted

    for c in rep["checks"]:
        mark = {"pass": "PASS", "fail": "FAIL", "no-data": "NO DATA"}[c["status"]]
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
            measured += " " + interval_text(c.get("interval") or [None, None], c["unit"])
        if "against" in c:  # an A/B comparison: its target was computed from the other side
            versus += f" vs {c['op']} {terminal_value(c['target'], c['unit'])}"
        guard = " (abort guard)" if c["abort_on_fail"] else ""
        print(f"  [{mark:>7}] {c['name'] + guard:<45} measured {measured}{versus}")
        if c.get("detail") and (c["status"] != "pass" or c.get("uncertain") or "noise_pct" in c):
            seen = c.get("detectable_pct")
            tail = f"; this pair of runs tells a change of {seen:.1f}% from noise" if seen is not None else ""
            print(f"            {c['detail']}{tail}")
    nodata = sum(c["status"] == "no-data" for c in rep["checks"])
    why = rep["service_metrics"].get("notes") or rep["cost"].get("notes")
    if nodata and isinstance(why, list) and why:
        print(f"  {nodata} check(s) have no data: {'; '.join(map(str, why))}")
    for line in _finding_lines(rep):
        print(line)
    verdict = rep["verdict"].upper()
    if rep["partial"]:
        end = rep.get("end")
        stopped_by = end["stopped_by"] if end is not None else None
        why = stopped_by or (f"aborted: {rep['aborted_by']}" if rep["aborted_by"] else "stopped early")
        verdict += f" (partial, {why})"
    print(f"verdict: {verdict}")
    if rep["error"]:
        print(f"error: {rep['error']}")
    print(f"report: {paths.get('html', paths.get('json'))}")
    print(f"        {paths.get('md')}  {paths.get('json')}  {paths.get('junit')}")


def _cmd_report(args: argparse.Namespace) -> int:
    """Re-evaluate a stored run from its merged histograms (e.g. with changed thresholds). The
    run's own files and its history record are never changed: the re-evaluation is written beside
    them (``RUN/reevaluations/<time>-<plan>/``) or to --out, and says what it is."""
    if args.cloud:
        from surge.cli_cloud import cmd_report_cloud

        return cmd_report_cloud(args)
    import zlib
    from datetime import UTC, datetime

    from surge.baseline import BaselineError
    from surge.errors import PlanError
    from surge.plan import load_plan
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

    history = _history(args, Path(args.plan) if args.plan else None)
    stored = old.get("baseline")
    baseline: Baseline | None = None
    notes: list[str] = []
    if stored and stored["spec"] == plan.baseline_spec and stored["source"] is not None:
        # The figures the run was compared to, not whatever last-pass means today.
        baseline = Baseline.from_info(stored)
    else:
        baseline, notes = resolve_baseline(
            plan, history, base_dir=plan_path.parent, before=old["started_at"], exclude_run=old["run_id"]
        )
    end = _run_end(old)
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
        generator_notes=_notes_beyond_figures(old, stats, end),
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
        plan, stats, facts, redactor=redactor_for(plan, os.environ), store=_RunFolder(out_dir, plan, None)
    )
    report, paths = done.report, done.written.paths
    print(f"re-evaluation of run {old['run_id']} with plan '{plan.name}' (the run's own files are unchanged)")
    _print_summary(report, paths)
    return _exit_for(report["verdict"])


def _short_location(location: str) -> str:
    if "://" in location:
        return location
    try:
        return str(Path(location).relative_to(Path.cwd()))
    except ValueError:
        return location


def _cmd_runs(args: argparse.Namespace) -> int:
    if args.cloud:
        from surge.cli_cloud import cmd_runs_cloud

        return cmd_runs_cloud(args)
    history = _history(args)
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

    history = _history(args)
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


def _cmd_status(args: argparse.Namespace) -> int:
    from surge.cli_cloud import cmd_status

    return cmd_status(args)


def _cmd_stop(args: argparse.Namespace) -> int:
    from surge.cli_cloud import cmd_stop

    return cmd_stop(args)


def write_file(path: Path, text: str) -> None:
    """Write a file the user named, or say why not (exit 2), never a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}; name a file in a folder you can write"
        ) from None


def _cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    from surge.plan_schema import SCHEMA_FILE, schema_json

    write_file(path, STARTER_PLAN)
    # The schema the plan's first line names, beside it: editors with yaml-language-server use it.
    schema = path.parent / SCHEMA_FILE
    write_file(schema, schema_json())
    print(
        f"wrote {path} (and {schema}, for your editor); start the demo API with `surge demo-target`, "
        f"then `surge run {path}`"
    )
    return ExitStatus.OK


def _cmd_import(args: argparse.Namespace) -> int:
    from surge.importers.cli import cmd_import

    return cmd_import(args)


def _cmd_schema(args: argparse.Namespace) -> int:
    from surge.plan_schema import reference_markdown, schema_json

    text = reference_markdown() if args.markdown else schema_json()
    if args.output:
        write_file(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return ExitStatus.OK


def _cmd_demo_target(args: argparse.Namespace) -> int:
    from surge.demo_target import DemoConfig, serve

    config = DemoConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        stall_every_s=args.stall_every,
        stall_ms=args.stall_ms,
        delivery_delay_ms=args.delivery_delay_ms,
        capacity=args.capacity,
        slow_path=args.slow_path,
        slow_ms=args.slow_ms,
    )
    try:
        serve(args.host, args.port, config)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # the port is taken, or not ours to bind
        reason = exc.strerror or str(exc)
        raise UserError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port}: {reason}; "
            "pick another port (--port 0 picks a free one)"
        ) from None
    return ExitStatus.OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    """A whole number of at least 0 (--debug N, --workers N...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _finite_number(text: str, *, zero: bool) -> float:
    """A finite number above 0 (or 0 too, with ``zero``): nan or inf would make a wait, a rate or
    a gate meaningless."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise argparse.ArgumentTypeError(
            f"'{text}' must be a finite number, 0 or more" if zero else f"'{text}' is not a number above 0"
        )
    return value


def _non_negative_number(text: str) -> float:
    """Seconds, milliseconds, a percentage: 0 or more."""
    return _finite_number(text, zero=True)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 picks a free one)")
    return value


def _share(text: str) -> float:
    """A share: 0.02, or 2% (as plans write them)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share (0.02 or 2%)") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share between 0 and 1 (0.02 or 2%)")
    return value


def _load_override(args: argparse.Namespace) -> LoadOverride | None:
    from surge.load_override import LoadOverride

    load = LoadOverride(
        users=args.users, rate=args.rate, duration_s=args.duration, spawn_rate=args.spawn_rate
    )
    problem = load.problem()
    if problem is not None:
        raise UserError(problem)
    return load or None


def _setting(text: str) -> PlanSetting:
    from surge.plan_set import parse_setting

    try:
        return parse_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    """A positive duration: 90s, 10m, 1h30m, 500ms, or seconds (--duration)."""
    from surge.units import parse_duration_s

    try:
        value = parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive duration (e.g. 30s, 10m, 1h)")
    return value


def _positive_number(text: str) -> float:
    """A rate: above 0 (--rate, --spawn-rate)."""
    return _finite_number(text, zero=False)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load on the command line, as k6 (--vus, --duration) and Locust (-u, -r, -t) take it."""
    group = parser.add_argument_group(
        "the plan from the command line (in place of its phases or fields; the run stores the plan as it ran)"
    )
    group.add_argument(
        "-u",
        "--users",
        "--vus",
        type=_positive_int,
        metavar="N",
        help="N virtual users for the whole run (closed model), as k6's --vus and Locust's -u",
    )
    group.add_argument(
        "--rate",
        type=_positive_number,
        metavar="R",
        help="R arrivals per second for the whole run (open model)",
    )
    group.add_argument(
        "-t",
        "--duration",
        type=_duration,
        metavar="D",
        help="the run's length (30s, 10m, 1h): with --users or --rate, theirs; alone, the plan's phases "
        "stretched or shrunk to it, their shape kept",
    )
    group.add_argument(
        "-r",
        "--spawn-rate",
        type=_positive_number,
        metavar="R",
        help="with --users: start R users per second (a ramp from 0 first), as Locust's -r",
    )
    group.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set one field of the plan, e.g. 'load.phases[sustained].rate=200' or 'defaults.timeout=5s' "
        "(lists by index or by their items' name; the value read as YAML; repeatable; as Artillery's "
        "--overrides)",
    )


def build_parser() -> argparse.ArgumentParser:
    from surge.cli_cloud import add_cloud_options

    p = argparse.ArgumentParser(
        prog="surge", description="Load tests with a verdict, locally or on AWS Lambda."
    )
    p.add_argument("--version", action="version", version=f"surge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a plan and write its report; exit 0 pass, 1 fail, 2 error")
    run.add_argument("plan", help="the plan file (YAML), e.g. examples/quickstart.yaml")
    run.add_argument(
        "--target", help="override the plan's target base URL (an A/B plan's: NAME=URL[,NAME=URL])"
    )
    run.add_argument("-o", "--out", help="report folder (default ./surge-runs/<run-id>)")
    run.add_argument(
        "--workers",
        type=_positive_int,
        help="workers that share the load: local processes (default: the plan's, else one per core); "
        "with --cloud, at least this many Lambda workers per segment",
    )
    run.add_argument(
        "--debug",
        type=_count,
        default=0,
        metavar="N",
        help="print the run's first N requests and answers, headers and bodies, to stderr (secrets masked)",
    )
    run.add_argument(
        "--repeat",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run the plan N times, one after another, and print how much each metric moved",
    )
    run.add_argument("--history", help=HISTORY_HELP)
    run.add_argument(
        "--cloud", action="store_true", help="run in the deployed AWS stack (Step Functions + Lambda)"
    )
    run.add_argument(
        "--wait", action="store_true", help="with --cloud: follow the run and exit with its verdict"
    )
    run.add_argument(
        "--lead-seconds", type=_count, help="with --cloud: time for workers' cold starts (default 30)"
    )
    run.add_argument(
        "--drill-crash-shard",
        type=_count,
        metavar="N",
        help="with --cloud, a drill: shard N of the first segment fails 2 s into its load without a "
        "result, to see a lost worker handled in your account (the run then fails its validity check)",
    )
    run.add_argument(
        "--metrics-delay",
        type=_non_negative_number,
        default=90.0,
        help="seconds to wait for CloudWatch before reading service metrics (default 90)",
    )
    run.add_argument(
        "--publish-metrics",
        action="store_true",
        help="send the run's headline metrics to CloudWatch (namespace Surge), as cloud runs do, "
        "so runs from CI machines chart on the stack's dashboard",
    )
    _add_load_options(run)
    add_cloud_options(run)
    run.set_defaults(func=_cmd_run)

    val = sub.add_parser("validate", help="check a plan without sending traffic")
    val.add_argument("plan", help="the plan file (YAML) to check")
    val.add_argument(
        "--target", help="override the plan's target base URL (an A/B plan's: NAME=URL[,NAME=URL])"
    )
    val.add_argument(
        "--cloud",
        action="store_true",
        help="check it as a cloud run: s3:// data and baseline files are read when the run starts",
    )
    _add_load_options(val)
    val.set_defaults(func=_cmd_validate)

    rep = sub.add_parser(
        "report", help="re-evaluate a stored run from its histograms, beside its own files (never over them)"
    )
    rep.add_argument("run", help="run folder or run id under ./surge-runs")
    rep.add_argument("--plan", help="evaluate with this plan's thresholds instead of the stored plan")
    rep.add_argument(
        "--other-plan",
        action="store_true",
        help="allow --plan to name a plan other than the one the run ran",
    )
    rep.add_argument("--history", help=HISTORY_HELP)
    rep.add_argument("--cloud", action="store_true", help="download a cloud run's reports from S3")
    rep.add_argument(
        "--out",
        help="where to write the re-evaluation (default RUN/reevaluations/<time>-<plan>/); "
        "with --cloud: where to put the downloaded files (default ./surge-runs/<run>)",
    )
    rep.add_argument("--open", action="store_true", help="with --cloud: open report.html in a browser")
    add_cloud_options(rep)
    rep.set_defaults(func=_cmd_report)

    runs = sub.add_parser("runs", help="list recorded runs, newest first")
    runs.add_argument("--plan", help="only runs of this plan (by name)")
    runs.add_argument("--limit", type=_positive_int, default=20, help="at most this many (default 20)")
    runs.add_argument("--history", help=HISTORY_HELP)
    runs.add_argument("--cloud", action="store_true", help="list runs from the deployed stack's table")
    add_cloud_options(runs)
    runs.set_defaults(func=_cmd_runs)

    status = sub.add_parser("status", help="a cloud run's status and progress")
    status.add_argument("run", help="the cloud run's id (surge runs --cloud lists them)")
    status.add_argument("--wait", action="store_true", help="follow it to the end; exit with its verdict")
    add_cloud_options(status)
    status.set_defaults(func=_cmd_status)

    stop = sub.add_parser("stop", help="stop a cloud run within seconds, keeping what was measured")
    stop.add_argument("run", help="the cloud run's id to stop (its partial report is kept)")
    add_cloud_options(stop)
    stop.set_defaults(func=_cmd_stop)

    cmp = sub.add_parser("compare", help="two runs side by side, printed and written as HTML")
    cmp.add_argument("run_a", metavar="RUN_A", help="run id in the history, or a run folder")
    cmp.add_argument("run_b", metavar="RUN_B", help="run id in the history, or a run folder")
    cmp.add_argument("-o", "--out", help="HTML file (default surge-runs/compare-<A>-vs-<B>.html)")
    cmp.add_argument("--history", help=HISTORY_HELP)
    cmp.add_argument(
        "--fail-if-worse",
        type=_non_negative_number,  # a finite percentage, 0 or more (nan would be a gate that never fails)
        metavar="PCT",
        help="exit 1 when B is worse than A by more than PCT percent (and beyond the metric's noise)",
    )
    cmp.add_argument(
        "--noise-runs",
        type=_positive_int,
        default=10,
        metavar="N",
        help="earlier runs of A's plan the noise band is read from (default 10)",
    )
    cmp.set_defaults(func=_cmd_compare)

    doctor = sub.add_parser(
        "doctor", help="check the deployed stack against this CLI, and the caller's access"
    )
    doctor.add_argument("--cloud", action="store_true", help="check the AWS stack (the only check so far)")
    doctor.add_argument(
        "--plan",
        help="also what a run of this plan needs of the account (concurrency, Lambda's scaling, "
        "the workflow's quotas) and whether the deployment allows its hosts",
    )
    doctor.add_argument("--target", help="with --plan: the plan's target base URL, as surge run takes it")
    doctor.add_argument(
        "--workers", type=_positive_int, help="with --plan: at least this many workers per segment"
    )
    doctor.add_argument("--lead-seconds", type=_count, help="with --plan: the lead time the run would use")
    add_cloud_options(doctor)
    doctor.set_defaults(func=_cmd_doctor)

    secret = sub.add_parser("secret", help="store a value plans read as {{ $secret.NAME }}")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True, help="put: store a secret")
    put = secret_sub.add_parser("put", help="store NAME as surge/NAME (value from stdin)")
    put.add_argument("name", metavar="NAME", help="e.g. checkout/api-token")
    put.add_argument("--from-env", metavar="VAR", help="take the value from this environment variable")
    put.add_argument("--ssm", action="store_true", help="a SecureString parameter /surge/NAME instead")
    add_cloud_options(put)
    put.set_defaults(func=_cmd_secret)

    init = sub.add_parser("init", help="write a commented starter plan")
    init.add_argument(
        "path", nargs="?", default="surge-plan.yaml", help="the plan to write (default surge-plan.yaml)"
    )
    init.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    init.set_defaults(func=_cmd_init)

    imp = sub.add_parser(
        "import",
        help="write a surge plan from an Artillery script, a k6 script or a locustfile (docs/migrating.md)",
        description="Write the surge plan that does what the script declares. What cannot be mapped "
        "is listed as comments at the top of the plan. Exit 0: written and valid; 1: written, but "
        "`surge validate` finds problems (printed); 2: the script cannot be read.",
    )
    imp.add_argument("tool", choices=["artillery", "k6", "locust"], help="the tool the script is for")
    imp.add_argument("script", help="the tool's script: load-test.yml, script.js, locustfile.py")
    imp.add_argument(
        "-o", "--out", "--output", dest="output", help="the plan file to write (default: print it)"
    )
    imp.add_argument("--force", action="store_true", help="overwrite the output file")
    imp.set_defaults(func=_cmd_import)

    schema = sub.add_parser(
        "schema", help="print the plan's JSON Schema (for editors: yaml-language-server's $schema)"
    )
    schema.add_argument("-o", "--out", "--output", dest="output", help="write it to this file")
    schema.add_argument("--markdown", action="store_true", help="the plan reference (docs/plans.md) instead")
    schema.set_defaults(func=_cmd_schema)

    demo = sub.add_parser(
        "demo-target",
        help="serve the demo API on loopback for trying surge",
        description="The demo API, on loopback only. Endpoints: GET / and /health; GET /api/mocs, "
        "/api/mocs/{id}, /api/gallery?search=, /api/wishlist; POST /api/gallery/{id}/image "
        "(multipart); POST /api/login, GET /api/account, POST /api/logout (a session cookie); "
        "POST /v1/events, GET /v1/inbox, /v1/inbox/{id}, POST /v1/inbox/{id}/ack (the Triggers "
        "story); /_surge/echo (what a request carried), /_surge/stats, /_surge/config (GET, or POST "
        "to change the settings below while it runs), POST /_surge/reset.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    demo.add_argument(
        "--latency-ms",
        type=_non_negative_number,
        default=5.0,
        help="median latency added to every API answer",
    )
    demo.add_argument(
        "--jitter-ms",
        type=_non_negative_number,
        default=0.0,
        help="latency becomes lognormal, its 84th percentile at latency + jitter (ms; 0: fixed)",
    )
    demo.add_argument(
        "--error-rate", type=_share, default=0.0, help="share of API answers that are 500s: 0.02 or 2%%"
    )
    demo.add_argument(
        "--stall-every", type=_non_negative_number, default=0.0, help="seconds between stalls (0: none)"
    )
    demo.add_argument(
        "--stall-ms",
        type=_non_negative_number,
        default=0.0,
        help="how long each stall lasts (ms): the API answers nothing meanwhile",
    )
    demo.add_argument(
        "--delivery-delay-ms",
        type=_non_negative_number,
        default=0.0,
        help="how long a posted event takes to show up in /v1/inbox",
    )
    demo.add_argument(
        "--capacity",
        type=float,
        default=0.0,
        help="API requests worked on at once; the rest queue (0: no limit)",
    )
    demo.add_argument("--slow-path", default="", help="API paths starting with this take --slow-ms more")
    demo.add_argument(
        "--slow-ms", type=_non_negative_number, default=0.0, help="extra latency of --slow-path answers"
    )
    demo.set_defaults(func=_cmd_demo_target)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        # A Ctrl-C while the parser and the command's modules load is an interrupt like any other.
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UserError as exc:
        from surge.redact import NO_REDACTION

        print(f"surge: {NO_REDACTION.text(str(exc))}", file=sys.stderr)  # userinfo in a URL it names
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        print("surge: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
