"""One meaning of a JSON condition for polls, requests and aws: steps (surge/conditions.py)."""

from __future__ import annotations

import pytest

from surge.conditions import condition_holds
from tests.unit.test_plan import problems, with_flow


@pytest.mark.parametrize(
    ("values", "how", "expected", "holds"),
    [
        ([202], "equals", "202", True),  # a templated value renders as text
        (["7"], "equals", 7, True),
        ([True], "equals", "True", False),  # booleans are not numbers here
        (["order.created"], "contains", "order", True),
        ([["a", "b"]], "contains", "b", True),
        ([{"k": 1}], "contains", "k", True),
        ([5], "contains", 5, True),
        ([], "exists", True, False),
        ([None], "exists", True, True),  # a null value is still there
        ([], "exists", False, True),
        (["x", "y"], "equals", "y", True),  # any of a wildcard's matches
        ([], "equals", "y", False),
    ],
)
def test_condition_semantics(values: list[object], how: str, expected: object, holds: bool) -> None:
    assert condition_holds(values, how, expected) is holds


def test_request_expectations_are_validated_like_a_polls_until() -> None:
    (p,) = problems(
        with_flow({"get": {"url": "/", "expect": [{"json": "$.a", "equals": 1, "exists": True}]}})
    )
    assert "'expect.json' takes exactly one of 'equals', 'contains' or 'exists'" in p
    (p,) = problems(with_flow({"get": {"url": "/", "expect": [{"status": 200, "equals": 1}]}}))
    assert "compare the value at 'expect.json': add it" in p
    (p,) = problems(with_flow({"get": {"url": "/", "expect": [{"json": "$.a", "equals": "{{ nope }}"}]}}))
    assert "expect[0]: {{ nope }} is not defined" in p
    (p,) = problems(with_flow({"get": {"url": "/", "expect": [{"max": "0ms"}]}}))
    assert "max" in p
