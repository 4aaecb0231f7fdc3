"""Step Functions' history and state-size quotas, computed from a run's shape (surge.cloud.workflow_limits):
the worst shape the planner accepts fits the state limit, and Prepare refuses what would pass the
history quota. The event count itself is calibrated on moto's real history in the workflow drills
(test_a_large_segment_is_merged_by_several_tasks_exactly_as_one_merge)."""

from __future__ import annotations

from typing import Any

import pytest

from surge.cloud.execution_input import MAX_SEGMENTS, RunOptions, parse_execution_input
from surge.cloud.planner import MAX_MERGE_TASKS, merge_slices, plan_segments
from surge.cloud.prepare import _segments
from surge.cloud.workflow_limits import (
    HISTORY_BUDGET,
    MAX_HISTORY_EVENTS,
    STATE_BUDGET_BYTES,
    history_events,
    limit_problems,
    segment_events,
    state_bytes,
)
from surge.plan_load import plan_model

LONGEST_RUN_ID = "r" * 80  # an execution name has at most 80 characters


def plan(duration: str, rate: float, **overrides: Any) -> Any:
    return plan_model(
        {
            "name": "p" * 60,
            "target": "https://api.example.com",
            "load": {"phases": [{"duration": duration, "rate": rate}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "limits": {"max_workers": 1000, "max_duration": "3h", "max_rate": 10_000_000},
            **overrides,
        }
    )


def test_the_largest_state_the_planner_accepts_fits_with_room_for_an_error() -> None:
    """200 segments (MAX_SEGMENTS) of 1000 workers (limits.max_workers' ceiling), 40 merge tasks
    each, the longest run id and plan name: Prepare's result stays under the state budget."""
    worst = plan("2h", 1_000_000)
    options = RunOptions(segment_seconds=36, per_worker_rate=1000)
    cuts = plan_segments(worst, options)
    assert len(cuts) == MAX_SEGMENTS and {c.shards for c in cuts} == {1000}
    event = {"run_id": LONGEST_RUN_ID, "execution_arn": "arn:" + "x" * 200}
    result, _ = _segments(
        event, worst, parse_execution_input({"plan": {}, "options": options.model_dump()}), cuts, 1.7e9
    )
    assert {len(spec["merge_slices"]) for spec in result["segments"]} == {len(merge_slices(1000))}
    assert len(merge_slices(1000)) <= MAX_MERGE_TASKS
    assert state_bytes(result) < STATE_BUDGET_BYTES, state_bytes(result)
    # ... but not the history quota: Prepare refuses it, naming what to change.
    (problem,) = limit_problems([len(s["merge_slices"]) for s in result["segments"]], result)
    assert "options.segment_seconds" in problem and f"{MAX_HISTORY_EVENTS:,}" in problem


def test_the_readme_examples_fit() -> None:
    """1000 workers for 10 minutes, and 100k req/s for an hour (2000/s per worker: 50 workers)."""
    for shape in (plan("10m", 2_000_000), plan("1h", 100_000)):
        options = RunOptions()
        cuts = plan_segments(shape, options)
        tasks = [len(merge_slices(c.shards)) for c in cuts]
        assert history_events(tasks) < HISTORY_BUDGET / 10


@pytest.mark.parametrize("tasks", [0, 1, 32, 40])
def test_events_grow_with_segments_and_merge_tasks(tasks: int) -> None:
    assert history_events([tasks] * 3) - history_events([tasks] * 2) == segment_events(tasks)
    assert segment_events(tasks + 1) - segment_events(tasks) == 7  # an iteration and its task


def test_the_limit_is_where_the_budget_is() -> None:
    per = segment_events(40)
    fits = (HISTORY_BUDGET - history_events([])) // per
    result: dict[str, Any] = {"segments": []}
    assert limit_problems([40] * fits, result) == []
    assert limit_problems([40] * (fits + 1), result)


def test_a_state_too_large_is_refused() -> None:
    (problem,) = limit_problems([0], {"segments": ["x" * STATE_BUDGET_BYTES]})
    assert "bytes of workflow state" in problem


def test_the_large_cases_on_paper() -> None:
    """`surge validate --cloud` figures for 100k req/s for an hour and 1000 workers for 10 minutes."""
    from surge.cloud.fleet_figures import fleet_figures

    hour = fleet_figures(plan("1h", 100_000))
    assert (hour.segments, hour.most_workers, hour.lead_s) == (6, 112, 30)
    assert hour.history_events < 1000 and hour.counter_writes_per_s <= 100
    thousand = fleet_figures(plan("10m", 20_000, workers=1000))
    assert (thousand.segments, thousand.most_workers) == (1, 1000)
    assert thousand.peak.workers == 1000 and thousand.record_reads_per_s == 333 < 3000
    assert thousand.results_per_prefix == 1000 < 3500
    assert (
        10 < thousand.cost["total_usd"] < 30 and thousand.cost["lambda_usd"] > thousand.cost["dynamodb_usd"]
    )
    text = "\n".join(thousand.lines())
    assert "1 segment(s) of up to 1000 Lambda workers" in text and "~333 strongly consistent reads/s" in text
    ssm = fleet_figures(plan("10m", 20_000, workers=1000, variables={"t": "{{ $ssm.token }}"}))
    assert ssm.lead_s == 44 and ssm.ssm_reads_per_s == 30
