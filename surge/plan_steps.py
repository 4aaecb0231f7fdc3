"""The steps of a scenario's flow, as a plan writes them: requests (with their captures,
expectations and parts), think times, polls, marks and stages, loops, conditions and aws: calls;
and the scenario that holds a flow."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from surge.jsonpath import check_jsonpath
from surge.plan_aws import AwsStepSpec
from surge.plan_fields import Bytes, PauseSpec, PlanModel, Seconds

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class Capture(PlanModel):
    json_path: str | None = Field(default=None, alias="json")
    """a JSONPath into the response body; the first match is taken (a list or object stays one)"""
    regex: str | None = None
    """a regular expression on the body; its group `group` is taken"""
    header: str | None = None
    """a response header's value"""
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_]\w*$")
    """the variable it is stored in, for later steps: {{ name }}"""
    group: int = 1
    """the regex group taken"""
    optional: bool = Field(
        default=False,
        description="found nothing (or null): the variable is left empty instead of failing the iteration",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if sum(x is not None for x in (self.json_path, self.regex, self.header)) != 1:
            raise ValueError("a capture takes exactly one of 'json', 'regex' or 'header'")
        if self.json_path is not None:
            check_jsonpath(self.json_path)
        if self.regex is not None:
            import re

            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"'{self.regex}' is not a regular expression: {exc}") from exc
            if not 0 <= self.group <= compiled.groups:
                raise ValueError(
                    f"group {self.group}: '{self.regex}' has {compiled.groups} group(s); "
                    f"take one of 0-{compiled.groups} (0 is the whole match)"
                )
        return self


def header_values(v: dict[str, str]) -> dict[str, str]:
    """Headers a request can carry (a request's and the defaults'): valid names; no line breaks or
    NULs in values (they would split the request: header injection), no lone surrogates (no
    encoding can send them)."""
    for name, value in v.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"header name {name!r} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"
            )
        if _HEADER_VALUE_BREAK.search(value):
            raise ValueError(
                f"header {name}: the value contains a line break or NUL, which would split the "
                "request (header injection); remove it"
            )
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError(f"header {name}: the value holds a lone surrogate, which no encoding can send")
    return v


def _json_condition_problem(json_path: str | None, given: int, field: str) -> str | None:
    """What is wrong with a JSON condition (a poll's until, a request's expect), or None."""
    if json_path is not None and given != 1:
        return f"'{field}.json' takes exactly one of 'equals', 'contains' or 'exists'"
    if json_path is None and given:
        return f"'equals', 'contains' and 'exists' compare the value at '{field}.json': add it"
    if json_path is not None:
        check_jsonpath(json_path)
    return None


class Expect(PlanModel):
    status: int | list[int] | None = None
    """the status (or one of the statuses) the answer must have; default: any 2xx or 3xx"""

    @field_validator("status")
    @classmethod
    def _http_status(cls, v: int | list[int] | None) -> int | list[int] | None:
        for code in [v] if isinstance(v, int) else v or []:
            if not 200 <= code <= 599:
                raise ValueError(f"{code} is not a final HTTP status (200-599): no answer can have it")
        return v

    content_type: str | None = None
    """the answer's content type starts with this (`json` means application/json)"""
    body_contains: str | None = None
    """text the body must contain"""
    # A JSON condition on the response, with the meaning a poll's until has (surge.conditions).
    json_path: str | None = Field(default=None, alias="json")
    """a JSONPath into the body, tested with equals, contains or exists"""
    equals: Any = None
    """the value `json` must match (numbers and their text compare equal)"""
    contains: Any = None
    """a substring, list element or key `json`'s match must contain"""
    exists: bool | None = None
    """whether `json` must match something (true) or nothing (false)"""
    max: Seconds | None = Field(
        default=None, gt=0, description="the longest the request may take (send to last byte), e.g. 200ms"
    )

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if all(
            v is None for v in (self.status, self.content_type, self.body_contains, self.json_path, self.max)
        ):
            raise ValueError(
                "an expectation needs 'status', 'content_type', 'body_contains', 'json' (with "
                "equals/contains/exists) or 'max'"
            )
        given = sum(x is not None for x in (self.equals, self.contains, self.exists))
        problem = _json_condition_problem(self.json_path, given, "expect")
        if problem:
            raise ValueError(problem)
        return self

    @property
    def condition(self) -> tuple[str, object] | None:
        """(how, expected) of the JSON condition, if there is one."""
        if self.json_path is None:
            return None
        if self.equals is not None:
            return "equals", self.equals
        if self.contains is not None:
            return "contains", self.contains
        return "exists", self.exists

    @property
    def statuses(self) -> tuple[int, ...] | None:
        if self.status is None:
            return None
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


_HEADER_VALUE_BREAK = re.compile(r"[\r\n\x00]")


