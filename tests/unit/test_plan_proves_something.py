"""What `validate` accepts, `run` can run and it can prove something: plans that would send nothing,
expect what no answer can be, or build values no worker can, are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.template import TemplateError, compile_template
from tests.unit.test_plan import only_problem, with_flow, with_phases


def test_a_plan_that_sends_no_load_is_refused() -> None:
    assert "every phase has rate 0: the plan sends no load" in only_problem(
        with_phases({"duration": "10s", "rate": 0})
    )
    assert "every phase has users 0" in only_problem(with_phases({"duration": "10s", "users": 0}))
    # A pause between phases that do send is fine.
    from surge.plan_load import parse_plan

    parse_plan(with_phases({"duration": "5s", "rate": 5}, {"duration": "5s", "rate": 0}))


def test_a_flow_that_sends_nothing_is_refused() -> None:
    message = only_problem(with_flow({"think": "1s"}, {"mark": "m"}))
    assert "no step sends anything" in message


@pytest.mark.parametrize("status", [9999, 100, 42, [200, 700]])
def test_an_expected_status_no_answer_can_have_is_refused(status: object) -> None:
    message = only_problem(with_flow({"get": {"url": "/", "expect": [{"status": status}]}}))
    assert "is not a final HTTP status (200-599)" in message


def test_a_random_string_no_worker_can_build_is_refused() -> None:
    with pytest.raises(TemplateError, match="too long: at most 1,000,000"):
        compile_template("{{ $randstr(50000000) }}")
    assert "too long" in only_problem(with_flow({"get": "/?x={{ $randstr(50000000) }}"}))


def test_validity_may_be_loosened_never_switched_off() -> None:
    message = only_problem(with_flow({"get": "/"}, validity={"max_workers_lost": "100%"}))
    assert "100% of the workers lost would pass a run that measured nothing" in message


def test_a_capture_group_the_regex_does_not_have_is_refused() -> None:
    step = {"get": {"url": "/", "capture": [{"regex": "id=(\\d+)", "group": 2, "as": "id"}]}}
    assert "has 1 group(s); take one of 0-1" in only_problem(with_flow(step))


@pytest.mark.parametrize("value", ["a\ud800b", "x\r\nInjected: 1", "nul\x00"])
def test_a_header_no_request_can_carry_is_refused(value: str) -> None:
    message = only_problem(with_flow({"get": {"url": "/", "headers": {"X-A": value}}}))
    assert "line break or NUL" in message or "lone surrogate" in message


def test_a_file_part_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    step = {"post": {"url": "/", "multipart": {"image": {"path": "pics"}}}}
    assert "is not a file" in only_problem(with_flow(step), base_dir=tmp_path)


@pytest.mark.parametrize(("key", "meant"), [("arrivalRate", "rate"), ("vus", "users"), ("rampTo", "ramp_to")])
def test_other_tools_names_point_at_surges(key: str, meant: str) -> None:
    message = only_problem(with_phases({"duration": "10s", "rate": 5, key: 5}))
    assert f"did you mean '{meant}'?" in message


def test_request_fields_beside_a_shorthand_say_they_belong_inside() -> None:
    message = only_problem(with_flow({"get": "/api/mocs", "expect": [{"status": 200}]}))
    assert "expect belong(s) inside the request: get: {url: /api/mocs, expect: ...}" in message


def test_the_unknown_metric_hint_names_every_namespace() -> None:
    message = only_problem(with_flow({"get": "/"}, thresholds=["latency.p95 < 1s"]))
    assert 'stage["NAME"].' in message and 'target["NAME"].' in message
