"""The execution input (surge/cloud/execution_input.py): what a console user pastes, checked field by
field, with bounds that keep every worker inside Lambda's 15 minutes and the state under 256 KB."""

from __future__ import annotations

from typing import Any

import pytest

from surge.cloud.execution_input import MAX_SEGMENTS, check_fits, parse_execution_input, parse_options
from surge.errors import PlanError
from surge.plan_load import parse_plan

PLAN: dict[str, Any] = {
    "name": "x",
    "target": "http://127.0.0.1:8080",
    "load": {"phases": [{"duration": "10m", "rate": 10}]},
    "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
}


def problem(data: object) -> str:
    with pytest.raises(PlanError) as err:
        parse_execution_input(data)
    return str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("just a string", "must be a JSON object"),
        ([1, 2], "must be a JSON object"),
        ({}, 'give one of "plan"'),
        ({"plan": PLAN, "plan_uri": "s3://b/p.yaml"}, 'give one of "plan"'),
        ({"plan": PLAN, "options": "fast"}, "options"),
        ({"plan": PLAN, "options": {"segment_seconds": 0}}, "options.segment_seconds"),
        ({"plan": PLAN, "options": {"segment_seconds": "nan"}}, "options.segment_seconds"),
        ({"plan": PLAN, "options": {"segment_seconds": 3600}}, "options.segment_seconds"),
        ({"plan": PLAN, "options": {"per_worker_rate": 0}}, "options.per_worker_rate"),
        ({"plan": PLAN, "options": {"lead_seconds": "abc"}}, "options.lead_seconds"),
        ({"plan": PLAN, "options": {"lead_seconds": 1e9}}, "options.lead_seconds"),
        ({"plan": PLAN, "options": {"tolerated_failure_percentage": 200}}, "validity.max_workers_lost"),
        ({"plan": PLAN, "options": {"shards": 5}}, "options.shards: unknown field"),
        ({"plan": PLAN, "colour": "blue"}, "colour: unknown field"),
    ],
)
def test_a_wrong_input_is_refused_naming_the_field(data: object, message: str) -> None:
    assert message in problem(data)


def test_a_good_input_has_defaults() -> None:
    inp = parse_execution_input({"plan_uri": "s3://bucket/plans/x.yaml"})
    assert inp.options.lead_seconds == 30 and inp.options.segment_seconds == 600


def test_a_worker_invocation_must_fit_lambdas_fifteen_minutes() -> None:
    plan = parse_plan({**PLAN, "defaults": {"timeout": "60s"}})
    check_fits(plan, parse_options({"lead_seconds": 120, "segment_seconds": 600}))  # 120+600+60+25 < 900
    slow = parse_plan({**PLAN, "defaults": {"timeout": "300s"}})
    with pytest.raises(PlanError) as err:
        check_fits(slow, parse_options({"lead_seconds": 120, "segment_seconds": 600}))
    assert "must fit a Lambda's 900 s" in str(err.value)


def test_tiny_segments_that_would_overflow_the_state_are_refused() -> None:
    plan = parse_plan(PLAN)
    with pytest.raises(PlanError) as err:
        check_fits(plan, parse_options({"segment_seconds": 1}))
    assert f"more than {MAX_SEGMENTS}" in str(err.value)


def test_a_plan_longer_than_the_workflow_may_run_is_refused() -> None:
    import json
    from pathlib import Path

    from surge.cloud.execution_input import EXECUTION_TIMEOUT_S

    asl = json.loads((Path(__file__).parents[2] / "statemachine" / "surge.asl.json").read_text())
    assert asl["TimeoutSeconds"] == EXECUTION_TIMEOUT_S
    soak = parse_plan(
        {**PLAN, "load": {"phases": [{"duration": "4h", "rate": 1}]}, "limits": {"max_duration": "5h"}}
    )
    with pytest.raises(PlanError) as err:
        check_fits(soak, parse_options({}))
    assert "split it into several runs" in str(err.value)
