"""AWS's request-rate quotas, enforced on every AWS call the harness's functions make (moto enforces
none). Installed in front of moto's responder (botocore's ``before-send``, inside botocore's retry
loop), so a refused call is answered with the error AWS sends and retried by botocore exactly as it
would be in Lambda; what was refused, and the busiest key's peak, are counted.

Each figure is AWS's documented default (docs/workflow.md, "Quotas, as the tests hold them"):

- DynamoDB: 1,000 write units and 3,000 read units per second per partition, for the table and each
  global secondary index; an index's throttling throttles the table's writes ("Partitions and data
  distribution", "Global secondary index write throttling"). Items here are under 1 KB: a write is
  one unit, a strongly consistent read one, an eventually consistent read half.
- Systems Manager Parameter Store: 40 GetParameter(s) per second, standard throughput
  ("Systems Manager endpoints and quotas").
- Secrets Manager: 10,000 GetSecretValue per second ("AWS Secrets Manager quotas").
- S3: 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second per prefix ("Best practices design
  patterns: optimizing Amazon S3 performance"), answered 503 SlowDown.
- Step Functions: DescribeExecution 100 per second (the refill rate of its token bucket,
  "Step Functions service quotas", API action throttling).

Lambda's concurrency, a Distributed Map's child-start rate and the 256 KiB state payload are held
by the harness itself (tests/sfn_harness.py), which reports them here.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


@dataclass
class Limits:
    ddb_partition_wcu: float = 1000.0
    ddb_partition_rcu: float = 3000.0
    ssm_get_parameter: float = 40.0
    secrets_get_value: float = 10_000.0
    s3_put_per_prefix: float = 3500.0
    s3_get_per_prefix: float = 5500.0
    sfn_describe_execution: float = 100.0


@dataclass
class QuotaModel:
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.monotonic
    refused: Counter[str] = field(default_factory=Counter)
    """Calls answered with a throttling error, by quota."""
    peaks: dict[str, float] = field(default_factory=dict)
    """The most units any one key took in one second, by quota (the busiest key's peak)."""
    busiest: dict[str, str] = field(default_factory=dict)
    """Which key that was."""
    calls: Counter[str] = field(default_factory=Counter)
    """Every call, by service.operation."""
    violations: list[str] = field(default_factory=list)
    """Quotas a call broke that no retry helps with (a state payload over 256 KiB)."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        # Items carrying a GSI's key attributes: a write to one is a write to that index too.
        self._indexed: dict[tuple[str, str, str], dict[str, str]] = {}

    # -- the hook ------------------------------------------------------------------------------------
    def __call__(self, event_name: str, request: Any) -> AWSResponse | None:
        parts = event_name.split(".")
        if len(parts) < 3:
            return None
        service, operation = parts[1], parts[2]
        self.calls[f"{service}.{operation}"] += 1
        try:
            costs = list(self._costs(service, operation, request))
        except (ValueError, KeyError, TypeError):
            return None
        with self._lock:
            now = self.clock()
            for quota, key, units, limit in costs:
                if self._used(quota, key, now) + units > limit:
                    self.refused[quota] += 1
                    return _throttle(service, request.url)
            for quota, key, units, _limit in costs:
                window = self._windows.setdefault((quota, key), deque())
                window.append((now, units))
                used = sum(u for _, u in window)
                if used > self.peaks.get(quota, 0.0):
                    self.peaks[quota] = used
                    self.busiest[quota] = key
        return None

    def _used(self, quota: str, key: str, now: float) -> float:
        window = self._windows.get((quota, key))
        if not window:
            return 0.0
        while window and window[0][0] <= now - 1.0:
            window.popleft()
        return sum(units for _, units in window)

    # -- what a call costs ---------------------------------------------------------------------------------
    def _costs(self, service: str, operation: str, request: Any) -> Iterator[tuple[str, str, float, float]]:
        lim = self.limits
        if service == "dynamodb":
            body = json.loads(request.body or b"{}")
            table = str(body.get("TableName", ""))
            if operation in ("UpdateItem", "PutItem", "DeleteItem"):
                key = body.get("Key") or body.get("Item") or {}
                pk, sk = _s(key.get("pk")), _s(key.get("sk"))
                yield "dynamodb write per partition", f"{table}:{pk}", 1.0, lim.ddb_partition_wcu
                indexed = self._indexed.setdefault((table, pk, sk), {})
                indexed.update(_index_keys(operation, body))
                for index, value in indexed.items():
                    yield (
                        "dynamodb write per partition",
                        f"{table}/{index}:{value}",
                        1.0,
                        lim.ddb_partition_wcu,
                    )
            elif operation == "GetItem":
                units = 1.0 if body.get("ConsistentRead") else 0.5
                yield (
                    "dynamodb read per partition",
                    f"{table}:{_s(body['Key'].get('pk'))}",
                    units,
                    lim.ddb_partition_rcu,
                )
            elif operation == "BatchGetItem":
                for name, spec in body.get("RequestItems", {}).items():
                    units = 1.0 if spec.get("ConsistentRead") else 0.5
                    for k in spec.get("Keys", []):
                        yield (
                            "dynamodb read per partition",
                            f"{name}:{_s(k.get('pk'))}",
                            units,
                            lim.ddb_partition_rcu,
                        )
        elif service == "ssm" and operation in ("GetParameter", "GetParameters"):
            yield "ssm GetParameter", "account", 1.0, lim.ssm_get_parameter
        elif service == "secretsmanager" and operation == "GetSecretValue":
            yield "secretsmanager GetSecretValue", "account", 1.0, lim.secrets_get_value
        elif service == "s3":
            prefix = _s3_prefix(request.url)
            if operation in ("PutObject", "CopyObject", "DeleteObject"):
                yield "s3 PUT per prefix", prefix, 1.0, lim.s3_put_per_prefix
            elif operation in ("GetObject", "HeadObject", "ListObjectsV2", "ListObjects"):
                yield "s3 GET per prefix", prefix, 1.0, lim.s3_get_per_prefix
        elif service in ("sfn", "states", "stepfunctions") and operation == "DescribeExecution":
            yield "states DescribeExecution", "account", 1.0, lim.sfn_describe_execution

    def summary(self) -> str:
        peaks = ", ".join(f"{q} {self.peaks[q]:.0f}/s ({self.busiest[q]})" for q in sorted(self.peaks))
        refused = ", ".join(f"{q} {n}" for q, n in sorted(self.refused.items())) or "none"
        return f"peaks: {peaks}; refused: {refused}; violations: {len(self.violations)}"


def _s(attr: Any) -> str:
    return str((attr or {}).get("S", ""))


_INDEX_ATTRIBUTES = {"recent_pk": "recent", "plan_pk": "by_plan"}


def _index_keys(operation: str, body: dict[str, Any]) -> dict[str, str]:
    """The GSI partition keys a write gives its item (the table's indexes: recent, by_plan)."""
    found: dict[str, str] = {}
    if operation == "PutItem":
        for attribute, index in _INDEX_ATTRIBUTES.items():
            if attribute in body.get("Item", {}):
                found[index] = _s(body["Item"][attribute])
        return found
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    expression = str(body.get("UpdateExpression", ""))
    for assignment in expression.replace("SET ", "").split(","):
        left, _, right = assignment.partition("=")
        attribute = names.get(left.strip(), left.strip())
        if attribute in _INDEX_ATTRIBUTES and right.strip() in values:
            found[_INDEX_ATTRIBUTES[attribute]] = _s(values[right.strip()])
    return found


def _s3_prefix(url: str) -> str:
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    host_bucket = parts.hostname.split(".")[0] if parts.hostname and ".s3." in parts.hostname else ""
    key = path if host_bucket else path.partition("/")[2]
    bucket = host_bucket or path.partition("/")[0]
    return f"{bucket}/{key.rpartition('/')[0]}"


def _throttle(service: str, url: str) -> AWSResponse:
    if service == "s3":
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return AWSResponse(url, 503, {"Content-Type": "application/xml"}, _Raw(body))  # type: ignore[arg-type]
    code = {
        "dynamodb": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    }.get(service, "ThrottlingException")
    body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
    return AWSResponse(url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))  # type: ignore[arg-type]


@contextlib.contextmanager
def enforced(quotas: QuotaModel | None) -> Iterator[QuotaModel | None]:
    """While inside, every call moto answers goes through ``quotas`` first: an over-quota call gets
    AWS's throttling answer, inside botocore's retry loop (so the SDK retries it as it would)."""
    from unittest import mock

    from moto.core.botocore_stubber import BotocoreStubber

    moto_responds = BotocoreStubber.__call__

    def respond(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if quotas is not None and self.enabled:
            refused = quotas(event_name, request)
            if refused is not None:
                return refused
        return moto_responds(self, event_name, request, **kwargs)

    with mock.patch.object(BotocoreStubber, "__call__", respond):
        yield quotas
