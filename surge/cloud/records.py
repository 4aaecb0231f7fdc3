"""The run record in DynamoDB: status, progress counters, the stop flag, the verdict.

The client is injected (a boto3 DynamoDB client, moto's in tests). Counters are updated with ADD so
hundreds of workers can publish progress without reading first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from surge.cloud.layout import (
    GSI_BY_PLAN,
    GSI_BY_PLAN_PK,
    GSI_BY_PLAN_SK,
    GSI_RECENT,
    GSI_RECENT_PK,
    GSI_RECENT_SK,
    RECENT_PARTITION,
    RUN_RECORD_SK,
    TABLE_PK,
    TABLE_SK,
    run_pk,
)

Item = dict[str, dict[str, Any]]


def _attr(value: object) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(float(value)) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): _attr(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _value(attr: Mapping[str, Any]) -> object:
    ((kind, v),) = attr.items()
    if kind == "NULL":
        return None
    if kind == "N":
        f = float(v)
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    if kind == "L":
        return [_value(x) for x in v]
    if kind == "M":
        return {k: _value(x) for k, x in v.items()}
    return v


def to_item(data: Mapping[str, object]) -> Item:
    return {k: _attr(v) for k, v in data.items()}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, object]:
    return {k: _value(v) for k, v in item.items()}


class RunRecords:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def _key(self, run_id: str) -> Item:
        return {TABLE_PK: {"S": run_pk(run_id)}, TABLE_SK: {"S": RUN_RECORD_SK}}

    def create(self, run_id: str, plan: str, plan_hash: str, started_at: str, **fields: object) -> None:
        item = {
            TABLE_PK: run_pk(run_id),
            TABLE_SK: RUN_RECORD_SK,
            GSI_BY_PLAN_PK: f"PLAN#{plan}",
            GSI_BY_PLAN_SK: started_at,
            GSI_RECENT_PK: RECENT_PARTITION,
            GSI_RECENT_SK: started_at,
            "run_id": run_id,
            "plan": plan,
            "plan_hash": plan_hash,
            "started_at": started_at,
            "status": "RUNNING",
            "stop_requested": False,
            "requests": 0,
            "errors": 0,
            "workers_running": 0,
            "segments_done": 0,
            **fields,
        }
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def get(self, run_id: str) -> dict[str, object] | None:
        resp = self.client.get_item(TableName=self.table, Key=self._key(run_id), ConsistentRead=True)
        item = resp.get("Item")
        return from_item(item) if item else None

    def update(self, run_id: str, **fields: object) -> None:
        if not fields:
            return
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": _attr(v) for i, v in enumerate(fields.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self.client.update_item(
            TableName=self.table,
            Key=self._key(run_id),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def add(self, run_id: str, **counters: float) -> None:
        """Atomic increments (progress from many workers at once)."""
        if not counters:
            return
        names = {f"#c{i}": k for i, k in enumerate(counters)}
        values = {f":c{i}": _attr(v) for i, v in enumerate(counters.values())}
        values[":now"] = {"N": str(int(time.time()))}
        expr = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))) + " SET updated_at = :now"
        self.client.update_item(
            TableName=self.table,
            Key=self._key(run_id),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def request_stop(self, run_id: str, reason: str) -> None:
        self.update(run_id, stop_requested=True, stop_reason=reason)

    def stop_requested(self, run_id: str) -> bool:
        resp = self.client.get_item(
            TableName=self.table,
            Key=self._key(run_id),
            ProjectionExpression="stop_requested",
            ConsistentRead=True,
        )
        attr = resp.get("Item", {}).get("stop_requested")
        return bool(attr and attr.get("BOOL"))

    def recent(self, limit: int = 20, plan: str | None = None) -> list[dict[str, object]]:
        if plan is not None:
            resp = self.client.query(
                TableName=self.table,
                IndexName=GSI_BY_PLAN,
                KeyConditionExpression=f"{GSI_BY_PLAN_PK} = :p",
                ExpressionAttributeValues={":p": {"S": f"PLAN#{plan}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
        else:
            resp = self.client.query(
                TableName=self.table,
                IndexName=GSI_RECENT,
                KeyConditionExpression=f"{GSI_RECENT_PK} = :p",
                ExpressionAttributeValues={":p": {"S": RECENT_PARTITION}},
                ScanIndexForward=False,
                Limit=limit,
            )
        return [from_item(i) for i in resp.get("Items", [])]
