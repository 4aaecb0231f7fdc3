"""Worker: one shard of one segment; sleeps until start_at, sends load, writes its own result."""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import LambdaContext, call_core, require_keys
from functions.contracts import WorkerEvent, WorkerResult


def handler(event: WorkerEvent, context: LambdaContext | None = None) -> WorkerResult:
    require_keys(event, WorkerEvent.__required_keys__, "worker")
    return cast(WorkerResult, call_core("worker", cast(dict[str, Any], event), context))
