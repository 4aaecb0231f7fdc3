"""The workflow's states, as the Lambda handlers in functions/ call them: ``state(event, clients)``.

The event and result shapes are functions/contracts.py's. Every state reuses the core exactly as a
local run does: the worker runs ``run_worker``, Aggregate and Report ``merge_results`` and
``build_report``. AWS clients come from ``clients`` (injected: moto's in tests).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from surge.baseline import resolve_baseline
from surge.cloud import layout
from surge.cloud.emf import run_metrics_emf
from surge.cloud.inputs import baseline_reader, fetch_data_file, stage_files
from surge.cloud.records import RunRecords
from surge.engine.worker import WorkerSpec, plan_shapes, run_worker
from surge.errors import PlanError
from surge.evaluate import abort_reason
from surge.metrics import RunUsage, ServiceMetrics, SessionClients, collect_services, lambda_gb_seconds
from surge.plan import Plan, plan_model, semantic_problems
from surge.report_model import Report
from surge.schedule import segments
from surge.stats import IntervalData, RunStats, WorkerResult, merge_results
from surge.stats import aggregate as aggregate_stats
from surge.store.history import DynamoHistory
from surge.summary import build_report, stats_source, with_baseline
from surge.validity import RunEnd

# Iterations per second one Lambda worker is given at most: half of the slowest flow one worker
# sustained in bench/capacity.py (a two-request templated flow on aiohttp: 4,147/s; bench/RESULTS.md),
# so a worker never runs near saturation. A run may override it (options.per_worker_rate).
PER_WORKER_RATE = 2000.0
PER_WORKER_USERS = 200
DEFAULT_LEAD_S = 30
DEFAULT_SEGMENT_S = 600
STOP_POLL_S = 3.0
PROGRESS_EVERY_S = 5.0
# A worker stops this long before Lambda's timeout, to drain and upload its result.
SAFETY_MARGIN_MS = 25_000


class Clients(Protocol):
    """What the handlers need from functions/_runtime.Clients."""

    bucket: str
    table: str

    @property
    def s3(self) -> Any: ...

    @property
    def dynamodb(self) -> Any: ...

    def client(self, service: str) -> Any: ...

    def remaining_time_ms(self) -> int: ...


# -- S3 helpers -------------------------------------------------------------------------------------


def _put_json(clients: Clients, key: str, data: object) -> None:
    clients.s3.put_object(
        Bucket=clients.bucket, Key=key, Body=json.dumps(data).encode(), ContentType="application/json"
    )


def _get_json(clients: Clients, key: str) -> Any:
    body = clients.s3.get_object(Bucket=clients.bucket, Key=key)["Body"].read()
    return json.loads(body)


def _exists(clients: Clients, key: str) -> bool:
    resp = clients.s3.list_objects_v2(Bucket=clients.bucket, Prefix=key, MaxKeys=1)
    return any(o["Key"] == key for o in resp.get("Contents", []))


def _list_keys(clients: Clients, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=clients.bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def _load_plan(clients: Clients, key: str) -> Plan:
    return Plan.model_validate(_get_json(clients, key))


def _records(clients: Clients) -> RunRecords:
    return RunRecords(clients.table, clients.dynamodb)


# -- Prepare ------------------------------------------------------------------------------------------


def _plan_data(event: Mapping[str, Any], clients: Clients) -> tuple[dict[str, Any], str | None]:
    """The plan's data, and the plan_uri it was read from (None for an inline plan)."""
    inp = event.get("input") or {}
    if "plan" in inp and "plan_uri" in inp:
        raise PlanError("the execution input has both 'plan' and 'plan_uri'; give one")
    if "plan" in inp:
        data = inp["plan"]
    elif "plan_uri" in inp:
        try:
            bucket, key = layout.parse_s3_uri(inp["plan_uri"])
        except ValueError as exc:
            raise PlanError(f"plan_uri: {exc}") from None
        import yaml

        try:
            body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise PlanError(f"plan_uri: cannot read {inp['plan_uri']}: {exc}") from None
        data = yaml.safe_load(body)
    else:
        raise PlanError('the execution input needs {"plan": {...}} or {"plan_uri": "s3://..."}')
    if not isinstance(data, dict):
        raise PlanError("the plan must be a mapping with name, target, load and scenarios")
    return data, (str(inp["plan_uri"]) if "plan_uri" in inp else None)


