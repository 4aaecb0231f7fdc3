"""Step Functions quotas a run's shape can break, computed before anything runs.

An execution's history holds at most 25,000 events, and a state's input or output at most
256 KiB ("Step Functions service quotas"). Past either the execution fails, and no Catch helps:
the run would end with no report. So Prepare computes both from the run's segments and refuses a
plan past them, naming what to change; the test suite checks the worst shape the planner accepts
stays inside, and calibrates the event count on the history moto's interpreter writes.

Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_HISTORY_EVENTS = 25_000
# The count below assumes no retry and no catch: each retried Lambda task adds 3 events (scheduled,
# started, failed). A fifth of the quota is left for them.
HISTORY_BUDGET = 20_000
MAX_STATE_BYTES = 256 * 1024
# The largest state is RecordError's input: the whole state (with Prepare's result) plus the error
# that failed the run, whose Cause Step Functions caps at 32,768 characters; the outcome and the
# collect warnings come beside it.
MAX_CAUSE_CHARS = 32_768
STATE_BUDGET_BYTES = MAX_STATE_BYTES - 2 * MAX_CAUSE_CHARS - 16 * 1024

# History events per state, as Step Functions writes them (Standard workflows): entered and exited
# for every state; a Lambda task adds scheduled, started, succeeded; a Parallel and a Map add
# started and succeeded; a Distributed Map adds its Map Run's started and succeeded; an inline
# Map iteration adds its iteration's started and succeeded.
PASS = CHOICE = WAIT = SUCCEED = 2
TASK = 5
PARALLEL = 4
INLINE_MAP = 4
DISTRIBUTED_MAP = 6
ITERATION = 2
# Around the segments: ExecutionStarted/Succeeded, Prepare, RunSegments, Collect, Report,
# AnnounceOnce, EmitRunCompleted, Verdict, Passed; each branch's Start, last More and Done.
FIXED = 2 + TASK + PARALLEL + TASK + TASK + CHOICE + TASK + CHOICE + SUCCEED
PER_BRANCH = PASS + CHOICE + SUCCEED


def segment_events(merge_tasks: int) -> int:
    """One segment in its branch: More, Pick, WaitForLaunch, RunShards (the workers are the Map
    Run's child executions: their events are not in this history), MergeShards with its tasks,
    Aggregate, CheckAbort, Next."""
    merge = INLINE_MAP + merge_tasks * (ITERATION + TASK)
    return CHOICE + PASS + WAIT + DISTRIBUTED_MAP + merge + TASK + CHOICE + PASS


def history_events(merge_tasks_per_segment: Sequence[int]) -> int:
    """The events of a run whose segments have these many merge tasks each, none retried."""
    return FIXED + 2 * PER_BRANCH + sum(segment_events(t) for t in merge_tasks_per_segment)


def state_bytes(prepare_result: Mapping[str, Any]) -> int:
    return len(json.dumps(prepare_result, separators=(",", ":")).encode())


def limit_problems(merge_tasks_per_segment: Sequence[int], prepare_result: Mapping[str, Any]) -> list[str]:
    """Why a run of this shape would break a Step Functions quota (empty: it fits)."""
    problems: list[str] = []
    events = history_events(merge_tasks_per_segment)
    if events > HISTORY_BUDGET:
        problems.append(
            f"the run would write about {events:,} events to its execution's history (Step Functions "
            f"keeps at most {MAX_HISTORY_EVENTS:,}; surge leaves room for retries below {HISTORY_BUDGET:,}): "
            f"{len(merge_tasks_per_segment)} segments with up to {max(merge_tasks_per_segment, default=0)} "
            "merge tasks each; raise options.segment_seconds (fewer segments) or lower the rate "
            "(fewer workers to merge), or split the plan into several runs"
        )
    size = state_bytes(prepare_result)
    if size > STATE_BUDGET_BYTES:
        problems.append(
            f"the run's segment list takes {size:,} bytes of workflow state (Step Functions passes at most "
            f"{MAX_STATE_BYTES:,} between states, and an error's cause may need {2 * MAX_CAUSE_CHARS:,} "
            "beside it): raise options.segment_seconds (fewer segments), or split the plan into several runs"
        )
    return problems


__all__ = [
    "HISTORY_BUDGET",
    "MAX_HISTORY_EVENTS",
    "MAX_STATE_BYTES",
    "STATE_BUDGET_BYTES",
    "history_events",
    "limit_problems",
    "segment_events",
    "state_bytes",
]
