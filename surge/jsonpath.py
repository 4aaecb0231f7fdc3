"""JSONPath expressions in plans (captures, poll conditions, AWS step checks): one validator."""

from __future__ import annotations

from typing import Any


def compile_jsonpath(path: str) -> Any:
    from jsonpath_ng.ext import parse  # type: ignore[attr-defined]

    return parse(path)


def check_jsonpath(path: str) -> None:
    """Raise ValueError (a pydantic field error) naming the expression when it does not parse."""
    try:
        compile_jsonpath(path)
    except Exception as exc:
        raise ValueError(f"'{path}' is not a JSONPath expression: {exc}") from exc
