"""One ``aws:`` step of a flow, as written in a plan: a flat model validated per call kind.

Every call takes ``call`` (what to do), and optionally ``name`` (per-endpoint stats), ``region``,
``timeout``, ``capture`` and ``expect``; the other fields depend on the call (see ``CALL_FIELDS``).
Fields that name an AWS resource (function, queue, table, bucket...) are literal, never templated,
so that the plan's allow-list can be checked before the run sends anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from surge.jsonpath import check_jsonpath
from surge.template import TemplateError, compile_structure, structure_variables
from surge.units import DURATION_SCHEMA, SIZE_SCHEMA, parse_duration_s

Call = Literal[
    "lambda.invoke",
    "sqs.send",
    "sqs.send_batch",
    "kinesis.put",
    "kinesis.put_batch",
    "dynamodb.put",
    "dynamodb.get",
    "dynamodb.query",
    "s3.put",
    "s3.get",
    "stepfunctions.start",
    "athena.query",
]

# call -> (required fields, optional fields), besides the common ones.
CALL_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lambda.invoke": (("function",), ("qualifier", "payload")),
    "sqs.send": (("queue", "body"), ("group_id", "dedup_id")),
    "sqs.send_batch": (("queue",), ("entries", "body", "count", "group_id", "dedup_id")),
    "kinesis.put": (("stream", "data"), ("partition_key",)),
    "kinesis.put_batch": (("stream",), ("entries", "data", "count", "partition_key")),
    "dynamodb.put": (("table", "item"), ()),
    "dynamodb.get": (("table", "key"), ("consistent",)),
    "dynamodb.query": (("table", "key_condition"), ("values", "names", "index", "limit", "consistent")),
    "s3.put": (("bucket", "key"), ("size", "body", "content_type")),
    "s3.get": (("bucket", "key"), ()),
    "stepfunctions.start": (("state_machine",), ("input", "execution_name", "wait", "poll")),
    "athena.query": (
        ("query",),
        ("database", "catalog", "workgroup", "output_location", "poll", "concurrency"),
    ),
}
COMMON_FIELDS = ("call", "name", "region", "timeout", "capture", "expect")

# Fields that name a resource: literal, so the allow-list is checked on what will be called.
IDENTIFIER_FIELDS = (
    "function",
    "qualifier",
    "queue",
    "stream",
    "table",
    "index",
    "bucket",
    "state_machine",
    "workgroup",
    "database",
    "catalog",
    "output_location",
)
# Fields that are templates (rendered per call).
TEMPLATE_FIELDS = (
    "payload",
    "body",
    "entries",
    "data",
    "partition_key",
    "item",
    "key",
    "key_condition",
    "values",
    "input",
    "execution_name",
    "query",
    "group_id",
    "dedup_id",
)

SQS_BATCH_MAX = 10  # SendMessageBatch takes at most 10 entries
KINESIS_BATCH_MAX = 500  # PutRecords takes at most 500 records
MAX_OBJECT_BYTES = 1024**3  # one PutObject body held in memory per step; multipart is not supported
DEFAULT_POLL_S = 0.5
DEFAULT_CALL_TIMEOUT_S = 60.0  # one API call (a long Lambda invocation needs a longer `timeout`)
DEFAULT_WAIT_TIMEOUT_S = 300.0  # an execution or a query, from its start to its end
DEFAULT_WORKGROUP = "primary"
DEFAULT_PARTITION_KEY = "{{ $uuid }}"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def parse_size(value: object) -> int:
    """'1MB' (10^6), '512KiB' (2^10 each), '42' or 42 -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MB, 256KiB or a number of bytes")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and (m := _SIZE.match(value)) and m.group(2).lower() in _SIZE_UNITS:
        n = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    else:
        raise ValueError(
            f"'{value}' is not a size; use bytes (4096) or a unit: B, KB, MB, GB (powers of 1000), "
            "KiB, MiB, GiB (powers of 1024)"
        )
    if n < 0:
        raise ValueError("a size cannot be negative")
    if n > MAX_OBJECT_BYTES:
        raise ValueError(f"{n} bytes is more than the 1 GiB a step may put in one call")
    return n


def _seconds(value: object) -> float:
    return parse_duration_s(value)


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0), WithJsonSchema(DURATION_SCHEMA)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _AnyEnv(Mapping[str, str]):
    """Validation renders no ``$env``: the run's environment is checked where the run starts."""

    def __getitem__(self, key: str) -> str:
        return ""

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


ANY_ENV: Mapping[str, str] = _AnyEnv()


