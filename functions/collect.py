"""Collect: the target service's own metrics (CloudWatch, Logs Insights) and cost for the run."""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import LambdaContext, call_core, require_keys
from functions.contracts import CollectEvent, CollectResult


def handler(event: CollectEvent, context: LambdaContext | None = None) -> CollectResult:
    require_keys(event, CollectEvent.__required_keys__, "collect")
    return cast(CollectResult, call_core("collect", cast(dict[str, Any], event), context))
