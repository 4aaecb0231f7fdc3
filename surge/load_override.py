"""The load given on the command line (`surge run plan.yaml --users 50 --duration 2m`), as k6's
--vus/--duration and Locust's -u/-r/-t give it: put into the plan's data before the plan is
validated, so the plan that runs, is checked, stored and hashed is the one the flags describe.
Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from surge.units import format_duration, parse_duration_s


@dataclass(frozen=True)
class LoadOverride:
    users: int | None = None  # closed model: this many virtual users
    rate: float | None = None  # open model: this many arrivals per second
    duration_s: float | None = None  # the whole load's length (alone: the plan's phases scaled to it)
    spawn_rate: float | None = None  # with users: users started per second (a ramp from 0 first)

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.users, self.rate, self.duration_s, self.spawn_rate))

    def problem(self) -> str | None:
        """What is wrong with the flags together, in their own words; None when they make sense."""
        if self.users is not None and self.rate is not None:
            return "--users and --rate set two load models (virtual users, or arrivals per second): give one"
        if self.spawn_rate is not None and self.users is None:
            return "--spawn-rate starts virtual users: give --users too (e.g. --users 50 --spawn-rate 5)"
        return None

    def describe(self) -> str:
        parts = []
        if self.users is not None:
            parts.append(f"{self.users} users")
            if self.spawn_rate is not None:
                parts.append(f"started {self.spawn_rate:g}/s")
        if self.rate is not None:
            parts.append(f"{self.rate:g} arrivals/s")
        if self.duration_s is not None:
            parts.append(f"for {format_duration(self.duration_s)}")
        return ", ".join(parts)

    def apply(self, load: Mapping[str, Any]) -> dict[str, Any]:
        """The plan's ``load:`` with these flags put in. A phase the flags cannot read (a duration
        that is not one) is left as written, for the plan's validation to name."""
        out = dict(load)
        phases = load.get("phases")
        written = [p for p in phases if isinstance(p, Mapping)] if isinstance(phases, list) else []
        lengths = [_seconds(p.get("duration")) for p in written]
        total = sum(x for x in lengths if x is not None) if all(x is not None for x in lengths) else None
        duration = self.duration_s if self.duration_s is not None else total
        if self.users is None and self.rate is None:
            if self.duration_s is None or not total or len(written) != len(phases or []):
                return out
            # The plan's own shape, stretched or shrunk to the length given.
            factor = self.duration_s / total
            out["phases"] = [
                {**p, "duration": (length or 0.0) * factor}
                for p, length in zip(written, lengths, strict=True)
            ]
            return out
        if duration is None:
            return out  # no length from the flags or the plan: validation says what is missing
        if self.rate is not None:
            out["phases"] = [{"name": "steady", "duration": duration, "rate": self.rate}]
            return out
        assert self.users is not None
        ramp = min(self.users / self.spawn_rate, duration) if self.spawn_rate else 0.0
        new: list[dict[str, Any]] = []
        if ramp > 0:
            new.append({"name": "ramp-up", "duration": ramp, "users": 0, "ramp_to": self.users})
        if duration - ramp > 1e-9:
            new.append({"name": "steady", "duration": duration - ramp, "users": self.users})
        out["phases"] = new
        return out


def _seconds(value: object) -> float | None:
    try:
        return parse_duration_s(value)
    except ValueError:
        return None
