"""Parsing of human-friendly durations, rates and sizes used in plans and thresholds."""

from __future__ import annotations

import re
from typing import Any

# How these values may be written in a plan file, as JSON Schema (pydantic's WithJsonSchema on the
# plan's types): editors complete and check them. "x-kind" names the form for docs/plans.md.
DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(us|µs|ms|sec|min|s|m|h)?\s*)+$"},
    ],
    "x-kind": "duration",
    "examples": ["500ms", "30s", "5m", "1h", "1m30s"],
}
SHARE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
    ],
    "x-kind": "share",
    "examples": ["1%", 0.01],
}
SIZE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"(?i)^\s*\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$"},
    ],
    "x-kind": "size",
    "examples": ["10MB", "512KiB"],
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|sec|m|min|h)?\s*$")
_TO_SECONDS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}


def parse_duration_s(value: object, *, default_unit: str = "s") -> float:
    """'90s', '10m', '1h', '250ms' or a bare number (in ``default_unit``) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 500ms")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value) * _TO_SECONDS[default_unit]
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 10m or 500ms")
    # "1m30s" style compounds are common in k6 plans.
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(us|µs|ms|sec|min|s|m|h)", value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        return sum(float(n) * _TO_SECONDS[u] for n, u in parts)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"'{value}' is not a duration; use e.g. 30s, 10m, 1h or 500ms")
    return float(m.group(1)) * _TO_SECONDS[m.group(2) or default_unit]


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_share(value: object) -> float:
    """'1%', '0.5 %' or a fraction (0.01) -> a fraction in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError("expected a share such as 1% or 0.01")
    if isinstance(value, int | float):
        share = float(value)
    elif isinstance(value, str) and (m := _PERCENT.match(value)):
        share = float(m.group(1)) / 100.0
    else:
        raise ValueError(f"'{value}' is not a share; write e.g. 1% or 0.01")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"'{value}' is not between 0% and 100%")
    return share


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_size_bytes(value: object) -> int:
    """'10MB', '512KiB', '1GB' or a bare number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10MB or 512KiB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"'{value}' is not a size; use e.g. 10MB, 512KiB or a number of bytes")
    return int(float(m.group(1)) * _SIZE_FACTORS[(m.group(2) or "b").lower()])
