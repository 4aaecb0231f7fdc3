"""What `surge validate` accepts, a run can use: generated plans that validate compile for the
engine, plan their cloud segments, and re-validate from the form a run stores them in (what
`surge report` reads back). A plan that validates and then fails at run time is a defect."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.cloud.execution_input import parse_options
from surge.cloud.planner import plan_segments
from surge.engine.flow import compile_plan
from surge.errors import PlanError
from surge.plan_load import parse_plan

durations = st.sampled_from(["500ms", "1s", "2s", "10s", "1m", 3, 0.25])
levels = st.integers(0, 200)
templates = st.sampled_from(
    [
        "/",
        "/api/mocs",
        "/api/mocs/{{ $randint(1, 9) }}",
        "/x?id={{ $uuid }}",
        "/s/{{ $randstr(3, 8) }}",
        "/v/{{ token }}",
        "/i/{{ $iteration }}",
        "/c/{{ $choice(a, b) }}",
    ]
)


@st.composite
def phases(draw: st.DrawFn) -> list[dict[str, Any]]:
    key = draw(st.sampled_from(["rate", "users"]))
    out = []
    for _ in range(draw(st.integers(1, 3))):
        phase: dict[str, Any] = {"duration": draw(durations), key: draw(levels)}
        if draw(st.booleans()):
            phase["ramp_to"] = draw(levels)
        out.append(phase)
    return out


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(["get", "post", "put", "delete"]))
    req: dict[str, Any] = {"url": draw(templates)}
    if method != "get" and draw(st.booleans()):
        req["json"] = {"type": "{{ $randstr(300, 600) }}", "n": "{{ $randint(1, 5) }}"}
    if draw(st.booleans()):
        req["expect"] = [{"status": draw(st.sampled_from([200, 201, 202, 404]))}]
    if draw(st.booleans()):
        req["capture"] = [{"json": "$.id", "as": "token"}]
    if draw(st.booleans()):
        req["headers"] = {"X-Trace": "{{ $uuid }}"}
    return {method: req}


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    flow = draw(st.lists(requests(), min_size=1, max_size=4))
    if draw(st.booleans()):
        flow.insert(draw(st.integers(0, len(flow))), {"think": draw(st.sampled_from(["100ms", "1s..2s"]))})
    plan: dict[str, Any] = {
        "name": "generated",
        "target": "http://127.0.0.1:8080",
        "load": {"phases": draw(phases())},
        "scenarios": [{"name": "s", "flow": flow}],
        "variables": {"token": "t-{{ $randint(1, 3) }}"},
        "thresholds": draw(
            st.lists(
                st.sampled_from(["http.latency.p95 < 250ms", "http.error_rate < 1%", "http.throughput > 1/s"])
            )
        ),
    }
    if draw(st.booleans()):
        plan["load"]["think_time"] = "10ms..20ms"
    return plan


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_a_plan_that_validates_compiles_plans_its_segments_and_validates_again_as_stored(
    data: dict[str, Any],
) -> None:
    try:
        plan = parse_plan(data, environ={})
    except PlanError:
        return  # refused with a message: the other property tests' concern
    compile_plan(plan, env={})
    segments = plan_segments(plan, parse_options({}))
    assert segments and sum(s.duration_s for s in segments) >= plan.load.duration_s - 1e-6
    stored = yaml.safe_load(yaml.safe_dump(plan.model_dump(mode="json", by_alias=True), sort_keys=False))
    again = parse_plan(stored, environ={})
    assert again.plan_hash() == plan.plan_hash() and again.load_hash() == plan.load_hash()
