"""The run record in DynamoDB: status, progress counters, the stop flag, the verdict.

The client is injected (a boto3 DynamoDB client, moto's in tests). Workers publish progress to
counter items of their own partition keys (``RUN#<run>#PROGRESS#<k>``) with ADD, without reading
first; the run record itself is written by the workflow's states only, and read for the stop flag.
"""

from __future__ import annotations

import time
from typing import Any

from surge.store.dynamo_codec import from_item, to_attr
from surge.store.run_table import (
    GSI_BY_PLAN,
    GSI_BY_PLAN_PK,
    GSI_RECENT,
    GSI_RECENT_PK,
    GSI_RECENT_SK,
    PROGRESS_SK,
    RECENT_PARTITION,
    TABLE_PK,
    TABLE_SK,
    index_attributes,
    plan_pk,
    progress_pk,
    run_record_key,
)

Item = dict[str, dict[str, Any]]
PROGRESS_FIELDS = ("requests", "errors", "workers_running")


class RunRecords:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def _key(self, run_id: str) -> Item:
        return dict(run_record_key(run_id))

    def create(self, run_id: str, plan: str, plan_hash: str, started_at: str, **fields: object) -> bool:
        """Write the run's record; a stop requested before it existed (`surge stop` in the first
        seconds) is kept, and returned: True when the run is already to stop."""
        item = {
            **index_attributes(plan, started_at),
            "run_id": run_id,
            "plan": plan,
            "plan_hash": plan_hash,
            "started_at": started_at,
            "status": "RUNNING",
            "segments_done": 0,
            **fields,
        }
        names = {f"#f{i}": k for i, k in enumerate(item)}
        values = {f":v{i}": to_attr(v) for i, v in enumerate(item.values())}
        values[":no"] = {"BOOL": False}
        sets = [f"#f{i} = :v{i}" for i in range(len(item))]
        names["#stop"] = "stop_requested"
        sets.append("#stop = if_not_exists(#stop, :no)")
        resp = self.client.update_item(
            TableName=self.table,
            Key=self._key(run_id),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return bool(resp.get("Attributes", {}).get("stop_requested", {}).get("BOOL"))

    def get(self, run_id: str) -> dict[str, object] | None:
        resp = self.client.get_item(TableName=self.table, Key=self._key(run_id), ConsistentRead=True)
        item = resp.get("Item")
        return from_item(item) if item else None

    def update(self, run_id: str, **fields: object) -> None:
        if not fields:
            return
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": to_attr(v) for i, v in enumerate(fields.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self.client.update_item(
            TableName=self.table,
            Key=self._key(run_id),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _counter_key(self, run_id: str, counter: int) -> Item:
        return {TABLE_PK: {"S": progress_pk(run_id, counter)}, TABLE_SK: {"S": PROGRESS_SK}}

    def add(self, run_id: str, counter: int = 0, **counters: float) -> None:
        """Atomic increments of one of the run's progress counters (a worker's own, by shard): many
        workers publish at once without reading first, and none writes the run record."""
        if not counters:
            return
        names = {f"#c{i}": k for i, k in enumerate(counters)}
        values = {f":c{i}": to_attr(v) for i, v in enumerate(counters.values())}
        values[":now"] = {"N": str(int(time.time()))}
        expr = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))) + " SET updated_at = :now"
        self.client.update_item(
            TableName=self.table,
            Key=self._counter_key(run_id, counter),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def progress(self, run_id: str, counters: int) -> dict[str, float]:
        """The run-wide totals of its ``counters`` progress counters (requests, errors, workers
        running): one BatchGetItem, eventually consistent (a few seconds late at most)."""
        totals = dict.fromkeys(PROGRESS_FIELDS, 0.0)
        keys = [self._counter_key(run_id, k) for k in range(max(counters, 1))]
        for first in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys
            request = {
                self.table: {
                    "Keys": keys[first : first + 100],
                    # Named attributes only: the workers' IAM conditions allow no more.
                    "ProjectionExpression": ", ".join(f"#{f}" for f in PROGRESS_FIELDS),
                    "ExpressionAttributeNames": {f"#{f}": f for f in PROGRESS_FIELDS},
                }
            }
            while request:
                resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    for field in PROGRESS_FIELDS:
                        if "N" in item.get(field, {}):
                            totals[field] += float(item[field]["N"])
                request = resp.get("UnprocessedKeys") or {}
        return totals

    def with_progress(self, run_id: str) -> dict[str, object] | None:
        """The run record with its progress counters' totals in it (``surge status``)."""
        record = self.get(run_id)
        if record is None:
            return None
        counters = record.get("progress_counters")
        if isinstance(counters, int | float) and counters > 0:
            record.update(self.progress(run_id, int(counters)))
        return record

    def abort(self, run_id: str, reason: str) -> bool:
        """Set the stop flag with ``reason`` unless a stop was already requested (the first
        reason stands). True if this call set it."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(run_id),
                UpdateExpression="SET #stop = :t, #reason = :r",
                ConditionExpression="attribute_not_exists(#stop) OR #stop = :f",
                ExpressionAttributeNames={"#stop": "stop_requested", "#reason": "stop_reason"},
                ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":r": {"S": reason}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

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

    def started_since(self, since: str) -> list[dict[str, object]]:
        """Every run started at or after ``since`` (``YYYY-MM-DDTHH:MM:SSZ``), newest first."""
        found: list[dict[str, object]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI_RECENT,
            "KeyConditionExpression": f"{GSI_RECENT_PK} = :p AND {GSI_RECENT_SK} >= :since",
            "ExpressionAttributeValues": {":p": {"S": RECENT_PARTITION}, ":since": {"S": since}},
            "ScanIndexForward": False,
        }
        while True:
            resp = self.client.query(**kwargs)
            found += [from_item(i) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return found
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def recent(self, limit: int = 20, plan: str | None = None) -> list[dict[str, object]]:
        if plan is not None:
            resp = self.client.query(
                TableName=self.table,
                IndexName=GSI_BY_PLAN,
                KeyConditionExpression=f"{GSI_BY_PLAN_PK} = :p",
                ExpressionAttributeValues={":p": {"S": plan_pk(plan)}},
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
