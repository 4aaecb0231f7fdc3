"""Local runs: worker processes share the arrival rate, start at one instant, stream progress, and
their results merge with the same code the cloud aggregator uses."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from surge.engine.worker import run_worker
from surge.engine.worker_spec import WorkerSpec
from surge.errors import UserError
from surge.finish import build_report
from surge.interrupts import StopRequests, ignore_stop_signals
from surge.lanes import lane_of, local_worker_count
from surge.live import LiveView, Snapshot
from surge.plan import Plan
from surge.plan_steps import flow_steps
from surge.report_model import Report
from surge.run_facts import RunFacts
from surge.setup_flow import FlowRun, SetupFailed, flow_plans, run_flow
from surge.stats import (
    RESULT_VERSION,
    HealthData,
    IntervalData,
    RunStats,
    WorkerResult,
    merge_interval_list,
    merge_results,
)
from surge.validity import RunEnd, stop_reason

READY_TIMEOUT_S = 60.0
START_LEAD_S = 0.3
# Plans with aws: steps create their AWS clients before the load (loading service models takes
# a moment): a longer lead, so the first arrivals are not late.
AWS_LEAD_S = 2.0
PROGRESS_EVERY_S = 1.0
# Workers close an interval within their 0.1 s ticker: shown this long after it ended.
PROGRESS_DELAY_S = 0.25
JOIN_TIMEOUT_S = 10.0
ORPHAN_POLL_S = 0.2

ProgressSink = Callable[[Snapshot, float], None]


@dataclass
class LocalRun:
    """What a local run measured and how it went: surge.finish makes the report from these."""

    plan: Plan
    stats: RunStats
    facts: RunFacts
    interrupted: bool  # stopped by a signal (Ctrl-C, SIGTERM, SIGHUP)
    stopped_by: str | None = None  # what stopped it early, abort-on-fail included

    @cached_property
    def report(self) -> Report:
        """The report of the run as measured (no service metrics, no baseline), for a caller that
        does not finish it (the CLI finishes it with surge.finish)."""
        return build_report(self.plan, self.stats, self.facts)


def default_workers(plan: Plan) -> int:
    if isinstance(plan.workers, int):
        return plan.workers
    cores = os.cpu_count() or 1
    if plan.load.model == "closed":
        peak_users = int(max(max(p.start_level, p.end_level) for p in plan.load.phases))
        return max(1, min(cores, peak_users))
    return max(1, cores)


def check_reachable(plan: Plan, timeout_s: float = 3.0) -> None:
    """Fail fast, before any load, when nothing listens at the target (at any of an A/B run's)."""
    if not endpoint_names_http(plan):
        return  # a flow of aws: steps only never calls the target
    for name in plan.targets:
        check_reachable(plan.for_target(name), timeout_s)
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
        for _, step in flow_steps(sc.flow):
            if step.request is not None:
                names.append(step.request.display_name)
            elif step.poll is not None and step.poll.request is not None:
                names.append(step.poll.request.display_name)
    return names


# The niceness of the thread that follows a run. Its work (the live view, abort checks) is light
# but comes in bursts once a second; on a machine with as many workers as cores, a burst that takes a
# worker's core delays that worker's arrivals (bench/RESULTS.md 2E: a gain seen once, within the
# benchmark VM's noise on a repeat). At a lower priority it runs in the workers' idle time instead. Only that thread is lowered (Linux sets a thread's
# niceness by its id), and it ends with the run: the caller's process keeps its priority.
FOLLOW_NICE = 10


def _follow_at_low_priority(follow: _Follow, t0: float) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: runs at normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FOLLOW_NICE)
        try:
            follow.run(t0)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="surge-follow", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)  # the main thread stays free to run signal handlers
    if failure:
        raise failure[0]


def _uses_aws(plan: Plan) -> bool:
    return any(
        step.aws is not None or (step.poll is not None and step.poll.aws is not None)
        for sc in plan.scenarios
        for _, step in flow_steps(sc.flow)
    )


