"""Hostile or broken plan input meets a clear message (PlanError, exit 2), never a crash or a hang.

The cases are those a review found crashing, hanging or silently accepted; the property tests feed
the loader and the threshold parser generated documents and expressions.
"""

from __future__ import annotations

import contextlib
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.errors import PlanError
from surge.plan_document import MAX_DEPTH, MAX_PLAN_BYTES, parse_document
from surge.plan_load import load_plan, parse_plan
from surge.thresholds import ThresholdError, parse_threshold
from tests.unit.test_plan import plan_data, problems, with_flow

ALIAS_BOMB = b"""
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def refused(raw: bytes) -> str:
    with pytest.raises(PlanError) as info:
        parse_document(raw, "plan.yaml")
    return str(info.value)


def test_a_binary_file_is_not_a_plan() -> None:
    assert "not UTF-8 text (byte 0 is 0x89)" in refused(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "NUL" in refused(b"name: x\x00")


def test_an_oversized_plan_is_refused_by_its_size() -> None:
    message = refused(b"description: " + b"x" * MAX_PLAN_BYTES)
    assert "a plan may be at most" in message and "data file" in message


def test_a_key_given_twice_names_both_lines() -> None:
    message = refused(b"name: a\ntarget: http://127.0.0.1\nname: b\n")
    assert "line 3: key 'name' is given twice in one mapping (first at line 1)" in message


def test_a_key_given_twice_on_one_line_is_refused_too() -> None:
    message = refused(
        b"name: a\ntarget: http://127.0.0.1\nload: {phases: [{duration: 2s, rate: 5, rate: 6}]}\n"
    )
    assert "line 3: key 'rate' is given twice in one mapping (first at line 3, column" in message


def test_merge_keys_are_not_duplicates() -> None:
    doc = parse_document(b"base: &b {x: 1}\nthis:\n  <<: *b\n  y: 2\n", "plan.yaml")
    assert doc == {"base": {"x": 1}, "this": {"x": 1, "y": 2}}


def test_an_alias_bomb_is_refused_at_the_cost_of_its_own_size() -> None:
    assert "an alias bomb" in refused(ALIAS_BOMB)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 3_000])  # 3,000: past the composer's recursion
def test_deep_nesting_is_refused(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    assert f"nested more than {MAX_DEPTH} levels deep" in refused(b"scenarios: " + body)


def test_load_plan_reads_no_more_than_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"description: " + b"x" * (50 << 20))
    with pytest.raises(PlanError, match=r"huge.yaml is 52,428,813 bytes; a plan may be at most 1,048,576"):
        load_plan(path)


def test_variables_may_use_those_above_them_only() -> None:
    assert problems(plan_data(variables={"a": "{{ b }}", "b": "{{ a }}"})) == [
        "variables.a: {{ b }} is defined below it; variables are rendered once, in order: move 'b' above 'a'",
    ]
    assert problems(plan_data(variables={"a": "x{{ a }}"})) == ["variables.a: {{ a }} refers to itself"]
    (message,) = problems(plan_data(variables={"a": "{{ nowhere }}"}))
    assert message.startswith("variables.a: {{ nowhere }} is not defined")
    plan = parse_plan(plan_data(variables={"host": "api", "url": "/{{ host }}/v1"}))
    assert list(plan.variables) == ["host", "url"]


def test_a_variable_renders_with_the_ones_above_it() -> None:
    from surge.engine.flow import compile_plan

    plan = parse_plan(
        plan_data(variables={"host": "api", "url": "/{{ host }}/v1", "n": "{{ $randint(1, 1) }}"})
    )
    assert compile_plan(plan).variables == {"host": "api", "url": "/api/v1", "n": 1}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-A": "ok\r\nX-Injected: 1"}, "header X-A: the value contains a line break or NUL"),
        ({"X-A": "a\nb"}, "header X-A: the value contains a line break or NUL"),
        ({"Bad Name": "v"}, "header name 'Bad Name' is not a valid HTTP header name"),
        ({"X-A:": "v"}, "header name 'X-A:' is not a valid HTTP header name"),
    ],
)
def test_header_injection_is_refused_at_validate(headers: dict[str, str], expected: str) -> None:
    (message,) = problems(with_flow({"get": {"url": "/", "headers": headers}}))
    assert "scenarios[0].flow[0]" in message and expected in message


def test_a_zero_timeout_is_refused() -> None:
    (message,) = problems(with_flow({"get": {"url": "/", "timeout": "0s"}}))
    assert "timeout" in message and "greater than 0" in message


def test_two_different_requests_under_one_name_are_refused() -> None:
    (message,) = problems(
        with_flow({"get": {"url": "/a", "name": "home"}}, {"post": {"url": "/b", "name": "home"}})
    )
    assert message.startswith("scenarios[0].flow[1].request.name: 'home' already names GET /a")
    # The same request named alike in two scenarios is one endpoint on purpose.
    same = {"get": {"url": "/a", "name": "home"}}
    parse_plan(
        plan_data(scenarios=[{"name": "x", "flow": [same]}, {"name": "y", "flow": [same]}]),
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("http.error_rate < 200%", "cannot fail"),
        ("http.error_rate <= 100%", "cannot fail"),
        ("http.error_rate <= 1", "cannot fail"),
        ("http.latency.p95 >= 0ms", "cannot fail"),
        ("http.error_rate > 100%", "can never pass"),
        ("http.latency.p95 < 0ms", "can never pass"),
    ],
)
def test_a_check_decided_before_the_run_is_refused(expr: str, expected: str) -> None:
    with pytest.raises(ThresholdError, match=expected):
        parse_threshold(expr)
    assert any(expected in p for p in problems(plan_data(thresholds=[expr])))


@pytest.mark.parametrize("expr", ["http.error_rate < 100%", "http.error_rate == 100%", "http.throughput > 0"])
def test_checks_that_can_go_either_way_are_kept(expr: str) -> None:
    parse_threshold(expr)


# -- property tests --------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1s", "0s", "-1s", "5%", "200%", "GET", "/", "{{ x }}", "{{", "$env.HOME", "nan"]),
)
_keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "target",
            "load",
            "phases",
            "duration",
            "rate",
            "users",
            "scenarios",
            "flow",
            "get",
            "post",
            "url",
            "headers",
            "json",
            "thresholds",
            "check",
            "variables",
            "data",
            "file",
            "timeout",
            "validity",
            "limits",
            "workers",
            "expect",
            "capture",
            "poll",
            "aws",
            "redact",
        ]
    ),
    st.text(string.ascii_letters, min_size=1, max_size=8),
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=30,
)


def _validate(raw: bytes) -> None:
    """What `surge validate` does with a file's bytes: a plan, or a PlanError; nothing else."""
    with contextlib.suppress(PlanError):
        parse_plan(parse_document(raw, "plan.yaml"), base_dir=Path("/nonexistent"), environ={})


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.builds(
        lambda base, extra: {**base, **extra},
        st.just(plan_data()),
        st.dictionaries(_keys, _documents, max_size=3),
    )
)
def test_any_generated_plan_is_accepted_or_refused_with_a_message(doc: dict[str, Any]) -> None:
    _validate(yaml.safe_dump(doc).encode())


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_accepted_or_refused_with_a_message(raw: bytes) -> None:
    _validate(raw)


@settings(max_examples=500, deadline=1000)
@given(
    st.builds(
        lambda m, op, v: f"{m} {op} {v}",
        st.sampled_from(
            [
                "http.latency.p95",
                "http.error_rate",
                "http.throughput",
                "endpoint.a.errors",
                "x.y",
                "lambda.duration.p99",
            ]
        ),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "=>", "~"]),
        st.text(string.digits + ".%msu$/ -+*()e", max_size=12),
    )
    | st.text(max_size=40)
)
def test_any_threshold_text_parses_or_raises_a_threshold_error(expr: str) -> None:
    with contextlib.suppress(ThresholdError):
        parse_threshold(expr)
