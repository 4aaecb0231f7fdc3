"""The test plan: typed models (pydantic v2) and YAML loading with one clear message per problem."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from surge.jsonpath import check_jsonpath
from surge.metrics.bind import bind_thresholds
from surge.metrics.spec import CostSpec, Services
from surge.pause import PAUSE_SCHEMA, Pause, parse_pause
from surge.plan_aws import AwsStepSpec
from surge.schedule import PhaseShape, shapes
from surge.thresholds import (
    TARGET_NAMESPACES,
    Threshold,
    ThresholdError,
    parse_metric,
    parse_threshold,
)
from surge.units import (
    DURATION_SCHEMA,
    SHARE_SCHEMA,
    SIZE_SCHEMA,
    parse_duration_s,
    parse_share,
    parse_size_bytes,
)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# The most of a response body a request holds for its checks and captures; a body nothing reads
# is counted as it streams and never held. A plan may change it (defaults.max_body, max_body).
DEFAULT_MAX_BODY = 10 << 20


def _duration(v: object) -> float:
    return parse_duration_s(v)


Seconds = Annotated[float, BeforeValidator(_duration), Field(ge=0), WithJsonSchema(DURATION_SCHEMA)]
# A think time or pace: 2s, 1s..3s, {between: [1s, 3s]} or {mean: 2s, stddev: 500ms} (surge.pause).
PauseSpec = Annotated[
    Pause,
    BeforeValidator(parse_pause),
    PlainSerializer(lambda p: p.to_plan(), return_type=Any),
    WithJsonSchema(PAUSE_SCHEMA),
]
# A response body held for checks and captures: more than this is a plan's mistake, not a test.
MAX_BODY_LIMIT = 1 << 30
Bytes = Annotated[
    int, BeforeValidator(parse_size_bytes), Field(gt=0, le=MAX_BODY_LIMIT), WithJsonSchema(SIZE_SCHEMA)
]


class _Model(BaseModel):
    # A field's docstring is its description: in the JSON Schema and docs/plans.md (surge.plan_schema).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class Phase(_Model):
    name: str | None = None
    """shown in the report and usable in checks: phase["spike"].http.latency.p95"""
    duration: Seconds = Field(gt=0)
    """how long the phase lasts"""
    rate: float | None = Field(default=None, ge=0, description="scenario iterations per second (open model)")
    users: int | None = Field(default=None, ge=0, description="concurrent virtual users (closed model)")
    ramp_to: float | None = Field(default=None, ge=0)
    """the rate (or users) reached at the phase's end, from `rate` (or `users`) at its start: a linear ramp"""

    @model_validator(mode="after")
    def _one_model(self) -> Phase:
        if (self.rate is None) == (self.users is None):
            raise ValueError("a phase sets either 'rate' (arrivals per second) or 'users' (virtual users)")
        return self

    @property
    def model(self) -> Literal["open", "closed"]:
        return "open" if self.rate is not None else "closed"

    @property
    def start_level(self) -> float:
        return float(self.rate if self.rate is not None else self.users or 0)

    @property
    def end_level(self) -> float:
        return self.ramp_to if self.ramp_to is not None else self.start_level


class Recovery(_Model):
    """How long the service takes to recover after a phase (typically a spike): from the phase's end
    (or start) until every interval's p95 (or p99) and error rate are back at or under these levels
    and stay there for `hold`. Checked as recovery["NAME"].time < 2m; drawn on the latency chart."""

    name: str | None = Field(default=None, pattern=r"^[\w.\- ]+$")
    """what thresholds call it: recovery["after-spike"]; default after-<phase>"""
    after: str = Field(min_length=1)
    """the phase it follows, by name"""
    since: Literal["end", "start"] = "end"
    """count from the phase's end (the load came down) or its start"""
    p95: Seconds | None = None
    """back when each interval's p95 response time is at most this"""
    p99: Seconds | None = None
    """back when each interval's p99 response time is at most this"""
    error_rate: Share | None = None
    """back when each interval's error rate is at most this"""
    hold: Seconds = Field(default=10.0, gt=0)
    """and stays back this long"""

    @model_validator(mode="after")
    def _some_level(self) -> Recovery:
        if self.p95 is None and self.p99 is None and self.error_rate is None:
            raise ValueError("say what recovered means: p95, p99 and/or error_rate")
        return self

    @property
    def key(self) -> str:
        return self.name or f"after-{self.after}"


