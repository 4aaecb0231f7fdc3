"""The workflow's states, as the Lambda handlers in functions/ call them: ``state(event, clients)``.

One core module per state of statemachine/surge.asl.json, named as the state and its handler in
functions/ are: ``Prepare`` -> surge/cloud/prepare.py, ``Worker`` -> worker.py, ``Aggregate`` ->
aggregate.py, ``Collect`` -> collect.py, ``Report`` and ``RecordError`` -> report.py (which also
finishes a run whose execution ended outside the workflow: ``finalize``, from an EventBridge rule). This module is
the registry the handlers look the states up in (``functions._runtime.call_core``). The event and
result shapes are functions/contracts.py's; every state reuses the core exactly as a local run does.
"""

from __future__ import annotations

from surge.cloud.aggregate import aggregate
from surge.cloud.collect import collect
from surge.cloud.merge_slice import merge_slice
from surge.cloud.prepare import prepare
from surge.cloud.report import finalize, record_error, report, sweep
from surge.cloud.worker import worker

__all__ = [
    "aggregate",
    "collect",
    "finalize",
    "merge_slice",
    "prepare",
    "record_error",
    "report",
    "sweep",
    "worker",
]
