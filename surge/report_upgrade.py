"""A stored report.json of an older schema, read as the current one. Pure.

Each step takes a report of one schema version to the next: a key the newer version made required
is filled with what its absence meant in the older one, so every reader reads one shape. The steps
never invent a figure: a count the older build did not keep stays absent where the schema lets it.
A report of a newer schema than this build knows is refused, not read as something it is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from surge.report_model import REPORT_SCHEMA_VERSION

# The name prefixes v1 reports' checks carried before checks said their kind: v1's, kept here as
# they were (a later rename of surge.validity's or surge.baseline's must not change this step).
_VALIDITY_PREFIX = "validity: "
_REGRESSION_PREFIX = "regression: "


class ReportVersionError(ValueError):
    """The report's schema_version is not one this build reads."""


def upgrade_report(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a parsed report.json) as the current schema: a new dict, the input untouched.
    Parts that are not the shape a step expects are left as they are, for the reader's type check
    to name."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportVersionError(f"schema_version is {version!r}, not a report schema version")
    if version > REPORT_SCHEMA_VERSION:
        raise ReportVersionError(
            f"it was written by a newer surge (report schema {version}; this surge reads up to "
            f"{REPORT_SCHEMA_VERSION}): upgrade surge to read it"
        )
    out = dict(data)
    for step in _STEPS[version - 1 :]:
        out = step(out)
    out["schema_version"] = REPORT_SCHEMA_VERSION
    return out


def _v1_to_v2(report: dict[str, Any]) -> dict[str, Any]:
    report.setdefault("baseline", None)
    if "end" not in report:
        report["end"] = {"stopped_by": _v1_stopped_by(report), "workers_lost": 0, "lost_reasons": []}
    report.setdefault("findings", [])
    checks = report.get("checks")
    if isinstance(checks, list):
        report["checks"] = [_check_kind(c) for c in checks]
    _figures_v2(report)
    targets = report.get("targets")
    if isinstance(targets, dict):
        report["targets"] = {
            name: _figures_v2(dict(part)) if isinstance(part, dict) else part
            for name, part in targets.items()
        }
    return report


def _v1_stopped_by(report: dict[str, Any]) -> str | None:
    """How a v1 run that did not record its end was stopped, as far as its report tells."""
    if isinstance(aborted_by := report.get("aborted_by"), str):
        return f"aborted by check '{aborted_by}'"
    return "stopped early" if report.get("partial") is True else None


def _figures_v2(part: dict[str, Any]) -> dict[str, Any]:
    """A run's or one target's figures: failures and intervals always present, every endpoint with
    its status codes and every phase with its status (a v1 phase without one had run)."""
    part.setdefault("failures", [])
    part.setdefault("uncertainty", {})
    endpoints = part.get("endpoints")
    if isinstance(endpoints, dict):
        part["endpoints"] = {
            name: {"status_codes": {}, **e} if isinstance(e, dict) else e for name, e in endpoints.items()
        }
    phases = part.get("phases")
    if isinstance(phases, list):
        part["phases"] = [{"status": "ran", **p} if isinstance(p, dict) else p for p in phases]
    return part


def _check_kind(check: object) -> object:
    if not isinstance(check, dict) or "kind" in check:
        return check
    name = check.get("name")
    text = name if isinstance(name, str) else ""
    kind = (
        "validity"
        if text.startswith(_VALIDITY_PREFIX)
        else "regression"
        if text.startswith(_REGRESSION_PREFIX)
        else "threshold"
    )
    return {**check, "kind": kind}


# _STEPS[n - 1] takes a report of version n to n + 1.
_STEPS: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (_v1_to_v2,)
assert len(_STEPS) == REPORT_SCHEMA_VERSION - 1
