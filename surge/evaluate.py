"""Thresholds against measured metrics, and the run's verdict. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from surge.report_model import Check, CheckStatus, Verdict
from surge.thresholds import MetricRef, Threshold, compare


class MetricSource(Protocol):
    def value(self, ref: MetricRef) -> float | None:
        """The measured value in the metric's unit, or None when there is no data."""


def evaluate(thresholds: Iterable[Threshold], source: MetricSource) -> list[Check]:
    checks: list[Check] = []
    for th in thresholds:
        measured = source.value(th.metric)
        # Missing data never passes: a check nobody could measure is not evidence.
        status: CheckStatus = "no-data"
        if measured is not None:
            status = "pass" if compare(measured, th.op, th.target) else "fail"
        checks.append(
            Check(
                name=th.expr,
                metric=th.metric.canonical,
                op=th.op,
                target=th.target,
                unit=th.unit,
                measured=None if measured is None else round(measured, 6),
                baseline=None,
                delta_pct=None,
                status=status,
                abort_on_fail=th.abort_on_fail,
            )
        )
    return checks


def verdict(checks: Iterable[Check], error: str | None = None) -> Verdict:
    if error:
        return "error"
    return "pass" if all(c["status"] == "pass" for c in checks) else "fail"


def abort_reason(thresholds: Iterable[Threshold], source: MetricSource, elapsed_s: float) -> str | None:
    """The first abort-on-fail threshold breached after its grace period, if any."""
    for th in thresholds:
        if not th.abort_on_fail or elapsed_s < th.grace_s:
            continue
        measured = source.value(th.metric)
        if measured is not None and not compare(measured, th.op, th.target):
            return th.expr
    return None