class AwsCapture(_Model):
    """``{json: $.Payload.orderId, as: order_id}``: a value of the call's response document."""

    json_path: str = Field(alias="json")
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_]\w*$")

    @field_validator("json_path")
    @classmethod
    def _path(cls, v: str) -> str:
        check_jsonpath(v)
        return v


class AwsExpect(_Model):
    """``{ok: true}`` (the default: any AWS error fails the step), ``{ok: false}`` (the call must
    end in an AWS error, e.g. a conditional put that must be refused), or a condition on the
    response document: ``{json: $.Item.state, equals: PAID}`` / ``contains`` / ``exists``."""

    ok: bool | None = None
    json_path: str | None = Field(default=None, alias="json")
    equals: Any = None
    contains: Any = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _shape(self) -> AwsExpect:
        given = sum(x is not None for x in (self.equals, self.contains, self.exists))
        if self.ok is not None:
            if self.json_path is not None or given:
                raise ValueError("an expectation is either {ok: ...} or {json: ..., equals|contains|exists}")
            return self
        if self.json_path is None:
            raise ValueError("an expectation needs 'ok' or 'json' (with equals, contains or exists)")
        if given != 1:
            raise ValueError("'json' takes exactly one of 'equals', 'contains' or 'exists'")
        check_jsonpath(self.json_path)
        try:
            compile_structure(self.equals, ANY_ENV)
            compile_structure(self.contains, ANY_ENV)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return self


# -- resources ----------------------------------------------------------------------------------

_NOUNS = {
    "lambda": "lambda function",
    "sqs": "SQS queue",
    "kinesis": "Kinesis stream",
    "dynamodb": "DynamoDB table",
    "s3": "S3 object",
    "states": "state machine",
    "athena": "Athena workgroup",
}
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
TEMPLATED = "\x00"  # stands for a templated part of a name: only a '*' in an allow entry matches it


@dataclass(frozen=True)
class Resource:
    """An AWS resource a step touches, as the allow-list compares it."""

    service: str  # lambda | sqs | kinesis | dynamodb | s3 | states | athena
    name: str  # function/queue/stream/table/state machine/workgroup name; s3: "bucket/key"
    arn: str | None = None  # when the plan names it by ARN
    region: str | None = None  # implied by an ARN or a queue URL

    @property
    def text(self) -> str:
        return self.arn or f"{self.service}:{self.name}"

    @property
    def match_name(self) -> str:
        return _PLACEHOLDER.sub(TEMPLATED, self.name)

    @property
    def noun(self) -> str:
        shown = f"s3://{self.name}" if self.service == "s3" else (self.arn or self.name)
        return f"{_NOUNS[self.service]} '{shown}'"

    @property
    def suggestion(self) -> str:
        """An allow entry that would allow this resource."""
        m = _PLACEHOLDER.search(self.name)
        name = self.name[: m.start()] + "*" if m else self.name
        return f"{self.service}:{name}"