class FilePart(PlanModel):
    """A file in a multipart body, read once per worker (relative paths: beside the plan)."""

    path: str
    """the file (relative: beside the plan); read once per worker"""
    content_type: str = "application/octet-stream"
    """the part's content type"""
    filename: str | None = None  # default: the file's own name
    """the file name sent; default: the file's own"""


QueryValue = str | int | float | bool | list[str | int | float | bool]


class Request(PlanModel):
    method: str = "GET"
    """GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (the shorthand key gives it)"""
    url: str
    """a path relative to `target` (/api/x), or a full URL of an allowed host"""
    name: str | None = None
    """the endpoint's name in the report and in checks (endpoint["name"]); default: METHOD path"""
    headers: Annotated[dict[str, str], AfterValidator(header_values)] = Field(default_factory=dict)
    """request headers, after defaults.headers"""
    query: dict[str, QueryValue] | None = Field(
        default=None, description="query parameters, encoded and appended to the URL (lists repeat the key)"
    )
    json_body: Any = Field(default=None, alias="json")
    """a JSON body (templates render inside it)"""
    body: str | None = None
    """a raw text body"""
    form: dict[str, QueryValue] | None = Field(
        default=None, description="an application/x-www-form-urlencoded body"
    )
    multipart: dict[str, str | int | float | FilePart] | None = Field(
        default=None, description="a multipart/form-data body: text fields, and files as {path: ...}"
    )
    timeout: Seconds | None = Field(default=None, gt=0)
    """this request's timeout; default: defaults.timeout"""
    max_body: Bytes | None = None
    """this request's body limit; default: defaults.max_body"""
    capture: list[Capture] = Field(default_factory=list)
    """values taken from the answer into variables"""
    before: str | None = Field(default=None, pattern=r"^[A-Za-z_]\w*$")
    """a function of the plan's hooks file run before the request is sent: it may change the URL,
    headers and body (sign a request, compute a checksum)"""
    after: str | None = Field(default=None, pattern=r"^[A-Za-z_]\w*$")
    """a function of the plan's hooks file run on the answer: custom checks (raise to fail the
    request, class hook) and captures (return a dict of variables)"""
    expect: list[Expect] = Field(default_factory=list)
    """what the answer must be; an unmet expectation fails the iteration (class expect)"""

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v.upper() not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method '{v}'; use one of {', '.join(HTTP_METHODS)}")
        return v.upper()

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        given = [
            k
            for k, v in (
                ("json", self.json_body),
                ("body", self.body),
                ("form", self.form),
                ("multipart", self.multipart),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"a request takes one body: 'json', 'body', 'form' or 'multipart', not {' and '.join(given)}"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.name or f"{self.method} {self.url.split('?', 1)[0]}"


def _request_shorthand(data: object) -> object:
    """Artillery-style "get: /path" or "post: {url: ..., json: ...}" -> {"request": {...}}."""
    if isinstance(data, dict):
        methods = [k for k in data if isinstance(k, str) and k.upper() in HTTP_METHODS]
        if len(methods) == 1:
            key = methods[0]
            value = data[key]
            req = {"url": value} if isinstance(value, str) else dict(value or {})
            req["method"] = key.upper()
            rest = {k: v for k, v in data.items() if k != key}
            return {**rest, "request": req}
    return data


class Until(PlanModel):
    """When a poll is done: every condition given must hold on the same response."""

    status: int | list[int] | None = None
    """the status (or statuses) that ends the poll"""
    json_path: str | None = Field(default=None, alias="json")
    """a JSONPath into the body, tested with equals, contains or exists"""
    equals: Any = None
    """the value `json` must match"""
    contains: Any = None
    """what `json`'s match must contain"""
    exists: bool | None = None
    """whether `json` must match something"""
    body_contains: str | None = None
    """text the body must contain"""

    @model_validator(mode="after")
    def _something(self) -> Until:
        if self.status is None and self.json_path is None and self.body_contains is None:
            raise ValueError(
                "'until' needs 'status', 'json' (with equals/contains/exists) or 'body_contains'"
            )
        given = sum(x is not None for x in (self.equals, self.contains, self.exists))
        problem = _json_condition_problem(self.json_path, given, "until")
        if problem:
            raise ValueError(problem)
        return self

    @property
    def statuses(self) -> tuple[int, ...] | None:
        if self.status is None:
            return None
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)


class Poll(PlanModel):
    """Repeat a request (or an AWS read) until a condition holds; the wait is a stage metric."""

    request: Request | None = None
    """the request repeated (or write get:/post: directly)"""
    aws: AwsStepSpec | None = None
    """an AWS read repeated instead of a request (docs/aws-steps.md)"""
    until: Until
    """when the poll is done: every condition given holds on the same answer"""
    every: Seconds = Field(default=0.5, gt=0)
    """the pause between attempts"""
    timeout: Seconds = Field(default=30.0, gt=0)
    """the longest the poll waits; then the iteration fails (class poll_timeout)"""
    metric: str | None = Field(default=None, pattern=r"^[\w.\- ]+$")
    """the name of the wait as a stage metric (stage["name"].latency.p95)"""
    since: str | None = Field(
        default=None, description="a mark earlier in the flow; default: when polling starts"
    )
    capture: list[Capture] = Field(default_factory=list)
    """values taken from the answer that ended the poll"""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        return _request_shorthand(data)

    @model_validator(mode="after")
    def _one_call(self) -> Poll:
        if (self.request is None) == (self.aws is None):
            raise ValueError("a poll repeats one call: a request (get/post/...) or an 'aws' step")
        if self.aws is not None and (self.until.status is not None or self.until.body_contains is not None):
            raise ValueError(
                "an AWS poll's 'until' tests the response document: use 'json' with equals/contains/exists"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.request.display_name if self.request is not None else self.aws.display_name  # type: ignore[union-attr]


_VARIABLE = r"^[A-Za-z_]\w*$"


class VarCondition(PlanModel):
    """A condition on a variable of the iteration (captured, a data column, a loop's item): its
    value, or what ``json`` matches in it, ``equals``/``contains`` a value or ``exists`` (the
    meaning of surge.conditions, as in a poll's until). A variable with no value does not exist."""

    var: str = Field(pattern=_VARIABLE)
    """the variable tested (captured, a data column, a loop's item)"""
    json_path: str | None = Field(default=None, alias="json")
    """a JSONPath into the variable's value (JSON text is read as JSON)"""
    equals: Any = None
    """the value it must match"""
    contains: Any = None
    """what it must contain (substring, list element, key)"""
    exists: bool | None = None
    """whether it must have a value (true) or none (false)"""

    @model_validator(mode="after")
    def _one_test(self) -> VarCondition:
        given = sum(x is not None for x in (self.equals, self.contains, self.exists))
        if given != 1:
            raise ValueError(f"a condition on '{self.var}' takes one of 'equals', 'contains' or 'exists'")
        if self.json_path is not None:
            check_jsonpath(self.json_path)
        return self

    @property
    def test(self) -> tuple[str, object]:
        if self.equals is not None:
            return "equals", self.equals
        if self.contains is not None:
            return "contains", self.contains
        return "exists", self.exists


class LoopOver(PlanModel):
    """A loop's items from a variable (a captured JSON array, or what ``json`` matches in it) or
    from a column of the data file (every row's value, in file order)."""

    var: str | None = Field(default=None, pattern=_VARIABLE)
    """a variable holding a list (e.g. a captured JSON array)"""
    json_path: str | None = Field(default=None, alias="json")
    """a JSONPath selecting the items in `var`'s value"""
    column: str | None = None
    """a column of the data file: every row's value, in file order"""

    @model_validator(mode="after")
    def _one_source(self) -> LoopOver:
        if (self.var is None) == (self.column is None):
            raise ValueError("'over' takes a list, or one of 'var' (with an optional 'json') or 'column'")
        if self.json_path is not None:
            if self.var is None:
                raise ValueError("'over.json' selects items in a variable: give 'var' too")
            check_jsonpath(self.json_path)
        return self


MAX_LOOP_PASSES = 10_000


class Loop(PlanModel):
    """Repeat the step's ``steps``: ``count`` times, once per item ``over`` a list, or ``while`` a
    condition holds (checked before each pass); never more than ``max`` passes. The item is the
    variable named by ``as`` (default ``item``), the 0-based pass ``{{ $index }}``."""

    count: int | None = Field(default=None, ge=0, le=MAX_LOOP_PASSES)
    """repeat this many times (the item is the pass number)"""
    over: list[Any] | LoopOver | None = None
    """a list, or {var: ...} / {column: ...}: one pass per item"""
    while_: VarCondition | None = Field(default=None, alias="while")
    """repeat while this condition holds, checked before each pass"""
    max: int = Field(default=100, ge=1, le=MAX_LOOP_PASSES)
    """the most passes, whatever the loop; a count is its own bound"""
    as_: str = Field(default="item", alias="as", pattern=_VARIABLE)
    """the variable holding the current item"""

    @model_validator(mode="after")
    def _one_kind(self) -> Loop:
        if sum(x is not None for x in (self.count, self.over, self.while_)) != 1:
            raise ValueError("a loop takes one of 'count', 'over' or 'while'")
        if self.count is not None and "max" not in self.model_fields_set:
            self.max = max(self.count, 1)  # a count is its own bound
        elif self.count is not None and self.count > self.max:
            raise ValueError(f"loop count {self.count} is above its max {self.max}")
        return self

    @property
    def expected_passes(self) -> float:
        """How many passes to expect when sizing shards: a count or a literal list's length;
        otherwise unknown, taken as 10 (or ``max`` if lower)."""
        if self.count is not None:
            return float(self.count)
        if isinstance(self.over, list):
            return float(min(len(self.over), self.max))
        return float(min(self.max, 10))


StepKind = Literal["request", "think", "poll", "aws", "mark", "stage", "loop", "if"]


class Step(PlanModel):
    """One step of a flow: a request, a think time, a poll-until, an AWS call, a mark, a stage
    boundary, or a block of ``steps`` run in a ``loop`` or only ``if`` a condition holds."""

    request: Request | None = None
    """a request (or write get:/post:/put:/patch:/delete: directly)"""
    think: PauseSpec | None = None
    """a pause: 2s, 1s..3s, {between: [1s, 3s]} or {mean: 2s, stddev: 500ms}"""
    poll: Poll | None = None
    """repeat a request until a condition holds"""
    aws: AwsStepSpec | None = None
    """an AWS call as a step (docs/aws-steps.md)"""
    mark: str | None = Field(default=None, pattern=r"^[\w.\- ]+$")
    """a named instant that a later poll's `since` times from"""
    stage: str | None = Field(default=None, pattern=r"^[\w.\- ]+$")
    """starts a named stage that lasts until the next stage or the flow's end (a stage metric)"""
    loop: Loop | None = None
    """repeat `steps`"""
    if_: VarCondition | None = Field(default=None, alias="if")
    """run `steps` only when the condition holds"""
    steps: list[Step] | None = Field(default=None, min_length=1)
    """the steps a loop or an if runs"""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, dict):
            rest = {k: v for k, v in data.items() if k != "steps"}
            if len(rest) == 1:  # `get: /x` (steps beside it are refused below, by name)
                converted = _request_shorthand(rest)
                if "steps" in data and isinstance(converted, dict):
                    return {**converted, "steps": data["steps"]}
                return converted
            methods = [k for k in rest if isinstance(k, str) and k.upper() in HTTP_METHODS]
            beside = sorted(str(k) for k in rest if k not in methods and k in Request.model_fields)
            if len(methods) == 1 and beside:
                # `- get: /x` with `expect:` beside it: the request's fields go inside the request.
                method = methods[0]
                raise ValueError(
                    f"{', '.join(beside)} belong(s) inside the request: "
                    f"{method}: {{url: {rest[method]!s}, {beside[0]}: ...}}"
                )
        return data

    # Code that walks steps matches on `kind` and ends in assert_never: a new kind is then a type
    # error in every walker, never a step silently skipped (or counted as 0 s when sizing shards).
    @property
    def kind(self) -> StepKind:
        """The one kind this step is (a validated step has exactly one)."""
        if self.request is not None:
            return "request"
        if self.think is not None:
            return "think"
        if self.poll is not None:
            return "poll"
        if self.aws is not None:
            return "aws"
        if self.mark is not None:
            return "mark"
        if self.stage is not None:
            return "stage"
        return "loop" if self.loop is not None else "if"

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = (self.request, self.think, self.poll, self.aws, self.mark, self.stage, self.loop, self.if_)
        if sum(x is not None for x in kinds) != 1:
            raise ValueError(
                "a step is one of: request (or get/post/put/patch/delete shorthand), think, poll, aws, "
                "mark, stage, loop, if"
            )
        block = self.loop is not None or self.if_ is not None
        if block and self.steps is None:
            raise ValueError(
                f"'{'loop' if self.loop is not None else 'if'}' runs the step's 'steps': add them"
            )
        if not block and self.steps is not None:
            raise ValueError("'steps' belong to a 'loop' or an 'if' step")
        return self


def flow_steps(flow: Sequence[Step], at: str = "flow") -> Iterator[tuple[str, Step]]:
    """Every step of a flow with its field path, the steps of loops and ifs included (in order)."""
    for i, step in enumerate(flow):
        where = f"{at}[{i}]"
        yield where, step
        if step.steps is not None:
            yield from flow_steps(step.steps, f"{where}.steps")


class Scenario(PlanModel):
    name: str
    """the scenario's name in the report"""
    weight: float = Field(default=1.0, gt=0)
    """how often it is picked relative to the others"""
    flow: list[Step] = Field(min_length=1)
    """the steps one iteration runs, in order"""

    @field_validator("flow")
    @classmethod
    def _sends_something(cls, v: list[Step]) -> list[Step]:
        if not any(step.request or step.poll or step.aws for _, step in flow_steps(v)):
            raise ValueError(
                "no step sends anything (only think, mark or stage steps): an iteration would measure "
                "nothing; add a request"
            )
        return v
