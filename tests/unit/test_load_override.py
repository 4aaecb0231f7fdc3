"""The load on the command line (--users/--vus, --rate, --duration, --spawn-rate): put into the
plan's data before validation, so what runs is exactly what the flags say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.errors import PlanError
from surge.load_override import LoadOverride
from surge.plan_load import parse_plan


def plan_data(phases: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": "o",
        "target": "http://127.0.0.1:8080",
        "load": {"phases": phases, "arrival": "poisson"},
        "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
    }


RAMP = [{"name": "warm", "duration": "10s", "rate": 5}, {"name": "peak", "duration": "1m", "rate": 50}]


def levels(plan_phases: object) -> list[tuple[str | None, float, float, float, str]]:
    return [(p.name, p.duration, p.start_level, p.end_level, p.model) for p in plan_phases]  # type: ignore[attr-defined]


def test_users_for_a_duration_replace_the_phases_with_a_closed_load() -> None:
    plan = parse_plan(plan_data(RAMP), load=LoadOverride(users=20, duration_s=30))
    assert levels(plan.load.phases) == [("steady", 30.0, 20.0, 20.0, "closed")]
    assert plan.load.arrival == "poisson"  # the rest of the plan's load stays as written


def test_a_spawn_rate_ramps_the_users_up_first_as_locust_does() -> None:
    plan = parse_plan(plan_data(RAMP), load=LoadOverride(users=20, spawn_rate=4, duration_s=60))
    assert levels(plan.load.phases) == [
        ("ramp-up", 5.0, 0.0, 20.0, "closed"),
        ("steady", 55.0, 20.0, 20.0, "closed"),
    ]


def test_a_rate_without_a_duration_keeps_the_plans_length() -> None:
    plan = parse_plan(plan_data(RAMP), load=LoadOverride(rate=12))
    assert levels(plan.load.phases) == [("steady", 70.0, 12.0, 12.0, "open")]


def test_a_duration_alone_keeps_the_plans_shape() -> None:
    plan = parse_plan(plan_data(RAMP), load=LoadOverride(duration_s=7))
    assert levels(plan.load.phases) == [("warm", 1.0, 5.0, 5.0, "open"), ("peak", 6.0, 50.0, 50.0, "open")]


def test_flags_that_contradict_each_other_are_named() -> None:
    assert "give one" in (LoadOverride(users=2, rate=3).problem() or "")
    assert "--users" in (LoadOverride(spawn_rate=3).problem() or "")
    assert LoadOverride(users=2, spawn_rate=1).problem() is None
    assert not LoadOverride()


def test_a_plan_whose_phases_cannot_be_read_is_left_to_validation_to_name() -> None:
    with pytest.raises(PlanError) as err:
        parse_plan(plan_data([{"duration": "soon", "rate": 5}]), load=LoadOverride(duration_s=10))
    assert "load.phases[0].duration" in str(err.value)


@given(
    users=st.integers(1, 5000),  # limits.max_users
    spawn=st.one_of(st.none(), st.floats(0.01, 1000)),
    duration=st.floats(0.5, 7200),  # limits.max_duration
)
def test_any_user_load_lasts_as_long_as_asked_and_reaches_its_users(
    users: int, spawn: float | None, duration: float
) -> None:
    plan = parse_plan(plan_data(RAMP), load=LoadOverride(users=users, spawn_rate=spawn, duration_s=duration))
    phases = plan.load.phases
    assert sum(p.duration for p in phases) == pytest.approx(duration)
    assert phases[-1].end_level == users
