"""Compiled ``aws:`` steps: render the templates, call AWS, time the call, classify, check, capture.

Each call is timed like an HTTP request: ``t_send`` just before the API call is sent (after any
wait for a per-worker concurrency slot and after a one-off SQS queue-URL lookup), ``t_end`` when
the response (its payload or object body included) has been read, or, for calls that wait for a
completion (``stepfunctions.start`` with ``wait: true``, ``athena.query``), when a poll first sees
the execution or query finished. Payloads and bodies are never logged or kept beyond the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import botocore.exceptions as bce
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from jsonpath_ng.ext import parse as jsonpath_parse  # type: ignore[attr-defined]

from surge.conditions import condition_holds
from surge.engine.aws.lambda_log import classify_cold_start, decode_log_result, parse_report
from surge.engine.aws.pool import AwsClientPool
from surge.plan_aws import DEFAULT_PARTITION_KEY, DEFAULT_WORKGROUP, AwsStepSpec
from surge.template import Template, TemplateError, compile_structure, render_structure

Clock = Callable[[], float]

# Error codes AWS services use for throttling (HTTP 429 is throttling whatever the code).
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "BandwidthLimitExceeded",
        "ExecutionLimitExceeded",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)
# Errors an AWS service answered with: what {ok: false} expects.
AWS_ERRORS = frozenset({"aws_throttled", "aws_client", "aws_server", "function_error", "query_failed"})
BODY_DOC_MAX = 1024 * 1024  # an S3 object body joins the document (for captures) up to this size
_SFN_RUNNING = frozenset({"RUNNING", "PENDING_REDRIVE"})
_ATHENA_RUNNING = frozenset({"QUEUED", "RUNNING"})
_ATHENA_STATS = {
    "DataScannedInBytes": "bytes_scanned",
    "EngineExecutionTimeInMillis": "engine_ms",
    "QueryQueueTimeInMillis": "queue_ms",
    "QueryPlanningTimeInMillis": "planning_ms",
    "ServiceProcessingTimeInMillis": "processing_ms",
    "TotalExecutionTimeInMillis": "total_ms",
}
CANCEL_TIMEOUT_S = 5.0


@dataclass(slots=True)
class AwsOutcome:
    status: int  # HTTP status of the (last) AWS response, 0 when there was none
    nbytes: int  # payload bytes received
    error: str | None
    t_send: float
    t_end: float
    captured: dict[str, object] | None
    doc: object  # the response as JSON-like data: for captures, expectations and poll conditions
    variant: str | None  # Lambda: "cold" | "warm" from the log tail's REPORT line
    extra: dict[str, float] = field(default_factory=dict)


# -- errors --------------------------------------------------------------------------------------


def classify_error_code(code: str, status: int) -> str:
    if code in THROTTLE_CODES or status == 429:
        return "aws_throttled"
    if status >= 500:
        return "aws_server"
    return "aws_client"


def classify_exception(exc: BaseException) -> tuple[int, str, object]:
    """(HTTP status, error class, document) for whatever a call raised."""
    if isinstance(exc, bce.ClientError):
        resp: Mapping[str, Any] = exc.response or {}
        err = resp.get("Error") or {}
        status = int((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        code = str(err.get("Code") or "")
        doc = {"Error": {"Code": code, "Message": str(err.get("Message") or "")}}
        return status, classify_error_code(code, status), doc
    if isinstance(exc, bce.ReadTimeoutError | bce.ConnectTimeoutError | TimeoutError):
        return 0, "timeout", None
    if isinstance(exc, bce.ConnectionClosedError):
        return 0, "reset", None
    if isinstance(exc, bce.SSLError):
        return 0, "tls", None
    if isinstance(exc, bce.ConnectionError | aiohttp.ClientConnectionError):
        return 0, "connect", None
    if isinstance(
        exc,
        bce.NoCredentialsError
        | bce.PartialCredentialsError
        | bce.CredentialRetrievalError
        | bce.NoRegionError
        | bce.ProfileNotFound,
    ):
        return 0, "aws_config", None
    if isinstance(exc, bce.ParamValidationError):
        return 0, "aws_client", None
    return 0, "other", None


# -- documents ------------------------------------------------------------------------------------


def plain(value: object) -> object:
    """A botocore response as JSON-like data: no ResponseMetadata, no streams, dates as ISO text."""
    if isinstance(value, dict):
        return {
            k: plain(v)
            for k, v in value.items()
            if k != "ResponseMetadata" and not hasattr(v, "read") and not callable(v)
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def parse_body(data: bytes) -> object:
    """A payload as JSON when it is JSON, else as text."""
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def encode_text(value: object) -> str:
    """A rendered body: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _decimals(value: object) -> object:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def to_dynamo(item: Mapping[str, object]) -> dict[str, Any]:
    """Plain JSON-like attributes -> DynamoDB attribute values ({"S": ...}, {"N": ...}, ...)."""
    return {k: _SERIALIZER.serialize(_decimals(v)) for k, v in item.items()}


