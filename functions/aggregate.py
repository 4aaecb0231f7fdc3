"""Aggregate: merge one segment's shard results from S3, report missing shards, decide abort."""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import LambdaContext, call_core, require_keys
from functions.contracts import AggregateEvent, AggregateResult


def handler(event: AggregateEvent, context: LambdaContext | None = None) -> AggregateResult:
    require_keys(event, AggregateEvent.__required_keys__, "aggregate")
    return cast(AggregateResult, call_core("aggregate", cast(dict[str, Any], event), context))
