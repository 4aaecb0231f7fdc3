"""Think times and pacing that vary as real users do: fixed, uniform in a range, or normal.

Locust's ``between(1, 3)`` is ``think: 1s..3s`` (or ``{between: [1s, 3s]}``); ``constant(2)`` is
``think: 2s``; a mean with a spread is ``{mean: 2s, stddev: 500ms}`` (normal, never below 0).
A pause is drawn from the worker's seeded generator, so a run with a ``seed`` is reproducible.
Pure; the plan stores a pause in the form it was parsed from.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from surge.units import DURATION_SCHEMA, parse_duration_s

_RANGE = re.compile(r"^\s*(.+?)\s*\.\.\s*(.+?)\s*$")


@dataclass(frozen=True)
class Pause:
    """``low == high``: fixed. ``stddev`` set: normal around ``mean``. Else uniform in [low, high]."""

    low: float
    high: float
    stddev: float | None = None

    @property
    def is_fixed(self) -> bool:
        return self.stddev is None and self.low == self.high

    @property
    def mean_s(self) -> float:
        return self.low if self.stddev is not None else (self.low + self.high) / 2

    def sample(self, rng: random.Random) -> float:
        if self.stddev is not None:
            return max(rng.gauss(self.low, self.stddev), 0.0)
        if self.low == self.high:
            return self.low
        return rng.uniform(self.low, self.high)

    def to_plan(self) -> object:
        """The plan form this pause is read back from (the stored plan round-trips)."""
        if self.stddev is not None:
            return {"mean": self.low, "stddev": self.stddev}
        if self.low == self.high:
            return self.low
        return {"between": [self.low, self.high]}


def parse_pause(value: object) -> Pause:
    """``2s``, ``1s..3s``, ``{between: [1s, 3s]}`` or ``{mean: 2s, stddev: 500ms}``."""
    if isinstance(value, Pause):
        return value
    if isinstance(value, str) and (m := _RANGE.match(value)):
        return _between(m.group(1), m.group(2))
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"between"}:
            pair: Any = value["between"]
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError("between takes two durations: {between: [1s, 3s]}")
            return _between(pair[0], pair[1])
        if keys == {"mean", "stddev"}:
            mean, stddev = parse_duration_s(value["mean"]), parse_duration_s(value["stddev"])
            return Pause(mean, mean, stddev) if stddev > 0 else Pause(mean, mean)
        raise ValueError(
            "a pause is a duration (2s), a range (1s..3s or {between: [1s, 3s]}) or {mean: 2s, stddev: 500ms}"
        )
    seconds = parse_duration_s(value)
    return Pause(seconds, seconds)


def _between(low: object, high: object) -> Pause:
    a, b = parse_duration_s(low), parse_duration_s(high)
    if b < a:
        raise ValueError(f"the range {a:g}s..{b:g}s ends before it starts")
    return Pause(a, b)


# The forms a plan may write a pause in, as JSON Schema (for editors and docs/plans.md).
PAUSE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        DURATION_SCHEMA,
        {"type": "string", "pattern": _RANGE.pattern, "description": "a range: 1s..3s"},
        {
            "type": "object",
            "properties": {
                "between": {"type": "array", "items": DURATION_SCHEMA, "minItems": 2, "maxItems": 2}
            },
            "required": ["between"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"mean": DURATION_SCHEMA, "stddev": DURATION_SCHEMA},
            "required": ["mean", "stddev"],
            "additionalProperties": False,
        },
    ],
    "x-kind": "pause",
    "examples": ["2s", "1s..3s", {"between": ["1s", "3s"]}, {"mean": "2s", "stddev": "500ms"}],
}
