"""One load-generator worker: runs its shard of a plan's window and returns a WorkerResult.

The same function runs in a local worker process and in a Lambda worker. The open model starts
iterations at their intended instants and drops (counts) the ones beyond the in-flight cap instead
of delaying them; the closed model runs virtual users. Both record the response time from the
intended start (coordinated-omission corrected) and the service time (send -> last byte).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import math
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from surge.data_file import read_data_rows
from surge.engine.aws.pool import AwsClientPool
from surge.engine.aws.steps import AwsOutcome, CompiledAwsStep
from surge.engine.cookies import CookieJar, with_cookies
from surge.engine.fastclient import FastClient, FastHTTPError, Origin, Prepared, supports
from surge.engine.flow import (
    LOOP_INDEX,
    UNTIL,
    CompiledCapture,
    CompiledIf,
    CompiledLoop,
    CompiledPlan,
    CompiledPoll,
    CompiledRequest,
    CompiledScenario,
    Mark,
    StageStart,
    Step,
    Think,
    compile_plan,
    stage_endpoint,
    walk,
)
from surge.engine.health import HealthMonitor
from surge.engine.http_step import Outcome, send, send_fast
from surge.engine.pacer import Pacer, make_pacer, resolve
from surge.engine.request_policy import credentials_from_url
from surge.hooks import call_after, call_before, describe, load_hooks
from surge.lanes import lane_of
from surge.plan import Plan, hooks_path
from surge.redact import MASK, SENSITIVE_NAMES, Redactor, redactor_for
from surge.schedule import ArrivalStream, peak_level, shard_user_ids, users_at
from surge.stats import RESULT_VERSION, FailureSample, IntervalData, Recorder, WorkerResult
from surge.template import HookCallError, TemplateError

ENV_AWS_ENDPOINT_URL = "SURGE_AWS_ENDPOINT_URL"  # aws: steps against a local endpoint (moto, LocalStack)
# Error classes that mean "answered, but not what was expected": a poll keeps trying on them.
CONDITION_ERRORS = frozenset({"http_4xx", "http_5xx", "expect", "capture"})
STOP_POLL_S = 0.1
DEBUG_BODY_BYTES = 500  # of a body --debug shows, sent or received
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


@dataclass(slots=True)
class _IterationState:
    """What an iteration's steps share as they run: when the next request is intended (for the
    coordinated-omission correction), the open stage, the marks polls time from."""

    intended: float
    correct_us: int
    stage: tuple[str, float] | None = None
    marks: dict[str, float] = field(default_factory=dict)
    jar: CookieJar | None = None  # the virtual user's cookies (made at the first request)


@dataclass(slots=True)
class _User:
    """A closed-model virtual user across its iterations: its cookies, what its on_start captured."""

    jar: CookieJar | None
    started: bool = False
    variables: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerSpec:
    plan: Plan
    shard: int = 0
    shards: int = 1
    t0_epoch: float = 0.0  # wall-clock instant of plan time 0 (all workers share it)
    window: tuple[float, float] | None = None  # plan seconds; None: the whole plan
    worker_id: str = "w0"
    base_dir: Path = field(default_factory=Path.cwd)
    # The plan's `$secret`/`$ssm` references, read before the run (surge.secrets): in memory only.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # What the plan's setup flow captured (surge.setup_flow): every iteration reads it.
    setup_vars: Mapping[str, object] = field(default_factory=dict, repr=False)
    debug: int = 0  # print this worker's first N exchanges to stderr, secrets masked (surge run --debug)


# (intervals just closed, index below which every interval of this worker is closed): the
# second tells a live view when this worker's part of an interval is complete, even when the
# worker had nothing to record in it.
IntervalCallback = Callable[[dict[str, IntervalData], int], None]
StopCheck = Callable[[], bool]


def aws_failure(out: AwsOutcome) -> str | None:
    """An AWS step's failure in words: the service's error code and message, when it sent one."""
    doc = out.doc
    err = doc.get("Error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and (err.get("Code") or err.get("Message")):
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip().rstrip(":")
    if isinstance(doc, dict) and isinstance(doc.get("FunctionError"), str):
        return f"the function failed ({doc['FunctionError']})"
    return f"{out.error} (status {out.status})" if out.status else out.error


def _structure_static(value: object) -> bool:
    if isinstance(value, dict):
        return all(_structure_static(v) for v in value.values())
    if isinstance(value, list):
        return all(_structure_static(v) for v in value)
    return not hasattr(value, "parts")  # compile_structure leaves Templates only where it must


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


class _Slots:
    """A counting semaphore whose uncontended acquire is an attribute test, not a coroutine:
    asyncio.Semaphore's ``async with`` cost two coroutine frames per request in the profile."""

    __slots__ = ("free", "waiters")

    def __init__(self, n: int) -> None:
        self.free = n
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def wait(self) -> None:
        """Called when ``free`` is 0 (or others wait): queue until a release hands a slot over."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self.waiters.remove(fut)
            raise

    def release(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot goes straight to the oldest waiter
                return
        self.free += 1


@dataclass(slots=True)
class _Prepared:
    """What a request needs per send, worked out once: most requests of a plan never change."""

    static: bool  # URL, headers and body render the same every time
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    refused: bool = False  # a static absolute URL to a host the plan does not allow
    fast: Prepared | None = None  # serialized once for the fast client, when it can send it


class Worker:
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
        self.connections = _Slots(connections)
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

    def _all_steps(self) -> Iterator[Step]:
        """Every step of every flow: the scenarios', on_start's, setup's and teardown's."""
        c = self.compiled
        for steps in (*(sc.steps for sc in c.scenarios), c.on_start, c.setup, c.teardown):
            yield from walk(steps)

    def _sending_steps(self) -> Iterator[CompiledRequest | CompiledAwsStep]:
        """Every request and AWS call the flows make, a poll's own included."""
        for s in self._all_steps():
            if isinstance(s, CompiledRequest | CompiledAwsStep):
                yield s
            elif isinstance(s, CompiledPoll):
                inner = s.request if s.request is not None else s.aws
                if inner is not None:
                    yield inner

    def _aws_steps(self) -> list[CompiledAwsStep]:
        return [s for s in self._sending_steps() if isinstance(s, CompiledAwsStep)]

    async def _open_aws_clients(self) -> None:
        """Create the AWS clients the flows use before the load starts: making one loads the
        service's model files synchronously (tens of ms), a stall every arrival then would share."""
        steps = self._aws_steps()
        if not steps:
            return
        self.aws_pool = AwsClientPool(endpoint_url=os.environ.get(ENV_AWS_ENDPOINT_URL) or None)
        for step in steps:
            await self.aws_pool.client(step.SERVICE, step.region)

    def _requests(self) -> list[CompiledRequest]:
        return [s for s in self._sending_steps() if isinstance(s, CompiledRequest)]

    def _prepare(self, req: CompiledRequest) -> _Prepared:
        static = (
            req.before is None  # a before hook may change any of it, per request
            and req.url.is_static
            and all(isinstance(v, str) for v in req.headers.values())
            and (req.json_body is None or _structure_static(req.json_body))
            and (req.body is None or isinstance(req.body, str))
            and (req.query is None or _structure_static(req.query))
            and (req.form is None or _structure_static(req.form))
            and all(p.value is None or isinstance(p.value, str) for p in req.multipart or ())
        )
        if not static:
            return _Prepared(False)
        rng = random.Random(0)  # static parts consume no randomness; any generator will do
        url, headers = credentials_from_url(
            req.render_url(self.compiled.base_url, {}, rng), req.render_headers({}, rng)
        )
        body = req.render_body({}, rng)
        prep = _Prepared(True, url, headers, body)
        if req.absolute and not self._host_allowed(url):
            prep.refused = True
            return prep
        if self.fast is not None and supports(req.method, url, headers):
            with contextlib.suppress(FastHTTPError):  # if not, aiohttp says what is wrong, per request
                prep.fast = self.fast.prepare(req.method, url, headers, body)
        return prep

    def _data_rows(self) -> list[dict[str, str]]:
        data = self.plan.data
        if data is None:
            return []
        path = Path(data.file)
        return read_data_rows(path if path.is_absolute() else self.spec.base_dir / path)

    # -- iterations -----------------------------------------------------------------------------
    def _variables(self) -> dict[str, object]:
        if not self._needs_vars:
            self.iterations += 1
            return self._shared_vars
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

    async def _iteration(
        self, scenario: CompiledScenario, intended: float, correct_us: int = 0, user: _User | None = None
    ) -> None:
        variables = self._variables()
        it = _IterationState(intended, correct_us, jar=user.jar if user is not None else None)
        ok = True
        if user is not None and not user.started and self.compiled.on_start:
            # The user's first cycle begins with on_start (again at its next cycle if it failed).
            before = dict(variables)
            ok = await self._steps(self.compiled.on_start, variables, it)
            if ok:
                user.started = True
                user.variables = {k: v for k, v in variables.items() if k not in before or before[k] is not v}
        elif user is not None and user.variables:
            variables.update(user.variables)
        if ok:
            ok = await self._steps(scenario.steps, variables, it)
        if it.stage is not None:  # a stage that did not complete is a failure of its own
            self._record_stage(
                it.stage[0],
                it.stage[1],
                time.perf_counter(),
                None if ok else "stage_failed",
                None if ok else "a step in the stage failed (its own failures say which and how)",
            )

    async def _steps(
        self, steps: tuple[Step, ...], variables: dict[str, object], it: _IterationState
    ) -> bool:
        """Run steps in order; False when one failed or the run is stopping (the iteration ends)."""
        for step in steps:
            if type(step) is CompiledRequest:  # the common case first: one check per request
                ok = await self._request(step, variables, it.intended, it.correct_us, it=it)
            elif isinstance(step, Think):
                await self._sleep(step.pause.sample(self.rng))
                if self.stopping.is_set():
                    return False
                it.intended = time.perf_counter()
                continue
            elif isinstance(step, Mark):
                it.marks[step.name] = time.perf_counter()
                continue
            elif isinstance(step, StageStart):
                now = time.perf_counter()
                if it.stage is not None:
                    self._record_stage(it.stage[0], it.stage[1], now, None)
                it.stage = (step.name, now)
                continue
            elif isinstance(step, CompiledPoll):
                ok = await self._poll(step, variables, it)
            elif isinstance(step, CompiledAwsStep):
                ok = await self._aws(step, variables, it.intended)
            elif isinstance(step, CompiledLoop):
                if not await self._loop(step, variables, it):
                    return False
                continue
            elif isinstance(step, CompiledIf):
                if step.condition.holds(variables, self.rng) and not await self._steps(
                    step.steps, variables, it
                ):
                    return False
                continue
            else:
                ok = await self._request(step, variables, it.intended, it.correct_us, it=it)
            if not ok or self.stopping.is_set():
                return False
            it.intended = time.perf_counter()  # the next request is intended once this one is done
        return True

    def _captured_secrets(self, variables: Mapping[str, object]) -> Redactor | None:
        """A redactor for the values captured at run time (in a flow or in setup) under names the
        plan lists in ``redact:``: known only now, masked where the worker writes or prints them."""
        if not self._redact_names:
            return None
        values = tuple(
            sorted(
                str(v)
                for k, v in variables.items()
                if k.lower() in self._redact_names
                and isinstance(v, str | int | float)
                and not isinstance(v, bool)
            )
        )
        if not values:
            return None
        if self._captured_redactor is None or self._captured_redactor[0] != values:
            self._captured_redactor = (values, Redactor(values))
        return self._captured_redactor[1]

    def _print_exchange(
        self,
        req: CompiledRequest,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        out: Outcome,
        variables: Mapping[str, object],
    ) -> None:
        """One request and its answer, as `surge run --debug` shows them (k6's --http-debug)."""
        if self._debug_redactor is None:
            self._debug_redactor = redactor_for(self.plan, os.environ, self.spec.secrets.values())
        mask = self._debug_redactor
        lines = [f"--- {self.spec.worker_id} {req.endpoint}", f"> {req.method} {url}"]
        # A credential header's value is masked whatever it holds (a token captured at run time).
        lines += [f"> {k}: {MASK if k.lower() in SENSITIVE_NAMES else v}" for k, v in headers.items()]
        if body:
            lines.append(f"> ({len(body)} bytes) {body[:DEBUG_BODY_BYTES].decode('utf-8', errors='replace')}")
        answer = f"< {out.status or 'no answer'} in {(out.t_end - out.t_send) * 1000:.1f} ms"
        lines.append(answer + (f"  [{out.error}: {out.detail}]" if out.error else "  [ok]"))
        if out.answer is not None:
            raw, answer_headers = out.answer
            lines += [
                f"< {k}: {MASK if k.lower() in SENSITIVE_NAMES else v}" for k, v in answer_headers.items()
            ]
            if raw:
                lines.append(
                    f"< ({len(raw)} bytes) {raw[:DEBUG_BODY_BYTES].decode('utf-8', errors='replace')}"
                )
        elif out.body_head:
            lines.append(f"< {out.body_head[:DEBUG_BODY_BYTES]}")
        # Everything printed goes through both redactors, the header line (an endpoint named by
        # its URL) included.
        text = mask.text("\n".join(lines))
        captured = self._captured_secrets(variables)
        if captured is not None:
            text = captured.text(text)
        print(text.replace("\x1b", "?"), file=sys.stderr, flush=True)

    def _unsent(self, req: CompiledRequest, url: str, intended: float, error: str, detail: str) -> bool:
        """A request that failed before anything was sent: counted, sampled, never timed."""
        now = time.perf_counter()
        self.recorder.record(req.endpoint, now, int((now - intended) * 1e6), 0, 0, error, 0)
        self.recorder.sample(
            req.endpoint,
            error,
            FailureSample(
                request=f"{req.method} {url}", status=0, detail=detail, body=None, t=round(now - self.t0, 3)
            ),
        )
        return False

    def _hook_failed(self, name: str, exc: BaseException) -> None:
        """The first failure of each hook is kept (the report's generator notes); all are counted."""
        if name not in self._hook_failures:
            self._hook_failures.add(name)
            self.health.notes.append(
                f"{self.spec.worker_id}: hook {name} failed first with: {describe(exc)}"[:500]
            )

    async def run_flow(self, steps: tuple[Step, ...]) -> tuple[bool, dict[str, object]]:
        """Run ``steps`` once, as one iteration (a plan's setup or teardown): whether they all
        passed, and the variables after them (the flow's captures)."""
        variables = dict(self.compiled.variables)
        variables.update({"$iteration": 0, "$worker": 0})
        it = _IterationState(time.perf_counter(), 0, jar=CookieJar() if self.compiled.cookies else None)
        await self._open_aws_clients()
        try:
            ok = await self._steps(steps, variables, it)
        finally:
            if self.aws_pool is not None:
                await self.aws_pool.close()
                self.aws_pool = None
        return ok, variables

    async def _loop(self, loop: CompiledLoop, variables: dict[str, object], it: _IterationState) -> bool:
        items = loop.items_for(variables, self.rng, self.rows)
        saved = {k: variables[k] for k in (loop.as_name, LOOP_INDEX) if k in variables}
        try:
            n = 0
            while n < loop.max:
                if items is not None:
                    if n >= len(items):
                        break
                    variables[loop.as_name] = items[n]
                elif loop.while_ is not None:
                    if not loop.while_.holds(variables, self.rng):
                        break
                elif n >= (loop.count or 0):
                    break
                else:
                    variables[loop.as_name] = n
                variables[LOOP_INDEX] = n
                if not await self._steps(loop.steps, variables, it):
                    return False
                n += 1
            return True
        finally:  # the loop's item and index are the loop's own: what they hid before comes back
            for key in (loop.as_name, LOOP_INDEX):
                if key in saved:
                    variables[key] = saved[key]
                else:
                    variables.pop(key, None)

    async def _aws(
        self,
        step: CompiledAwsStep,
        variables: dict[str, object],
        intended: float,
        *,
        checks: tuple[CompiledCapture, ...] | None = None,
    ) -> bool:
        """An AWS call as a step: timed, classified and captured like a request. With ``checks``
        (a poll's attempt) the call succeeds only when they all hold on the response document;
        until then the attempt is not an error."""
        if self.aws_pool is None:  # made before the load; a step compiled later still works
            self.aws_pool = AwsClientPool(endpoint_url=os.environ.get(ENV_AWS_ENDPOINT_URL) or None)
        out = await step.call(self.aws_pool, variables, self.rng, time.perf_counter)
        if checks is not None:
            held = out.error is None
            if held:
                captured = dict(out.captured or {})
                for check in checks:
                    value = check.extract("", out.doc, {})
                    if value is None:
                        held = False
                        break
                    if check.name != UNTIL:
                        captured[check.name] = value
                out.captured = captured
            if not held and out.error in (None, "expect", "capture", "aws_client"):
                out.error = None  # answered, not yet as awaited: try again
                self._record_aws(step, out, intended)
                return False
        self._record_aws(step, out, intended)
        if out.captured:
            variables.update(out.captured)
        return out.error is None

    def _record_aws(self, step: CompiledAwsStep, out: AwsOutcome, intended: float) -> None:
        # Lambda invocations are split by cold and warm start, so a plan can compare the two.
        endpoint = f"{step.endpoint} [{out.variant}]" if out.variant else step.endpoint
        t_send, t_end = out.t_send, out.t_end
        self.recorder.record(
            endpoint,
            t_end,
            int((t_end - (intended if intended < t_send else t_send)) * 1e6),
            int((t_end - t_send) * 1e6),
            out.status,
            out.error,
            out.nbytes,
        )
        if out.error is not None:
            sample = FailureSample(
                request=step.endpoint,
                status=out.status,
                detail=aws_failure(out),
                body=None,
                t=round(t_end - self.t0, 3),
            )
            self.recorder.sample(endpoint, out.error, sample)

    def _record_stage(
        self, name: str, start: float, end: float, error: str | None, detail: str | None = None
    ) -> None:
        us = int((end - start) * 1e6)
        self.recorder.record(stage_endpoint(name), end, us, us, 0, error, 0)
        if error is not None:
            # A stage's failure is sampled too: the report says what failed, not only how often.
            sample = FailureSample(
                request=f"stage {name}", status=0, detail=detail, body=None, t=round(end - self.t0, 3)
            )
            self.recorder.sample(stage_endpoint(name), error, sample)

    async def _poll(self, poll: CompiledPoll, variables: dict[str, object], it: _IterationState) -> bool:
        """Repeat the request until its conditions hold; the wait since the mark is the metric."""
        marks = it.marks
        started = time.perf_counter()
        since = marks.get(poll.since, started) if poll.since is not None else started
        deadline = started + poll.timeout_s
        if poll.aws is not None:
            aws = poll.aws
            checks = tuple(
                c.with_until_rendered(variables, self.rng) if c.until_is_template else c for c in poll.checks
            )
            return await self._poll_loop(
                poll,
                lambda: self._aws(aws, variables, time.perf_counter(), checks=checks),
                variables,
                since,
                deadline,
            )
        assert poll.request is not None
        request = poll.request
        until = request.captures[0] if request.captures and request.captures[0].name == UNTIL else None
        if until is not None and until.until_is_template:
            # The awaited value names this iteration's data ("{{ eventId }}"): a per-poll copy.
            captures = (until.with_until_rendered(variables, self.rng), *request.captures[1:])
            request = replace(request, captures=captures)
            self._prepared[id(request)] = self._prepared[id(poll.request)]
        try:
            return await self._poll_loop(
                poll,
                lambda: self._request(request, variables, time.perf_counter(), 0, attempt=True, it=it),
                variables,
                since,
                deadline,
            )
        finally:
            if request is not poll.request:
                del self._prepared[id(request)]

    async def _poll_loop(
        self,
        poll: CompiledPoll,
        attempt: Callable[[], Awaitable[bool]],
        variables: dict[str, object],
        since: float,
        deadline: float,
    ) -> bool:
        while True:
            if await attempt():
                if poll.metric is not None:
                    self._record_stage(poll.metric, since, time.perf_counter(), None)
                variables.pop(UNTIL, None)
                return True
            if self.stopping.is_set():
                return False
            if time.perf_counter() + poll.every_s > deadline:
                if poll.metric is not None:
                    self._record_stage(
                        poll.metric,
                        since,
                        time.perf_counter(),
                        "poll_timeout",
                        f"the poll's condition did not hold within its timeout ({poll.timeout_s:g} s)",
                    )
                return False
            await self._sleep(poll.every_s)

    async def _request(
        self,
        req: CompiledRequest,
        variables: dict[str, object],
        intended: float,
        correct_us: int,
        *,
        attempt: bool = False,
        it: _IterationState | None = None,
    ) -> bool:
        rec = self.recorder
        prep = self._prepared[id(req)]
        jar: CookieJar | None = None
        if it is not None and self.compiled.cookies:
            jar = it.jar
            if jar is None:
                jar = it.jar = CookieJar()
        if req.templated_checks:
            # A JSON expectation names this iteration's data ("{{ orderId }}"): rendered for it.
            captures = tuple(
                c.with_until_rendered(variables, self.rng) if c.until_is_template else c for c in req.captures
            )
            req = replace(req, captures=captures)
        fast: Prepared | None = None
        if prep.static:
            url, headers, body = prep.url, prep.headers, prep.body
            if prep.refused:
                return self._unsent(
                    req, url, intended, "refused", "its host is not in the plan's allow_hosts"
                )
            fast = prep.fast
        else:
            try:
                url, headers = credentials_from_url(
                    req.render_url(self.compiled.base_url, variables, self.rng),
                    req.render_headers(variables, self.rng),
                )
                body = req.render_body(variables, self.rng)
            except HookCallError as exc:
                self._hook_failed(exc.name, exc.original)
                return self._unsent(req, req.url.source, intended, "hook", str(exc))
            except TemplateError as exc:
                return self._unsent(req, req.url.source, intended, "template", str(exc))
            if req.absolute and not self._host_allowed(url):
                return self._unsent(
                    req, url, intended, "refused", "its host is not in the plan's allow_hosts"
                )
            if self.fast is not None and supports(req.method, url, headers):
                try:
                    fast = self.fast.prepare(req.method, url, headers, body)
                except FastHTTPError:
                    fast = None  # aiohttp reports what is wrong with it
        if req.before is not None:
            try:
                url, headers, body = call_before(
                    self.hooks[req.before], req.method, url, headers, body, variables
                )
            except Exception as exc:  # the user's code: a failed request of class hook
                self._hook_failed(req.before, exc)
                return self._unsent(req, url, intended, "hook", f"before hook {req.before}: {describe(exc)}")
            if not self._host_allowed(url):  # a hook may not lead a request to a host not allowed
                return self._unsent(
                    req, url, intended, "refused", "the before hook led it to a host not allowed"
                )
            fast = None
            if self.fast is not None and supports(req.method, url, headers):
                with contextlib.suppress(FastHTTPError):
                    fast = self.fast.prepare(req.method, url, headers, body)
        if jar:  # cookies the user was given go back with the request
            with_jar = with_cookies(headers, jar, url)
            if with_jar is not headers:
                headers = with_jar
                if self.fast is not None and supports(req.method, url, headers):
                    try:
                        fast = self.fast.prepare(req.method, url, headers, body)
                    except FastHTTPError:
                        fast = None
        # Waiting for a connection is the generator's queue: it counts in the corrected response
        # time but not in the service time.
        slots = self.connections
        if slots.free > 0 and not slots.waiters:
            slots.free -= 1
        else:
            await slots.wait()
        try:
            out: Outcome
            debug = self._debug_left > 0  # --debug shows the answer's headers and body too
            if fast is not None and self.fast is not None:
                out = await send_fast(
                    self.fast,
                    fast,
                    req,
                    headers,
                    body,
                    time.perf_counter,
                    self.allowed_hosts,
                    jar,
                    debug,
                )
            else:
                out = await send(
                    self.session,
                    req,
                    url,
                    headers,
                    body,
                    time.perf_counter,
                    self.allowed_hosts,
                    jar,
                    debug,
                )
        except asyncio.CancelledError:
            # Cut off by a stop: counted as sent and unanswered, never silently dropped (an
            # unanswered request is no latency sample, so no times are recorded for it).
            rec.record(req.endpoint, time.perf_counter(), 0, 0, 0, "interrupted", 0, 0, len(body or b""))
            raise
        finally:
            slots.release()
        if out.set_cookies and jar is not None:
            jar.store(url, out.set_cookies)
        if req.after is not None and out.error is None and out.answer is not None:
            try:
                extra = call_after(self.hooks[req.after], out.status, out.answer[1], out.answer[0], variables)
                if extra:
                    out.captured = {**(out.captured or {}), **extra}
            except Exception as exc:
                self._hook_failed(req.after, exc)
                out.error = "hook"
        # An arrival may be launched up to a millisecond before it is due: never report a
        # response time shorter than the service time.
        t_send, t_end = out.t_send, out.t_end
        # A poll's attempt that got an answer but not yet the awaited one is not an error.
        error = None if attempt and out.error in CONDITION_ERRORS else out.error
        rec.record(
            req.endpoint,
            t_end,
            int((t_end - (intended if intended < t_send else t_send)) * 1e6),
            int((t_end - t_send) * 1e6),
            out.status,
            error,
            out.nbytes,
            correct_us,
            len(body) if body else 0,
        )
        if self._debug_left > 0:
            self._debug_left -= 1
            self._print_exchange(req, url, headers, body, out, variables)
        if error is not None:
            sample = FailureSample(
                request=f"{req.method} {url}",
                status=out.status,
                detail=out.detail,
                body=out.body_head,
                t=round(t_end - self.t0, 3),
            )
            captured = self._captured_secrets(variables)
            rec.sample(req.endpoint, error, captured.data(sample) if captured is not None else sample)
        if out.captured:
            variables.update(out.captured)
        return out.error is None

    def _host_allowed(self, url: str) -> bool:
        return (urlsplit(url).hostname or "").lower() in self.allowed_hosts

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
        user = _User(CookieJar() if self.compiled.cookies else None)  # its cookies and on_start's captures
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

    # -- the run ------------------------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        """asyncio.sleep, ended early by a stop: think times, pacing and poll intervals may be
        long, and a stop (`surge stop`, an abort threshold) must not wait for them."""
        if self.stopping.is_set() or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, resolve, fut)
        self._sleepers.add(fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._sleepers.discard(fut)

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