class Limits(_Model):
    """Safety caps: a plan must raise them explicitly to go beyond."""

    max_rate: float = Field(default=5000, gt=0)
    """refuse plans above this many iterations per second (a guard against typos)"""
    max_users: int = Field(default=5000, gt=0)
    """refuse plans above this many virtual users"""
    max_duration: Seconds = Field(default=7200, gt=0)
    """refuse plans longer than this"""
    max_workers: int = Field(default=200, gt=0, le=1000)
    """the most worker processes (local) or Lambda shards per segment (cloud), at most 1000: the
    largest fleet the cloud workflow is built and drilled for"""


def _share(v: object) -> float:
    return parse_share(v)


Share = Annotated[float, BeforeValidator(_share), WithJsonSchema(SHARE_SCHEMA)]


def _workers_lost(v: object) -> object:
    # A count of workers, or a share of them ("10%").
    return parse_share(v) if isinstance(v, str) else v


class Validity(_Model):
    """What makes a run a valid test, checked in every run besides the plan's thresholds. The
    defaults are strict; a plan may loosen one, and the report shows it as changed."""

    max_workers_lost: Annotated[
        int | float,
        BeforeValidator(_workers_lost),
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, SHARE_SCHEMA]}),
    ] = Field(
        default=0,
        ge=0,
        description="workers (local processes or cloud shards) whose result may be missing: "
        "a count, or a share of the workers such as 10%",
    )
    max_dropped: Share = Field(
        default=0.01, description="share of the planned iterations that may be dropped (open model)"
    )
    max_late: Share = Field(
        default=0.01,
        description="share of the arrivals that may start more than max_loop_lag after their time",
    )
    max_cpu: Share = Field(default=0.9, description="busiest worker's CPU over the load, share of a core")
    max_loop_lag: Seconds = Field(default=0.025, gt=0, description="p99 of a worker's event-loop lag")

    @field_validator("max_workers_lost")
    @classmethod
    def _whole_count(cls, v: int | float) -> int | float:
        if isinstance(v, float) and v > 1:
            raise ValueError("a count of workers is a whole number; a share is written like 10%")
        if isinstance(v, float) and v >= 1:
            # A plan may loosen a validity check, never switch it off: with every worker lost a
            # run measured nothing.
            raise ValueError("100% of the workers lost would pass a run that measured nothing; at most 99%")
        return v

    def changed(self) -> dict[str, object]:
        """The settings the plan changed from the defaults, as written in the plan's units."""
        default = Validity()
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if getattr(self, name) != getattr(default, name)
        }


DEFAULT_IN_FLIGHT_PER_WORKER = 1000
# Beyond this no fleet can schedule arrivals (1000 Lambda workers at 10k/s each): a plan asking for
# more is a typo or a unit mix-up, refused before it can tie a generator up walking its schedule.
SCHEDULABLE_RATE = 1e7
# A Lambda worker may hold 1,024 open files; the runtime, boto3's pools and the logs need some.
MAX_CONNECTIONS_PER_WORKER = 900


