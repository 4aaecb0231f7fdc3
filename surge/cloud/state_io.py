"""What every workflow state's core shares: the AWS clients it is given, and the run's JSON in S3.

The handlers in functions/ build ``Clients`` from the Lambda environment; tests pass moto's.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from surge.cloud.records import RunRecords
from surge.plan import Plan


class Clients(Protocol):
    """What the handlers need from functions/_runtime.Clients."""

    bucket: str
    table: str
    event_bus: str

    @property
    def s3(self) -> Any: ...

    @property
    def dynamodb(self) -> Any: ...

    def client(self, service: str) -> Any: ...

    def remaining_time_ms(self) -> int: ...


# -- S3 helpers -------------------------------------------------------------------------------------


def put_json(clients: Clients, key: str, data: object) -> None:
    clients.s3.put_object(
        Bucket=clients.bucket, Key=key, Body=json.dumps(data).encode(), ContentType="application/json"
    )


def get_json(clients: Clients, key: str) -> Any:
    body = clients.s3.get_object(Bucket=clients.bucket, Key=key)["Body"].read()
    return json.loads(body)


def exists(clients: Clients, key: str) -> bool:
    resp = clients.s3.list_objects_v2(Bucket=clients.bucket, Prefix=key, MaxKeys=1)
    return any(o["Key"] == key for o in resp.get("Contents", []))


def list_keys(clients: Clients, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=clients.bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def read_run_plan(clients: Clients, key: str) -> Plan:
    return Plan.model_validate(get_json(clients, key))


def run_records(clients: Clients) -> RunRecords:
    return RunRecords(clients.table, clients.dynamodb)


def run_options(clients: Clients, run_id: str) -> dict[str, Any]:
    """The execution's options, as Prepare stored them on the run record."""
    options = (run_records(clients).get(run_id) or {}).get("options") or {}
    return dict(options) if isinstance(options, dict) else {}
