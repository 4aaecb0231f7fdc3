"""Prepare: validate the plan, cut it into segments and shards, write shard items, record the run."""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import LambdaContext, call_core, require_keys
from functions.contracts import PrepareEvent, PrepareResult


def handler(event: PrepareEvent, context: LambdaContext | None = None) -> PrepareResult:
    require_keys(event, PrepareEvent.__required_keys__, "prepare")
    return cast(PrepareResult, call_core("prepare", cast(dict[str, Any], event), context))
