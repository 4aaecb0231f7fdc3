"""Aggregate: merge one segment's shard results from S3, report missing shards, decide abort.
The same function runs the segment's merge tasks (``mode: "merge"``, the MergeSlice states): each
folds a slice of the shard results into a partial that Aggregate then folds."""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import LambdaContext, call_core, require_keys
from functions.contracts import AggregateEvent, AggregateResult, MergeSliceEvent, MergeSliceResult


def handler(
    event: AggregateEvent | MergeSliceEvent, context: LambdaContext | None = None
) -> AggregateResult | MergeSliceResult:
    if isinstance(event, dict) and event.get("mode") == "merge":
        require_keys(event, MergeSliceEvent.__required_keys__, "merge_slice")
        return cast(MergeSliceResult, call_core("merge_slice", cast(dict[str, Any], event), context))
    require_keys(event, AggregateEvent.__required_keys__, "aggregate")
    return cast(AggregateResult, call_core("aggregate", cast(dict[str, Any], event), context))
