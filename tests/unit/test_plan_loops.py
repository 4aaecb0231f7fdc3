"""Loops and conditional blocks in flows: what a plan may write, and the messages when it is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from surge.cloud.planner import iteration_in_flight_s
from surge.plan_load import parse_plan
from surge.plan_steps import flow_steps
from tests.unit.test_plan import only_problem, problems, with_flow

GET = {"get": "/health"}


def loop(spec: dict[str, Any], *steps: Any) -> dict[str, Any]:
    return {"loop": spec, "steps": list(steps or [GET])}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (loop({}), "a loop takes one of 'count', 'over' or 'while'"),
        (loop({"count": 3, "over": [1]}), "a loop takes one of 'count', 'over' or 'while'"),
        (loop({"count": 200, "max": 100}), "loop count 200 is above its max 100"),
        (loop({"count": 20_000}), "less than or equal to 10000"),
        (loop({"while": {"var": "x"}}), "takes one of 'equals', 'contains' or 'exists'"),
        (loop({"over": {"json": "$[*]"}}), "'over' takes a list, or one of 'var'"),
        ({"loop": {"count": 2}}, "'loop' runs the step's 'steps': add them"),
        ({"if": {"var": "x", "exists": True}}, "'if' runs the step's 'steps': add them"),
        ({"get": "/a", "steps": [GET]}, "'steps' belong to a 'loop' or an 'if' step"),
        ({"loop": {"count": 2}, "steps": []}, "at least 1 item"),
    ],
)
def test_malformed_loops_and_ifs_are_refused_with_their_field(step: dict[str, Any], expected: str) -> None:
    found = problems(with_flow(step))
    assert any(expected in p for p in found), found


def test_variables_a_block_uses_must_be_defined_before_it() -> None:
    assert "scenarios[0].flow[0].loop.while.var: {{ cursor }} is not defined" in only_problem(
        with_flow(loop({"while": {"var": "cursor", "exists": True}}))
    )
    assert "scenarios[0].flow[0].if.var: {{ ghost }} is not defined" in only_problem(
        with_flow({"if": {"var": "ghost", "equals": 1}, "steps": [GET]})
    )
    assert "flow[0].loop.over.var: {{ ids }} is not defined" in only_problem(
        with_flow(loop({"over": {"var": "ids"}}))
    )
    # Inside: the loop's item and anything captured before; after: what the block captured.
    parse_plan(
        with_flow(
            {"get": {"url": "/a", "capture": [{"json": "$.next", "as": "cursor", "optional": True}]}},
            loop(
                {"while": {"var": "cursor", "exists": True}},
                {"get": {"url": "/a?c={{ cursor }}&i={{ $index }}", "capture": [{"json": "$.x", "as": "x"}]}},
            ),
            {"get": "/b/{{ x }}"},
        )
    )
    assert "flow[1].request.url: {{ item }} is not defined" in only_problem(
        with_flow(loop({"count": 2}, {"get": "/a/{{ item }}"}), {"get": "/b/{{ item }}"})
    )


def test_a_column_loop_needs_that_data_column(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("sku,qty\nA,1\n")
    ok = with_flow(
        loop({"over": {"column": "sku"}, "as": "code"}, {"get": "/p/{{ code }}"}), data={"file": str(data)}
    )
    parse_plan(ok, base_dir=tmp_path)
    bad = with_flow(loop({"over": {"column": "price"}}), data={"file": str(data)})
    assert "loop.over.column: no data column 'price'; the columns are: sku, qty" in only_problem(
        bad, base_dir=tmp_path
    )


def test_nested_blocks_are_walked_for_names_and_sizing() -> None:
    plan = parse_plan(
        with_flow(
            loop(
                {"count": 3},
                {"get": {"url": "/a", "name": "inner"}},
                {"if": {"var": "item", "equals": 1}, "steps": [{"get": {"url": "/b", "name": "deep"}}]},
            )
        )
    )
    paths = [where for where, _ in flow_steps(plan.scenarios[0].flow)]
    assert paths == ["flow[0]", "flow[0].steps[0]", "flow[0].steps[1]", "flow[0].steps[1].steps[0]"]
    # Three passes of two requests at 0.1 s: 0.6 s in flight.
    assert iteration_in_flight_s(plan, 0.1) == pytest.approx(0.6)


def test_setup_captures_are_known_to_every_flow_and_on_start_needs_users() -> None:
    setup = [{"post": {"url": "/token", "capture": [{"json": "$.token", "as": "token"}]}}]
    parse_plan(with_flow({"get": "/a?t={{ token }}"}, setup=setup, teardown=[{"delete": "/t/{{ token }}"}]))
    assert "teardown[0].request.url: {{ ghost }} is not defined" in only_problem(
        with_flow(GET, teardown=[{"delete": "/t/{{ ghost }}"}])
    )
    assert "on_start runs once per virtual user, in the closed model" in only_problem(
        with_flow(GET, on_start=[GET])
    )
    closed = with_flow(GET, load={"phases": [{"duration": "1m", "users": 2}]}, on_start=[GET])
    parse_plan(closed)


def test_cloud_runs_take_setup_and_teardown() -> None:
    from surge.plan_checks import semantic_problems

    plan = parse_plan(with_flow(GET, setup=[GET], teardown=[GET]))
    assert semantic_problems(plan, Path.cwd(), cloud=True) == []