def from_dynamo(item: Mapping[str, Any]) -> dict[str, object]:
    return {k: plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _content_length(meta: Mapping[str, Any]) -> int:
    headers = meta.get("HTTPHeaders") or {}
    try:
        return int(headers.get("content-length") or 0)
    except (TypeError, ValueError):
        return 0


def _ms_between(start: object, stop: object) -> float | None:
    if isinstance(start, dt.datetime) and isinstance(stop, dt.datetime):
        return (stop - start).total_seconds() * 1000.0
    return None


# -- templates -------------------------------------------------------------------------------------


def _is_static(value: object) -> bool:
    if isinstance(value, Template):
        return False
    if isinstance(value, dict):
        return all(_is_static(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_static(v) for v in value)
    return True


class _Value:
    """A structure compiled once; static ones are rendered once."""

    __slots__ = ("compiled", "static")

    def __init__(self, raw: object) -> None:
        self.compiled = compile_structure(raw)
        self.static = _is_static(self.compiled)

    def render(self, variables: Mapping[str, object], rng: random.Random) -> object:
        return self.compiled if self.static else render_structure(self.compiled, variables, rng)


@dataclass(frozen=True, slots=True)
class _JsonExpect:
    expr: Any
    equals: _Value | None
    contains: _Value | None
    exists: bool | None

    def holds(self, doc: object, variables: Mapping[str, object], rng: random.Random) -> bool:
        values = [m.value for m in self.expr.find(doc)]
        if self.exists is not None:
            return condition_holds(values, "exists", self.exists)
        if self.equals is not None:
            return condition_holds(values, "equals", self.equals.render(variables, rng))
        assert self.contains is not None
        return condition_holds(values, "contains", self.contains.render(variables, rng))


# -- one call -------------------------------------------------------------------------------------


class _Call:
    """What one call measured so far."""

    __slots__ = ("clock", "extra", "nbytes", "status", "t_end", "t_send", "variant")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.t_send = clock()
        self.t_end: float | None = None
        self.status = 0
        self.nbytes = 0
        self.variant: str | None = None
        self.extra: dict[str, float] = {}

    def start(self) -> None:
        self.t_send = self.clock()

    def finish(self) -> None:
        self.t_end = self.clock()

    def response(self, resp: Mapping[str, Any], nbytes: int | None = None) -> None:
        meta = resp.get("ResponseMetadata") or {}
        self.status = int(meta.get("HTTPStatusCode") or 0)
        self.nbytes += _content_length(meta) if nbytes is None else nbytes


Result = tuple[object, str | None]  # (document, error class or None)


class CompiledAwsStep:
    """One ``aws:`` step compiled once: ``await step.call(pool, variables, rng, clock)`` per iteration.

    ``doc_bodies``: put response bodies (Lambda Payload, S3 Body, Step Functions output) into the
    outcome's document. On when the step captures or checks JSON; a poll-until over the step's
    document turns it on.
    """

    SERVICE = ""  # botocore's service name

    def __init__(self, spec: AwsStepSpec) -> None:
        self.kind = spec.call
        self.endpoint = spec.display_name
        res = spec.resource()
        self.region = spec.region or res.region
        self.waits = spec.waits
        self.timeout_s = spec.call_timeout
        self.wait_timeout_s = spec.wait_timeout
        self.poll_s = spec.poll_interval
        self.captures = tuple((c.as_, jsonpath_parse(c.json_path)) for c in spec.capture)
        self.expect_ok = all(e.ok is not False for e in spec.expect)
        self.json_expects = tuple(
            _JsonExpect(
                jsonpath_parse(e.json_path),
                _Value(e.equals) if e.equals is not None else None,
                _Value(e.contains) if e.contains is not None else None,
                e.exists,
            )
            for e in spec.expect
            if e.json_path is not None
        )
        self.doc_bodies = bool(self.captures or self.json_expects)

    # subclasses -----------------------------------------------------------------------------
    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        raise NotImplementedError

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        raise NotImplementedError

    # the call ---------------------------------------------------------------------------------
    async def call(
        self,
        pool: AwsClientPool,
        variables: Mapping[str, object],
        rng: random.Random,
        clock: Clock,
    ) -> AwsOutcome:
        try:
            params = self._render(variables, rng)
        except (TemplateError, TypeError, ValueError):
            now = clock()
            return AwsOutcome(0, 0, "template", now, now, None, None, None, {})
        c = _Call(clock)
        doc: object = None
        error: str | None
        try:
            if self.waits:
                doc, error = await self._run(pool, params, c)
            else:
                async with asyncio.timeout(self.timeout_s):
                    doc, error = await self._run(pool, params, c)
        except Exception as exc:  # every failure is a measured outcome, never a crash
            c.status, error, doc = classify_exception(exc)
            c.t_end = None
        t_end = c.t_end if c.t_end is not None else clock()
        error, captured = self._check(error, doc, variables, rng)
        return AwsOutcome(c.status, c.nbytes, error, c.t_send, t_end, captured, doc, c.variant, c.extra)

    def _check(
        self, error: str | None, doc: object, variables: Mapping[str, object], rng: random.Random
    ) -> tuple[str | None, dict[str, object] | None]:
        if not self.expect_ok:
            if error is None:
                return "expect", None
            if error not in AWS_ERRORS:
                return error, None
            error = None  # the call failed as the plan expects
        if error is not None:
            return error, None
        for ex in self.json_expects:
            if not ex.holds(doc, variables, rng):
                return "expect", None
        if not self.captures:
            return None, None
        captured: dict[str, object] = {}
        for name, expr in self.captures:
            matches = expr.find(doc)
            if not matches:
                return "capture", None  # found nothing: the rest of the flow would miss the value
            captured[name] = matches[0].value
        return None, captured

    async def _poll(
        self,
        c: _Call,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        state_of: Callable[[dict[str, Any]], str],
        running: frozenset[str],
    ) -> dict[str, Any] | None:
        """Fetch until the state leaves ``running``; None when the step's timeout passes first."""
        deadline = c.t_send + self.wait_timeout_s
        polls = 0
        while True:
            remaining = deadline - c.clock()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    resp = await fetch()
            except TimeoutError:
                return None
            c.response(resp)
            polls += 1
            c.extra["polls"] = float(polls)
            if state_of(resp) not in running:
                c.finish()
                return resp
            remaining = deadline - c.clock()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(self.poll_s, remaining))


# -- Lambda ---------------------------------------------------------------------------------------


class LambdaInvoke(CompiledAwsStep):
    SERVICE = "lambda"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.function = spec.function or ""
        self.qualifier = spec.qualifier
        self.payload = _Value(spec.payload) if spec.payload is not None else None
        self._static_payload: bytes | None = None
        if self.payload is not None and self.payload.static:
            self._static_payload = encode_text(self.payload.compiled).encode()

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": self.function, "LogType": "Tail"}
        if self.qualifier is not None:
            params["Qualifier"] = self.qualifier
        if self._static_payload is not None:
            params["Payload"] = self._static_payload
        elif self.payload is not None:
            params["Payload"] = encode_text(self.payload.render(variables, rng)).encode()
        return params

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.invoke(**params)
        async with resp["Payload"] as stream:
            data: bytes = await stream.read()
        c.finish()
        c.response(resp, len(data))
        tail = decode_log_result(resp.get("LogResult"))
        if tail:
            variant, _init_ms = classify_cold_start(tail)
            c.variant = None if variant == "unknown" else variant
            c.extra.update(parse_report(tail) or {})
        doc: dict[str, object] = {
            "StatusCode": resp.get("StatusCode"),
            "ExecutedVersion": resp.get("ExecutedVersion"),
        }
        if resp.get("FunctionError"):
            doc["FunctionError"] = resp["FunctionError"]
        if self.doc_bodies or resp.get("FunctionError"):
            doc["Payload"] = parse_body(data)
        return doc, "function_error" if resp.get("FunctionError") else None


# -- SQS ------------------------------------------------------------------------------------------


def _batch_failure(failed: list[Mapping[str, Any]]) -> str:
    """The error class of a batch whose entries partly failed: the first failure decides."""
    first = failed[0]
    code = str(first.get("Code") or first.get("ErrorCode") or "")
    if code in THROTTLE_CODES:
        return "aws_throttled"
    if first.get("SenderFault") is True:
        return "aws_client"
    return (
        "aws_server" if code in ("InternalFailure", "InternalError", "ServiceUnavailable") else "aws_client"
    )


class SqsSend(CompiledAwsStep):
    SERVICE = "sqs"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.queue = spec.queue or ""
        self.body = _Value(spec.body)
        self.group_id = _Value(spec.group_id) if spec.group_id is not None else None
        self.dedup_id = _Value(spec.dedup_id) if spec.dedup_id is not None else None

    def _message(self, body: _Value, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        msg: dict[str, Any] = {"MessageBody": encode_text(body.render(variables, rng))}
        if self.group_id is not None:
            msg["MessageGroupId"] = str(self.group_id.render(variables, rng))
        if self.dedup_id is not None:
            msg["MessageDeduplicationId"] = str(self.dedup_id.render(variables, rng))
        return msg

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        return self._message(self.body, variables, rng)

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        url = await pool.queue_url(self.queue, self.region)
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.send_message(QueueUrl=url, **params)
        c.finish()
        c.response(resp)
        return plain(resp), None


class SqsSendBatch(SqsSend):
    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.entries = [_Value(e) for e in spec.entries] if spec.entries is not None else None
        self.count = spec.count or 0

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        bodies = self.entries if self.entries is not None else [self.body] * self.count
        entries = [{"Id": str(i), **self._message(b, variables, rng)} for i, b in enumerate(bodies)]
        return {"Entries": entries}

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        url = await pool.queue_url(self.queue, self.region)
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.send_message_batch(QueueUrl=url, **params)
        c.finish()
        c.response(resp)
        failed = resp.get("Failed") or []
        c.extra["sent"] = float(len(resp.get("Successful") or []))
        c.extra["failed"] = float(len(failed))
        return plain(resp), _batch_failure(failed) if failed else None


# -- Kinesis --------------------------------------------------------------------------------------


def _stream_param(stream: str) -> dict[str, str]:
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


class KinesisPut(CompiledAwsStep):
    SERVICE = "kinesis"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.stream = _stream_param(spec.stream or "")
        self.data = _Value(spec.data)
        self.partition_key = _Value(spec.partition_key or DEFAULT_PARTITION_KEY)

    def _record(self, data: _Value, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        return {
            "Data": encode_text(data.render(variables, rng)).encode(),
            "PartitionKey": str(self.partition_key.render(variables, rng)),
        }

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        return self._record(self.data, variables, rng)

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.put_record(**self.stream, **params)
        c.finish()
        c.response(resp)
        return plain(resp), None


class KinesisPutBatch(KinesisPut):
    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.entries = [_Value(e) for e in spec.entries] if spec.entries is not None else None
        self.count = spec.count or 0

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        items = self.entries if self.entries is not None else [self.data] * self.count
        return {"Records": [self._record(d, variables, rng) for d in items]}

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.put_records(**self.stream, **params)
        c.finish()
        c.response(resp)
        records = resp.get("Records") or []
        failed = [r for r in records if r.get("ErrorCode")]
        c.extra["sent"] = float(len(records) - len(failed))
        c.extra["failed"] = float(len(failed))
        doc = {"FailedRecordCount": resp.get("FailedRecordCount", len(failed)), "Records": plain(records)}
        return doc, _batch_failure(failed) if failed else None


# -- DynamoDB -------------------------------------------------------------------------------------


def _consumed(resp: Mapping[str, Any], c: _Call) -> None:
    cap = resp.get("ConsumedCapacity")
    if isinstance(cap, dict) and isinstance(cap.get("CapacityUnits"), int | float):
        c.extra["capacity_units"] = float(cap["CapacityUnits"])


class _Dynamo(CompiledAwsStep):
    SERVICE = "dynamodb"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.table = spec.table or ""

    @staticmethod
    def _attrs(value: _Value, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        rendered = value.render(variables, rng)
        if not isinstance(rendered, dict):
            raise TypeError("DynamoDB attributes must be a mapping")
        return to_dynamo(rendered)


class DynamoPut(_Dynamo):
    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.item = _Value(spec.item)

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        return {"TableName": self.table, "Item": self._attrs(self.item, variables, rng)}

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.put_item(ReturnConsumedCapacity="TOTAL", **params)
        c.finish()
        c.response(resp)
        _consumed(resp, c)
        return plain({k: v for k, v in resp.items() if k != "ConsumedCapacity"}), None


class DynamoGet(_Dynamo):
    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.key = _Value(spec.key)
        self.consistent = spec.consistent

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        params: dict[str, Any] = {"TableName": self.table, "Key": self._attrs(self.key, variables, rng)}
        if self.consistent is not None:
            params["ConsistentRead"] = self.consistent
        return params

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.get_item(ReturnConsumedCapacity="TOTAL", **params)
        c.finish()
        c.response(resp)
        _consumed(resp, c)
        item = resp.get("Item")
        return ({"Item": from_dynamo(item)} if item is not None else {}), None


class DynamoQuery(_Dynamo):
    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        cond = spec.key_condition
        self.names: dict[str, str] = dict(spec.names or {})
        if isinstance(cond, dict):
            # {pk: v, sk: w} -> "#k0 = :v0 AND #k1 = :v1"
            keys = list(cond)
            self.expression = " AND ".join(f"#k{i} = :v{i}" for i in range(len(keys)))
            self.names = {f"#k{i}": k for i, k in enumerate(keys)}
            self.values = _Value({f":v{i}": cond[k] for i, k in enumerate(keys)})
        else:
            self.expression = cond or ""
            self.values = _Value(spec.values or {})
        self.index = spec.index
        self.limit = spec.limit
        self.consistent = spec.consistent

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": self.expression,
            "ExpressionAttributeValues": self._attrs(self.values, variables, rng),
        }
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.index is not None:
            params["IndexName"] = self.index
        if self.limit is not None:
            params["Limit"] = self.limit
        if self.consistent is not None:
            params["ConsistentRead"] = self.consistent
        return params

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.query(ReturnConsumedCapacity="TOTAL", **params)
        c.finish()
        c.response(resp)
        _consumed(resp, c)
        items = [from_dynamo(i) for i in resp.get("Items") or []]
        c.extra["items"] = float(len(items))
        doc: dict[str, object] = {
            "Items": items,
            "Count": resp.get("Count", len(items)),
            "ScannedCount": resp.get("ScannedCount", len(items)),
        }
        if resp.get("LastEvaluatedKey"):
            doc["LastEvaluatedKey"] = from_dynamo(resp["LastEvaluatedKey"])
        return doc, None


# -- S3 -------------------------------------------------------------------------------------------


def _filler(size: int) -> bytes:
    """``size`` bytes of incompressible filler, made once per step."""
    block = random.Random(size).randbytes(min(size, 64 * 1024))
    if not block:
        return b""
    reps, rest = divmod(size, len(block))
    return block * reps + block[:rest]


class S3Put(CompiledAwsStep):
    SERVICE = "s3"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.bucket = spec.bucket or ""
        self.key = _Value(spec.key)
        self.content_type = spec.content_type
        self.filler = _filler(spec.size) if spec.size is not None else None
        self.body = _Value(spec.body) if spec.body is not None else None

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": str(self.key.render(variables, rng))}
        if self.filler is not None:
            params["Body"] = self.filler
        elif self.body is not None:
            params["Body"] = encode_text(self.body.render(variables, rng)).encode()
        if self.content_type is not None:
            params["ContentType"] = self.content_type
        return params

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.put_object(**params)
        c.finish()
        c.response(resp)
        c.extra["bytes_sent"] = float(len(params.get("Body", b"")))
        return plain(resp), None


class S3Get(S3Put):
    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        resp = await client.get_object(Bucket=params["Bucket"], Key=params["Key"])
        length = int(resp.get("ContentLength") or 0)
        data: bytes | None = None
        async with resp["Body"] as stream:
            if self.doc_bodies and length <= BODY_DOC_MAX:
                data = await stream.read()
                n = len(data)
            else:
                n = 0
                async for chunk in stream.iter_chunks(64 * 1024):
                    n += len(chunk)
        c.finish()
        c.response(resp, n)
        doc = plain(resp)
        if isinstance(doc, dict) and data is not None:
            doc["Body"] = parse_body(data)
        return doc, None


# -- Step Functions -------------------------------------------------------------------------------


class SfnStart(CompiledAwsStep):
    SERVICE = "stepfunctions"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.arn = spec.state_machine or ""
        self.input = _Value(spec.input if spec.input is not None else {})
        self.execution_name = _Value(spec.execution_name) if spec.execution_name is not None else None

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        # A name of our own when the plan gives none: AWS would make one up, moto's interpreter
        # names every execution "None" (so a second start "already exists").
        name = self.execution_name.render(variables, rng) if self.execution_name is not None else uuid.uuid4()
        return {
            "stateMachineArn": self.arn,
            "input": encode_text(self.input.render(variables, rng)),
            "name": str(name),
        }

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        client = await pool.client(self.SERVICE, self.region)
        c.start()
        if not self.waits:
            resp = await client.start_execution(**params)
            c.finish()
            c.response(resp)
            return plain(resp), None
        async with asyncio.timeout(self.wait_timeout_s):
            resp = await client.start_execution(**params)
        c.response(resp)
        arn = resp["executionArn"]
        final = await self._poll(
            c,
            lambda: client.describe_execution(executionArn=arn),
            lambda r: str(r.get("status")),
            _SFN_RUNNING,
        )
        if final is None:
            return {"executionArn": arn, "status": "RUNNING"}, "timeout"
        ms = _ms_between(final.get("startDate"), final.get("stopDate"))
        if ms is not None:
            c.extra["execution_ms"] = ms
        drop = {"input", "inputDetails", "output", "outputDetails"}
        doc = plain({k: v for k, v in final.items() if k not in drop})
        if self.doc_bodies and isinstance(doc, dict) and isinstance(final.get("output"), str):
            doc["output"] = parse_body(final["output"].encode())
        return doc, None if final.get("status") == "SUCCEEDED" else "query_failed"


# -- Athena ---------------------------------------------------------------------------------------


class AthenaQuery(CompiledAwsStep):
    SERVICE = "athena"

    def __init__(self, spec: AwsStepSpec) -> None:
        super().__init__(spec)
        self.query = _Value(spec.query)
        self.workgroup = spec.workgroup or DEFAULT_WORKGROUP
        context = {"Database": spec.database, "Catalog": spec.catalog}
        self.context = {k: v for k, v in context.items() if v is not None}
        self.output_location = spec.output_location
        self.concurrency = spec.concurrency
        self._slot_key = f"athena.query:{id(self)}"

    def _render(self, variables: Mapping[str, object], rng: random.Random) -> dict[str, Any]:
        params: dict[str, Any] = {
            "QueryString": str(self.query.render(variables, rng)),
            "WorkGroup": self.workgroup,
        }
        if self.context:
            params["QueryExecutionContext"] = self.context
        if self.output_location is not None:
            params["ResultConfiguration"] = {"OutputLocation": self.output_location}
        return params

    async def _run(self, pool: AwsClientPool, params: dict[str, Any], c: _Call) -> Result:
        slot = (
            pool.semaphore(self._slot_key, self.concurrency)
            if self.concurrency is not None
            else contextlib.nullcontext()
        )
        async with slot:  # waiting for a slot is the generator's queue, not the query's latency
            client = await pool.client(self.SERVICE, self.region)
            c.start()
            async with asyncio.timeout(self.wait_timeout_s):
                resp = await client.start_query_execution(**params)
            c.response(resp)
            qid = str(resp["QueryExecutionId"])
            final = await self._poll(
                c,
                lambda: client.get_query_execution(QueryExecutionId=qid),
                lambda r: str(r["QueryExecution"]["Status"]["State"]),
                _ATHENA_RUNNING,
            )
            if final is None:
                pool.spawn(_cancel_query(client, qid))  # a query left running still costs money
                return {"QueryExecutionId": qid, "Status": {"State": "RUNNING"}}, "timeout"
        execution = final["QueryExecution"]
        stats = execution.get("Statistics") or {}
        for key, name in _ATHENA_STATS.items():
            value = stats.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                c.extra[name] = float(value)
        doc = plain({k: v for k, v in execution.items() if k != "Query"})
        state = execution["Status"]["State"]
        return doc, None if state == "SUCCEEDED" else "query_failed"


async def _cancel_query(client: Any, qid: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CANCEL_TIMEOUT_S):
            await client.stop_query_execution(QueryExecutionId=qid)


# -- compile ----------------------------------------------------------------------------------------

_KINDS: dict[str, type[CompiledAwsStep]] = {
    "lambda.invoke": LambdaInvoke,
    "sqs.send": SqsSend,
    "sqs.send_batch": SqsSendBatch,
    "kinesis.put": KinesisPut,
    "kinesis.put_batch": KinesisPutBatch,
    "dynamodb.put": DynamoPut,
    "dynamodb.get": DynamoGet,
    "dynamodb.query": DynamoQuery,
    "s3.put": S3Put,
    "s3.get": S3Get,
    "stepfunctions.start": SfnStart,
    "athena.query": AthenaQuery,
}


def compile_aws_step(spec: AwsStepSpec) -> CompiledAwsStep:
    """Compile a step's templates once. Raises TemplateError when a ``$env.NAME`` is not set."""
    return _KINDS[spec.call](spec)
