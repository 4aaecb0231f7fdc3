"""One load-generator worker: runs its shard of a plan's window and returns a WorkerResult.

The same function runs in a local worker process and in a Lambda worker. The open model starts
iterations at their intended instants and drops (counts) the ones beyond the in-flight cap instead
of delaying them; the closed model runs virtual users. Both record the response time from the
intended start (coordinated-omission corrected) and the service time (send -> last byte).
This module drives the load (when iterations start, as which users, the ticker, the stop); what an
iteration does once started is its base class's (surge.engine.iteration.IterationRunner).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import aiohttp

from surge.engine.aws.pool import AwsClientPool
from surge.engine.aws.steps import CompiledAwsStep
from surge.engine.cookies import CookieJar
from surge.engine.fastclient import FastClient, FastHTTPError, Origin, Prepared, supports
from surge.engine.flow import (
    CompiledIf,
    CompiledLoop,
    CompiledPlan,
    CompiledScenario,
    compile_plan,
)
from surge.engine.health import HealthMonitor
from surge.engine.iteration import (
    ConnectionSlots,
    IterationRunner,
    VirtualUser,
)
from surge.engine.pacer import Pacer, make_pacer, resolve
from surge.engine.worker_spec import WorkerSpec
from surge.hooks import load_hooks
from surge.lanes import lane_of
from surge.plan import Plan, hooks_path
from surge.redact import Redactor
from surge.schedule import ArrivalStream, peak_level, shard_user_ids, users_at
from surge.stats import RESULT_VERSION, IntervalData, Recorder, WorkerResult

STOP_POLL_S = 0.1
# After a stop, requests still in flight this long are cancelled and counted as "interrupted":
# a stop (Ctrl-C, SIGTERM, `surge stop`, an abort) must not wait for a hanging target.
STOP_DRAIN_S = 1.0
IDLE_USER_POLL_S = 0.05
MIN_CORRECTION_US = 1000  # floor of the closed model's expected interval, bounds synthetic samples
# "0" turns the fast HTTP client off: every request then goes through aiohttp.
ENV_FAST_CLIENT = "SURGE_FAST_CLIENT"
# How stale the closed model's "how many users now" answer may be: a ramp moves by far less.
USERS_RECHECK_S = 0.01
# A worker that starts its window later than this drops (and counts) the arrivals already due.
LATE_START_S = 1.0
# The open model's wake-up lead: at most this early, adjusted by this share of each error.
WAKE_LEAD_MAX_S = 0.0005
WAKE_LEAD_GAIN = 0.1
# Connections opened ahead of an open-model load: its peak arrivals in this long (20 ms).
WARM_ARRIVALS_S = 0.02
# The stretch of the load at the start whose peak level is warmed for.
WARM_SPAN_S = 1.0
# Warm-up starts this long before the load (or at once, when the lead is shorter) and stops
# WARM_MARGIN_S before it, whatever it has opened by then.
WARM_LEAD_S = 2.0
WARM_MARGIN_S = 0.05


# (intervals just closed, index below which every interval of this worker is closed): the
# second tells a live view when this worker's part of an interval is complete, even when the
# worker had nothing to record in it.
IntervalCallback = Callable[[dict[str, IntervalData], int], None]
StopCheck = Callable[[], bool]


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep the cyclic GC's full collections short while the load runs.

    Everything alive when the load starts (imported modules, the compiled plan, jsonpath and
    pydantic tables) is moved out of the collector's view: a full collection over it paused the
    loop for 10-30 ms (measured with gc.callbacks), which showed as a p99 of the corrected
    response time. Objects made during the run are still collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Worker(IterationRunner):
    def __init__(
        self,
        spec: WorkerSpec,
        session: aiohttp.ClientSession,
        *,
        should_stop: StopCheck | None = None,
        on_interval: IntervalCallback | None = None,
        fast_client: FastClient | None = None,
    ) -> None:
        self.spec = spec
        self.plan = spec.plan
        # Worked out from the plan's text on each read: asked once per request, so kept here.
        self.allowed_hosts = spec.plan.allowed_hosts
        env = collections.ChainMap(dict(spec.secrets), os.environ) if spec.secrets else None
        path = hooks_path(spec.plan, spec.base_dir)
        self.hooks = load_hooks(path) if path is not None else {}  # the user's functions, once per worker
        self._hook_failures: set[str] = set()  # hooks whose first failure is in the notes
        self._debug_left = spec.debug
        self._debug_redactor: Redactor | None = None
        self._redact_names = {name.lower() for name in spec.plan.redact}
        self._captured_redactor: tuple[tuple[str, ...], Redactor] | None = None
        compiled = compile_plan(spec.plan, env, spec.base_dir, self.hooks)
        if spec.setup_vars:
            compiled = replace(compiled, variables={**compiled.variables, **spec.setup_vars})
        self.compiled: CompiledPlan = compiled
        self.session = session
        self.fast = fast_client
        self.should_stop = should_stop or (lambda: False)
        self.on_interval = on_interval
        self.phases = spec.plan.load.shapes()
        self.window = spec.window or (0.0, self.phases[-1].end_s)
        seed = spec.plan.seed if spec.plan.seed is not None else random.randrange(2**31)
        self.seed = seed
        self.rng = random.Random(f"{seed}:{spec.shard}:{self.window[0]}")
        # Plan time 0 on this process's monotonic clock.
        self.t0 = time.perf_counter() + (spec.t0_epoch - time.time())
        self.recorder = Recorder(self.t0, spec.plan.interval)
        load = spec.plan.load
        in_flight, connections = load.per_worker_limits(spec.shards)
        self.max_in_flight = in_flight
        self.connections = ConnectionSlots(connections)
        self.in_flight = 0
        self.active_users = 0  # closed model: users whose turn it is (in an iteration or thinking)
        self.dropped = 0
        self.iterations = 0
        self.stopping = asyncio.Event()
        self.stopped_early = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.health = HealthMonitor(spec.worker_id)
        self.aws_pool: AwsClientPool | None = None  # made before the load when the flows use AWS
        self._sleepers: set[asyncio.Future[None]] = set()
        self._pacer: Pacer | None = None
        self.rows = self._data_rows()
        self._prepared = {id(r): self._prepare(r) for r in self._requests()}
        # Without templates that read variables, captures or data rows, nothing reads or writes
        # an iteration's variables: one shared (never written) dict saves a copy per iteration.
        self._needs_vars = (
            bool(self.rows)
            or not all(p.static for p in self._prepared.values())
            or any(r.captures for r in self._requests())
            or bool(self.compiled.on_start)  # what a user's on_start captures, its iterations read
            or bool(self.hooks)  # a hook may write the variables it is given
            or any(isinstance(s, CompiledAwsStep | CompiledLoop | CompiledIf) for s in self._all_steps())
        )
        self._shared_vars: dict[str, object] = dict(self.compiled.variables)

    def _launch(self, scenario: CompiledScenario, intended: float) -> None:
        self.in_flight += 1
        self.recorder.iteration_started(intended, self.in_flight)
        task = asyncio.get_running_loop().create_task(self._iteration(scenario, intended))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.in_flight -= 1

    # -- load models ------------------------------------------------------------------------------
    async def _open_model(self) -> None:
        poisson = self.plan.load.arrival == "poisson"
        pacer = self._pacer = make_pacer(asyncio.get_running_loop())
        try:
            await self._paced_arrivals(pacer, poisson)
        finally:
            self._pacer = None
            pacer.close()
        # The load window is the worker's share of the plan's time, not its arrivals: a shard whose
        # last arrival comes early (1 arrival in a 1 s window) would otherwise measure its CPU and
        # lag over a few milliseconds of work and read as saturated.
        await self._sleep(self.t0 + self.window[1] - time.perf_counter())

    async def _paced_arrivals(self, pacer: Pacer, poisson: bool) -> None:
        early = pacer.early_s
        clock = time.perf_counter
        health = self.health
        launched = 0
        lead = 0.0  # how long before an arrival to ask to be woken: learned below
        stream = ArrivalStream(
            self.phases,
            shard=self.spec.shard,
            shards=self.spec.shards,
            window=self.window,
            poisson=poisson,
            seed=self.seed,
        )
        late_start = clock() - (self.t0 + self.window[0])
        if late_start > LATE_START_S:
            # Invoked late (a Lambda retried after throttling, a slow cold start): the arrivals due
            # before now are not sent in a burst; they are dropped, counted and explained.
            skipped = stream.skip_until(clock() - self.t0)
            self.dropped += skipped
            launched += skipped
            self.recorder.iteration_dropped(self.t0 + self.window[0], skipped)
            health.late_start_s = late_start
            health.notes.append(
                f"{self.spec.worker_id}: started {late_start:.1f} s after its window began; the "
                f"{skipped} arrivals due by then were not sent (counted as dropped)"
            )
        try:
            for t_plan in stream:
                if self.stopping.is_set():
                    return
                due = self.t0 + t_plan
                now = clock()
                if due - now > early:
                    await pacer.sleep_until(due - lead)
                    if self.stopping.is_set():
                        return
                    # A loop woken from idle resumes late (the kernel's and a VM's wake-up latency:
                    # ~0.2 ms at 100/s on the benchmark VM), and every arrival would start that
                    # late: wake early by what is observed, so arrivals start on time on average.
                    lead = min(max(lead + WAKE_LEAD_GAIN * (clock() - due), 0.0), WAKE_LEAD_MAX_S)
                else:
                    if now > due:
                        health.late(now - due)
                    if launched % 64 == 63:
                        await asyncio.sleep(0)  # running behind: still let responses be processed
                launched += 1
                if self.in_flight >= self.max_in_flight:
                    # Every arrival due by now finds the cap reached too: count them at once
                    # instead of one by one (at an absurd rate the walk would never end).
                    skipped = 1 + stream.skip_until(clock() - self.t0)
                    launched += skipped - 1
                    self.dropped += skipped
                    self.recorder.iteration_dropped(due, skipped)
                    continue
                self._launch(self.compiled.pick(self.rng), due)
        finally:
            health.arrivals = launched

    async def _closed_model(self) -> None:
        peak = int(max(max(p.level_from, p.level_to) for p in self.phases))
        loop = asyncio.get_running_loop()
        users = [
            loop.create_task(self._user(j)) for j in shard_user_ids(peak, self.spec.shard, self.spec.shards)
        ]
        if not users:
            return
        everyone = loop.create_task(_all_done(users))
        stopped = loop.create_task(self.stopping.wait())
        try:
            await asyncio.wait([everyone, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not everyone.done():
                # Stopped: users finish the request they are in briefly, then it is cut off.
                _, pending = await asyncio.wait(users, timeout=STOP_DRAIN_S)
                for task in pending:
                    task.cancel()
            await asyncio.gather(everyone, return_exceptions=True)
        finally:
            stopped.cancel()
        for task in users:  # a user's crash is the worker's
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _user(self, j: int) -> None:
        load = self.plan.load
        w0, w1 = self.window
        rng = random.Random(f"{self.seed}:user:{j}:{w0}")
        expected_us = 0.0
        next_intended: float | None = None
        pick = self.compiled.pick
        rec = self.recorder
        clock = time.perf_counter
        active_until = 0.0  # this user is known to be active until then (saves users_at per cycle)
        user = VirtualUser(
            CookieJar() if self.compiled.cookies else None
        )  # its cookies and on_start's captures
        active = False
        try:
            while not self.stopping.is_set():
                now = clock()
                t = now - self.t0
                if t >= w1:
                    return
                if t >= active_until:
                    if t < w0 or users_at(self.phases, t) <= j:
                        if active:
                            active, self.active_users = False, self.active_users - 1
                        next_intended = None
                        await asyncio.sleep(IDLE_USER_POLL_S)
                        continue
                    active_until = t + USERS_RECHECK_S
                    if not active:
                        active, self.active_users = True, self.active_users + 1
                intended = next_intended if next_intended is not None else now
                self.in_flight += 1
                rec.iteration_started(now, self.in_flight)
                rec.users_active(now, self.active_users)
                correct = 0 if load.pace is not None else int(max(expected_us, MIN_CORRECTION_US))
                try:
                    await self._iteration(pick(rng), intended, correct if expected_us else 0, user)
                finally:
                    self.in_flight -= 1
                took_us = (clock() - now) * 1e6
                # A slow running mean of the user's cycle: the interval a stall is measured against.
                expected_us = took_us if expected_us == 0 else 0.9 * expected_us + 0.1 * took_us
                if load.pace is not None:
                    next_intended = intended + load.pace.sample(rng)
                    wait = next_intended - clock()
                else:
                    next_intended = None
                    wait = load.think_time.sample(rng)
                if wait > 0:  # never past the window's end: the user would only wake up to leave
                    await self._sleep(min(wait, self.t0 + w1 - clock()))
        finally:
            if active:
                self.active_users -= 1

    async def _wake_on_stop(self) -> None:
        await self.stopping.wait()
        for fut in list(self._sleepers):
            resolve(fut)
        if self._pacer is not None:  # the next arrival may be far away (a slow phase)
            self._pacer.wake()

    async def _ticker(self) -> None:
        """Closes finished intervals (streaming them as progress) and polls the stop signal."""
        sent_upto = -1
        while not self.stopping.is_set():
            await asyncio.sleep(STOP_POLL_S)
            if self.should_stop():
                self.stopped_early = True
                self.stopping.set()
            now = time.perf_counter()
            if self.active_users:  # users thinking through a whole interval are active in it too
                self.recorder.users_active(now, self.active_users)
            closed = self.recorder.close_before(now)
            upto = self.recorder.index_at(now)
            if self.on_interval is not None and (closed or upto > sent_upto):
                self.on_interval(closed, upto)
                sent_upto = upto

    async def run(self) -> WorkerResult:
        started = time.time()
        health_stop = asyncio.Event()
        health_task = asyncio.create_task(self.health.run(health_stop))
        ticker = asyncio.create_task(self._ticker())
        waker = asyncio.create_task(self._wake_on_stop())
        error: str | None = None
        try:
            # Frozen before the wait, so the one full collection it costs falls in the lead time.
            await self._open_aws_clients()
            with _gc_frozen():
                start = self.t0 + self.window[0]
                if self.plan.load.warm_connections:
                    # Close to the start, not at the beginning of a long lead (a Lambda worker's is
                    # ~30 s): servers close idle connections (Node's default: after 5 s).
                    await self._sleep(start - WARM_LEAD_S - time.perf_counter())
                    budget = start - WARM_MARGIN_S - time.perf_counter()
                    if budget > 0 and not self.stopping.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._warm_connections(), timeout=budget)
                # Every worker starts at the same instant (cold starts are slept off).
                await self._sleep(start - time.perf_counter())
                if not self.stopping.is_set():
                    self.health.load_started()
                    if self.plan.load.model == "open":
                        await self._open_model()
                    else:
                        await self._closed_model()
                    self.health.load_ended()
                    await self._drain()
        except Exception as exc:  # a worker's crash is reported as a failed worker, not a hang
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.stopping.set()
            health_stop.set()
            await asyncio.gather(ticker, health_task, waker, return_exceptions=True)
            if self.aws_pool is not None:
                await self.aws_pool.close()
        remaining = self.recorder.close_all()
        if self.on_interval is not None:
            self.on_interval(remaining, self.recorder.index_at(time.perf_counter()) + 1)
        return WorkerResult(
            version=RESULT_VERSION,
            worker=self.spec.worker_id,
            shard=self.spec.shard,
            shards=self.spec.shards,
            interval_s=self.plan.interval,
            t0=self.spec.t0_epoch,
            window=[self.window[0], self.window[1]],
            started_at=started,
            ended_at=time.time(),
            stopped_early=self.stopped_early,
            error=error,
            intervals=self.recorder.intervals,
            health=self.health.result(self.dropped),
            samples=self.recorder.samples,
        )

    def warm_targets(self) -> dict[Origin, tuple[Prepared, int]]:
        """Per origin of the plan's static requests: one of its requests, and how many
        connections to open ahead of the load: what its first WARM_SPAN_S needs at most, within
        the worker's limit (a closed model's users each hold one; an open model's arrivals in
        WARM_ARRIVALS_S, enough for services answering within that). Later levels (a ramp's top,
        a spike) are not warmed for: idle connections would be closed before they are used."""
        _, limit = self.plan.load.per_worker_limits(self.spec.shards)
        w0, w1 = self.window
        peak = peak_level(self.phases, (w0, min(w1, w0 + WARM_SPAN_S)))
        if self.plan.load.model == "closed":
            need = len(shard_user_ids(int(peak), self.spec.shard, self.spec.shards))
        else:
            need = math.ceil(peak / self.spec.shards * WARM_ARRIVALS_S)
        n = max(0, min(need, limit))
        found: dict[Origin, tuple[Prepared, int]] = {}
        if not n or self.fast is None:
            return found
        for p in self._prepared.values():
            if p.fast is not None and not p.refused:
                found.setdefault(p.fast.origin, (p.fast, n))
        # Templated requests on the target are rendered per send, but their origin is known.
        if any(not r.absolute and not self._prepared[id(r)].static for r in self._requests()):
            base = self.compiled.base_url
            if supports("GET", base, {}):
                with contextlib.suppress(FastHTTPError):
                    prepared = self.fast.prepare("GET", base, {}, None)
                    found.setdefault(prepared.origin, (prepared, n))
        return found

    async def _warm_connections(self) -> None:
        if self.fast is None:
            return
        for prepared, n in self.warm_targets().values():
            await self.fast.warm(prepared, n)

    async def _drain(self) -> None:
        """Let in-flight iterations finish (bounded), so the last seconds are measured too; after
        a stop, only briefly: what is still in flight then is cut off and counted as interrupted."""
        if not self.tasks:
            return
        loop = asyncio.get_running_loop()
        if self.stopping.is_set():
            await asyncio.wait(set(self.tasks), timeout=STOP_DRAIN_S)
        else:
            drained = loop.create_task(asyncio.wait(set(self.tasks), timeout=self.plan.defaults.timeout))
            stop = loop.create_task(self.stopping.wait())
            await asyncio.wait({drained, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():  # a stop came during the drain: it shortens the wait
                await asyncio.wait({drained}, timeout=STOP_DRAIN_S)
                drained.cancel()
            stop.cancel()
        pending = set(self.tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _all_done(tasks: list[asyncio.Task[None]]) -> bool:
    await asyncio.gather(*tasks, return_exceptions=True)
    return True


def make_session(plan: Plan, shards: int = 1) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=plan.load.per_worker_limits(shards)[1],
        limit_per_host=0,
        ttl_dns_cache=300,
    )
    timeout = aiohttp.ClientTimeout(total=plan.defaults.timeout, sock_connect=plan.defaults.connect_timeout)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": "surge/0.1"},
    )


def fast_client_enabled() -> bool:
    return os.environ.get(ENV_FAST_CLIENT, "1").strip().lower() not in ("0", "false", "no", "off")


def make_fast_client(plan: Plan) -> FastClient:
    return FastClient(timeout=plan.defaults.timeout, connect_timeout=plan.defaults.connect_timeout)


async def run_worker(
    spec: WorkerSpec,
    *,
    should_stop: StopCheck | None = None,
    on_interval: IntervalCallback | None = None,
    session: aiohttp.ClientSession | None = None,
    fast_client: FastClient | None = None,
) -> WorkerResult:
    """Run one worker to completion. A session may be injected (tests, custom TLS settings).

    Plain requests go through the fast client unless SURGE_FAST_CLIENT=0; an injected session
    (which may carry TLS or other settings the fast client would ignore) turns it off unless a
    fast client is injected as well.
    """
    lane = lane_of(spec.plan, spec.shard, spec.shards)
    if lane.target is not None:
        # An A/B plan: this worker sends its share of one target's load; its result says which.
        result = await run_worker(
            replace(spec, plan=lane.plan, shard=lane.shard, shards=lane.shards),
            should_stop=should_stop,
            on_interval=on_interval,
            session=session,
            fast_client=fast_client,
        )
        return WorkerResult(**{**result, "target": lane.target, "shard": spec.shard, "shards": spec.shards})
    own = session is None
    sess = session or make_session(spec.plan, spec.shards)
    fast = fast_client
    own_fast = False
    if fast is None and own and fast_client_enabled():
        fast, own_fast = make_fast_client(spec.plan), True
    try:
        worker = Worker(spec, sess, should_stop=should_stop, on_interval=on_interval, fast_client=fast)
        return await worker.run()
    finally:
        if own_fast and fast is not None:
            await fast.close()
        if own:
            await sess.close()