class Load(_Model):
    phases: list[Phase] = Field(min_length=1)
    """the load over time, one phase after another"""
    arrival: Literal["uniform", "poisson"] = "uniform"
    """open model: arrivals evenly spaced, or a Poisson process (random gaps at the same mean rate)"""
    max_in_flight: int | None = Field(
        default=None,
        gt=0,
        description="iterations in flight per run beyond which arrivals are dropped "
        f"(default: {DEFAULT_IN_FLIGHT_PER_WORKER} per worker)",
    )
    connections: int | None = Field(
        default=None, gt=0, description="open connections per run (default: one per iteration in flight)"
    )
    warm_connections: bool = Field(
        default=True,
        description="open connections to the plan's hosts before the load starts, so the first "
        "second measures the service rather than handshakes; false measures cold connections",
    )

    def shapes(self) -> list[PhaseShape]:
        """The phases laid end to end as the scheduler reads them: the one curve of the planned
        level (arrivals per second, or users) that the engine, the planner and the report ask."""
        return shapes([(p.duration, p.start_level, p.end_level) for p in self.phases])

    def per_worker_limits(self, workers: int) -> tuple[int, int]:
        """(iterations in flight, connections) for one of ``workers``: a per-run total the plan
        sets is shared out; the defaults are per worker, so they grow with the fleet."""
        in_flight = (
            max(1, self.max_in_flight // workers)
            if self.max_in_flight is not None
            else DEFAULT_IN_FLIGHT_PER_WORKER
        )
        connections = max(1, self.connections // workers) if self.connections is not None else in_flight
        # Stay under Lambda's descriptor limit whatever the plan says.
        return in_flight, min(connections, MAX_CONNECTIONS_PER_WORKER)

    think_time: PauseSpec = Field(
        default=Pause(0.0, 0.0),
        description="closed model: pause between a user's iterations (2s, 1s..3s, {mean: 2s, stddev: 500ms})",
    )
    pace: PauseSpec | None = Field(
        default=None, description="closed model: intended time between a user's iterations (fixed or varied)"
    )

    @model_validator(mode="after")
    def _same_model(self) -> Load:
        models = {p.model for p in self.phases}
        if len(models) > 1:
            raise ValueError(
                "all phases must use 'rate' (open model) or all 'users' (closed model), not both"
            )
        if all(p.start_level == 0 and p.end_level == 0 for p in self.phases):
            # A run that sends nothing measures nothing: it cannot pass, so it is refused before.
            what = "rate" if self.model == "open" else "users"
            raise ValueError(
                f"every phase has {what} 0: the plan sends no load; give a phase a {what} above 0"
            )
        return self

    @property
    def model(self) -> Literal["open", "closed"]:
        return self.phases[0].model

    @property
    def duration_s(self) -> float:
        return sum(p.duration for p in self.phases)


class Capture(_Model):
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


def _header_values(v: dict[str, str]) -> dict[str, str]:
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


class Expect(_Model):
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


class FilePart(_Model):
    """A file in a multipart body, read once per worker (relative paths: beside the plan)."""

    path: str
    """the file (relative: beside the plan); read once per worker"""
    content_type: str = "application/octet-stream"
    """the part's content type"""
    filename: str | None = None  # default: the file's own name
    """the file name sent; default: the file's own"""


QueryValue = str | int | float | bool | list[str | int | float | bool]


class Request(_Model):
    method: str = "GET"
    """GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (the shorthand key gives it)"""
    url: str
    """a path relative to `target` (/api/x), or a full URL of an allowed host"""
    name: str | None = None
    """the endpoint's name in the report and in checks (endpoint["name"]); default: METHOD path"""
    headers: Annotated[dict[str, str], AfterValidator(_header_values)] = Field(default_factory=dict)
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


class Until(_Model):
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


class Poll(_Model):
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


class VarCondition(_Model):
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


class LoopOver(_Model):
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


class Loop(_Model):
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


class Step(_Model):
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


class Scenario(_Model):
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


class DataFile(_Model):
    file: str
    """a CSV file; each row's columns are variables for one iteration (relative: beside the plan; s3:// in cloud runs)"""
    order: Literal["sequential", "random"] = "sequential"
    """rows in file order (each worker takes its share) or drawn at random"""


class Defaults(_Model):
    headers: Annotated[dict[str, str], AfterValidator(_header_values)] = Field(default_factory=dict)
    """headers every request sends"""
    timeout: Seconds = Field(default=30.0, gt=0)
    """a request's timeout"""
    connect_timeout: Seconds = Field(default=10.0, gt=0)
    """the longest a connection may take to open"""
    max_body: Bytes = Field(
        default=DEFAULT_MAX_BODY,
        description="the most of a response body a request holds for its checks and captures "
        "(bodies nothing reads are counted, never held); more fails the check as too_large",
    )


class ThresholdSpec(_Model):
    check: str
    """a check: METRIC OP VALUE, e.g. http.latency.p95 < 300ms"""
    abort_on_fail: bool = False
    """stop the run as soon as the check fails (after `grace`)"""
    grace: Seconds = 0.0
    """how long into the run before an abort may happen"""


LAST_PASS = "last-pass"
_BASELINE_HELP = "use 'last-pass', a run id (see `surge runs`), or {file: figures.json}"


class MappedFigure(_Model):
    """Where a baseline file's field goes: the metric, and the unit the file gives it in."""

    metric: Annotated[str, AfterValidator(lambda v: _metric_path(v))]
    """the metric path, as thresholds name it: http.latency.p95, cost.monthly_usd"""
    unit: Literal["ms", "s", "us", "%", "/s", "usd"] | None = None
    """the field's unit when it is not the metric's own (ms, fraction, per second, USD): % for a
    percentage (0.5 means 0.5 %), s for seconds"""


MappedField = Annotated[
    Annotated[str, AfterValidator(lambda v: _metric_path(v)), Tag("<metric>")]
    | Annotated[MappedFigure, Tag("<figure>")],
    # Tagged, so a bad entry reports its own problem, not one per shape it might have had.
    Discriminator(lambda v: "<metric>" if isinstance(v, str) else "<figure>"),
]


class BaselineFile(_Model):
    """Figures from another system (e.g. the platform being replaced): surge's own figures keyed by
    metric path, another tool's result file, or any JSON with a `map`."""

    file: str = Field(min_length=1)
    """a results.json of an earlier run, an Artillery report, a k6 summary export, a Locust
    stats CSV or a JSON of figures (relative: beside the plan; s3:// in cloud runs)"""
    format: Literal["auto", "surge", "artillery", "k6", "locust"] = "auto"
    """what wrote the file; auto tells by its content"""
    map: dict[str, MappedField] | None = None
    """field path in the file -> metric (or {metric, unit}); only mapped fields are read:
    {responseTime.p95: http.latency.p95, errorRate: {metric: http.error_rate, unit: "%"}}"""

    @model_validator(mode="after")
    def _map_reads_json(self) -> BaselineFile:
        if self.map is not None and self.format not in ("auto", "surge"):
            raise ValueError(f"map reads a JSON of figures; a {self.format} file is read without one")
        if self.map is not None and not self.map:
            raise ValueError("map is empty; name at least one field and its metric")
        return self

    def mapping(self) -> dict[str, tuple[str, str | None]] | None:
        """{field path: (metric, unit)}, or None without a map."""
        if self.map is None:
            return None
        return {
            path: (m.metric, m.unit) if isinstance(m, MappedFigure) else (m, None)
            for path, m in self.map.items()
        }


def _baseline_spec(v: object) -> object:
    if isinstance(v, str):
        v = v.strip()
        if v.lower().endswith(".json"):
            # The likeliest slip: a file named where a run id is expected.
            raise ValueError(f"'{v}' looks like a file; write baseline: {{file: {v}}}")
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"'{v}' is not a baseline; {_BASELINE_HELP}")
    elif v is not None and not isinstance(v, dict | BaselineFile):
        raise ValueError(f"{v!r} is not a baseline; {_BASELINE_HELP}")
    return v


def _baseline_kind(v: object) -> str:
    # Tagging the union makes a bad {file: ...} report only its own problems, not "not a string".
    return "<run>" if isinstance(v, str) else "<file>"


BaselineSpec = Annotated[
    Annotated[str, Tag("<run>")] | Annotated[BaselineFile, Tag("<file>")],
    Discriminator(_baseline_kind),
]


def _metric_path(v: str) -> str:
    try:
        return parse_metric(v).canonical
    except ThresholdError as exc:
        raise ValueError(str(exc)) from None


class Regression(_Model):
    """Fail a check's metric when it is worse than the baseline by more than max_worse_pct."""

    max_worse_pct: float = Field(ge=0, description="percent worse than the baseline that still passes")
    noise: Literal["aware", "ignore"] = Field(
        default="aware",
        description="aware: fail only on a change beyond max_worse_pct and beyond the noise (both runs' "
        "95% intervals and the spread between earlier runs of the plan); ignore: the figures alone decide",
    )
    metrics: list[Annotated[str, AfterValidator(_metric_path)]] | None = Field(
        default=None,
        min_length=1,
        description="only these metrics (default: the checks' metrics and the headline ones)",
    )

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(dict.fromkeys(v))


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# What a plan's checks and verdict are made of, not the load it sends (Plan.load_hash leaves them out).
JUDGEMENT_FIELDS = ("baseline", "regression", "thresholds", "within_uncertainty", "validity", "description")

OPTIONAL_SECTIONS = (
    "allow_hosts",
    "recovery",
    "defaults",
    "variables",
    "data",
    "thresholds",
    "limits",
    "description",
    "baseline",
    "regression",
    "services",
    "cost",
    "allow_resources",
    "validity",
)


TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w.\-]*$", max_length=40)]


