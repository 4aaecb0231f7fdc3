"""A scenario's iterations as a worker runs them: each step in order (requests, AWS calls, loops,
polls, stages, think times, hooks), sent and recorded.

The worker (surge.engine.worker) drives the load: when iterations start, and as which virtual
users. This is what each iteration does once started. ``IterationRunner`` is the worker's half
that runs them; the attributes it reads are the worker's, made in ``Worker.__init__``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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
from surge.engine.fastclient import FastClient, FastHTTPError, Prepared, supports
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
    stage_endpoint,
    walk,
)
from surge.engine.health import HealthMonitor
from surge.engine.http_step import Outcome, send, send_fast
from surge.engine.pacer import resolve
from surge.engine.request_policy import credentials_from_url
from surge.engine.worker_spec import WorkerSpec
from surge.hooks import call_after, call_before, describe
from surge.plan import Plan
from surge.redact import MASK, SENSITIVE_NAMES, Redactor, redactor_for
from surge.stats import FailureSample, Recorder
from surge.template import HookCallError, TemplateError

ENV_AWS_ENDPOINT_URL = "SURGE_AWS_ENDPOINT_URL"  # aws: steps against a local endpoint (moto, LocalStack)

DEBUG_BODY_BYTES = 500  # of a body --debug shows, sent or received


# Error classes that mean "answered, but not what was expected": a poll keeps trying on them.
CONDITION_ERRORS = frozenset({"http_4xx", "http_5xx", "expect", "capture"})


@dataclass(slots=True)
class IterationState:
    """What an iteration's steps share as they run: when the next request is intended (for the
    coordinated-omission correction), the open stage, the marks polls time from."""

    intended: float
    correct_us: int
    stage: tuple[str, float] | None = None
    marks: dict[str, float] = field(default_factory=dict)
    jar: CookieJar | None = None  # the virtual user's cookies (made at the first request)


@dataclass(slots=True)
class VirtualUser:
    """A closed-model virtual user across its iterations: its cookies, what its on_start captured."""

    jar: CookieJar | None
    started: bool = False
    variables: dict[str, object] = field(default_factory=dict)


def aws_failure(out: AwsOutcome) -> str | None:
    """An AWS step's failure in words: the service's error code and message, when it sent one."""
    doc = out.doc
    err = doc.get("Error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and (err.get("Code") or err.get("Message")):
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip().rstrip(":")
    if isinstance(doc, dict) and isinstance(doc.get("FunctionError"), str):
        return f"the function failed ({doc['FunctionError']})"
    return f"{out.error} (status {out.status})" if out.status else out.error


def structure_static(value: object) -> bool:
    if isinstance(value, dict):
        return all(structure_static(v) for v in value.values())
    if isinstance(value, list):
        return all(structure_static(v) for v in value)
    return not hasattr(value, "parts")  # compile_structure leaves Templates only where it must


class ConnectionSlots:
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
class PreparedRequest:
    """What a request needs per send, worked out once: most requests of a plan never change."""

    static: bool  # URL, headers and body render the same every time
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    refused: bool = False  # a static absolute URL to a host the plan does not allow
    fast: Prepared | None = None  # serialized once for the fast client, when it can send it


class IterationRunner:
    """Runs iterations and flows for a worker (its base class): the state below is the worker's."""

    spec: WorkerSpec
    plan: Plan
    compiled: CompiledPlan
    recorder: Recorder
    session: aiohttp.ClientSession
    fast: FastClient | None
    connections: ConnectionSlots
    allowed_hosts: frozenset[str]
    hooks: dict[str, Callable[..., object]]
    rng: random.Random
    t0: float
    rows: list[dict[str, str]]
    iterations: int
    stopping: asyncio.Event
    health: HealthMonitor
    aws_pool: AwsClientPool | None
    _prepared: dict[int, PreparedRequest]
    _needs_vars: bool
    _shared_vars: dict[str, object]
    _sleepers: set[asyncio.Future[None]]
    _hook_failures: set[str]
    _debug_left: int
    _debug_redactor: Redactor | None
    _redact_names: set[str]
    _captured_redactor: tuple[tuple[str, ...], Redactor] | None

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

    def _prepare(self, req: CompiledRequest) -> PreparedRequest:
        static = (
            req.before is None  # a before hook may change any of it, per request
            and req.url.is_static
            and all(isinstance(v, str) for v in req.headers.values())
            and (req.json_body is None or structure_static(req.json_body))
            and (req.body is None or isinstance(req.body, str))
            and (req.query is None or structure_static(req.query))
            and (req.form is None or structure_static(req.form))
            and all(p.value is None or isinstance(p.value, str) for p in req.multipart or ())
        )
        if not static:
            return PreparedRequest(False)
        rng = random.Random(0)  # static parts consume no randomness; any generator will do
        url, headers = credentials_from_url(
            req.render_url(self.compiled.base_url, {}, rng), req.render_headers({}, rng)
        )
        body = req.render_body({}, rng)
        prep = PreparedRequest(True, url, headers, body)
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
        self,
        scenario: CompiledScenario,
        intended: float,
        correct_us: int = 0,
        user: VirtualUser | None = None,
    ) -> None:
        variables = self._variables()
        it = IterationState(intended, correct_us, jar=user.jar if user is not None else None)
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

    async def _steps(self, steps: tuple[Step, ...], variables: dict[str, object], it: IterationState) -> bool:
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
        it = IterationState(time.perf_counter(), 0, jar=CookieJar() if self.compiled.cookies else None)
        await self._open_aws_clients()
        try:
            ok = await self._steps(steps, variables, it)
        finally:
            if self.aws_pool is not None:
                await self.aws_pool.close()
                self.aws_pool = None
        return ok, variables

    async def _loop(self, loop: CompiledLoop, variables: dict[str, object], it: IterationState) -> bool:
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

    async def _poll(self, poll: CompiledPoll, variables: dict[str, object], it: IterationState) -> bool:
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
        it: IterationState | None = None,
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
