"""Worker: one Lambda load generator, the engine a local run uses, on one shard of one segment; it
writes its own result to S3. The ASL state ``Worker``; handler functions/worker.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from surge.cloud import emf_log, layout
from surge.cloud.deployment import policy_of
from surge.cloud.emf import interval_metrics_emf
from surge.cloud.flows import read_secrets, stored_setup
from surge.cloud.inputs import fetch_data_file, fetch_file_parts, fetch_hooks
from surge.cloud.records import RunRecords
from surge.cloud.state_io import (
    Clients,
    exists,
    put_json,
    read_run_plan,
    run_records,
)
from surge.engine.worker import run_worker
from surge.engine.worker_spec import WorkerSpec
from surge.evaluate import RunCounters, abort_reason
from surge.lanes import lane_of
from surge.plan import Plan
from surge.redact import Redactor
from surge.stats import IntervalData, WorkerResult, is_stage

STOP_POLL_S = 3.0
PROGRESS_EVERY_S = 5.0
# The first shards of each segment also watch the execution itself (DescribeExecution): a console
# stop or the execution's timeout runs no state of the workflow, and the status-change event that
# would finish the run is best effort. A watcher that sees the execution ended sets the stop flag,
# so the whole fleet stops within seconds either way. Two per segment: one may have crashed.
EXECUTION_WATCHERS = 2
EXECUTION_POLL_S = 5.0
# A worker stops this long before Lambda's timeout, to drain and upload its result.
SAFETY_MARGIN_MS = 25_000


class _StopPoller:
    """Reads the run's stop flag every few seconds on a thread, so the event loop never blocks."""

    def __init__(
        self, records: RunRecords, run_id: str, clients: Clients, execution_arn: str | None = None
    ) -> None:
        self.records, self.run_id, self.clients = records, run_id, clients
        self.stop = False
        self._execution_arn = execution_arn
        self._next_watch = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._done.wait(STOP_POLL_S):
            try:
                if self.records.stop_requested(self.run_id):
                    self.stop = True
            except Exception:  # a throttled read must not kill the load; the next poll retries
                pass
            if self._execution_arn and time.monotonic() >= self._next_watch:
                self._next_watch = time.monotonic() + EXECUTION_POLL_S
                self._watch_execution(self._execution_arn)

    def _watch_execution(self, arn: str) -> None:
        try:
            status = str(self.clients.client("stepfunctions").describe_execution(executionArn=arn)["status"])
        except Exception:  # throttled or not allowed: the stop flag and the status events remain
            return
        if status == "RUNNING":
            return
        self.stop = True
        with contextlib.suppress(Exception):  # the other watcher, or the next poll, sets it
            self.records.abort(
                self.run_id,
                f"the execution ended {status} outside the workflow (a console or API stop, or its timeout)",
            )

    def should_stop(self) -> bool:
        return self.stop or self.clients.remaining_time_ms() < SAFETY_MARGIN_MS

    def __enter__(self) -> _StopPoller:
        # Once at once: a run stopped before this worker started sends nothing.
        try:
            self.stop = self.records.stop_requested(self.run_id)
        except Exception:  # the poller retries
            self.stop = False
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()


