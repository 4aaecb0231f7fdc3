"""Cloud commands of the CLI: `run --cloud`, `status`, `stop`, `runs --cloud`, `report --cloud`."""

from __future__ import annotations

import argparse
import sys
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge.cloud import DEFAULT_STACK
from surge.errors import UserError
from surge.history_changes import history_changes

if TYPE_CHECKING:
    from surge.cloud.client import CloudRuns, RunStatus


def add_cloud_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"CloudFormation stack of surge (default {DEFAULT_STACK})"
    )
    p.add_argument("--region", help="AWS region of the stack (default: AWS_REGION / profile)")
    p.add_argument("--profile", help="AWS profile")


def connect(args: argparse.Namespace, session_factory: Any = None) -> CloudRuns:
    from surge.cloud.client import CloudRuns, describe_stack, raise_for_aws

    try:
        import boto3

        factory = session_factory or boto3.session.Session
        session = factory(profile_name=args.profile, region_name=args.region)
        cfn = session.client("cloudformation")
        info = describe_stack(cfn, args.stack)
        return CloudRuns(
            info,
            s3=session.client("s3", region_name=info.region),
            sfn=session.client("stepfunctions", region_name=info.region),
            dynamodb=session.client("dynamodb", region_name=info.region),
            lambda_client=session.client("lambda", region_name=info.region),
        )
    except UserError:
        raise
    except Exception as exc:
        return raise_for_aws(exc, f"stack '{args.stack}'")  # type: ignore[no-any-return]


class CloudProgress:
    """A status line from the run record: workers running, request rate, p95, errors, segment."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last: tuple[float, int] | None = None
        self._last_print = 0.0

    def __call__(self, st: RunStatus) -> None:
        from surge.progress import format_clock

        rec = st.record
        now = time.monotonic()
        requests = int(rec.get("requests", 0) or 0)  # type: ignore[call-overload]
        errors = int(rec.get("errors", 0) or 0)  # type: ignore[call-overload]
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = (requests - self._last[1]) / (now - self._last[0])
        self._last = (now, requests)
        p95 = rec.get("last_segment_p95_ms")
        line = (
            f"[{st.execution_status.lower()}] {format_clock(now - self.started)}"
            f"  segment {rec.get('segments_done', 0)}/{rec.get('segment_count', '?')}"
            f"  workers {rec.get('workers_running', 0)}  {rate:8.1f} req/s"
            f"  p95 {'—' if p95 is None else f'{p95:.1f} ms'}  errors {errors}  total {requests}"
        )
        if self.tty:
            self.stream.write("\r" + line)
        elif now - self._last_print >= 10 or st.done:
            self.stream.write(line + "\n")
            self._last_print = now
        self.stream.flush()
        if st.done and self.tty:
            self.stream.write("\n")


def run_cloud(args: argparse.Namespace, plan: Any, run_id: str, base_dir: Path | None = None) -> int:
    """Start ``plan`` in the stack; ``base_dir`` is where its relative data and baseline files are
    (the plan file's folder): they are uploaded with it."""
    from surge.cloud.execution_input import check_fits, parse_options
    from surge.cloud.planner import plan_segments, required_concurrency

    options: dict[str, object] = {}
    if args.lead_seconds is not None:
        options["lead_seconds"] = args.lead_seconds
    if getattr(args, "drill_crash_shard", None) is not None:
        options["drill_crash_shard"] = args.drill_crash_shard
    if getattr(args, "workers", None) is not None:
        options["min_workers"] = args.workers  # at least this many Lambda workers per segment
    # The checks Prepare makes, made before anything is uploaded or started (exit 2).
    checked = parse_options(options)
    check_fits(plan, checked)
    runs = connect(args)
    runs.start(
        plan,
        run_id,
        options,
        base_dir=base_dir,
        concurrency=required_concurrency(plan_segments(plan, checked)),
        on_note=lambda note: print(f"surge: note: {note}", file=sys.stderr),
    )
    print(f"started cloud run {run_id} (state machine {runs.info.state_machine_arn})", file=sys.stderr)
    if not args.wait:
        print(f"follow it with `surge status {run_id} --wait`; stop it with `surge stop {run_id}`")
        return 0
    return _finish(runs, runs.follow(run_id, CloudProgress()))


def _finish(runs: CloudRuns, st: RunStatus) -> int:
    verdict = st.verdict
    print(f"run {st.run_id}: execution {st.execution_status}, verdict {verdict.upper()}")
    if st.cause:
        print(f"cause: {st.cause}")
    uri = st.record.get("report_uri")
    if uri:
        print(f"report: {uri}  (download with `surge report {st.run_id} --cloud --open`)")
    reason = str(st.record.get("stop_reason") or "")
    if st.record.get("stop_requested") and not reason.startswith("aborted"):
        # Stopped on request: like Ctrl-C locally, a partial run is neither a pass nor a failure.
        print(f"the run was stopped ({reason}); its report is partial")
        return 130
    return {"pass": 0, "fail": 1}.get(verdict, 2)


def cmd_status(args: argparse.Namespace) -> int:
    runs = connect(args)
    if args.wait:
        return _finish(runs, runs.follow(args.run, CloudProgress()))
    st = runs.status(args.run)
    rec = st.record
    print(f"run {st.run_id}: {st.execution_status} (record: {rec.get('status', 'unknown')})")
    for key in (
        "plan",
        "started_at",
        "ended_at",
        "segments_done",
        "segment_count",
        "workers_running",
        "requests",
        "errors",
        "verdict",
        "cause",
        "report_uri",
    ):
        if rec.get(key) is not None:
            print(f"  {key}: {rec[key]}")
    return 0 if not st.done else _finish(runs, st)


def cmd_stop(args: argparse.Namespace) -> int:
    runs = connect(args)
    runs.stop(args.run)
    print(f"stop requested for {args.run}: workers end within seconds; the report covers what was measured")
    return 0


def cmd_runs_cloud(args: argparse.Namespace) -> int:
    runs = connect(args)
    rows = runs.recent(plan=args.plan, limit=args.limit)
    if not rows:
        print("no runs yet")
        return 0
    print(f"{'run id':<44} {'plan':<20} {'started':<21} {'status':<10} {'verdict':<8} requests")
    for r in rows:
        print(
            f"{r.get('run_id', '')!s:<44} {r.get('plan', '')!s:<20} {r.get('started_at', '')!s:<21}"
            f" {r.get('status', '')!s:<10} {r.get('verdict') or '—'!s:<8} {r.get('requests', 0)}"
        )
    # Where each plan's cloud history changed, read as the local history's is (finished runs only).
    for line in history_changes(runs.history().list(plan=args.plan, limit=args.limit)):
        print(line)
    return 0


def cmd_report_cloud(args: argparse.Namespace) -> int:
    runs = connect(args)
    dest = Path(args.out) if args.out else Path("surge-runs") / args.run
    paths = runs.download_report(args.run, dest)
    print(f"downloaded {', '.join(str(p) for p in paths.values())}")
    if args.open:
        webbrowser.open(paths["html"].resolve().as_uri())
    return 0
