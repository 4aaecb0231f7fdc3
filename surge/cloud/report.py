"""Report (and RecordError): the verdict from the merged results, the reports in S3, the run record
finished. The ASL states ``Report`` and ``RecordError``; handler functions/report.py."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from surge.baseline import resolve_baseline
from surge.cloud import emf_log, layout
from surge.cloud.emf import run_metrics_emf
from surge.cloud.flows import run_cloud_flow, stored_setup
from surge.cloud.inputs import baseline_reader
from surge.cloud.records import RunRecords
from surge.cloud.segment_results import await_segment, list_segment, merge_segment, result_deadline
from surge.cloud.state_io import (
    Clients,
    exists,
    get_json,
    put_json,
    read_run_plan,
    run_records,
)
from surge.finish import Written, finish
from surge.metrics import ServiceMetrics
from surge.metrics.collect import skipped_metrics
from surge.plan import Plan
from surge.redact import Redactor, redactor_for
from surge.report_model import FlowReport, Report
from surge.run_facts import RunFacts
from surge.setup_flow import flow_plans
from surge.stats import RunStats, merge_results
from surge.store.history import DynamoHistory
from surge.validity import RunEnd


def _failed_checks_cause(report: Report) -> str | None:
    bad = [c for c in report["checks"] if c["status"] != "pass"]
    if report["verdict"] == "pass":
        return None
    if report["verdict"] == "error":
        return report["error"]
    parts = [
        f"{c['name']} ({c['detail']})"
        if c.get("detail")
        else f"{c['name']} (measured {'no data' if c['measured'] is None else round(c['measured'], 3)})"
        for c in bad
    ]
    return f"{len(bad)} of {len(report['checks'])} checks failed: " + "; ".join(parts)


def _store_report(clients: Clients, run_id: str, stats: RunStats, report: Report) -> str:
    from reports.render import write_reports

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_reports(report, Path(tmp))
        content_types = {
            "json": "application/json",
            "md": "text/markdown",
            "html": "text/html",
            "junit": "application/xml",
        }
        for kind, path in paths.items():
            clients.s3.put_object(
                Bucket=clients.bucket,
                Key=layout.report_key(run_id, path.name),
                Body=path.read_bytes(),
                ContentType=content_types[kind],
            )
    put_json(clients, layout.report_key(run_id, "results.json"), stats)
    return f"s3://{clients.bucket}/{layout.report_key(run_id, 'report.html')}"


# After a stop or an abort, a launched segment's workers see the stop flag within seconds (they poll
# it every few seconds), drain for a second and upload: this long is waited for their results.
STOP_RESULTS_GRACE_S = 20.0
# Merging a segment no Aggregate merged (in flight at a stop, an abort or an error) stops reading
# shard results this long before the function's timeout, to leave time for the report itself: a
# thousand shards would otherwise outlive the Lambda, and the run would end with no report at all.
# The shards left out count as missing ("not in the merge"), so the report says what it lacks.
MERGE_MARGIN_S = 90.0


def _segment_parts(
    clients: Clients, run_id: str, run: Mapping[str, Any], plan: Plan, *, stopping: bool
) -> tuple[list[RunStats], int, list[str]]:
    """Every launched segment's merged results (its aggregate, or its shard results when Aggregate
    never ran for it: a segment in flight when the run was aborted or stopped), with the count of
    missing shard results and what S3 says about them. Segments never launched count for nothing."""
    parts: list[RunStats] = []
    missing = 0
    reasons: list[str] = []
    now = time.time()
    remaining = clients.remaining_time_ms() / 1000
    merge_by = now + remaining - MERGE_MARGIN_S
    for seg in run["segments"]:
        k, expected = int(seg["index"]), int(seg["shard_count"])
        key = layout.aggregate_key(run_id, k)
        if exists(clients, key):
            files = list_segment(clients, run_id, k, expected, map_ran=True)
            parts.append(get_json(clients, key))
            shards_key = layout.aggregate_shards_key(run_id, k)
            if exists(clients, shards_key):  # what the aggregate holds; a later result is not in it
                files.merged = set(get_json(clients, shards_key)["merged"])
        else:
            deadline = result_deadline(str(seg["end_at"]), plan.defaults.timeout, now, remaining)
            if stopping:
                deadline = min(deadline, now + STOP_RESULTS_GRACE_S)
            # Never waiting past the time the merge and the report need.
            files = await_segment(clients, run_id, k, expected, deadline=min(deadline, merge_by))
            files.stopped = stopping
            part = merge_segment(clients, files, deadline=merge_by)
            if part is not None:
                parts.append(part)
        missing += len(files.missing)
        reason = files.missing_reason()
        if reason is not None:
            reasons.append(reason)
    return parts, missing, reasons


def _render(
    clients: Clients,
    run_id: str,
    run: Mapping[str, Any],
    *,
    aborted: str | None,
    error: str | None,
    metrics_key: str | None = None,
    collect_error: str | None = None,
) -> tuple[Report, str] | None:
    plan = read_run_plan(clients, str(run["plan_key"]))
    metrics = ServiceMetrics.from_json(get_json(clients, metrics_key)) if metrics_key else None
    parts, missing, reasons = _segment_parts(
        clients, run_id, run, plan, stopping=aborted is not None or error is not None
    )
    if not parts:
        return None
    stats = merge_results(parts)
    stopped = (
        f"aborted: {aborted}" if aborted is not None else "stopped early" if stats["stopped_early"] else None
    )
    if missing:
        reasons.insert(0, f"{missing} shard result(s) missing: those workers' load is not counted")
    end = RunEnd(stopped_by=stopped, workers_lost=missing, lost_reasons=tuple(reasons))
    if metrics is None and collect_error is not None:
        # Service checks are no-data then; say why next to them rather than leave it to guess.
        metrics = skipped_metrics(
            plan.services, plan.cost, (stats["t0"], stats["ended_at"]), f"not collected: {collect_error}"
        )
    history = DynamoHistory(clients.table, clients.dynamodb)
    baseline, notes = None, None
    if plan.baseline is not None:
        # The same history the CLI reads: last-pass or a run id, never this run itself; or the
        # run's copy of a baseline file (Prepare checked it and put it under the run).
        baseline, notes = resolve_baseline(
            plan,
            history,
            base_dir=Path(tempfile.gettempdir()),
            exclude_run=run_id,
            read_remote=baseline_reader(clients.s3),
        )
    facts = RunFacts(
        run_id=run_id,
        mode="cloud",
        partial=aborted is not None or missing > 0 or error is not None,
        aborted_by=aborted,
        error=error,
        end=end,
        metrics=metrics,
        baseline=baseline,
        baseline_notes=notes,
        flows=tuple(_flows(clients, run_id, plan)),
        generator_notes=(f"shards sized at {run['sizing']}",) if run.get("sizing") else (),
    )
    # What the run writes is masked once, in finish (cloud plans carry no `$env` values to mask).
    done = finish(plan, stats, facts, redactor=redactor_for(plan, {}), store=_S3Results(clients, history))
    # Headline figures as custom metrics through the log (EMF): trends across nightly runs.
    emf_log.emit(run_metrics_emf(done.report, int(time.time() * 1000)))
    return done.report, done.written.location


class _S3Results:
    """A cloud run's reports and figures go to the run's S3 prefix; its DynamoDB history records it."""

    def __init__(self, clients: Clients, history: DynamoHistory) -> None:
        self.clients, self.history = clients, history

    def write(
        self, stats: RunStats, report: Report, metrics: ServiceMetrics | None, redactor: Redactor
    ) -> Written:
        uri = _store_report(self.clients, report["run_id"], stats, report)
        return Written(uri, {})

    def record(self, report: Report, written: Written) -> None:
        self.history.record(report, written.location)


def _flows(clients: Clients, run_id: str, plan: Plan) -> list[FlowReport]:
    """Setup's section (Prepare ran it) and the teardown, run now: after the load, whatever ended it."""
    flows: list[FlowReport] = stored_setup(clients, run_id, check=True)[1] if plan.setup is not None else []
    if plan.teardown is not None:
        for target, leg in flow_plans(plan):
            variables = (
                stored_setup(clients, run_id, check=True, target=target)[0] if plan.setup is not None else {}
            )
            teardown = run_cloud_flow(leg, "teardown", clients, variables)
            teardown.target = target
            flows.append(teardown.report())
    return flows


