"""Think times and pacing (surge/pause.py): the forms a plan writes, draws, and the stored plan."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.pause import Pause, parse_pause
from surge.plan import Plan
from surge.plan_load import parse_plan
from tests.unit.test_plan import plan_data, problems, with_flow


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2s", Pause(2.0, 2.0)),
        (0.5, Pause(0.5, 0.5)),
        ("1s..3s", Pause(1.0, 3.0)),
        ("500ms .. 1.5s", Pause(0.5, 1.5)),
        ({"between": ["1s", "3s"]}, Pause(1.0, 3.0)),  # Locust's between(1, 3)
        ({"mean": "2s", "stddev": "500ms"}, Pause(2.0, 2.0, 0.5)),
        ({"mean": "2s", "stddev": 0}, Pause(2.0, 2.0)),
    ],
)
def test_the_forms_a_plan_writes(written: object, expected: Pause) -> None:
    assert parse_pause(written) == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("3s..1s", "ends before it starts"),
        ({"between": ["1s"]}, "between takes two durations"),
        ({"min": "1s", "max": "3s"}, "a pause is a duration"),
        ("soon", "is not a duration"),
    ],
)
def test_mistakes_name_the_form(written: object, message: str) -> None:
    (problem,) = problems(with_flow({"get": "/"}, {"think": written}))
    assert "scenarios[0].flow[1].think" in problem and message in problem


def test_draws_are_in_range_seeded_and_never_negative() -> None:
    uniform = Pause(1.0, 3.0)
    draws = [uniform.sample(random.Random(7)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]  # the same seed, the same draw: a run is reproducible
    rng = random.Random(1)
    many = [uniform.sample(rng) for _ in range(5000)]
    assert min(many) >= 1.0 and max(many) <= 3.0 and abs(statistics.mean(many) - 2.0) < 0.05
    normal = Pause(0.1, 0.1, 0.2)
    rng = random.Random(2)
    spread = [normal.sample(rng) for _ in range(5000)]
    assert min(spread) == 0.0 and statistics.median(spread) == pytest.approx(0.1, abs=0.02)
    assert Pause(2.0, 2.0).sample(rng) == 2.0


@given(st.floats(0, 100), st.floats(0, 100), st.one_of(st.none(), st.floats(0.001, 10)))
def test_a_stored_plan_reads_back_the_same_pause(a: float, b: float, stddev: float | None) -> None:
    pause = Pause(min(a, b), max(a, b)) if stddev is None else Pause(a, a, stddev)
    data = plan_data(
        load={"phases": [{"duration": "10s", "users": 2}], "think_time": pause.to_plan()},
        scenarios=[{"name": "s", "flow": [{"get": "/"}, {"think": pause.to_plan()}]}],
    )
    plan = parse_plan(data)
    again = Plan.model_validate(plan.model_dump(mode="json", by_alias=True))
    assert again.load.think_time == plan.load.think_time == pause
    assert again.scenarios[0].flow[1].think == pause
    assert again.plan_hash() == plan.plan_hash()
