"""Thresholds against measured metrics, and the run's verdict. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from surge.report_model import Check, CheckStatus, Verdict
from surge.stats import AtLeast
from surge.thresholds import MetricRef, Op, Threshold, compare


class MetricSource(Protocol):
    def value(self, ref: MetricRef) -> float | None:
        """The measured value in the metric's unit, or None when there is no data. A latency that
        fell among timed-out requests is an :class:`AtLeast` (a lower bound)."""


class TargetSources:
    """An A/B run's figures: a metric naming a target (target["sst"].http...) is read from that
    target's own figures; the others (services, cost) from the run's."""

    def __init__(self, run: MetricSource, targets: Mapping[str, MetricSource]) -> None:
        self.run, self.targets = run, targets

    def value(self, ref: MetricRef) -> float | None:
        if ref.target is None:
            return self.run.value(ref)
        source = self.targets.get(ref.target)
        return None if source is None else source.value(ref.untargeted())


def holds(measured: float, op: Op, target: float) -> bool:
    """Whether a check holds. A lower bound proves only ``>``/``>=`` checks it already meets:
    "at least 2 s" may be anything above, so ``< 5s`` is not proven and fails."""
    if isinstance(measured, AtLeast):
        return op in (">", ">=") and compare(measured, op, target)
    return compare(measured, op, target)


def evaluate(thresholds: Iterable[Threshold], source: MetricSource) -> list[Check]:
    checks: list[Check] = []
    for th in thresholds:
        measured = source.value(th.metric)
        detail: str | None = None
        th, unknown = _bound(th, source)
        # Missing data never passes: a check nobody could measure is not evidence.
        status: CheckStatus = "no-data"
        if unknown is not None:
            detail = unknown
        elif measured is not None:
            status = "pass" if holds(measured, th.op, th.target) else "fail"
        check = Check(
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
            kind="threshold",
        )
        if isinstance(measured, AtLeast):
            check["at_least"] = True
        if th.operands and unknown is None:
            check["against"] = {ref.canonical: round(_operand(ref, source), 6) for ref in th.operands}
        if detail is not None:
            check["detail"] = detail
        checks.append(check)
    return checks


def _operand(ref: MetricRef, source: MetricSource) -> float:
    value = source.value(ref)
    assert value is not None  # _bound said every operand has a value
    return value


def _bound(th: Threshold, source: MetricSource) -> tuple[Threshold, str | None]:
    """An A/B comparison with its target computed from the other targets' measured figures, or why
    it cannot be: a figure missing, or one that is only a lower bound (timed-out requests)."""
    if not th.operands:
        return th, None
    values: dict[str, float] = {}
    for ref in th.operands:
        value = source.value(ref)
        if value is None:
            return replace(
                th, target=0.0
            ), f"{ref.canonical} has no data, so there is nothing to compare with"
        if isinstance(value, AtLeast):
            return replace(th, target=0.0), (
                f"{ref.canonical} fell among timed-out requests (at least {value:g}): not a figure to compare with"
            )
        values[ref.canonical] = value
    return th.bind(values), None


def verdict(checks: Iterable[Check], error: str | None = None) -> Verdict:
    if error:
        return "error"
    return "pass" if all(c["status"] == "pass" for c in checks) else "fail"


def abort_reason(thresholds: Iterable[Threshold], source: MetricSource, elapsed_s: float) -> str | None:
    """The first abort-on-fail threshold breached after its grace period, if any."""
    for th in thresholds:
        if not th.abort_on_fail or elapsed_s < th.grace_s or th.operands:
            continue
        measured = source.value(th.metric)
        if measured is not None and not compare(measured, th.op, th.target):
            return th.expr
    return None


class RunCounters:
    """The run-wide counters the cloud workers add up in the run record while a run goes on: the
    source abort-on-fail checks on ``http`` requests and errors are judged from mid-segment.
    Anything else (latencies, endpoints, phases) has no value here: judged at segment ends."""

    def __init__(self, requests: float, errors: float) -> None:
        self.requests, self.errors = requests, errors

    def value(self, ref: MetricRef) -> float | None:
        if ref.namespace != "http" or self.requests <= 0:
            return None
        if ref.path == ("error_rate",):
            return self.errors / self.requests
        if ref.path == ("errors",):
            return self.errors
        if ref.path == ("requests",):
            return self.requests
        return None

    @staticmethod
    def answers(th: Threshold) -> bool:
        # The counters are the whole run's: one target's checks (an A/B run) wait for segment ends.
        return (
            th.metric.namespace == "http"
            and th.metric.target is None
            and th.metric.path
            in (
                ("error_rate",),
                ("errors",),
                ("requests",),
            )
        )
