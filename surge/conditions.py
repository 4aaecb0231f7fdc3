"""The one meaning of a JSON condition (`equals`, `contains`, `exists`), wherever a plan writes one:
a poll's `until`, a request's `expect`, an `aws:` step's `expect`. Pure.

``values`` are what the JSONPath matched (none, one, or several for a wildcard); the condition holds
if any of them satisfies it. Numbers and their text compare equal ("202" and 202), since templated
values render as text.
"""

from __future__ import annotations

from typing import Literal

How = Literal["equals", "contains", "exists"]


def equal(value: object, expected: object) -> bool:
    if value == expected:
        return True
    numbers = int | float
    if isinstance(expected, str) and isinstance(value, numbers) and not isinstance(value, bool):
        return str(value) == expected
    if isinstance(value, str) and isinstance(expected, numbers) and not isinstance(expected, bool):
        return value == str(expected)
    return False


def contains(value: object, expected: object) -> bool:
    """A substring of a string, an element of a list, a key of an object, or the value itself."""
    if isinstance(value, str):
        return str(expected) in value
    if isinstance(value, list):
        return any(equal(v, expected) for v in value)
    if isinstance(value, dict):
        return str(expected) in value
    return equal(value, expected)


def condition_holds(values: list[object], how: How | str, expected: object) -> bool:
    if how == "exists":
        return bool(values) == bool(expected)
    if how == "equals":
        return any(equal(v, expected) for v in values)
    return any(contains(v, expected) for v in values)
