"""A fleet drill: a run of many shards through the real state machine, the real handlers and the
real cloud workers, under AWS's request-rate quotas (tests/aws_quotas.py), against a loopback target.

One test process cannot run a thousand load engines (each is an event loop with its own timers:
50 of them cost ~14 CPU-seconds a run here), so each worker's load is reduced to what the machine
can hold. A thousand workers' AWS calls (~550 a second from their stop-flag polls and progress) are
answered in real time once moto's global backend lock is out of the way (tests/sfn_harness.py);
``time_scale`` can still run a drill k times slower on a machine that cannot keep up,
while everything the worker does with AWS stays as it is: ``surge.cloud.worker.worker`` runs
unchanged (its start marker, plan and secrets reads, progress counters, stop-flag polls, the
execution watch, its result), and only the engine inside it, ``run_worker``, is replaced by
:func:`light_run_worker`: the shard's own arrivals of the plan, each a real HTTP request to the
target, recorded with the engine's own Recorder, so results merge and count exactly as real ones.

Used by tests/functional/test_fleet_drill.py and bench/fleet_drill.py (the 1000-shard drill).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from surge.engine.worker import IntervalCallback, StopCheck
from surge.engine.worker_spec import WorkerSpec
from surge.schedule import arrivals, total_duration
from surge.stats import RESULT_VERSION, HealthData, Recorder, WorkerResult
from tests.aws_quotas import QuotaModel
from tests.sfn_harness import BUCKET, TABLE, Harness, sfn_workflow

DRILL_PATH = "/api/mocs"
ENDPOINT = f"GET {DRILL_PATH}"
STOP_CHECK_S = 1.0


async def light_run_worker(
    spec: WorkerSpec,
    *,
    should_stop: StopCheck | None = None,
    on_interval: IntervalCallback | None = None,
    **_: Any,
) -> WorkerResult:
    """The shard's arrivals, each one blocking GET of the target (this worker's thread only),
    recorded as the engine records them; the worker lives its whole window like a real one."""
    plan = spec.plan
    stop = should_stop or (lambda: False)
    offset = time.perf_counter() - time.time()  # wall-clock epoch -> perf_counter
    t0 = spec.t0_epoch + offset
    recorder = Recorder(t0, plan.interval)
    phases = plan.load.shapes()
    window = spec.window or (0.0, total_duration(phases))
    target = urlsplit(plan.target)
    started, sent, stopped = time.time(), 0, False

    def wait_until(moment: float) -> bool:
        while (left := moment - time.perf_counter()) > 0:
            if stop():
                return False
            time.sleep(min(left, STOP_CHECK_S))
        return not stop()

    connection: http.client.HTTPConnection | None = None
    for at in arrivals(phases, shard=spec.shard, shards=spec.shards, window=window, seed=plan.seed or 0):
        if not wait_until(t0 + at):
            stopped = True
            break
        begun = time.perf_counter()
        status, nbytes, error = 0, 0, None
        try:
            if connection is None:
                connection = http.client.HTTPConnection(
                    target.hostname or "127.0.0.1", target.port, timeout=plan.defaults.timeout
                )
            connection.request("GET", DRILL_PATH)
            answer = connection.getresponse()
            nbytes, status = len(answer.read()), answer.status
            if status >= 400:
                error = f"http_{status // 100}xx"  # the engine's error classes
        except OSError as exc:
            error, connection = ("timeout" if isinstance(exc, TimeoutError) else "connect"), None
        done = time.perf_counter()
        micros = max(int((done - begun) * 1e6), 1)
        recorder.record(ENDPOINT, t0 + at, micros, micros, status, error, nbytes)
        sent += 1
        if on_interval is not None:
            on_interval(recorder.close_before(done), recorder.index_at(done))
    if not stopped and not wait_until(t0 + window[1]):
        stopped = True
    if connection is not None:
        connection.close()
    last = recorder.close_all()
    if on_interval is not None:
        on_interval(last, recorder.index_at(time.perf_counter()) + 1)
    health = HealthData(
        worker=spec.worker_id,
        max_loop_lag_ms=0.0,
        loop_lag_p99_ms=0.0,
        cpu_pct=1.0,
        saturated=False,
        notes=["drill worker: the load of light_run_worker (tests/fleet_drill.py)"],
        arrivals=sent,
        dropped=0,
        late_arrivals=0,
        max_late_ms=0.0,
    )
    return WorkerResult(
        version=RESULT_VERSION,
        worker=spec.worker_id,
        shard=spec.shard,
        shards=spec.shards,
        interval_s=plan.interval,
        t0=spec.t0_epoch,
        window=[window[0], window[1]],
        started_at=started,
        ended_at=time.time(),
        stopped_early=stopped,
        error=None,
        intervals=recorder.intervals,
        health=health,
        samples={},
    )


class TargetProcess:
    """The demo target in a process of its own (`surge demo-target`): a thousand worker threads in
    the test process would starve a target sharing its interpreter, and measure that instead."""

    def __init__(self, latency_ms: float = 1.0) -> None:
        import socket
        import subprocess
        import sys

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "surge.cli",
                "demo-target",
                "--port",
                str(self.port),
                "--latency-ms",
                str(latency_ms),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/health")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise RuntimeError("the demo target did not start") from None
                time.sleep(0.1)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_surge/stats"))

    def set_config(self, **fields: Any) -> None:
        self._call("POST", "/_surge/config", fields)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except Exception:
            self.process.kill()

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class DrillFigures:
    shards: int
    status: str
    cause: str
    requests_reported: int
    requests_served: int
    workers: int
    workers_failed: int
    history_events: int
    largest_payload_bytes: int
    start_skew_s: float
    seconds: float
    state_seconds: dict[str, float]
    quotas: QuotaModel
    peak_lambda_concurrency: int
    extra: dict[str, Any] = field(default_factory=dict)
    time_scale: float = 1.0

    def lines(self) -> list[str]:
        states = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(self.state_seconds.items()))
        k = self.time_scale
        # Stretched by k, a steady rate reads k times lower; a burst that is not stretched (the
        # fleet's start, as fast as threads start here) reads as it is, so x k overstates it.
        peaks = ", ".join(
            f"{q} {self.quotas.peaks[q]:.0f}/s"
            + (f" (x{k:g}: {self.quotas.peaks[q] * k:.0f}/s)" if k != 1 else "")
            + f" on {self.quotas.busiest[q]}"
            for q in sorted(self.quotas.peaks)
        )
        refused = ", ".join(f"{q} {n}" for q, n in sorted(self.quotas.refused.items())) or "none"
        scale = f" ({k:g}x slower than real time, against quotas divided by {k:g})" if k != 1 else ""
        return [
            f"{self.shards} shards: {self.status} in {self.seconds:.0f} s ({self.cause[:160]})",
            f"requests: report {self.requests_reported}, target served {self.requests_served}; "
            f"workers {self.workers} ({self.workers_failed} lost)",
            f"history events {self.history_events} (of 25,000); largest Lambda payload "
            f"{self.largest_payload_bytes:,} bytes (of 262,144); start skew {self.start_skew_s:.1f} s; "
            f"peak Lambda concurrency {self.peak_lambda_concurrency}",
            f"states: {states}",
            f"per quota, the busiest key's peak{scale}: {peaks}; refused: {refused}; "
            f"quotas broken: {len(self.quotas.violations)}",
        ]


def drill_plan(target: str, shards: int, seconds: int, per_worker_s: float) -> dict[str, Any]:
    """One segment of ``shards`` workers, each sending a request every ``per_worker_s`` seconds."""
    return {
        "name": "fleet-drill",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": f"{seconds}s", "rate": shards / per_worker_s}]},
        "scenarios": [{"name": "list", "flow": [{"get": DRILL_PATH}]}],
        "defaults": {"timeout": "2s"},
        "thresholds": ["http.error_rate < 1%"],
        "limits": {"max_workers": 1000, "max_rate": 100_000},
        "validity": {"max_late": "100%", "max_loop_lag": "5s", "max_cpu": "100%"},
    }


def run_drill(
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    *,
    shards: int,
    seconds: int = 10,
    per_worker_s: float = 5.0,
    lead_s: int = 30,
    stop_after_s: float | None = None,
    abort: bool = False,
    crash_share: float = 0.0,
    quotas: QuotaModel | None = None,
    lambda_concurrency: int = 1000,
    timeout_s: float = 900.0,
    run_id: str = "drill",
    on_harness: Callable[[Harness], None] | None = None,
    time_scale: float = 1.0,
) -> DrillFigures:
    """One segment of ``shards`` workers through the real workflow, under ``quotas``. Variants: a
    ``surge stop`` ``stop_after_s`` into the load, an abort-on-fail breach (``abort``: the target
    fails every request), a share of the fleet crashing as it starts (``crash_share``).

    ``time_scale`` k > 1 runs the drill k times slower: the workers' rhythm (stop-flag polls,
    progress, the execution watch), the segment and the spacing of arrivals are all stretched by k,
    so every worker makes every call it would make, at 1/k of the rate; the quota model's limits
    are divided by k, which keeps them the same quotas for the stretched rhythm (the fleet's start,
    as fast as threads start, is not stretched: the model holds it to stricter limits than AWS). One process answers ~140 AWS calls a second through moto; a thousand real-time
    workers make ~550 (tests/fleet_drill.py's docstring)."""
    from surge.cloud import handlers as core
    from surge.cloud import layout
    from surge.cloud import worker as cloud_worker
    from surge.cloud.records import RunRecords

    quotas = quotas or QuotaModel()
    monkeypatch.setattr(cloud_worker, "run_worker", light_run_worker)
    if time_scale != 1.0:
        for name in ("STOP_POLL_S", "PROGRESS_EVERY_S", "EXECUTION_POLL_S"):
            monkeypatch.setattr(cloud_worker, name, getattr(cloud_worker, name) * time_scale)
        limits = quotas.limits
        for name in vars(limits):
            setattr(limits, name, getattr(limits, name) / time_scale)
        seconds = round(seconds * time_scale)
        per_worker_s *= time_scale
        stop_after_s = stop_after_s * time_scale if stop_after_s is not None else None
    crashed = set(range(0, shards, max(1, round(1 / crash_share)))) if crash_share else set()
    real_worker = core.worker

    def worker(event: Any, clients: Any) -> Any:
        if int(event["shard"]) in crashed:
            # It starts and dies without a result (out of memory, say): a lost worker.
            clients.s3.put_object(
                Bucket=clients.bucket,
                Key=layout.started_key(str(event["run_id"]), int(event["segment"]), int(event["shard"])),
                Body=b"{}",
            )
            raise MemoryError("drill: this worker crashed")
        return real_worker(event, clients)

    monkeypatch.setattr(core, "worker", worker)
    plan = drill_plan(target.url, shards, seconds, per_worker_s)
    if abort:
        target.set_config(error_rate=1.0)
        plan["thresholds"] = [{"check": "http.error_rate < 5%", "abort_on_fail": True, "grace": "1s"}]
    options = {"lead_seconds": lead_s, "segment_seconds": seconds, "min_workers": shards}
    began = time.monotonic()
    with sfn_workflow(monkeypatch, quotas=quotas) as harness:
        harness.lambda_concurrency = lambda_concurrency
        if on_harness is not None:
            on_harness(harness)
        arn = harness.start(run_id, plan, options)
        if stop_after_s is not None:
            start_at = time.time() + lead_s + stop_after_s
            threading.Timer(
                max(0.0, start_at - time.time()),
                lambda: RunRecords(TABLE, harness.dynamodb).request_stop(run_id, "stopped with `surge stop`"),
            ).start()
        done = harness.wait(arn, timeout_s)
        seconds_taken = time.monotonic() - began
        events = harness.history(arn)
        report = harness.read_json(f"runs/{run_id}/report.json")
        starts = _start_times(harness, run_id)
        from infra.verify_scale import state_durations

        return DrillFigures(
            shards=shards,
            status=str(done["status"]),
            cause=str(done.get("cause") or ""),
            requests_reported=int(report["totals"]["requests"]),
            requests_served=int(target.stats()["requests"]),
            workers=int(report["generator"]["workers"]),
            workers_failed=int(report["generator"]["workers_failed"]),
            history_events=len(events),
            largest_payload_bytes=harness.largest_payload,
            start_skew_s=(max(starts) - min(starts)) if starts else 0.0,
            seconds=seconds_taken,
            state_seconds=state_durations(events),
            quotas=quotas,
            peak_lambda_concurrency=harness.peak_in_flight,
            extra={"report": report, "crashed": sorted(crashed)},
            time_scale=time_scale,
        )


def _start_times(harness: Harness, run_id: str) -> list[float]:
    times: list[float] = []
    for page in harness.s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"runs/{run_id}/seg-0/"
    ):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".started.json"):
                body = json.loads(harness.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
                if "started_at" in body:
                    times.append(float(body["started_at"]))
    return times


def iter_lines(figures: DrillFigures) -> Iterator[str]:
    yield from figures.lines()