def split_arn(arn: str) -> tuple[str, str, str, str] | None:
    """'arn:aws:lambda:us-east-1:123:function:f' -> (service, region, account, resource)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[2]:
        return None
    return parts[2], parts[3], parts[4], parts[5]


# Where the name sits in each service's ARN resource part.
_ARN_NAME = {
    "lambda": re.compile(r"^function:([^:]+)(?::[^:]+)?$"),
    "sqs": re.compile(r"^([^:/]+)$"),
    "kinesis": re.compile(r"^stream/([^/]+)$"),
    "dynamodb": re.compile(r"^table/([^/]+)(?:/.*)?$"),
    "s3": re.compile(r"^(.+)$"),
    "states": re.compile(r"^stateMachine:([^:]+)$"),
    "athena": re.compile(r"^workgroup/([^/]+)$"),
}


def arn_resource_name(service: str, resource: str) -> str | None:
    pattern = _ARN_NAME.get(service)
    m = pattern.match(resource) if pattern is not None else None
    return m.group(1) if m else None


def _lambda_resource(function: str) -> Resource:
    parsed = split_arn(function)
    if parsed is not None:
        name = arn_resource_name("lambda", parsed[3]) or parsed[3]
        return Resource("lambda", name, function, parsed[1] or None)
    parts = function.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return Resource("lambda", parts[2])
    return Resource("lambda", parts[0])  # name or name:qualifier


def _sqs_resource(queue: str) -> Resource:
    if queue.startswith(("https://", "http://")):
        parts = urlsplit(queue)
        host = (parts.hostname or "").split(".")
        region = host[1] if len(host) > 2 and host[0] == "sqs" else None
        return Resource("sqs", parts.path.rstrip("/").rsplit("/", 1)[-1], None, region)
    parsed = split_arn(queue)
    if parsed is not None:
        return Resource("sqs", parsed[3], queue, parsed[1] or None)
    return Resource("sqs", queue)


def _named_resource(service: str, value: str) -> Resource:
    parsed = split_arn(value)
    if parsed is not None:
        name = arn_resource_name(service, parsed[3]) or parsed[3]
        return Resource(service, name, value, parsed[1] or None)
    return Resource(service, value)


# -- the step -------------------------------------------------------------------------------------


class AwsStepSpec(_Model):
    """One ``aws:`` step of a flow. See docs/aws-steps.md for every call with an example."""

    call: Call
    name: str | None = Field(default=None, min_length=1)
    region: str | None = None
    timeout: Seconds | None = None
    capture: list[AwsCapture] = Field(default_factory=list)
    expect: list[AwsExpect] = Field(default_factory=list)

    # lambda.invoke
    function: str | None = None
    qualifier: str | None = None
    payload: Any = None
    # sqs.send / sqs.send_batch
    queue: str | None = None
    body: Any = None  # also s3.put
    entries: list[Any] | None = Field(default=None, min_length=1)  # also kinesis.put_batch
    count: int | None = Field(default=None, ge=1)  # also kinesis.put_batch
    group_id: str | None = None
    dedup_id: str | None = None
    # kinesis.put / kinesis.put_batch
    stream: str | None = None
    data: Any = None
    partition_key: str | None = None
    # dynamodb.*
    table: str | None = None
    item: dict[str, Any] | None = None
    key: str | dict[str, Any] | None = None  # dynamodb: the key attributes; s3: the object key
    key_condition: str | dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None
    index: str | None = None
    limit: int | None = Field(default=None, ge=1)
    consistent: bool | None = None
    # s3.put / s3.get
    bucket: str | None = None
    size: Annotated[int, BeforeValidator(parse_size), WithJsonSchema(SIZE_SCHEMA)] | None = None
    content_type: str | None = None
    # stepfunctions.start
    state_machine: str | None = None
    input: Any = None
    execution_name: str | None = None
    wait: bool = False
    poll: Seconds | None = None  # also athena.query
    # athena.query
    query: str | None = None
    database: str | None = None
    catalog: str | None = None
    workgroup: str | None = None
    output_location: str | None = None
    concurrency: int | None = Field(default=None, ge=1)

    @field_validator("call", mode="before")
    @classmethod
    def _known_call(cls, v: object) -> object:
        if isinstance(v, str) and v not in CALL_FIELDS:
            raise ValueError(f"unknown call '{v}'; use one of: {', '.join(CALL_FIELDS)}")
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not _REGION.match(v):
            raise ValueError(f"'{v}' is not an AWS region such as us-east-1")
        return v

    @model_validator(mode="after")
    def _fields_of_call(self) -> AwsStepSpec:
        required, optional = CALL_FIELDS[self.call]
        # A dumped plan read back sets every field: a field at its default was not written.
        fields = type(self).model_fields
        given = {
            f
            for f in self.model_fields_set - set(COMMON_FIELDS)
            if getattr(self, f) != fields[f].get_default(call_default_factory=True)
        }
        foreign = sorted(given - set(required) - set(optional))
        if foreign:
            takes = ", ".join((*required, *optional)) or "nothing else"
            raise ValueError(
                f"{', '.join(repr(f) for f in foreign)} does not apply to {self.call} (it takes: {takes})"
            )
        missing = [f for f in required if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.call} needs {', '.join(repr(f) for f in missing)}")
        for f in IDENTIFIER_FIELDS:
            value = getattr(self, f)
            if isinstance(value, str) and "{{" in value:
                raise ValueError(
                    f"'{f}' names the resource and may not be templated: the allow-list is "
                    "checked before the run starts"
                )
        for f in TEMPLATE_FIELDS:
            try:
                compile_structure(getattr(self, f), ANY_ENV)
            except TemplateError as exc:
                raise ValueError(f"'{f}': {exc}") from None
        self._check_call()
        return self

    def _check_call(self) -> None:
        call = self.call
        if call in ("sqs.send_batch", "kinesis.put_batch"):
            item = "body" if call == "sqs.send_batch" else "data"
            most = SQS_BATCH_MAX if call == "sqs.send_batch" else KINESIS_BATCH_MAX
            one = getattr(self, item)
            if (self.entries is None) == (self.count is None):
                raise ValueError(f"{call} takes 'entries' (a list) or 'count' with '{item}', not both")
            if self.count is not None and one is None:
                raise ValueError(f"{call} with 'count' needs '{item}' (rendered once per entry)")
            if self.entries is not None and one is not None:
                raise ValueError(f"{call} takes '{item}' with 'count'; with 'entries' each entry is one")
            n = self.count if self.count is not None else len(self.entries or ())
            if n > most:
                raise ValueError(f"{call} sends at most {most} entries per call ({n} given)")
        elif call == "dynamodb.get" and not isinstance(self.key, dict):
            raise ValueError("dynamodb.get: 'key' is the item's key attributes, e.g. {id: '{{ id }}'}")
        elif call in ("s3.put", "s3.get"):
            if not isinstance(self.key, str) or not self.key:
                raise ValueError(f"{call}: 'key' is the object key, e.g. 'uploads/{{{{ $uuid }}}}.bin'")
            if call == "s3.put" and (self.size is None) == (self.body is None):
                raise ValueError("s3.put takes 'size' (bytes to upload) or 'body', not both")
        elif call == "dynamodb.query":
            if isinstance(self.key_condition, dict) and (self.values or self.names):
                raise ValueError(
                    "dynamodb.query: 'values' and 'names' go with a key_condition expression "
                    "such as 'pk = :pk'; a key_condition mapping ({pk: ...}) needs neither"
                )
            if isinstance(self.key_condition, str) and not self.values:
                raise ValueError(
                    "dynamodb.query: a key_condition expression needs 'values', e.g. {':pk': '{{ id }}'}"
                )
            if isinstance(self.key_condition, dict) and not self.key_condition:
                raise ValueError("dynamodb.query: 'key_condition' names at least the partition key")
        elif call == "stepfunctions.start":
            arn = split_arn(self.state_machine or "")
            if arn is None or arn[0] != "states" or not arn[3].startswith("stateMachine:"):
                raise ValueError(
                    "'state_machine' is the state machine's ARN "
                    "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"
                )
            if self.poll is not None and not self.wait:
                raise ValueError("'poll' is how often to check the execution: it goes with wait: true")
        if call == "athena.query" and self.workgroup is not None and self.workgroup.startswith("arn:"):
            raise ValueError("'workgroup' is the workgroup's name, e.g. primary")
        if self.waits and self.poll is not None and self.poll >= self.wait_timeout:
            raise ValueError(
                f"'poll' ({self.poll:g}s) must be shorter than 'timeout' ({self.wait_timeout:g}s)"
            )

    # -- derived ------------------------------------------------------------------------------
    @property
    def service(self) -> str:
        return "states" if self.call.startswith("stepfunctions.") else self.call.split(".", 1)[0]

    @property
    def waits(self) -> bool:
        """The call waits for a completion it polls for (an execution, a query)."""
        return self.call == "athena.query" or (self.call == "stepfunctions.start" and self.wait)

    @property
    def wait_timeout(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_WAIT_TIMEOUT_S

    @property
    def call_timeout(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_CALL_TIMEOUT_S

    @property
    def poll_interval(self) -> float:
        return self.poll if self.poll is not None else DEFAULT_POLL_S

    def resource(self) -> Resource:
        call = self.call
        if call == "lambda.invoke":
            return _lambda_resource(self.function or "")
        if call.startswith("sqs."):
            return _sqs_resource(self.queue or "")
        if call.startswith("kinesis."):
            return _named_resource("kinesis", self.stream or "")
        if call.startswith("dynamodb."):
            return _named_resource("dynamodb", self.table or "")
        if call.startswith("s3."):
            return Resource("s3", f"{self.bucket}/{self.key}")
        if call == "stepfunctions.start":
            return _named_resource("states", self.state_machine or "")
        return Resource("athena", self.workgroup or DEFAULT_WORKGROUP)

    def resources(self) -> list[str]:
        """The resources this step touches: ARNs as written, else "service:name" ("s3:bucket/key")."""
        return [self.resource().text]

    @property
    def display_name(self) -> str:
        """The endpoint name in per-endpoint stats: `name`, else e.g. "lambda.invoke orders"."""
        if self.name:
            return self.name
        res = self.resource()
        short = (self.bucket or "") if res.service == "s3" else res.name
        return f"{self.call} {short}"

    def variables(self) -> frozenset[str]:
        """Variables the step's templates read (for "is it defined?" checks)."""
        found: set[str] = set()
        for f in TEMPLATE_FIELDS:
            found |= structure_variables(compile_structure(getattr(self, f), ANY_ENV))
        for e in self.expect:
            found |= structure_variables(compile_structure(e.equals, ANY_ENV))
            found |= structure_variables(compile_structure(e.contains, ANY_ENV))
        return frozenset(found)

    def captured_names(self) -> list[str]:
        return [c.as_ for c in self.capture]