def _base_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{v}' is not an http(s) URL; e.g. http://127.0.0.1:8080")
    try:
        parts.port  # noqa: B018 - reading it checks it: a port past 65535 is refused here, not mid-run
    except ValueError:
        raise ValueError(f"'{v}' has no valid port (1-65535); e.g. http://127.0.0.1:8080") from None
    return v.rstrip("/")


def per_target(thresholds: list[Threshold], targets: Sequence[str]) -> list[Threshold]:
    """An A/B plan's checks: one on a request metric that names no target holds for every target
    (a check per target); checks naming a target, comparisons, services and cost stay as written."""
    out: list[Threshold] = []
    for th in thresholds:
        if th.metric.target is not None or th.metric.namespace not in TARGET_NAMESPACES:
            out.append(th)
            continue
        for name in targets:
            metric = th.metric.on_target(name)
            out.append(replace(th, metric=metric, expr=f"target[{json.dumps(name)}].{th.expr}"))
    return out


def _k6_thresholds(v: object) -> object:
    from surge.k6_thresholds import expand_k6

    return expand_k6(v)


def _threshold_spec(v: object) -> object:
    return {"check": v} if isinstance(v, str) else v


class Plan(_Model):
    name: str = Field(min_length=1, pattern=r"^[\w.\- ]+$")
    """the plan's name: runs of one name form a history"""
    description: str | None = None
    """shown in the report"""
    target: str
    """the base URL requests are relative to; required unless the plan names `targets` (A/B)"""
    targets: dict[TargetName, str] = Field(default_factory=dict)
    """A/B in one run: two or more named base URLs that get the same load, reported side by side
    and compared in checks (target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05);
    see docs/migrating.md"""
    target_load: Literal["each", "split"] = "each"
    """A/B: each target gets the whole arrival schedule (each), or the schedule's arrivals and
    users are shared out among the targets (split)"""
    allow_hosts: list[str] = Field(default_factory=list)
    """more hosts full URLs (and redirects) may reach besides the target's"""
    defaults: Defaults = Field(default_factory=Defaults)
    """what every request gets unless it says otherwise"""
    load: Load
    """how much load, and how it changes over time"""
    scenarios: list[Scenario] = Field(min_length=1)
    """what a virtual user does; one is picked per iteration by weight"""
    cookies: bool = Field(
        default=True,
        description="a cookie jar per virtual user (closed model) or per iteration (open model): "
        "Set-Cookie answers are sent back as browsers, Artillery and Locust do; false sends none",
    )
    variables: dict[str, Any] = Field(default_factory=dict)
    """values every iteration can read as {{ name }}, rendered once per worker in order"""
    data: DataFile | None = None
    """a CSV file of per-iteration values"""
    thresholds: Annotated[
        list[Annotated[ThresholdSpec, BeforeValidator(_threshold_spec)]], BeforeValidator(_k6_thresholds)
    ] = Field(default_factory=list)
    """the checks that decide pass or fail (k6's syntax too: http_req_duration: ['p(95)<500'])"""
    within_uncertainty: Literal["measured", "pass", "fail"] = "measured"
    """a check whose target lies inside its figure's 95% interval: the measured value decides
    (measured), it passes (pass: fail only what is surely over), or it fails (fail: pass only what
    is surely within); the report marks it either way"""
    workers: int | Literal["auto"] = "auto"
    """workers that share the load: local worker processes (auto: one per core); in the cloud, at
    least this many Lambda workers per segment (more when the rate needs them)"""
    interval: Seconds = Field(default=1.0, gt=0)
    """the time resolution of the report's series"""
    seed: int | None = None
    """makes random choices (scenario picks, think times, $randint) reproducible"""
    recovery: list[Recovery] = Field(default_factory=list)
    """how long the service takes to get back after a phase (a spike): recovery["NAME"].time"""
    limits: Limits = Field(default_factory=Limits)
    """guards against plans bigger than intended"""
    baseline: Annotated[BaselineSpec | None, BeforeValidator(_baseline_spec)] = None
    """a run to compare with: last-pass, a run id, or {file: ...}"""
    regression: Regression | None = None
    """fail when a metric is this much worse than the baseline"""
    services: Services = Field(default_factory=list)
    """the target's AWS resources whose CloudWatch metrics join the report (docs/service-metrics.md)"""
    allow_resources: list[str] = Field(
        default_factory=list, description="AWS resources aws: steps may call (names, ARNs, globs)"
    )
    cost: CostSpec | None = None
    """estimate the run's cost from tags (docs/service-metrics.md)"""
    validity: Validity = Field(default_factory=Validity)
    """what makes a run a valid test (README, "What a PASS guarantees")"""
    redact: list[str] = Field(
        default_factory=list,
        description="more header, JSON field or variable names whose values are masked in every output "
        "(credential headers such as Authorization and $env values always are)",
    )
    hooks: str | None = None
    """a Python file of your functions (relative: beside the plan): called in templates
    ({{ sign(body) }}) and as a request's before/after hooks; shipped with cloud runs"""
    setup: list[Step] | None = Field(default=None, min_length=1)
    """steps run once before the load (log in once, seed data); what they capture every iteration
    can read; a failing setup stops the run before any load (exit 2). Its requests are reported
    apart and count in no load figure or check"""
    teardown: list[Step] | None = Field(default=None, min_length=1)
    """steps run once after the load, even after a stop or an abort (delete what the test made);
    they read setup's variables; reported apart, never in the load's figures"""
    on_start: list[Step] | None = Field(default=None, min_length=1)
    """steps each virtual user runs once before its first iteration (closed model: log in per user);
    what they capture that user's iterations read; retried at the user's next cycle if they fail.
    Their requests are part of the load, under their own endpoint names"""

    def extra_flows(self) -> list[tuple[str, list[Step]]]:
        """The flows besides the scenarios' (setup, teardown, on_start), with their field names."""
        named = (("setup", self.setup), ("teardown", self.teardown), ("on_start", self.on_start))
        return [(name, flow) for name, flow in named if flow is not None]

    @model_validator(mode="after")
    def _on_start_needs_users(self) -> Plan:
        if self.on_start is not None and self.load.model == "open":
            raise ValueError(
                "on_start runs once per virtual user, in the closed model (phases with users); in the "
                "open model every iteration is a new user: put those steps at the start of the flow"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        # A YAML section left with only comments ("variables:") is null: read it as empty.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in OPTIONAL_SECTIONS)}
        return data

    @model_validator(mode="before")
    @classmethod
    def _target_of_targets(cls, data: object) -> object:
        # An A/B plan's `target` is its first target's: every code path that reads the one target
        # (reachability, hosts, a plan without targets) sees one of the plan's own.
        targets = data.get("targets") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(targets, dict) and targets and data.get("target") is None:
            return {**data, "target": next(iter(targets.values()))}
        return data

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _base_url(v)

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) == 1:
            raise ValueError("an A/B run compares two or more targets; with one, write `target: URL`")
        urls = {name: _base_url(url) for name, url in v.items()}
        seen: dict[str, str] = {}
        for name, url in urls.items():
            if url in seen:
                raise ValueError(
                    f"'{name}' and '{seen[url]}' are the same URL ({url}); an A/B run compares two systems"
                )
            seen[url] = name
        return urls

    @model_validator(mode="after")
    def _ab_plan(self) -> Plan:
        if not self.targets:
            if self.target_load != "each":
                raise ValueError("target_load shares the load among targets: name them under targets:")
            if any(service.target is not None for service in self.services):
                raise ValueError(
                    "a service's target names one of an A/B run's targets: this plan has one target"
                )
            return self
        if self.target not in self.targets.values():
            raise ValueError(
                f"target {self.target} is not one of targets ({', '.join(self.targets.values())}): an A/B "
                "plan names its targets under targets: only (to change one, --target NAME=URL)"
            )
        for i, service in enumerate(self.services):
            if service.target is not None and service.target not in self.targets:
                raise ValueError(
                    f"services[{i}].target: no target named '{service.target}'; the plan has: {', '.join(self.targets)}"
                )
        if self.target_load == "split" and isinstance(self.workers, int) and self.workers < len(self.targets):
            raise ValueError(
                f"workers: split among {len(self.targets)} targets needs at least {len(self.targets)}"
            )
        return self

    @model_validator(mode="after")
    def _recovery_phases(self) -> Plan:
        names = [phase_label(p, i) for i, p in enumerate(self.load.phases)]
        seen: set[str] = set()
        for i, spec in enumerate(self.recovery):
            if spec.after not in names:
                raise ValueError(
                    f"recovery[{i}].after: no phase named '{spec.after}'; the plan has: {', '.join(names)}"
                )
            if spec.key in seen:
                raise ValueError(f"recovery[{i}]: a second recovery named '{spec.key}'; give it a name")
            seen.add(spec.key)
        return self

    @model_validator(mode="after")
    def _limits(self) -> Plan:
        lim = self.limits
        for i, p in enumerate(self.load.phases):
            peak = max(p.start_level, p.end_level)
            if p.model == "open" and peak > lim.max_rate:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g}/s, above limits.max_rate ({lim.max_rate:g}); "
                    "raise limits.max_rate to allow it"
                )
            if p.model == "closed" and peak > lim.max_users:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g} users, above limits.max_users ({lim.max_users}); "
                    "raise limits.max_users to allow it"
                )
            if p.model == "open" and peak > SCHEDULABLE_RATE:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g}/s: no generator fleet schedules more than "
                    f"{SCHEDULABLE_RATE:g} arrivals per second, whatever limits.max_rate allows"
                )
        if self.load.duration_s > lim.max_duration:
            raise ValueError(
                f"the phases last {self.load.duration_s:g}s, above limits.max_duration "
                f"({lim.max_duration:g}s); raise limits.max_duration to allow it"
            )
        if isinstance(self.workers, int) and not 1 <= self.workers <= lim.max_workers:
            raise ValueError(f"workers must be between 1 and limits.max_workers ({lim.max_workers})")
        return self

    @field_validator("regression")
    @classmethod
    def _regression_needs_baseline(cls, v: Regression | None, info: ValidationInfo) -> Regression | None:
        # "baseline" is missing from info.data only when it failed its own validation: one error is enough.
        if v is not None and "baseline" in info.data and info.data["baseline"] is None:
            raise ValueError(f"compares against a baseline: add 'baseline' ({_BASELINE_HELP})")
        return v

    # -- derived -------------------------------------------------------------------------------
    @property
    def target_host(self) -> str:
        return urlsplit(self.target).hostname or ""

    @property
    def allowed_hosts(self) -> frozenset[str]:
        # Entries may be written host:port; hosts are what is compared.
        hosts = (urlsplit(f"//{h}").hostname or h for h in self.allow_hosts)
        targets = (urlsplit(url).hostname or "" for url in self.targets.values())
        return frozenset({self.target_host, *targets, *(h.lower() for h in hosts)})

    def for_target(self, name: str) -> Plan:
        """One target's part of an A/B plan: the same plan with that target alone (its checks are
        the A/B plan's to judge, across targets)."""
        return self.model_copy(update={"target": self.targets[name], "targets": {}, "target_load": "each"})

    def parsed_thresholds(self) -> list[Threshold]:
        parsed = [
            parse_threshold(t.check, abort_on_fail=t.abort_on_fail, grace_s=t.grace) for t in self.thresholds
        ]
        if self.targets:
            parsed = per_target(parsed, list(self.targets))
        # Service thresholds may compare with declared values (`pool * 0.9`): bind them here.
        return bind_thresholds(parsed, self.services, self.cost) if self.services or self.cost else parsed

    @property
    def baseline_spec(self) -> str | None:
        """The baseline as one string: "last-pass", a run id, or "file:<path as written>"."""
        if isinstance(self.baseline, BaselineFile):
            return f"file:{self.baseline.file}"
        return self.baseline

    def plan_hash(self) -> str:
        """Identifies the plan as written: its files count by name, not by where they were read
        from (a cloud run reads its own per-run copies, which would make every hash different)."""
        data = self._hashable()
        if not self.validity.changed():
            del data["validity"]  # plans written before validity settings existed hash as they did
        canonical = json.dumps(data, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def _hashable(self) -> dict[str, Any]:
        """The plan's fields with its files named by file name, not by where they were read."""
        data = self.model_dump(mode="json", by_alias=True)
        for name in ("data", "baseline"):
            ref = data.get(name)
            if isinstance(ref, dict) and isinstance(ref.get("file"), str):
                ref["file"] = _file_name(ref["file"])
        if isinstance(data.get("hooks"), str):
            data["hooks"] = _file_name(data["hooks"])
        return data

    def load_hash(self) -> str:
        """Identifies the load the plan sends: its hash without its checks, baseline and regression
        rule. Runs with the same load hash measure the same thing, so their spread is the noise a
        regression rule allows for, whatever was changed in the checks between them."""
        data = self._hashable()
        for name in JUDGEMENT_FIELDS:
            data.pop(name, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def with_target(self, target: str) -> Plan:
        data = self.model_dump(mode="json", by_alias=True)
        data["target"] = target
        return Plan.model_validate(data)


# -- what a plan names ---------------------------------------------------------------------------


S3_SCHEME = "s3://"


def is_s3_uri(ref: str) -> bool:
    """A data or baseline file named as an S3 object: read by cloud runs only."""
    return ref.startswith(S3_SCHEME)


def hooks_path(plan: Plan, base_dir: Path) -> Path | None:
    if plan.hooks is None:
        return None
    return Path(plan.hooks) if os.path.isabs(plan.hooks) else base_dir / plan.hooks


def file_part_path(part: FilePart, base_dir: Path) -> Path:
    return Path(part.path) if os.path.isabs(part.path) else base_dir / part.path


def plan_requests(plan: Plan) -> Iterator[tuple[str, Request]]:
    """Every HTTP request of the plan (steps' and polls'), with its field path."""
    flows = [(f"scenarios[{s}].flow", sc.flow) for s, sc in enumerate(plan.scenarios)]
    flows += [(name, flow) for name, flow in plan.extra_flows()]
    for at, flow in flows:
        for where, step in flow_steps(flow, at):
            if step.request is not None:
                yield f"{where}.request", step.request
            elif step.poll is not None and step.poll.request is not None:
                yield f"{where}.poll.request", step.poll.request


def file_parts(plan: Plan) -> Iterator[tuple[str, FilePart]]:
    """Every file of a multipart body in the plan, with its field path, in plan order."""
    for at, req in plan_requests(plan):
        for name, part in (req.multipart or {}).items():
            if isinstance(part, FilePart):
                yield f"{at}.multipart.{name}", part


def endpoint_names(plan: Plan) -> set[str]:
    names = set()
    for flow in [sc.flow for sc in plan.scenarios] + ([plan.on_start] if plan.on_start else []):
        for _, st in flow_steps(flow):
            if st.request is not None:
                names.add(st.request.display_name)
            if st.poll is not None:
                names.add(st.poll.display_name)
            if st.aws is not None:
                names.add(st.aws.display_name)
                if st.aws.call == "lambda.invoke":  # recorded apart by cold and warm start
                    names |= {f"{st.aws.display_name} [cold]", f"{st.aws.display_name} [warm]"}
    return names


def stage_names(plan: Plan) -> set[str]:
    """Stage metrics: `stage:` spans and the waits of polls (their `metric`)."""
    names = set()
    for sc in plan.scenarios:
        for _, st in flow_steps(sc.flow):
            if st.stage is not None:
                names.add(st.stage)
            if st.poll is not None and st.poll.metric is not None:
                names.add(st.poll.metric)
    return names


def phase_names(plan: Plan) -> list[str]:
    return [phase_label(p, i) for i, p in enumerate(plan.load.phases)]


def phase_label(phase: Phase, index: int) -> str:
    return phase.name or f"phase {index + 1}"
