"""Local runs: worker processes share the arrival rate, start at one instant, stream progress, and
their results merge with the same code the cloud aggregator uses."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from surge.engine.worker import WorkerSpec, run_worker
from surge.errors import UserError
from surge.live import LiveView, Snapshot
from surge.plan import Plan
from surge.report_model import Report
from surge.stats import RESULT_VERSION, HealthData, RunStats, WorkerResult, merge_results
from surge.summary import build_report

READY_TIMEOUT_S = 60.0
START_LEAD_S = 0.3
PROGRESS_EVERY_S = 1.0

ProgressSink = Callable[[Snapshot, float], None]


@dataclass
class LocalRun:
    report: Report
    stats: RunStats
    interrupted: bool


def default_workers(plan: Plan) -> int:
    if isinstance(plan.workers, int):
        return plan.workers
    cores = os.cpu_count() or 1
    if plan.load.model == "closed":
        peak_users = int(max(max(p.start_level, p.end_level) for p in plan.load.phases))
        return max(1, min(cores, peak_users))
    return max(1, cores)


def check_reachable(plan: Plan, timeout_s: float = 3.0) -> None:
    """Fail fast, before any load, when nothing listens at the target."""
    if not endpoint_names_http(plan):
        return  # a flow of aws: steps only never calls the target
    parts = urlsplit(plan.target)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        raise UserError(
            f"target {plan.target}: host '{host}' does not resolve; check 'target' or --target"
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"target {plan.target} is unreachable ({reason}); start the service "
            "(e.g. `surge demo-target`) or pass --target URL"
        ) from None


def endpoint_names_http(plan: Plan) -> list[str]:
    """The plan's HTTP endpoints (requests and polls); aws: steps are not sent to the target."""
    names = []
    for sc in plan.scenarios:
        for step in sc.flow:
            if step.request is not None:
                names.append(step.request.display_name)
            elif step.poll is not None and step.poll.request is not None:
                names.append(step.poll.request.display_name)
    return names


def _run_async(coro: Any) -> Any:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)
    except ImportError:
        return asyncio.run(coro)


def _worker_main(
    plan_data: dict[str, Any],
    shard: int,
    shards: int,
    base_dir: str,
    out: Any,
    start: MpEvent,
    t0: Any,
    stop: MpEvent,
) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, workers follow the stop event.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        plan = Plan.model_validate(plan_data)
        out.put(("ready", shard, None))
        start.wait()
        spec = WorkerSpec(plan, shard, shards, float(t0.value), None, f"local-{shard}", Path(base_dir))
        result = _run_async(
            run_worker(spec, should_stop=stop.is_set, on_interval=lambda iv: out.put(("interval", shard, iv)))
        )
        out.put(("result", shard, result))
    except Exception as exc:
        out.put(("failed", shard, f"{type(exc).__name__}: {exc}"))


def _failed_result(shard: int, shards: int, t0: float, plan: Plan, error: str) -> WorkerResult:
    now = time.time()
    return WorkerResult(
        version=RESULT_VERSION,
        worker=f"local-{shard}",
        shard=shard,
        shards=shards,
        interval_s=plan.interval,
        t0=t0,
        window=[0.0, sum(p.duration for p in plan.load.phases)],
        started_at=t0,
        ended_at=now,
        stopped_early=True,
        error=error,
        intervals={},
        health=HealthData(
            worker=f"local-{shard}",
            max_loop_lag_ms=0.0,
            loop_lag_p99_ms=0.0,
            cpu_pct=0.0,
            saturated=False,
            notes=[],
        ),
    )


def run_local(
    plan: Plan,
    *,
    run_id: str,
    base_dir: Path,
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> LocalRun:
    check_reachable(plan)
    n = workers or default_workers(plan)
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    t0_value: Any = ctx.Value("d", 0.0)
    plan_data = plan.model_dump(mode="json", by_alias=True)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(plan_data, i, n, str(base_dir), out, start, t0_value, stop),
            name=f"surge-worker-{i}",
            daemon=True,
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()

    live = LiveView(plan, plan.parsed_thresholds())
    results: dict[int, WorkerResult] = {}
    interrupted = False
    aborted_by: str | None = None
    try:
        _wait_ready(out, procs, n)
        t0 = time.time() + START_LEAD_S
        t0_value.value = t0
        start.set()
        interrupted, aborted_by = _follow(plan, out, procs, n, t0, stop, live, results, progress)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    t0 = float(t0_value.value)
    for i in range(n):
        if i not in results:
            results[i] = _failed_result(i, n, t0, plan, f"worker {i} exited without a result")
    stats = merge_results(results[i] for i in range(n))
    report = build_report(
        plan,
        stats,
        run_id=run_id,
        partial=interrupted or aborted_by is not None,
        aborted_by=aborted_by,
    )
    return LocalRun(report, stats, interrupted)


def _wait_ready(out: Any, procs: list[Any], n: int) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < n:
        try:
            kind, shard, payload = out.get(timeout=0.5)
        except queue.Empty:
            if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in procs):
                raise UserError("local workers did not start; see the messages above") from None
            continue
        if kind == "ready":
            ready.add(shard)
        elif kind == "failed":
            raise UserError(f"worker {shard} could not start: {payload}")


def _follow(
    plan: Plan,
    out: Any,
    procs: list[Any],
    n: int,
    t0: float,
    stop: MpEvent,
    live: LiveView,
    results: dict[int, WorkerResult],
    progress: ProgressSink | None,
) -> tuple[bool, str | None]:
    interrupted = False
    aborted_by: str | None = None
    # Half an interval late, so every worker has closed and sent the interval being shown.
    next_progress = t0 + PROGRESS_EVERY_S + 0.5
    failures: dict[int, str] = {}
    while len(results) + len(failures) < n:
        try:
            try:
                kind, shard, payload = out.get(timeout=0.1)
            except queue.Empty:
                kind = ""
            if kind == "interval":
                live.add(payload)
            elif kind == "result":
                results[shard] = payload
            elif kind == "failed":
                failures[shard] = payload
            now = time.time()
            if now >= next_progress:
                elapsed = now - t0
                if aborted_by is None and not stop.is_set():
                    aborted_by = live.abort_reason(elapsed)
                    if aborted_by is not None:
                        stop.set()
                if progress is not None and elapsed >= 0:
                    progress(live.snapshot(elapsed), elapsed)
                next_progress = now + PROGRESS_EVERY_S
            if not kind and all(p.exitcode is not None for p in procs) and out.empty():
                break  # every worker is gone; the missing ones are reported as failed
        except KeyboardInterrupt:
            if interrupted:  # a second Ctrl-C: stop waiting for in-flight requests
                for p in procs:
                    p.terminate()
                break
            interrupted = True
            stop.set()
    for shard, error in failures.items():
        results[shard] = _failed_result(shard, n, t0, plan, error)
    return interrupted, aborted_by