def _validated_plan(event: Mapping[str, Any], clients: Clients, run_id: str) -> Plan:
    """The plan as a local run validates it, its data and baseline files read from S3 (resolved
    against plan_uri, checked, copied under the run): the plan returned names the run's copies."""
    data, plan_uri = _plan_data(event, clients)
    plan = plan_model(data)
    staged = stage_files(plan, plan_uri=plan_uri, s3=clients.s3, bucket=clients.bucket, run_id=run_id)
    # Nothing local to read: the data file's columns come from S3, as Prepare read them.
    problems = semantic_problems(
        staged.plan, Path(tempfile.gettempdir()), {}, cloud=True, data_columns=staged.data_columns
    )
    if problems:
        raise PlanError("the plan is invalid:", problems)
    return staged.plan


def prepare(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    options = (event.get("input") or {}).get("options") or {}
    plan = _validated_plan(event, clients, run_id)
    lead = int(options.get("lead_seconds", DEFAULT_LEAD_S))
    seg_len = float(options.get("segment_seconds", DEFAULT_SEGMENT_S))
    tolerated = float(options.get("tolerated_failure_percentage", 0.0))
    per_worker_rate = float(options.get("per_worker_rate", PER_WORKER_RATE))
    capacity = per_worker_rate if plan.load.model == "open" else float(PER_WORKER_USERS)
    cuts = segments(
        plan_shapes(plan),
        max_segment_s=seg_len,
        per_shard_capacity=capacity,
        max_shards=plan.limits.max_workers,
    )
    t0 = float(math.ceil(time.time() + lead))
    plan_key = layout.plan_key(run_id)
    _put_json(clients, plan_key, plan.model_dump(mode="json", by_alias=True))
    specs = []
    for seg in cuts:
        start_at, end_at = t0 + seg.start_s, t0 + seg.end_s
        items = [
            {
                "run_id": run_id,
                "plan_key": plan_key,
                "segment": seg.index,
                "segment_count": len(cuts),
                "shard": i,
                "shard_count": seg.shards,
                "seed": (plan.seed if plan.seed is not None else 0) * 1000 + seg.index,
                "start_at": layout.iso_seconds(start_at),
                "end_at": layout.iso_seconds(math.ceil(end_at)),
                "result_key": layout.shard_key(run_id, seg.index, i),
                # Exact plan-time window and origin; the timestamps above are for Wait states.
                "t0": t0,
                "window": [seg.start_s, seg.end_s],
            }
            for i in range(seg.shards)
        ]
        _put_json(clients, layout.items_key(run_id, seg.index), items)
        specs.append(
            {
                "index": seg.index,
                "items_key": layout.items_key(run_id, seg.index),
                "shard_count": seg.shards,
                "start_at": layout.iso_seconds(start_at),
                "end_at": layout.iso_seconds(math.ceil(end_at)),
                "launch_at": layout.iso_seconds(max(start_at - lead, t0 - lead)),
                "tolerated_failure_percentage": tolerated,
            }
        )
    _records(clients).create(
        run_id,
        plan.name,
        plan.plan_hash(),
        layout.iso_seconds(time.time()),
        execution_arn=str(event.get("execution_arn", "")),
        t0=t0,
        duration_s=plan.load.duration_s,
        segment_count=len(cuts),
        workers_planned=sum(s.shards for s in cuts),
        options=dict(options),
    )
    return {
        "run_id": run_id,
        "plan_name": plan.name,
        "plan_key": plan_key,
        "segment_count": len(cuts),
        "segments": specs,
    }


# -- Worker -------------------------------------------------------------------------------------------


class _StopPoller:
    """Reads the run's stop flag every few seconds on a thread, so the event loop never blocks."""

    def __init__(self, records: RunRecords, run_id: str, clients: Clients) -> None:
        self.records, self.run_id, self.clients = records, run_id, clients
        self.stop = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._done.wait(STOP_POLL_S):
            try:
                if self.records.stop_requested(self.run_id):
                    self.stop = True
            except Exception:  # a throttled read must not kill the load; the next poll retries
                continue

    def should_stop(self) -> bool:
        return self.stop or self.clients.remaining_time_ms() < SAFETY_MARGIN_MS

    def __enter__(self) -> _StopPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()


class _ProgressPublisher:
    """Adds this worker's closed intervals to the run record's counters every few seconds."""

    def __init__(self, records: RunRecords, run_id: str) -> None:
        self.records, self.run_id = records, run_id
        self._lock = threading.Lock()
        self._requests = self._errors = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def on_interval(self, intervals: dict[str, IntervalData], closed_before: int = 0) -> None:
        with self._lock:
            for data in intervals.values():
                for ep in data["endpoints"].values():
                    self._requests += ep["requests"]
                    self._errors += sum(ep["errors"].values())

    def flush(self) -> None:
        with self._lock:
            requests, errors = self._requests, self._errors
            self._requests = self._errors = 0
        if requests or errors:
            try:
                self.records.add(self.run_id, requests=requests, errors=errors)
            except Exception:  # progress is best effort; the result in S3 is the truth
                with self._lock:
                    self._requests += requests
                    self._errors += errors

    def _loop(self) -> None:
        while not self._done.wait(PROGRESS_EVERY_S):
            self.flush()

    def __enter__(self) -> _ProgressPublisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.flush()


def _run_async(coro: Any) -> Any:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)
    except ImportError:
        return asyncio.run(coro)