class _ProgressPublisher:
    """Every few seconds: adds this worker's closed intervals to the run record's counters, and
    prints them as EMF records (the live metrics of the stack's dashboard). The event loop only
    hands intervals over; this thread does the rest."""

    def __init__(
        self,
        records: RunRecords,
        run_id: str,
        spec: WorkerSpec | None = None,
        segment: int = 0,
        poller: _StopPoller | None = None,
        counter: tuple[int, int] = (0, 1),
        judge: bool = True,
    ) -> None:
        self.records, self.run_id, self.spec, self.segment = records, run_id, spec, segment
        self.poller = poller
        # (this worker's progress counter, how many the run has): see run_table.WORKERS_PER_COUNTER.
        self.counter, self.counters = counter
        # Abort-on-fail checks the run-wide counters can judge: evaluated on every publish by the
        # segment's watchers (two workers; each reads every counter), so a breach stops the run
        # within seconds, not at the segment's end (minutes away).
        self._abort_checks = (
            [t for t in spec.plan.parsed_thresholds() if t.abort_on_fail and RunCounters.answers(t)]
            if spec is not None and judge
            else []
        )
        self.aborted: str | None = None
        self._lock = threading.Lock()
        self._requests = self._errors = 0
        self._pending: list[dict[str, IntervalData]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def on_interval(self, intervals: dict[str, IntervalData], closed_before: int = 0) -> None:
        with self._lock:
            if intervals and self.spec is not None:
                self._pending.append(intervals)
            for data in intervals.values():
                for name, ep in data["endpoints"].items():
                    if is_stage(name):
                        continue  # a stage's timing is not a request
                    self._requests += ep["requests"]
                    self._errors += sum(ep["errors"].values())

    def _emit_live_metrics(self, batches: list[dict[str, IntervalData]]) -> None:
        spec = self.spec
        if spec is None:
            return
        for intervals in batches:
            for record in interval_metrics_emf(
                intervals,
                t0=spec.t0_epoch,
                interval_s=spec.plan.interval,
                plan=spec.plan.name,
                run_id=self.run_id,
                worker=spec.worker_id,
            ):
                emf_log.emit(record)  # Lambda's log: CloudWatch extracts the metrics

    def flush(self) -> None:
        with self._lock:
            requests, errors = self._requests, self._errors
            self._requests = self._errors = 0
            batches, self._pending = self._pending, []
        with contextlib.suppress(Exception):  # the live view is best effort; the result in S3 is the truth
            self._emit_live_metrics(batches)
        if requests or errors:
            try:
                self.records.add(self.run_id, self.counter, requests=requests, errors=errors)
            except Exception:  # progress is best effort; the result in S3 is the truth
                with self._lock:
                    self._requests += requests
                    self._errors += errors
                return
        if self._abort_checks and self.aborted is None:
            try:
                totals = self.records.progress(self.run_id, self.counters)
            except Exception:  # the next publish reads again
                return
            self._judge(totals)

    def _judge(self, totals: Mapping[str, float]) -> None:
        if not self._abort_checks or self.aborted is not None or self.spec is None:
            return
        counters = RunCounters(totals.get("requests", 0.0), totals.get("errors", 0.0))
        elapsed = time.time() - self.spec.t0_epoch
        breached = abort_reason(self._abort_checks, counters, elapsed)
        if breached is None:
            return
        reason = (
            f"aborted: threshold '{breached}' failed during segment {self.segment} "
            f"({counters.errors:.0f} errors in {counters.requests:.0f} requests, run-wide)"
        )
        self.aborted = reason
        if self.poller is not None:
            self.poller.stop = True  # this worker stops now; the others at their next poll
        with contextlib.suppress(Exception):  # every worker judges: another one will set it
            self.records.abort(self.run_id, reason)

    def _loop(self) -> None:
        while not self._done.wait(PROGRESS_EVERY_S):
            self.flush()

    def __enter__(self) -> _ProgressPublisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.flush()


class DrillCrash(RuntimeError):
    """The failure a crash drill makes: the worker ends without a result, as a crashed one would."""


class _Drill:
    """options.drill_crash_shard: this worker stops its load a few seconds in, then fails."""

    def __init__(self, event: Mapping[str, Any], t0: float, window: Any) -> None:
        after = event.get("drill_crash_after_s")
        start = float(window[0]) if window else 0.0
        self._at = t0 + start + float(after) if after is not None else None
        self.crashed = False

    def due(self) -> bool:
        if self._at is not None and time.time() >= self._at:
            self.crashed = True
        return self.crashed


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
    if exists(clients, result_key):  # a retried invocation: the result is already written
        return {**base, "status": "ok"}
    if not _claim_shard(clients, layout.started_key(run_id, segment, shard)):
        # Lambda and Step Functions deliver at least once: another invocation of this shard started
        # first. A second one would double the load and the progress: it sends nothing.
        return {**base, "status": "duplicate"}
    plan = read_run_plan(clients, str(event["plan_key"]))
    # A worker may be invoked directly, with any plan: it loads only what the deployment allows.
    policy_of(clients).check(plan)
    plan = plan.model_copy(update={"seed": int(event.get("seed", 0))})
    # Read once per invocation, during the lead time, in this worker's slot (Prepare spreads the
    # fleet's Parameter Store reads within its rate); in memory only, masked in the result.
    slot = float(event.get("secrets_delay_s", 0.0))
    if slot > 0:
        start_at = float(event["t0"]) + float(event["window"][0]) if "t0" in event else time.time() + slot
        time.sleep(max(0.0, min(slot, start_at - time.time() - 1.0)))
    secrets = _read_secrets(plan, clients)
    window = event.get("window")
    t0 = float(event["t0"]) if "t0" in event else layout.parse_iso(str(event["start_at"]))
    # A directory per invocation: warm containers reuse /tmp, and a test runs workers side by side.
    with tempfile.TemporaryDirectory(prefix="surge-worker-") as tmp:
        # The CSV rows are read by the engine from a local file, as in a local run: downloaded
        # once, during the lead time, before the load starts.
        plan = fetch_data_file(plan, s3=clients.s3, dest_dir=Path(tmp))
        plan = fetch_file_parts(plan, s3=clients.s3, dest_dir=Path(tmp))
        plan = fetch_hooks(plan, s3=clients.s3, dest_dir=Path(tmp))
        spec = WorkerSpec(
            plan,
            shard,
            int(event["shard_count"]),
            t0,
            (float(window[0]), float(window[1])) if window else None,
            f"seg{segment}-shard{shard}",
            Path(tmp),
            secrets,
            # What setup captured (in an A/B run, this worker's target's setup).
            stored_setup(clients, run_id, target=lane_of(plan, shard, int(event["shard_count"])).target)[0]
            if plan.setup is not None
            else {},
        )
        drill = _Drill(event, t0, window)
        records = run_records(clients)
        counters = int(event.get("progress_counters", 1))
        counter = (int(event.get("progress_counter", shard % counters)), counters)
        watched = _watched_execution(event)
        # Bookkeeping is best effort, and never stands between the load and its result: a
        # throttled counter must neither stop a worker from starting nor lose what it measured.
        counted = False
        with contextlib.suppress(Exception):
            records.add(run_id, counter[0], workers_running=1)
            counted = True
        try:
            with (
                _StopPoller(records, run_id, clients, watched) as poller,
                _ProgressPublisher(
                    records, run_id, spec, segment, poller, counter=counter, judge=watched is not None
                ) as progress,
            ):
                result: WorkerResult = _run_async(
                    run_worker(
                        spec,
                        should_stop=lambda: poller.should_stop() or drill.due(),
                        on_interval=progress.on_interval,
                    )
                )
            if drill.crashed:
                # As a crash: the invocation fails and no result is written (options.drill_crash_shard).
                raise DrillCrash(
                    f"drill: shard {shard} of segment {segment} crashed on purpose, its result unwritten"
                )
            if secrets:
                result = Redactor(secrets.values()).data(result)
            put_json(clients, result_key, result)  # first: nothing after it can lose the result
        finally:
            # Only a worker that counted itself in counts itself out: a throttled +1 followed by a
            # -1 would leave the run showing -1 workers running.
            if counted:
                with contextlib.suppress(Exception):
                    records.add(run_id, counter[0], workers_running=-1)
    return {**base, "status": "stopped" if result["stopped_early"] else "ok"}


def _claim_shard(clients: Clients, started_key: str) -> bool:
    """Write the shard's start marker unless one exists (S3 conditional write, If-None-Match):
    False when another invocation of the shard wrote it first."""
    try:
        clients.s3.put_object(
            Bucket=clients.bucket,
            Key=started_key,
            Body=json.dumps({"started_at": time.time()}).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


def _watched_execution(event: Mapping[str, Any]) -> str | None:
    """The execution this worker watches, when it is one of its segment's watchers."""
    arn = event.get("execution_arn")
    return str(arn) if arn and int(event["shard"]) < EXECUTION_WATCHERS else None


def _read_secrets(plan: Plan, clients: Clients) -> dict[str, str]:
    return read_secrets(plan, clients)
