"""--set PATH=VALUE: one field of the plan from the command line, put in before validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.errors import PlanError
from surge.plan_load import plan_model
from surge.plan_set import apply_settings, parse_setting

PLAN = {
    "name": "p",
    "target": "http://127.0.0.1:8080",
    "load": {
        "phases": [
            {"name": "warm", "duration": "10s", "rate": 5},
            {"name": "sustained", "duration": "1m", "rate": 50},
        ]
    },
    "scenarios": [{"name": "browse", "flow": [{"get": "/a"}]}],
}


def test_a_phase_is_chosen_by_its_name_or_index_and_the_value_read_as_yaml() -> None:
    plan = plan_model(
        PLAN,
        settings=(
            parse_setting("load.phases[sustained].rate=200"),
            parse_setting("load.phases[0].duration=30s"),
            parse_setting("defaults.timeout=2s"),
            parse_setting("scenarios[browse].weight=3"),
        ),
    )
    assert [(p.name, p.rate, p.duration) for p in plan.load.phases] == [
        ("warm", 5, 30.0),
        ("sustained", 200, 60.0),
    ]
    assert plan.defaults.timeout == 2.0 and plan.scenarios[0].weight == 3
    assert PLAN["load"]["phases"][1]["rate"] == 50  # type: ignore[index]  # the caller's data is left as it was


def test_later_settings_win() -> None:
    data = apply_settings(
        PLAN, (parse_setting("load.phases[warm].rate=7"), parse_setting("load.phases[0].rate=9"))
    )
    assert data["load"]["phases"][0]["rate"] == 9


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("load.phases[steady].rate=1", "has no item [steady] (its items: warm, sustained)"),
        ("load.phases[5].rate=1", "has no item [5]"),
        ("load.phases.rate=1", "load.phases is not a mapping"),
        ("name[0]=x", "name is not a list"),
    ],
)
def test_a_path_that_leads_nowhere_is_named(text: str, said: str) -> None:
    with pytest.raises(PlanError) as info:
        plan_model(PLAN, settings=(parse_setting(text),))
    assert said in str(info.value) and text in str(info.value)


@pytest.mark.parametrize("text", ["rate", "=5", "a..b=1", "load.phases[=1"])
def test_what_is_not_path_equals_value_says_how_it_is_written(text: str) -> None:
    with pytest.raises(ValueError, match=r"load\.phases\[sustained\]\.rate=200"):
        parse_setting(text)


def test_a_value_the_plan_refuses_is_named_by_the_plans_own_check() -> None:
    with pytest.raises(PlanError) as info:
        plan_model(PLAN, settings=(parse_setting("load.phases[sustained].rate=-3"),))
    assert "load.phases[1].rate" in "\n".join(info.value.problems)


@given(rate=st.integers(1, 5_000), name=st.sampled_from(["warm", "sustained"]))
def test_any_rate_set_on_a_named_phase_is_the_rate_that_phase_runs(rate: int, name: str) -> None:
    plan = plan_model(PLAN, settings=(parse_setting(f"load.phases[{name}].rate={rate}"),))
    rates = {p.name: p.rate for p in plan.load.phases}
    assert rates[name] == rate
    assert rates["warm" if name == "sustained" else "sustained"] == (50 if name == "warm" else 5)
