"""Report (and RecordError): evaluate, render and store the report; or record a failed run.

One function serves both states so the error path can still render what was measured; the
workflow says which with ``mode``.
"""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import ContractError, LambdaContext, call_core, require_keys
from functions.contracts import Outcome, RecordErrorEvent, ReportEvent


def handler(event: ReportEvent | RecordErrorEvent, context: LambdaContext | None = None) -> Outcome:
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "report":
        require_keys(event, ReportEvent.__required_keys__, "report")
        return cast(Outcome, call_core("report", cast(dict[str, Any], event), context))
    if mode == "error":
        require_keys(event, RecordErrorEvent.__required_keys__, "record_error")
        return cast(Outcome, call_core("record_error", cast(dict[str, Any], event), context))
    raise ContractError(f"report: mode must be 'report' or 'error', got {mode!r}")
