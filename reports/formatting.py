"""Value formatting shared by every renderer, so a number reads the same in each output."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = [
    "DASH",
    "format_bytes",
    "format_count",
    "format_datetime",
    "format_delta",
    "format_duration",
    "format_ms",
    "format_offset",
    "format_per_s",
    "format_plain",
    "format_ratio",
    "format_usd",
    "format_value",
    "unit_for_key",
    "unit_for_path",
]

DASH = "—"


def format_ms(value: float | None) -> str:
    """Milliseconds with precision that shrinks as the value grows (0.42 ms, 42.1 ms, 1,234 ms)."""
    if value is None:
        return DASH
    size = abs(value)
    decimals = 2 if size < 10 else 1 if size < 100 else 0
    return f"{value:,.{decimals}f} ms"


def format_ratio(value: float | None) -> str:
    """A fraction as a percentage; tiny non-zero rates must not read as a clean 0 %."""
    if value is None:
        return DASH
    pct = value * 100
    if 0 < abs(pct) < 0.01:
        return "<0.01%"
    return f"{pct:.2f}%" if abs(pct) < 10 else f"{pct:.1f}%"


def format_per_s(value: float | None) -> str:
    if value is None:
        return DASH
    size = abs(value)
    decimals = 2 if size < 1 else 1 if size < 1000 else 0
    return f"{value:,.{decimals}f}/s"


def format_usd(value: float | None) -> str:
    """Dollars; sub-dollar amounts keep four decimals because per-run costs are often cents, and a
    non-zero amount below that must not read as a clean $0."""
    if value is None:
        return DASH
    if 0 < abs(value) < 0.00005:
        return "<$0.0001" if value > 0 else ">-$0.0001"
    decimals = 4 if 0 < abs(value) < 1 else 2
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


def format_count(value: float | None) -> str:
    if value is None:
        return DASH
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def format_plain(value: float | None) -> str:
    return DASH if value is None else f"{value:,.6g}"


def format_bytes(value: float | None) -> str:
    if value is None:
        return DASH
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


_FORMATTERS = {
    "ms": format_ms,
    "ratio": format_ratio,
    "per_s": format_per_s,
    "usd": format_usd,
    "count": format_count,
    "bytes": format_bytes,
}


def format_value(value: float | None, unit: str) -> str:
    """Format a number in one of the report's units ("ms", "ratio", "per_s", "count", "usd", "")."""
    if value is not None and not math.isfinite(value):
        return str(value)
    return _FORMATTERS.get(unit, format_plain)(value)


def format_delta(delta_pct: float | None) -> str:
    """Change against the baseline, already in percent (12.5 == +12.5 %)."""
    return DASH if delta_pct is None else f"{delta_pct:+.1f}%"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s"


def format_offset(seconds: float) -> str:
    """Time since the run's start as a clock (3:00, 1:02:03), the way phases are planned."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_datetime(iso: str | None) -> str:
    """ISO 8601 to a readable UTC time; an unparsable value is shown as given rather than hidden."""
    if not iso:
        return DASH
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# Suffixes follow the report's conventions (rates are fractions, durations ms, money USD), so a
# collector's free-form dict still reads with units.
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_usd", "usd"),
    ("_ms", "ms"),
    ("_rate", "ratio"),
    ("_ratio", "ratio"),
    ("_rps", "per_s"),
    ("_per_s", "per_s"),
    ("_bytes", "bytes"),
)


def unit_for_path(path: Sequence[str]) -> str:
    for segment in reversed(path):
        for suffix, unit in _SUFFIX_UNITS:
            if segment.lower().endswith(suffix) or segment.lower() == suffix[1:]:
                return unit
    return ""


def unit_for_key(key: str) -> str:
    """The unit a dotted report key names by its suffix (``duration.p95_ms`` -> "ms"), or ""."""
    return unit_for_path(key.split("."))