def worker(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id, segment, shard = str(event["run_id"]), int(event["segment"]), int(event["shard"])
    result_key = str(event["result_key"])
    base = {"run_id": run_id, "segment": segment, "shard": shard, "result_key": result_key}
    if _exists(clients, result_key):  # a retried invocation: the result is already written
        return {**base, "status": "ok"}
    plan = _load_plan(clients, str(event["plan_key"]))
    plan = plan.model_copy(update={"seed": int(event.get("seed", 0))})
    window = event.get("window")
    t0 = float(event["t0"]) if "t0" in event else layout.parse_iso(str(event["start_at"]))
    # A directory per invocation: warm containers reuse /tmp, and a test runs workers side by side.
    with tempfile.TemporaryDirectory(prefix="surge-worker-") as tmp:
        # The CSV rows are read by the engine from a local file, as in a local run: downloaded
        # once, during the lead time, before the load starts.
        plan = fetch_data_file(plan, s3=clients.s3, dest_dir=Path(tmp))
        spec = WorkerSpec(
            plan,
            shard,
            int(event["shard_count"]),
            t0,
            (float(window[0]), float(window[1])) if window else None,
            f"seg{segment}-shard{shard}",
            Path(tmp),
        )
        records = _records(clients)
        records.add(run_id, workers_running=1)
        try:
            with (
                _StopPoller(records, run_id, clients) as poller,
                _ProgressPublisher(records, run_id) as progress,
            ):
                result: WorkerResult = _run_async(
                    run_worker(spec, should_stop=poller.should_stop, on_interval=progress.on_interval)
                )
        finally:
            records.add(run_id, workers_running=-1)
    _put_json(clients, result_key, result)
    return {**base, "status": "stopped" if result["stopped_early"] else "ok"}


# -- Aggregate ----------------------------------------------------------------------------------------

_SHARD = re.compile(r"shard-(\d+)\.json$")


def _segment_stats(clients: Clients, run_id: str, segment: int) -> tuple[RunStats | None, list[int]]:
    found: dict[int, str] = {}
    for key in _list_keys(clients, layout.segment_prefix(run_id, segment)):
        m = _SHARD.search(key)
        if m:
            found[int(m.group(1))] = key
    # One shard's result parsed at a time: merge_results consumes an iterator in small batches, so
    # the aggregator's memory does not grow with the number of workers.
    results: Iterator[WorkerResult] = (_get_json(clients, found[i]) for i in sorted(found))
    return (merge_results(results) if found else None), sorted(found)


def _merged_so_far(clients: Clients, run_id: str, upto: int) -> RunStats | None:
    parts: list[RunStats] = []
    for k in range(upto + 1):
        key = layout.aggregate_key(run_id, k)
        if _exists(clients, key):
            parts.append(_get_json(clients, key))
    return merge_results(parts) if parts else None


def aggregate(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    seg = event["segment"]
    k, expected = int(seg["index"]), int(seg["shard_count"])
    stats, reported = _segment_stats(clients, run_id, k)
    missing = sorted(set(range(expected)) - set(reported))
    if stats is not None:
        _put_json(clients, layout.aggregate_key(run_id, k), stats)
    records = _records(clients)
    record = records.get(run_id) or {}
    progress: dict[str, object] = {"segments_done": k + 1}
    if missing:
        progress[f"missing_shards_seg_{k}"] = missing
    if stats is not None:
        p95 = aggregate_stats(stats).latency("latency", "p95", 95.0)
        progress["last_segment_p95_ms"] = None if p95 is None else float(p95)
    records.update(run_id, **progress)
    reason: str | None = None
    if record.get("stop_requested"):
        reason = str(record.get("stop_reason") or "stopped on request")
    else:
        plan = _load_plan(clients, layout.plan_key(run_id))
        thresholds = [t for t in plan.parsed_thresholds() if t.abort_on_fail]
        merged = _merged_so_far(clients, run_id, k) if thresholds else None
        if merged is not None:
            elapsed = merged["ended_at"] - merged["t0"]
            breached = abort_reason(thresholds, stats_source(plan, merged), elapsed)
            if breached is not None:
                reason = f"aborted: threshold '{breached}' failed after segment {k}"
                records.request_stop(run_id, reason)
    return {
        "segment": k,
        "shards_expected": expected,
        "shards_reported": len(reported),
        "missing_shards": missing,
        "abort": reason is not None,
        "abort_reason": reason,
    }


# -- Collect ------------------------------------------------------------------------------------------


WORKER_MEMORY_MB = 1769  # infra/functions.py: one full vCPU
METRICS_DELAY_S = 90.0  # CloudWatch needs about a minute to ingest the run's last datapoints


def run_usage(
    run: Mapping[str, Any], ended_at: float, progress_flush_s: float = PROGRESS_EVERY_S
) -> RunUsage:
    """What the run itself consumed, counted from its segments and shards (for its own cost)."""
    gb_s = 0.0
    workers = transitions = dynamo_writes = 0
    for seg in run["segments"]:
        shards = int(seg["shard_count"])
        start = layout.parse_iso(str(seg["launch_at"]))
        end = min(layout.parse_iso(str(seg["end_at"])), ended_at)
        busy = max(end - start, 0.0) + 2.0  # sleeping off the lead counts; so does the drain
        gb_s += shards * lambda_gb_seconds(busy, WORKER_MEMORY_MB)
        workers += shards
        transitions += 6 + 2 * shards  # wait, map, aggregate, choice; each item's start and end
        dynamo_writes += shards * (3 + int(busy / progress_flush_s))
    segments = len(run["segments"])
    return RunUsage(
        lambda_gb_s=gb_s,
        lambda_requests=workers + 2 * segments + 3,
        sfn_transitions=transitions + 10,
        s3_put_requests=2 * segments + workers + 8,
        s3_get_requests=3 * workers + 2 * segments + 4,
        dynamodb_write_units=float(dynamo_writes + segments + 4),
        dynamodb_read_units=float(workers * 10),
    )


def collect(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    """The target's own metrics and the cost, for the run's window; the Report step reads them."""
    run_id = str(event["run_id"])
    run = event["run"]
    plan = _load_plan(clients, str(run["plan_key"]))
    if not plan.services and plan.cost is None:
        return {"metrics_key": None, "warnings": []}
    options = _run_options(clients, run_id)
    start = layout.parse_iso(str(run["segments"][0]["start_at"]))
    end = min(time.time(), layout.parse_iso(str(run["segments"][-1]["end_at"])))
    record = _records(clients).get(run_id) or {}
    requests = record.get("requests")
    metrics = collect_services(
        plan.services,
        plan.cost,
        (start, end),
        SessionClients(_boto_session()),
        requests=int(requests) if isinstance(requests, int | float) else None,
        run_usage=run_usage(run, end),
        ingestion_delay_s=float(options.get("metrics_delay_seconds", METRICS_DELAY_S)),
    )
    key = layout.metrics_key(run_id)
    _put_json(clients, key, metrics.to_json())
    return {"metrics_key": key, "warnings": list(metrics.notes)}


def _boto_session() -> Any:
    import boto3

    return boto3.Session()


def _run_options(clients: Clients, run_id: str) -> dict[str, Any]:
    record = _records(clients).get(run_id) or {}
    options = record.get("options")
    return dict(options) if isinstance(options, dict) else {}


# -- Report / RecordError -------------------------------------------------------------------------------


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


def _store_report(clients: Clients, run_id: str, plan: Plan, stats: RunStats, report: Report) -> str:
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
    _put_json(clients, layout.report_key(run_id, "results.json"), stats)
    return f"s3://{clients.bucket}/{layout.report_key(run_id, 'report.html')}"


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
    plan = _load_plan(clients, str(run["plan_key"]))
    metrics = ServiceMetrics.from_json(_get_json(clients, metrics_key)) if metrics_key else None
    parts: list[RunStats] = []
    missing = 0
    for seg in run["segments"]:
        key = layout.aggregate_key(run_id, int(seg["index"]))
        if _exists(clients, key):
            part: RunStats = _get_json(clients, key)
            missing += int(seg["shard_count"]) - part["workers"]
            parts.append(part)
        else:
            missing += int(seg["shard_count"])
    if not parts:
        return None
    stats = merge_results(parts)
    stopped = (
        f"aborted: {aborted}" if aborted is not None else "stopped early" if stats["stopped_early"] else None
    )
    end = RunEnd(
        stopped_by=stopped,
        workers_lost=missing,
        lost_reasons=(f"{missing} shard result(s) missing: those workers' load is not counted",)
        if missing
        else (),
    )
    report = build_report(
        plan,
        stats,
        run_id=run_id,
        mode="cloud",
        partial=aborted is not None or missing > 0 or error is not None,
        aborted_by=aborted,
        error=error,
        metrics=metrics,
        end=end,
    )
    if collect_error is not None:
        # Service checks are no-data then; say why next to them rather than leave it to guess.
        report["service_metrics"] = {
            **report["service_metrics"],
            "notes": [f"not collected: {collect_error}"],
        }
    history = DynamoHistory(clients.table, clients.dynamodb)
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
        report = with_baseline(report, plan, stats, baseline, notes, metrics)
    uri = _store_report(clients, run_id, plan, stats, report)
    history.record(report, uri)
    # Headline figures as custom metrics through the log (EMF): trends across nightly runs.
    print(json.dumps(run_metrics_emf(report, int(time.time() * 1000))))
    return report, uri


def _abort_cause(event: Mapping[str, Any]) -> str | None:
    aborted = event.get("aborted")
    return str(aborted.get("Cause") or aborted.get("Error")) if aborted else None


def report(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    run = event["run"]
    collected = event.get("collect") or {}
    rendered = _render(
        clients,
        run_id,
        run,
        aborted=_abort_cause(event),
        error=None,
        metrics_key=collected.get("metrics_key") if isinstance(collected, dict) else None,
        collect_error=_error_message(event["collect_error"]) if event.get("collect_error") else None,
    )
    records = _records(clients)
    if rendered is None:
        cause = "no worker wrote a result: nothing was measured"
        records.update(
            run_id, status="ERROR", verdict="error", cause=cause, ended_at=layout.iso_seconds(time.time())
        )
        outcome = {
            "run_id": run_id,
            "plan": run.get("plan_name"),
            "verdict": "error",
            "cause": cause,
            "report_uri": None,
        }
    else:
        rep, uri = rendered
        outcome = {
            "run_id": run_id,
            "plan": rep["plan"],
            "verdict": rep["verdict"],
            "cause": _failed_checks_cause(rep),
            "report_uri": uri,
        }
        records.update(
            run_id,
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
    return outcome  # the workflow sends the Run Completed event with it


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
    records = _records(clients)
    state = event.get("state") or {}
    run = state.get("run")
    plan_name = run.get("plan_name") if isinstance(run, dict) else None
    if records.get(run_id) is None:
        records.create(run_id, plan_name or "unknown", "", layout.iso_seconds(time.time()))
    uri: str | None = None
    if isinstance(run, dict):
        try:
            rendered = _render(clients, run_id, run, aborted=None, error=cause)
            uri = rendered[1] if rendered else None
        except Exception:  # the error itself is what must be recorded; a partial report is a bonus
            uri = None
    records.update(
        run_id,
        status="ERROR",
        verdict="error",
        cause=cause,
        report_uri=uri,
        ended_at=layout.iso_seconds(time.time()),
    )
    outcome = {"run_id": run_id, "plan": plan_name, "verdict": "error", "cause": cause, "report_uri": uri}
    return outcome  # the workflow sends the Run Completed event with it


__all__ = ["aggregate", "collect", "prepare", "record_error", "report", "worker"]
