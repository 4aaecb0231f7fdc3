"""Thresholds against measured metrics, and the run's verdict. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Literal, Protocol

from surge.report_model import Check, CheckStatus, Verdict
from surge.stats import AtLeast
from surge.thresholds import MetricRef, Op, Threshold, compare
from surge.uncertainty import Interval

# What a check whose target lies inside its figure's 95 % interval means for the verdict (the
# plan's within_uncertainty): the measured value decides, or the doubt passes, or it fails.
WithinUncertainty = Literal["measured", "pass", "fail"]


class MetricSource(Protocol):
    def value(self, ref: MetricRef) -> float | None:
        """The measured value in the metric's unit, or None when there is no data. A latency that
        fell among timed-out requests is an :class:`AtLeast` (a lower bound)."""

    def interval(self, ref: MetricRef) -> Interval | None:
        """The value's 95 % interval from the run's own data, or None when it has none."""


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

    def interval(self, ref: MetricRef) -> Interval | None:
        if ref.target is None:
            return self.run.interval(ref)
        source = self.targets.get(ref.target)
        return None if source is None else source.interval(ref.untargeted())


def holds(measured: float, op: Op, target: float) -> bool:
    """Whether a check holds. A lower bound proves only ``>``/``>=`` checks it already meets:
    "at least 2 s" may be anything above, so ``< 5s`` is not proven and fails."""
    if isinstance(measured, AtLeast):
        return op in (">", ">=") and compare(measured, op, target)
    return compare(measured, op, target)


def evaluate(
    thresholds: Iterable[Threshold], source: MetricSource, within: WithinUncertainty = "measured"
) -> list[Check]:
    """Each threshold's check. A check whose target lies inside its figure's 95 % interval is
    marked ``uncertain``; ``within`` says whether the measured value, a pass or a fail decides it."""
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
        if measured is not None and unknown is None and not isinstance(measured, AtLeast):
            _with_uncertainty(check, source.interval(th.metric), within)
        checks.append(check)
    return checks


def _short(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    return f"{value:.3g}" + {"ms": " ms", "per_s": "/s", "usd": " USD"}.get(unit, "")


def _with_uncertainty(check: Check, interval: Interval | None, within: WithinUncertainty) -> None:
    if interval is None:
        return
    check["interval"] = interval.as_list()
    if check["op"] in ("==", "!=") or "against" in check or not interval.contains(check["target"]):
        return
    check["uncertain"] = True
    hi = "unbounded" if interval.hi is None else _short(interval.hi, check["unit"])
    span = f"[{_short(interval.lo, check['unit'])} to {hi}]"
    if within == "measured":
        check["detail"] = (
            f"within the uncertainty: the target lies inside the 95% interval {span}; the measured value decides"
        )
        return
    check["status"] = within
    check["detail"] = f"within the uncertainty: the target lies inside the 95% interval {span}; " + (
        "the plan gives the doubt a pass (within_uncertainty: pass)"
        if within == "pass"
        else "the plan fails what is not surely within (within_uncertainty: fail)"
    )


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

    def interval(self, ref: MetricRef) -> Interval | None:
        return None  # counters mid-run: judged on the figure, as abort-on-fail always was

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
