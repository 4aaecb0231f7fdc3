"""One load-generator worker: runs its shard of a plan's window and returns a WorkerResult.

The same function runs in a local worker process and in a Lambda worker. The open model starts
iterations at their intended instants and drops (counts) the ones beyond the in-flight cap instead
of delaying them; the closed model runs virtual users. Both record the response time from the
intended start (coordinated-omission corrected) and the service time (send -> last byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from surge.engine.flow import CompiledPlan, CompiledRequest, CompiledScenario, Think, compile_plan
from surge.engine.health import HealthMonitor
from surge.engine.http_step import send
from surge.plan import Plan, read_data_rows
from surge.schedule import PhaseShape, arrivals, shapes, shard_user_ids, users_at
from surge.stats import RESULT_VERSION, IntervalData, Recorder, WorkerResult
from surge.template import TemplateError

STOP_POLL_S = 0.1
DRAIN_GRACE_S = 5.0
IDLE_USER_POLL_S = 0.05
MIN_CORRECTION_US = 1000  # floor of the closed model's expected interval, bounds synthetic samples


@dataclass(frozen=True)
class WorkerSpec:
    plan: Plan
    shard: int = 0
    shards: int = 1
    t0_epoch: float = 0.0  # wall-clock instant of plan time 0 (all workers share it)
    window: tuple[float, float] | None = None  # plan seconds; None: the whole plan
    worker_id: str = "w0"
    base_dir: Path = field(default_factory=Path.cwd)


IntervalCallback = Callable[[dict[str, IntervalData]], None]
StopCheck = Callable[[], bool]


def plan_shapes(plan: Plan) -> list[PhaseShape]:
    return shapes([(p.duration, p.start_level, p.end_level) for p in plan.load.phases])


class Worker:
    def __init__(
        self,
        spec: WorkerSpec,
        session: aiohttp.ClientSession,
        *,
        should_stop: StopCheck | None = None,
        on_interval: IntervalCallback | None = None,
    ) -> None:
        self.spec = spec
        self.plan = spec.plan
        self.compiled: CompiledPlan = compile_plan(spec.plan)
        self.session = session
        self.should_stop = should_stop or (lambda: False)
        self.on_interval = on_interval
        self.phases = plan_shapes(spec.plan)
        self.window = spec.window or (0.0, self.phases[-1].end_s)
        seed = spec.plan.seed if spec.plan.seed is not None else random.randrange(2**31)
        self.seed = seed
        self.rng = random.Random(f"{seed}:{spec.shard}:{self.window[0]}")
        # Plan time 0 on this process's monotonic clock.
        self.t0 = time.perf_counter() + (spec.t0_epoch - time.time())
        self.recorder = Recorder(self.t0, spec.plan.interval)
        load = spec.plan.load
        self.max_in_flight = max(1, load.max_in_flight // spec.shards)
        self.connections = asyncio.Semaphore(max(1, load.connections // spec.shards))
        self.in_flight = 0
        self.dropped = 0
        self.iterations = 0
        self.stopping = asyncio.Event()
        self.stopped_early = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.health = HealthMonitor(spec.worker_id)
        self.rows = self._data_rows()

    def _data_rows(self) -> list[dict[str, str]]:
        data = self.plan.data
        if data is None:
            return []
        path = Path(data.file)
        return read_data_rows(path if path.is_absolute() else self.spec.base_dir / path)

    # -- iterations -----------------------------------------------------------------------------
    def _variables(self) -> dict[str, object]:
        variables: dict[str, object] = dict(self.compiled.variables)
        n = self.iterations * self.spec.shards + self.spec.shard
        if self.rows:
            order = self.plan.data.order if self.plan.data is not None else "sequential"
            row = self.rows[n % len(self.rows)] if order == "sequential" else self.rng.choice(self.rows)
            variables.update(row)
        variables["$iteration"] = n
        variables["$worker"] = self.spec.shard
        self.iterations += 1
        return variables

    async def _iteration(self, scenario: CompiledScenario, intended: float, correct_us: int = 0) -> None:
        variables = self._variables()
        for step in scenario.steps:
            if isinstance(step, Think):
                await asyncio.sleep(step.seconds)
                intended = time.perf_counter()
                continue
            ok = await self._request(step, variables, intended, correct_us)
            if not ok or self.stopping.is_set():
                return
            intended = time.perf_counter()  # the next request is intended once this one is done

    async def _request(
        self, req: CompiledRequest, variables: dict[str, object], intended: float, correct_us: int
    ) -> bool:
        rec = self.recorder
        try:
            url = req.render_url(self.compiled.base_url, variables, self.rng)
            headers = req.render_headers(variables, self.rng)
            body = req.render_body(variables, self.rng)
        except TemplateError:
            now = time.perf_counter()
            rec.record(req.endpoint, now, int((now - intended) * 1e6), 0, 0, "template", 0)
            return False
        if req.absolute and not self._host_allowed(url):
            now = time.perf_counter()
            rec.record(req.endpoint, now, int((now - intended) * 1e6), 0, 0, "refused", 0)
            return False
        # Waiting for a connection is the generator's queue: it counts in the corrected response
        # time but not in the service time.
        async with self.connections:
            out = await send(self.session, req, url, headers, body, time.perf_counter)
        # An arrival may be launched up to a millisecond before it is due: never report a
        # response time shorter than the service time.
        rec.record(
            req.endpoint,
            out.t_end,
            int((out.t_end - min(intended, out.t_send)) * 1e6),
            int((out.t_end - out.t_send) * 1e6),
            out.status,
            out.error,
            out.nbytes,
            correct_us,
        )
        if out.captured:
            variables.update(out.captured)
        return out.error is None

    def _host_allowed(self, url: str) -> bool:
        from urllib.parse import urlsplit

        return (urlsplit(url).hostname or "").lower() in self.plan.allowed_hosts

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
        launched = 0
        for t_plan in arrivals(
            self.phases,
            shard=self.spec.shard,
            shards=self.spec.shards,
            window=self.window,
            poisson=poisson,
            seed=self.seed,
        ):
            if self.stopping.is_set():
                return
            due = self.t0 + t_plan
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
                if self.stopping.is_set():
                    return
            elif launched % 64 == 63:
                await asyncio.sleep(0)  # running behind: still let responses be processed
            launched += 1
            if self.in_flight >= self.max_in_flight:
                self.dropped += 1
                self.recorder.iteration_dropped(due)
                continue
            self._launch(self.compiled.pick(self.rng), due)

    async def _closed_model(self) -> None:
        peak = int(max(max(p.level_from, p.level_to) for p in self.phases))
        users = shard_user_ids(peak, self.spec.shard, self.spec.shards)
        await asyncio.gather(*(self._user(j) for j in users))

    async def _user(self, j: int) -> None:
        load = self.plan.load
        w0, w1 = self.window
        rng = random.Random(f"{self.seed}:user:{j}:{w0}")
        expected_us = 0.0
        next_intended: float | None = None
        while not self.stopping.is_set():
            now = time.perf_counter()
            t = now - self.t0
            if t >= w1:
                return
            if t < w0 or users_at(self.phases, t) <= j:
                next_intended = None
                await asyncio.sleep(IDLE_USER_POLL_S)
                continue
            intended = next_intended if next_intended is not None else now
            self.in_flight += 1
            self.recorder.iteration_started(now, self.in_flight)
            self.recorder.users_active(now, self.in_flight)
            correct = 0 if load.pace is not None else int(max(expected_us, MIN_CORRECTION_US))
            started = time.perf_counter()
            try:
                await self._iteration(self.compiled.pick(rng), intended, correct if expected_us else 0)
            finally:
                self.in_flight -= 1
            took_us = (time.perf_counter() - started) * 1e6
            # A slow running mean of the user's cycle: the interval a stall is measured against.
            expected_us = took_us if expected_us == 0 else 0.9 * expected_us + 0.1 * took_us
            if load.pace is not None:
                next_intended = intended + load.pace
                wait = next_intended - time.perf_counter()
            else:
                next_intended = None
                wait = load.think_time
            if wait > 0:
                await asyncio.sleep(wait)

    # -- the run ------------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        """Closes finished intervals (streaming them as progress) and polls the stop signal."""
        while not self.stopping.is_set():
            await asyncio.sleep(STOP_POLL_S)
            if self.should_stop():
                self.stopped_early = True
                self.stopping.set()
            closed = self.recorder.close_before(time.perf_counter())
            if closed and self.on_interval is not None:
                self.on_interval(closed)

    async def run(self) -> WorkerResult:
        started = time.time()
        wait = self.t0 + self.window[0] - time.perf_counter()
        health_stop = asyncio.Event()
        health_task = asyncio.create_task(self.health.run(health_stop))
        ticker = asyncio.create_task(self._ticker())
        error: str | None = None
        try:
            if wait > 0:  # every worker starts at the same instant (cold starts are slept off)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=wait)
            if not self.stopping.is_set():
                if self.plan.load.model == "open":
                    await self._open_model()
                else:
                    await self._closed_model()
            await self._drain()
        except Exception as exc:  # a worker's crash is reported as a failed worker, not a hang
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.stopping.set()
            health_stop.set()
            await asyncio.gather(ticker, health_task, return_exceptions=True)
        remaining = self.recorder.close_all()
        if remaining and self.on_interval is not None:
            self.on_interval(remaining)
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
        )

    async def _drain(self) -> None:
        """Let in-flight iterations finish (bounded), so the last seconds are measured too."""
        if not self.tasks:
            return
        grace = DRAIN_GRACE_S if self.stopping.is_set() else self.plan.defaults.timeout
        _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def make_session(plan: Plan, shards: int = 1) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=max(1, plan.load.connections // shards),
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


async def run_worker(
    spec: WorkerSpec,
    *,
    should_stop: StopCheck | None = None,
    on_interval: IntervalCallback | None = None,
    session: aiohttp.ClientSession | None = None,
) -> WorkerResult:
    """Run one worker to completion. A session may be injected (tests, custom TLS settings)."""
    own = session is None
    sess = session or make_session(spec.plan, spec.shards)
    try:
        worker = Worker(spec, sess, should_stop=should_stop, on_interval=on_interval)
        return await worker.run()
    finally:
        if own:
            await sess.close()
