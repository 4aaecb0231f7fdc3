"""Report (and RecordError): evaluate, render and store the report; or record a failed run; or
finish a run whose execution ended outside the workflow.

One function serves all three so every path renders what was measured the same way: the workflow
says which with ``mode``; an EventBridge "Step Functions Execution Status Change" event (a console
stop, a timeout) is recognised by its detail-type and finishes the run (``finalize``); the stack's
schedule sends ``{"mode": "sweep"}``, which finishes runs whose event never came (``sweep``).
"""

from __future__ import annotations

from typing import Any, cast

from functions._runtime import ContractError, LambdaContext, call_core, require_keys
from functions.contracts import Outcome, RecordErrorEvent, ReportEvent

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


def handler(event: ReportEvent | RecordErrorEvent, context: LambdaContext | None = None) -> Outcome | None:
    if isinstance(event, dict) and event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        return cast(Outcome | None, call_core("finalize", cast(dict[str, Any], event), context))
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "report":
        require_keys(event, ReportEvent.__required_keys__, "report")
        return cast(Outcome, call_core("report", cast(dict[str, Any], event), context))
    if mode == "error":
        require_keys(event, RecordErrorEvent.__required_keys__, "record_error")
        return cast(Outcome, call_core("record_error", cast(dict[str, Any], event), context))
    if mode == "sweep":  # the stack's schedule: finish runs whose execution ended unannounced
        call_core("sweep", cast(dict[str, Any], event), context)
        return None
    raise ContractError(f"report: mode must be 'report', 'error' or 'sweep', got {mode!r}")
