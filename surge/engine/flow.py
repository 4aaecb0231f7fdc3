"""A plan's scenarios compiled once into what the request loop executes: no parsing per request."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, assert_never

from jsonpath_ng.ext import parse as jsonpath_parse  # type: ignore[attr-defined]

from surge.conditions import condition_holds
from surge.engine.aws.steps import CompiledAwsStep, compile_aws_step
from surge.pause import Pause
from surge.plan import DEFAULT_MAX_BODY, Plan, file_part_path
from surge.plan_steps import Capture, Expect, FilePart, LoopOver, Poll, Request, VarCondition
from surge.plan_steps import Step as PlanStep
from surge.stats import STAGE_PREFIX
from surge.template import HOOKS_KEY, Template, compile_structure, compile_template, render_structure

UNTIL = "$until"  # the capture name of a poll's JSON condition: holds -> True, else None
EXPECT = "$expect"  # the check a request's JSON expectation is (never a variable anyone reads)


@dataclass(frozen=True)
class CompiledCapture:
    name: str
    kind: str  # "json" | "regex" | "header" | "until"
    json_expr: Any | None
    regex: re.Pattern[str] | None
    header: str | None
    group: int
    until: tuple[str, object] | None = None  # ("equals" | "contains" | "exists", value)
    optional: bool = False  # found nothing: the variable is empty (None), the iteration goes on
    path: str = ""  # the JSONPath, regex or header as the plan wrote it (failure samples)

    @property
    def source(self) -> str:
        return f"{self.kind} {self.path}" if self.path else self.kind

    def describe_miss(self, json_doc: object) -> str:
        """An unmet JSON condition in words: what was expected, what the path matched."""
        if self.until is None or self.json_expr is None:
            return f"{self.source}: not as expected"
        how, expected = self.until
        found = [m.value for m in self.json_expr.find(json_doc)]
        got = "nothing" if not found else ", ".join(_short(v) for v in found[:3])
        return f"{self.path}: expected {how} {_short(expected)}, got {got}"

    def extract(self, body_text: str, json_doc: object, headers: Mapping[str, str]) -> object | None:
        if self.kind == "until":
            return True if self._holds(json_doc) else None
        if self.kind == "header":
            assert self.header is not None
            return headers.get(self.header)
        if self.kind == "regex":
            assert self.regex is not None
            m = self.regex.search(body_text)
            return m.group(self.group) if m else None
        matches = self.json_expr.find(json_doc) if self.json_expr is not None else []
        return matches[0].value if matches else None

    @property
    def until_is_template(self) -> bool:
        return self.until is not None and _has_template(self.until[1])

    def with_until_rendered(self, variables: Mapping[str, object], rng: random.Random) -> CompiledCapture:
        assert self.until is not None
        return replace(self, until=(self.until[0], render_structure(self.until[1], variables, rng)))

    def _holds(self, json_doc: object) -> bool:
        assert self.until is not None and self.json_expr is not None
        how, expected = self.until
        return condition_holds([m.value for m in self.json_expr.find(json_doc)], how, expected)


@dataclass(frozen=True)
class CompiledRequest:
    endpoint: str
    method: str
    url: Template
    absolute: bool
    headers: dict[str, Template | str]
    json_body: object | None
    body: Template | str | None
    timeout_s: float | None
    captures: tuple[CompiledCapture, ...]
    statuses: tuple[int, ...] | None
    content_type: str | None
    body_contains: str | None
    max_body: int = DEFAULT_MAX_BODY  # the most of a body held for checks and captures
    max_latency_s: float | None = None  # expect: {max: 200ms}, send to last byte
    templated_checks: bool = False  # a JSON expectation names a variable: rendered per request
    query: object | None = None  # compiled mapping, encoded onto the URL
    form: object | None = None  # compiled mapping, an urlencoded body
    multipart: tuple[MultipartPart, ...] | None = None
    boundary: str = ""
    before: str | None = None  # the hooks file's function run before sending (surge.hooks)
    after: str | None = None  # ... and on the answer

    @property
    def needs_body_text(self) -> bool:
        return bool(self.captures) or self.body_contains is not None or self.after is not None

    def render_url(self, base: str, variables: Mapping[str, object], rng: random.Random) -> str:
        path = self.url.render(variables, rng)
        url = path if self.absolute else base + path
        if self.query is not None:
            url += ("&" if "?" in url else "?") + _urlencoded(render_structure(self.query, variables, rng))
        return url

    def render_headers(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, str]:
        return {k: v if isinstance(v, str) else v.render(variables, rng) for k, v in self.headers.items()}

    def render_body(self, variables: Mapping[str, object], rng: random.Random) -> bytes | None:
        if self.json_body is not None:
            return json.dumps(render_structure(self.json_body, variables, rng)).encode()
        if self.form is not None:
            return _urlencoded(render_structure(self.form, variables, rng)).encode()
        if self.multipart is not None:
            return _multipart(self.multipart, self.boundary, variables, rng)
        if self.body is None:
            return None
        text = self.body if isinstance(self.body, str) else self.body.render(variables, rng)
        return text.encode()


@dataclass(frozen=True)
class MultipartPart:
    name: str
    value: Template | str | None = None  # a text field
    data: bytes | None = None  # a file's content, read once when the plan is compiled
    filename: str = ""
    content_type: str = "application/octet-stream"


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _urlencoded(values: object) -> str:
    """A mapping as application/x-www-form-urlencoded (a list repeats its key)."""
    assert isinstance(values, dict)
    pairs = [(k, _text(x)) for k, v in values.items() for x in (v if isinstance(v, list) else [v])]
    return urllib.parse.urlencode(pairs)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def _multipart(
    parts: tuple[MultipartPart, ...], boundary: str, variables: Mapping[str, object], rng: random.Random
) -> bytes:
    """multipart/form-data (RFC 7578): one part per field, files with their name and type."""
    out: list[bytes] = []
    for p in parts:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(p.name)}"'
        if p.data is not None:
            head += f'; filename="{_quoted(p.filename)}"\r\nContent-Type: {p.content_type}'
            body = p.data
        else:
            value = (
                p.value
                if isinstance(p.value, str)
                else p.value.render(variables, rng)
                if p.value is not None
                else ""
            )
            body = value.encode()
        out.append(head.encode() + b"\r\n\r\n" + body + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _has_template(value: object) -> bool:
    if isinstance(value, Template):
        return True
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False


@dataclass(frozen=True)
class Think:
    pause: Pause


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class StageStart:
    name: str


@dataclass(frozen=True)
class CompiledPoll:
    """A request repeated until its expectations (the poll's `until`) hold."""

    request: CompiledRequest | None  # expectations = the until conditions; captures include the poll's
    every_s: float
    timeout_s: float
    metric: str | None
    since: str | None
    aws: CompiledAwsStep | None = None  # or an AWS read, checked with `checks` on its document
    checks: tuple[CompiledCapture, ...] = ()

    @property
    def endpoint(self) -> str:
        return self.request.endpoint if self.request is not None else self.aws.endpoint  # type: ignore[union-attr]


@dataclass(frozen=True)
class CompiledCondition:
    """A plan's VarCondition: whether an iteration's variable (or what a JSONPath matches in it)
    equals, contains or exists, with the meaning every condition has (surge.conditions)."""

    var: str
    json_expr: Any | None
    how: str
    expected: object  # a compiled structure: it may name the iteration's variables

    def holds(self, variables: Mapping[str, object], rng: random.Random) -> bool:
        value = variables.get(self.var)
        if value is None:
            values: list[object] = []
        elif self.json_expr is not None:
            values = [m.value for m in self.json_expr.find(_as_json(value))]
        else:
            values = [value]
        return condition_holds(values, self.how, render_structure(self.expected, variables, rng))


def _as_json(value: object) -> object:
    """A variable's value as a JSON document: text that parses as JSON is read as JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class CompiledLoop:
    """Repeat ``steps``: ``count`` times, once per item (``items``, a variable's, a data column's),
    or while ``while_`` holds; at most ``max`` passes."""

    steps: tuple[Step, ...]
    max: int
    as_name: str
    count: int | None = None
    items: object | None = None  # a literal list, compiled (its items may be templates)
    over_var: str | None = None
    over_json: Any | None = None
    column: str | None = None
    while_: CompiledCondition | None = None

    def items_for(
        self, variables: Mapping[str, object], rng: random.Random, rows: list[dict[str, str]]
    ) -> list[object] | None:
        """The items this pass of the flow loops over (None: a count or while loop)."""
        if self.items is not None:
            rendered = render_structure(self.items, variables, rng)
            return list(rendered) if isinstance(rendered, list) else [rendered]
        if self.column is not None:
            return [row.get(self.column, "") for row in rows]
        if self.over_var is None:
            return None
        value = variables.get(self.over_var)
        if value is None:
            return []
        if self.over_json is not None:
            return [m.value for m in self.over_json.find(_as_json(value))]
        value = _as_json(value)
        return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class CompiledIf:
    condition: CompiledCondition
    steps: tuple[Step, ...]


Step = (
    CompiledRequest | Think | Mark | StageStart | CompiledPoll | CompiledAwsStep | CompiledLoop | CompiledIf
)
LOOP_INDEX = "$index"  # the variable {{ $index }} reads: the innermost loop's 0-based pass


def walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step, those inside loops and ifs included, in flow order."""
    for step in steps:
        yield step
        if isinstance(step, CompiledLoop | CompiledIf):
            yield from walk(step.steps)


def stage_endpoint(name: str) -> str:
    return STAGE_PREFIX + name


@dataclass(frozen=True)
class CompiledScenario:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class CompiledPlan:
    base_url: str
    scenarios: tuple[CompiledScenario, ...]
    cumulative_weights: tuple[float, ...]
    variables: dict[str, object]
    endpoints: tuple[str, ...]
    cookies: bool = True  # a cookie jar per virtual user (closed model) or iteration (open model)
    setup: tuple[Step, ...] = ()  # run once before the load (surge.setup_flow), then teardown after
    teardown: tuple[Step, ...] = ()
    on_start: tuple[Step, ...] = ()  # each virtual user's first steps (closed model)

    def pick(self, rng: random.Random) -> CompiledScenario:
        if len(self.scenarios) == 1:
            return self.scenarios[0]
        x = rng.random() * self.cumulative_weights[-1]
        return self.scenarios[bisect.bisect_right(self.cumulative_weights, x)]


def _capture(c: Capture) -> CompiledCapture:
    if c.json_path is not None:
        return CompiledCapture(
            c.as_,
            "json",
            jsonpath_parse(c.json_path),
            None,
            None,
            c.group,
            optional=c.optional,
            path=c.json_path,
        )
    if c.regex is not None:
        return CompiledCapture(
            c.as_, "regex", None, re.compile(c.regex), None, c.group, optional=c.optional, path=c.regex
        )
    return CompiledCapture(
        c.as_, "header", None, None, c.header, c.group, optional=c.optional, path=c.header or ""
    )


def _expectations(expects: list[Expect]) -> tuple[tuple[int, ...] | None, str | None, str | None]:
    statuses: tuple[int, ...] | None = None
    content_type = body_contains = None
    for e in expects:
        if e.statuses is not None:
            statuses = e.statuses
        if e.content_type is not None:
            ct = e.content_type.lower()
            content_type = "application/json" if ct == "json" else ct
        if e.body_contains is not None:
            body_contains = e.body_contains
    return statuses, content_type, body_contains


def _until_capture(poll: Poll, env: Mapping[str, str] | None) -> CompiledCapture | None:
    until = poll.until
    if until.json_path is None:
        return None
    how, value = (
        ("equals", until.equals)
        if until.equals is not None
        else ("contains", until.contains)
        if until.contains is not None
        else ("exists", until.exists)
    )
    value = compile_structure(value, env)  # "{{ eventId }}" is rendered per poll by the worker
    return CompiledCapture(
        UNTIL, "until", jsonpath_parse(until.json_path), None, None, 1, (how, value), path=until.json_path
    )


def _poll(
    plan: Plan, poll: Poll, env: Mapping[str, str] | None, base_dir: Path | None = None
) -> CompiledPoll:
    if poll.aws is not None:
        # An AWS read: the conditions and captures apply to the call's response document.
        checks = [c for c in (_until_capture(poll, env),) if c is not None] + [
            _capture(c) for c in poll.capture
        ]
        step = compile_aws_step(poll.aws)
        step.doc_bodies = True
        return CompiledPoll(None, poll.every, poll.timeout, poll.metric, poll.since, step, tuple(checks))
    assert poll.request is not None
    base = _request(plan, poll.request, env, base_dir)
    until = poll.until
    captures = list(base.captures) + [_capture(c) for c in poll.capture]
    until_capture = _until_capture(poll, env)
    if until_capture is not None:
        captures.insert(0, until_capture)
    request = replace(
        base,
        statuses=until.statuses if until.statuses is not None else base.statuses,
        body_contains=until.body_contains if until.body_contains is not None else base.body_contains,
        captures=tuple(captures),
    )
    return CompiledPoll(request, poll.every, poll.timeout, poll.metric, poll.since)


def _expect_captures(req: Request, env: Mapping[str, str] | None) -> list[CompiledCapture]:
    """A request's JSON expectations, as the checks a poll's until is (one meaning: surge.conditions)."""
    checks = []
    for e in req.expect:
        condition = e.condition
        if condition is not None:
            assert e.json_path is not None
            how, value = condition
            compiled = (how, compile_structure(value, env))
            checks.append(
                CompiledCapture(
                    EXPECT, "until", jsonpath_parse(e.json_path), None, None, 1, compiled, path=e.json_path
                )
            )
    return checks


def _request(
    plan: Plan, req: Request, env: Mapping[str, str] | None, base_dir: Path | None = None
) -> CompiledRequest:
    statuses, content_type, body_contains = _expectations(req.expect)
    checks = _expect_captures(req, env)
    latencies = [e.max for e in req.expect if e.max is not None]
    headers: dict[str, Template | str] = {}
    for k, v in {**plan.defaults.headers, **req.headers}.items():
        t = compile_template(v, env)
        headers[k] = t.render({}, random.Random()) if t.is_static else t
    boundary = f"surge-{uuid.uuid4().hex}" if req.multipart is not None else ""
    wanted = (
        "application/json"
        if req.json_body is not None
        else "application/x-www-form-urlencoded"
        if req.form is not None
        else f"multipart/form-data; boundary={boundary}"
        if boundary
        else None
    )
    if wanted is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = wanted
    parts = None
    if req.multipart is not None:
        parts = tuple(_part(name, value, env, base_dir) for name, value in req.multipart.items())
    body: Template | str | None = None
    if req.body is not None:
        bt = compile_template(req.body, env)
        body = bt.render({}, random.Random()) if bt.is_static else bt
    return CompiledRequest(
        endpoint=req.display_name,
        method=req.method,
        url=compile_template(req.url, env),
        absolute=req.url.startswith(("http://", "https://")),
        headers=headers,
        json_body=compile_structure(req.json_body, env) if req.json_body is not None else None,
        body=body,
        timeout_s=req.timeout,
        max_body=int(req.max_body if req.max_body is not None else plan.defaults.max_body),
        captures=(*checks, *(_capture(c) for c in req.capture)),
        statuses=statuses,
        content_type=content_type,
        body_contains=body_contains,
        max_latency_s=min(latencies) if latencies else None,
        templated_checks=any(c.until_is_template for c in checks),
        query=compile_structure(req.query, env) if req.query is not None else None,
        form=compile_structure(req.form, env) if req.form is not None else None,
        multipart=parts,
        boundary=boundary,
        before=req.before,
        after=req.after,
    )


def _part(name: str, value: object, env: Mapping[str, str] | None, base_dir: Path | None) -> MultipartPart:
    if isinstance(value, FilePart):
        path = file_part_path(value, base_dir or Path.cwd())
        return MultipartPart(name, None, path.read_bytes(), value.filename or path.name, value.content_type)
    t = compile_template(_text(value), env)
    return MultipartPart(name, t.render({}, random.Random()) if t.is_static else t)


def compile_plan(
    plan: Plan,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    hooks: Mapping[str, Callable[..., Any]] | None = None,
) -> CompiledPlan:
    """``env``: what `$env` and the resolved `$secret`/`$ssm` references read (None: the process
    environment, no secrets). ``base_dir``: where relative multipart files are (the plan's folder).
    ``hooks``: the plan's hook functions (surge.hooks), which templates call through the variables."""
    scenarios = [CompiledScenario(sc.name, _steps(plan, sc.flow, env, base_dir)) for sc in plan.scenarios]
    weights = tuple(itertools.accumulate(sc.weight for sc in plan.scenarios))
    rng = random.Random(plan.seed)
    variables: dict[str, object] = {HOOKS_KEY: dict(hooks)} if hooks else {}
    for name, value in plan.variables.items():  # in order: a variable may use those above it
        variables[name] = render_structure(compile_structure(value, env), variables, rng)
    endpoints = tuple(
        dict.fromkeys(
            s.endpoint
            for sc in scenarios
            for s in walk(sc.steps)
            if isinstance(s, CompiledRequest | CompiledPoll)
        )
    )
    setup, teardown, on_start = (
        _steps(plan, flow, env, base_dir) if flow else ()
        for flow in (plan.setup, plan.teardown, plan.on_start)
    )
    on_start_endpoints = tuple(
        s.endpoint for s in walk(on_start) if isinstance(s, CompiledRequest | CompiledPoll)
    )
    return CompiledPlan(
        plan.target,
        tuple(scenarios),
        weights,
        variables,
        tuple(dict.fromkeys(on_start_endpoints + endpoints)),
        plan.cookies,
        setup,
        teardown,
        on_start,
    )


def _steps(
    plan: Plan, flow: list[PlanStep], env: Mapping[str, str] | None, base_dir: Path | None
) -> tuple[Step, ...]:
    steps: list[Step] = []
    for st in flow:
        match st.kind:
            case "request":
                assert st.request is not None
                steps.append(_request(plan, st.request, env, base_dir))
            case "think":
                assert st.think is not None
                steps.append(Think(st.think))
            case "poll":
                assert st.poll is not None
                steps.append(_poll(plan, st.poll, env, base_dir))
            case "mark":
                assert st.mark is not None
                steps.append(Mark(st.mark))
            case "stage":
                assert st.stage is not None
                steps.append(StageStart(st.stage))
            case "aws":
                assert st.aws is not None
                steps.append(compile_aws_step(st.aws))
            case "loop":
                steps.append(_loop(plan, st, env, base_dir))
            case "if":
                assert st.if_ is not None and st.steps is not None
                steps.append(CompiledIf(_condition(st.if_, env), _steps(plan, st.steps, env, base_dir)))
            case unknown:
                assert_never(unknown)
    return tuple(steps)


def _condition(c: VarCondition, env: Mapping[str, str] | None) -> CompiledCondition:
    how, expected = c.test
    json_expr = jsonpath_parse(c.json_path) if c.json_path is not None else None
    return CompiledCondition(c.var, json_expr, how, compile_structure(expected, env))


def _loop(plan: Plan, st: PlanStep, env: Mapping[str, str] | None, base_dir: Path | None) -> CompiledLoop:
    loop = st.loop
    assert loop is not None and st.steps is not None
    body = _steps(plan, st.steps, env, base_dir)
    common: dict[str, Any] = {"steps": body, "max": loop.max, "as_name": loop.as_}
    if loop.count is not None:
        return CompiledLoop(count=loop.count, **common)
    if loop.while_ is not None:
        return CompiledLoop(while_=_condition(loop.while_, env), **common)
    if isinstance(loop.over, LoopOver):
        over_json = jsonpath_parse(loop.over.json_path) if loop.over.json_path is not None else None
        return CompiledLoop(over_var=loop.over.var, over_json=over_json, column=loop.over.column, **common)
    return CompiledLoop(items=compile_structure(loop.over, env), **common)