def _run_async(coro: Any) -> Any:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)
    except ImportError:
        return asyncio.run(coro)


def _exit_when_orphaned(parent_pid: int) -> None:
    """A worker whose parent died (SIGKILL, a crash) stops sending load at once: nobody would
    collect its result, and a load test must never outlive the command that started it."""

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, name="surge-orphan-watch", daemon=True).start()


def _worker_main(
    plan_data: dict[str, Any],
    shard: int,
    shards: int,
    base_dir: str,
    out: Any,
    start: MpEvent,
    t0: Any,
    stop: MpEvent,
    parent_pid: int,
    secrets: dict[str, str],
    setup_vars: dict[str, object],
    debug: int,
) -> None:
    # Signals to the process group (a terminal's Ctrl-C, a CI runner's SIGTERM) are the parent's
    # to handle: the workers follow its stop event, so their results are kept.
    ignore_stop_signals()
    _exit_when_orphaned(parent_pid)
    try:
        plan = Plan.model_validate(plan_data)
        out.put(("ready", shard, None))
        # The load starts, or the run is stopped before it did: then nothing is sent and the
        # worker leaves at once (the parent is waiting to exit).
        while not start.wait(0.1):
            if stop.is_set():
                return
        spec = WorkerSpec(
            plan,
            shard,
            shards,
            float(t0.value),
            None,
            f"local-{shard}",
            Path(base_dir),
            secrets,
            setup_vars,
            # The run's first N exchanges: arrivals and users are dealt out to the workers in turn,
            # so each worker's first N/workers are the run's first N.
            -(-debug // shards) if debug else 0,
        )

        def on_interval(intervals: dict[str, IntervalData], closed_before: int) -> None:
            out.put(("interval", shard, (intervals, closed_before)))

        result = _run_async(run_worker(spec, should_stop=stop.is_set, on_interval=on_interval))
        out.put(("result", shard, result))
    except Exception as exc:
        out.put(("failed", shard, f"{type(exc).__name__}: {exc}"))


def _lost_result(
    shard: int, shards: int, t0: float, plan: Plan, error: str, streamed: list[dict[str, IntervalData]]
) -> WorkerResult:
    """A worker that delivered no result: what it streamed while it ran is kept (and marked),
    as its target's in an A/B run."""
    by_key: dict[str, list[IntervalData]] = {}
    for delta in streamed:
        for key, data in delta.items():
            by_key.setdefault(key, []).append(data)
    intervals = {k: merge_interval_list(v) for k, v in sorted(by_key.items(), key=lambda kv: int(kv[0]))}
    last = max((int(k) for k in intervals), default=-1)
    lane = lane_of(plan, shard, shards)
    result = WorkerResult(
        version=RESULT_VERSION,
        worker=f"local-{shard}",
        shard=shard,
        shards=shards,
        interval_s=plan.interval,
        t0=t0,
        window=[0.0, sum(p.duration for p in plan.load.phases)],
        started_at=t0,
        ended_at=t0 + (last + 1) * plan.interval,
        stopped_early=True,
        error=error,
        intervals=intervals,
        health=HealthData(
            worker=f"local-{shard}",
            max_loop_lag_ms=0.0,
            loop_lag_p99_ms=0.0,
            cpu_pct=0.0,
            saturated=False,
            notes=[],
        ),
    )
    if lane.target is not None:
        result["target"] = lane.target
    return result


def run_local(
    plan: Plan,
    *,
    run_id: str,
    base_dir: Path,
    workers: int | None = None,
    progress: ProgressSink | None = None,
    stops: StopRequests | None = None,
    secrets: dict[str, str] | None = None,
    debug: int = 0,
) -> LocalRun:
    """Run the plan on this machine. Stop signals (Ctrl-C, SIGTERM, SIGHUP) stop it early with
    what was measured; pass ``stops`` to keep handling them after the run (the CLI does, so a
    signal while the report is written does not lose it). ``secrets``: the plan's resolved
    `$secret`/`$ssm` references (surge.secrets.resolve_secrets), handed to the workers in memory."""
    check_reachable(plan)
    if stops is None:
        stops = StopRequests()
        with stops.installed():
            return _around_flows(plan, run_id, base_dir, workers, progress, stops, secrets or {}, debug)
    return _around_flows(plan, run_id, base_dir, workers, progress, stops, secrets or {}, debug)


def _around_flows(
    plan: Plan,
    run_id: str,
    base_dir: Path,
    workers: int | None,
    progress: ProgressSink | None,
    stops: StopRequests,
    secrets: dict[str, str],
    debug: int = 0,
) -> LocalRun:
    """The load, after the plan's setup flow (which must pass) and before its teardown (which
    runs whatever ended the load, unless a second stop signal forces the exit)."""
    flows: list[FlowRun] = []
    # What setup captured, per target (None: the plan's only one): each target's workers read its own.
    setups: dict[str | None, dict[str, object]] = {}
    if plan.setup is not None:
        for target, leg in flow_plans(plan):
            setup = run_flow(
                leg, "setup", base_dir=base_dir, secrets=secrets, should_stop=lambda: stops.requested
            )
            setup.target = target
            flows.append(setup)
            if stops.requested:
                raise UserError(
                    f"stopped ({stops.reason}) during setup, before the load started; nothing was sent"
                )
            if not setup.ok:
                raise SetupFailed(
                    f"{setup.message()}; no load was sent. Check that the target is ready for the test "
                    "and the plan's setup steps are right, then run again"
                )
            setups[target] = setup.variables
    try:
        run = _run(plan, run_id, base_dir, workers, progress, stops, secrets, setups, debug)
    finally:
        if plan.teardown is not None and not stops.forced:
            for target, leg in flow_plans(plan):
                # Teardown cleans up after any stop; a second stop (forced) cuts it where it is.
                teardown = run_flow(
                    leg,
                    "teardown",
                    base_dir=base_dir,
                    secrets=secrets,
                    variables=setups.get(target, {}),
                    should_stop=lambda: stops.forced,
                )
                teardown.target = target
                flows.append(teardown)
    if flows:
        return replace(run, facts=replace(run.facts, flows=tuple(f.report() for f in flows)))
    return run


def _run(
    plan: Plan,
    run_id: str,
    base_dir: Path,
    workers: int | None,
    progress: ProgressSink | None,
    stops: StopRequests,
    secrets: dict[str, str],
    setups: Mapping[str | None, dict[str, object]],
    debug: int = 0,
) -> LocalRun:
    n = local_worker_count(plan, workers or default_workers(plan))
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    t0_value: Any = ctx.Value("d", 0.0)
    plan_data = plan.model_dump(mode="json", by_alias=True)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(
                plan_data,
                i,
                n,
                str(base_dir),
                out,
                start,
                t0_value,
                stop,
                os.getpid(),
                secrets,
                setups.get(lane_of(plan, i, n).target, {}),
                debug,
            ),
            name=f"surge-worker-{i}",
            daemon=True,
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()

    target_of = {i: t for i in range(n) if (t := lane_of(plan, i, n).target) is not None}
    live = LiveView(plan, plan.parsed_thresholds(), workers=n, target_of=target_of)
    follow = _Follow(plan, out, procs, stop, live, progress, stops)
    try:
        _wait_ready(out, procs, n, stops)
        t0 = time.time() + (AWS_LEAD_S if _uses_aws(plan) else START_LEAD_S)
        t0_value.value = t0
        start.set()
        _follow_at_low_priority(follow, t0)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=0.2 if stops.forced else JOIN_TIMEOUT_S)
            if p.is_alive():
                # Workers ignore SIGTERM (the parent handles stops), so a stuck one is killed:
                # the run's exit must never wait on it.
                p.kill()
                p.join(timeout=5)
    t0 = float(t0_value.value)
    results = follow.results
    lost: list[str] = []
    for i in range(n):
        if i not in results:
            exitcode = procs[i].exitcode
            reason = follow.failures.get(i) or (
                f"worker {i} exited without a result"
                + (f" (killed by signal {-exitcode})" if exitcode is not None and exitcode < 0 else "")
            )
            lost.append(reason)
            results[i] = _lost_result(i, n, t0, plan, reason, follow.streamed.get(i, []))
    stats = merge_results(results[i] for i in range(n))
    stopped_by = stop_reason(signal=follow.stopped_by, aborted_by=follow.aborted_by)
    facts = RunFacts(
        run_id=run_id,
        partial=stopped_by is not None,
        aborted_by=follow.aborted_by,
        end=RunEnd(stopped_by=stopped_by),
    )
    return LocalRun(plan, stats, facts, interrupted=follow.stopped_by is not None, stopped_by=stopped_by)