def _abort_cause(event: Mapping[str, Any]) -> str | None:
    aborted = event.get("aborted")
    return str(aborted.get("Cause") or aborted.get("Error")) if aborted else None


# Who finished a run (the record's ``finished_by``): the workflow's Report or RecordError (the
# workflow then sends Run Completed), or the report function on an execution ended from outside
# (it sent Run Completed itself).
FINISHED_BY_WORKFLOW = "workflow"
FINISHED_BY_OUTSIDE = "outside"
FINAL_STATUSES = ("COMPLETED", "ERROR")


def _stored_outcome(run_id: str, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The outcome of a run already finished (a redrive of its execution, a retried Report whose
    first attempt finished it): never a second report, nor a second Run Completed event."""
    if record is None or record.get("status") not in FINAL_STATUSES or not record.get("ended_at"):
        return None
    return {
        "run_id": run_id,
        "plan": record.get("plan"),
        "verdict": record.get("verdict") or "error",
        "cause": record.get("cause"),
        "report_uri": record.get("report_uri"),
        "already_reported": record.get("finished_by") == FINISHED_BY_OUTSIDE,
    }


def report(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    stored = _stored_outcome(run_id, run_records(clients).get(run_id))
    if stored is not None:
        return stored
    run = event["run"]
    collected = event.get("collect") or {}
    return _finish(
        clients,
        run_id,
        run,
        aborted=_abort_cause(event),
        metrics_key=collected.get("metrics_key") if isinstance(collected, dict) else None,
        collect_error=_error_message(event["collect_error"]) if event.get("collect_error") else None,
    )  # the workflow sends the Run Completed event with it


def _finish(
    clients: Clients,
    run_id: str,
    run: Mapping[str, Any],
    *,
    aborted: str | None,
    metrics_key: str | None = None,
    collect_error: str | None = None,
    finished_by: str = FINISHED_BY_WORKFLOW,
) -> dict[str, Any]:
    """Render the report from what S3 holds, finish the run record, return the outcome."""
    records = run_records(clients)
    rendered = _render(
        clients,
        run_id,
        run,
        aborted=aborted,
        error=None,
        metrics_key=metrics_key,
        collect_error=collect_error,
    )
    if rendered is None:
        plan = read_run_plan(clients, str(run["plan_key"])) if run.get("plan_key") else None
        if plan is not None and plan.teardown is not None:
            _flows(clients, run_id, plan)  # nothing was measured, but setup ran: clean up all the same
        cause = "no worker wrote a result: nothing was measured"
        if run.get("stopped_before_start") or aborted is not None:
            reason = (records.get(run_id) or {}).get("stop_reason") or aborted or "stopped"
            cause = f"stopped before the load started ({reason}): nothing was sent"
        return _close_as_error(records, run_id, run.get("plan_name"), cause, finished_by)
    rep, uri = rendered
    outcome = {
        "run_id": run_id,
        "plan": rep["plan"],
        "verdict": rep["verdict"],
        "cause": _failed_checks_cause(rep),
        "report_uri": uri,
        "already_reported": False,
    }
    records.update(
        run_id,
        finished_by=finished_by,
        status="COMPLETED",
        verdict=rep["verdict"],
        partial=rep["partial"],
        cause=outcome["cause"],
        report_uri=uri,
        ended_at=layout.iso_seconds(time.time()),
        p95_ms=rep["latency_ms"]["p95"],
        error_rate=rep["totals"]["error_rate"],
        throughput_rps=rep["totals"]["throughput_rps"],
        total_requests=rep["totals"]["requests"],
    )
    return outcome


# The execution statuses that end a run without its Report state running (EventBridge's "Step
# Functions Execution Status Change"): stopped from the console or the API, timed out, or failed in
# a way RecordError could not catch.
ENDED_FROM_OUTSIDE = ("ABORTED", "TIMED_OUT", "FAILED")


def finalize(event: Mapping[str, Any], clients: Clients) -> dict[str, Any] | None:
    """Finish a run whose execution ended without the workflow finishing it: stop its workers (the
    stop flag), merge what they wrote, write the partial report, close the run record and send
    Run Completed. Nothing to do when the workflow finished the run itself (its record is final)."""
    detail = event.get("detail") or {}
    status = str(detail.get("status", ""))
    run_id = str(detail.get("name") or "")
    if status not in ENDED_FROM_OUTSIDE or not run_id:
        return None
    records = run_records(clients)
    record = records.get(run_id)
    if record is None or record.get("status") != "RUNNING":
        return None  # Report or RecordError finished it, or Prepare never wrote it
    reason = f"the execution ended {status} outside the workflow (a console or API stop, or its timeout)"
    records.request_stop(run_id, reason)
    if not exists(clients, layout.run_key(run_id)):
        outcome = _close_as_error(records, run_id, record.get("plan"), reason, FINISHED_BY_OUTSIDE)
    else:
        outcome = _finish(
            clients,
            run_id,
            get_json(clients, layout.run_key(run_id)),
            aborted=reason,
            finished_by=FINISHED_BY_OUTSIDE,
        )
    outcome.pop("already_reported", None)  # the event's detail is the contract's RunCompletedDetail
    _emit_run_completed(clients, {**outcome, "execution_arn": detail.get("executionArn")})
    return outcome


# The sweep looks at runs started this long ago at most: a cloud run lasts at most the workflow's
# 3-hour timeout, so an older run still RUNNING has been swept before.
SWEEP_WINDOW_S = 4 * 3600


def sweep(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    """A schedule's backstop for the status-change events, which EventBridge delivers best effort:
    every run whose record still says RUNNING while its execution has ended (a console stop, a
    timeout, an uncaught failure) is finished as :func:`finalize` finishes it."""
    records = run_records(clients)
    sfn = clients.client("stepfunctions")
    finished: list[str] = []
    for record in records.started_since(layout.iso_seconds(time.time() - SWEEP_WINDOW_S)):
        arn = str(record.get("execution_arn") or "")
        if record.get("status") != "RUNNING" or not arn:
            continue
        try:
            status = str(sfn.describe_execution(executionArn=arn)["status"])
        except Exception:  # one run's execution unreadable: the next sweep tries again
            continue
        if status in ENDED_FROM_OUTSIDE:
            run_id = str(record["run_id"])
            detail = {"status": status, "name": run_id, "executionArn": arn}
            if finalize({"detail": detail}, clients) is not None:
                finished.append(run_id)
    return {"finished": finished}


def _emit_run_completed(clients: Clients, outcome: Mapping[str, Any]) -> None:
    """The event the workflow's EmitRunCompleted state sends, for runs it could not finish."""
    bus = clients.event_bus
    clients.client("events").put_events(
        Entries=[
            {
                "Source": "surge",
                "DetailType": "Run Completed",
                "Detail": json.dumps(outcome),
                "EventBusName": bus,
            }
        ]
    )


def _error_message(error: Mapping[str, Any]) -> str:
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            return str(parsed["errorMessage"])
    except ValueError:
        pass
    return cause or str(error.get("Error") or "unknown error")


def record_error(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    failed = str(event.get("failed_state", "workflow"))
    cause = f"{failed} failed: {_error_message(event.get('error') or {})}"
    records = run_records(clients)
    existing = records.get(run_id)
    stored = _stored_outcome(run_id, existing)
    if stored is not None:
        return stored  # finished before: its report and its event stand
    state = event.get("state") or {}
    run = state.get("run")
    plan_name = run.get("plan_name") if isinstance(run, dict) else None
    if existing is None:
        records.create(run_id, plan_name or "unknown", "", layout.iso_seconds(time.time()))
    # The run is over: every worker still loading (the other branch's segment, one a failed map
    # left running: Lambda invocations cannot be cancelled) stops at its next poll of the flag,
    # and writes what it sent, which the partial report below waits for.
    records.abort(run_id, cause)
    uri: str | None = None
    if isinstance(run, dict):
        try:
            rendered = _render(clients, run_id, run, aborted=None, error=cause)
            uri = rendered[1] if rendered else None
        except Exception:  # the error itself is what must be recorded; a partial report is a bonus
            uri = None
    # The workflow sends the Run Completed event with the outcome.
    return _close_as_error(records, run_id, plan_name, cause, FINISHED_BY_WORKFLOW, report_uri=uri)


def _close_as_error(
    records: RunRecords,
    run_id: str,
    plan: object,
    cause: str,
    finished_by: str,
    report_uri: str | None = None,
) -> dict[str, Any]:
    """Finish the run record as ERROR with ``cause``; the outcome the workflow and events carry."""
    records.update(
        run_id,
        status="ERROR",
        verdict="error",
        cause=cause,
        report_uri=report_uri,
        ended_at=layout.iso_seconds(time.time()),
        finished_by=finished_by,
    )
    return {
        "run_id": run_id,
        "plan": plan if isinstance(plan, str) else None,
        "verdict": "error",
        "cause": cause,
        "report_uri": report_uri,
        "already_reported": False,
    }


__all__ = ["finalize", "record_error", "report", "sweep"]