def _wait_ready(out: Any, procs: list[Any], n: int, stops: StopRequests) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < n:
        if stops.requested:
            raise UserError(f"stopped ({stops.reason}) before the load started; nothing was sent")
        try:
            kind, shard, payload = out.get(timeout=0.1)
        except queue.Empty:
            if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in procs):
                raise UserError("local workers did not start; see the messages above") from None
            continue
        if kind == "ready":
            ready.add(shard)
        elif kind == "failed":
            raise UserError(f"worker {shard} could not start: {payload}")


class _Follow:
    """The parent's side of a run: collects the workers' streamed intervals and results, shows
    progress on a steady clock, decides abort-on-fail, and turns stop requests into a stop."""

    def __init__(
        self,
        plan: Plan,
        out: Any,
        procs: list[Any],
        stop: MpEvent,
        live: LiveView,
        progress: ProgressSink | None,
        stops: StopRequests,
    ) -> None:
        self.plan, self.out, self.procs, self.stop = plan, out, procs, stop
        self.live, self.progress, self.stops = live, progress, stops
        self.results: dict[int, WorkerResult] = {}
        self.failures: dict[int, str] = {}
        self.streamed: dict[int, list[dict[str, IntervalData]]] = {}
        self.stopped_by: str | None = None
        self.aborted_by: str | None = None

    def _receive(self, kind: str, shard: int, payload: Any) -> None:
        if kind == "interval":
            intervals, closed_before = payload
            self.live.add(intervals, shard=shard, closed_before=closed_before)
            if intervals:
                self.streamed.setdefault(shard, []).append(intervals)
        elif kind == "result":
            self.results[shard] = payload
            self.streamed.pop(shard, None)  # its result holds them all: kept only for lost workers
            self.live.worker_done(shard)
        elif kind == "failed":
            self.failures[shard] = payload
            self.live.worker_done(shard)

    def run(self, t0: float) -> None:
        n = len(self.procs)
        tick = 1  # progress is shown at t0 + tick seconds (+ a little, for the workers' ticker)
        while len(self.results) + len(self.failures) < n:
            try:
                kind, shard, payload = self.out.get(timeout=0.05)
            except queue.Empty:
                kind, shard, payload = "", -1, None
            self._receive(kind, shard, payload)
            if self.stops.requested and self.stopped_by is None:
                self.stopped_by = self.stops.reason
                self.stop.set()
            if self.stops.forced:
                for p in self.procs:  # a second signal: stop waiting for in-flight requests
                    p.terminate()
                break
            now = time.time()
            due = t0 + tick * PROGRESS_EVERY_S + PROGRESS_DELAY_S
            if now >= due:
                elapsed = tick * PROGRESS_EVERY_S
                if self.aborted_by is None and not self.stop.is_set():
                    self.aborted_by = self.live.abort_reason(now - t0)
                    if self.aborted_by is not None:
                        self.stop.set()
                if self.progress is not None:
                    self.progress(self.live.snapshot(elapsed), elapsed)
                # The next whole second from t0: a slow pass skips ticks instead of drifting.
                tick = max(tick + 1, int((now - t0 - PROGRESS_DELAY_S) / PROGRESS_EVERY_S) + 1)
            if not kind and all(p.exitcode is not None for p in self.procs) and self.out.empty():
                break  # every worker is gone; the missing ones are reported as lost
