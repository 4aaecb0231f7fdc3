"""Baselines and the regression rule.

A baseline is a set of figures keyed by metric path, as thresholds name them (``http.latency.p95``,
``endpoint["GET /x"].p99``, ``elasticache["sessions"].hit_rate``, ``cost.monthly_usd``), in the
thresholds' units: ms, fraction (0.004 == 0.4 %), per second, count, USD. It comes from an earlier
run in the history (a run id, or ``last-pass``: the newest complete, passing run of the same plan) or
from a JSON file of another system's figures.

Every check then carries the baseline's figure and ``delta_pct``, the percent change of the measured
value against it (+12.5 == 12.5 % higher). With a ``regression`` rule, each covered metric also gets
a check of its own, "regression: METRIC within N% of baseline", which fails when the metric is worse
than the baseline by more than N %; "worse" follows the metric's check (for ``<``/``<=`` higher is
worse, for ``>``/``>=`` lower is worse). A metric the baseline has no figure for is never a failure
by itself: it is compared to nothing, and a note says so.

Everything here is pure (values in, checks out) except :func:`resolve_baseline` at the end, which
reads the baseline file and asks the history it is given.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

from surge.baseline_formats import (
    FORMAT_LABELS,
    FormatError,
    artillery_figures,
    detect_format,
    k6_figures,
    locust_figures,
    mapped_figures,
)
from surge.errors import UserError
from surge.plan import LAST_PASS, BaselineFile, Plan, Regression, is_s3_uri
from surge.report_model import BaselineInfo, Check, CheckStatus
from surge.stats import AtLeast
from surge.thresholds import ThresholdError, parse_metric, parse_threshold
from surge.uncertainty import Z_95, Interval, t_quantile
from surge.vocabulary import Kind

if TYPE_CHECKING:
    from surge.store.history import RunHistory, RunRecord

Direction = Literal["higher", "lower"]  # which way is worse

# With a regression rule these are always compared, check or no check: what a release must not lose.
REGRESSION_HEADLINE = ("http.latency.p95", "http.latency.p99", "http.error_rate", "http.throughput")

# Names every regression check; a threshold cannot start so (it starts with a metric namespace).
REGRESSION_PREFIX = "regression: "

# Floating point must not turn "exactly 5 % worse" into 5.000000000000001 % and fail the limit.
_EPSILON_PCT = 1e-9


class BaselineError(UserError):
    """The plan's baseline cannot be used: unknown run, unreadable or invalid figures file."""


@dataclass(frozen=True)
class Baseline:
    spec: str  # as the plan names it: "last-pass", a run id, "file:<path>"
    source: Literal["run", "file"]
    ref: str  # run id or file path
    label: str
    figures: Mapping[str, float] = field(default_factory=dict)
    # The baseline run's own 95 % intervals by metric (a file has none).
    intervals: Mapping[str, tuple[float, float | None]] = field(default_factory=dict)
    # How much each metric moved between earlier runs of the plan: one run's standard deviation,
    # as a share of their mean; read from ``noise_runs`` runs (none below NOISE_MIN_RUNS).
    noise: Mapping[str, float] = field(default_factory=dict)
    noise_runs: int = 0
    plan_hash: str | None = None  # a run's plan version (same plan: the same offered load)

    @classmethod
    def from_info(cls, info: BaselineInfo) -> Baseline | None:
        """The baseline a stored report was compared to, so a re-render uses the same figures."""
        if info["source"] is None or info["ref"] is None:
            return None
        return cls(
            info["spec"],
            info["source"],
            info["ref"],
            info["label"],
            dict(info["figures"]),
            {m: (lo or 0.0, hi) for m, (lo, hi) in (info.get("intervals") or {}).items()},
            dict(info.get("noise") or {}),
            info.get("noise_runs", 0),
            info.get("plan_hash"),
        )


# --- metric names, units and directions --------------------------------------------------------


def canonical_metric(text: str) -> str:
    """The threshold form of a metric path; names of namespaces thresholds do not know yet pass as is."""
    try:
        return parse_metric(text).canonical
    except ThresholdError:
        return text.strip()


def metric_unit(metric: str) -> str:
    """The report unit of a metric path ("ms", "ratio", "per_s", "count", "usd", or "")."""
    try:
        kind: Kind = parse_metric(metric).kind
        return kind
    except ThresholdError:
        pass
    last = metric.rsplit(".", 1)[-1].lower()
    if last.endswith("_usd") or metric.startswith("cost."):
        return "usd"
    if last.endswith(("_ms", "latency")) or (last[:1] == "p" and last[1:].replace("_", "").isdigit()):
        return "ms"
    if last.endswith(("rate", "_ratio")):
        return "ratio"
    if last.endswith(("_rps", "_per_s", "throughput")):
        return "per_s"
    return ""


def is_regression_check(check: Check) -> bool:
    return check["name"].startswith(REGRESSION_PREFIX)


def op_direction(op: str) -> Direction | None:
    """Which way is worse for a check with this operator: "< 500ms" is hurt by higher values."""
    if op in ("<", "<="):
        return "higher"
    if op in (">", ">="):
        return "lower"
    return None  # == and != say nothing about better or worse


def default_direction(metric: str) -> Direction | None:
    """Which way is worse for a metric nobody wrote a check for (headline metrics, comparisons)."""
    last = metric.rsplit(".", 1)[-1].lower()
    unit = metric_unit(metric)
    if last in ("requests", "iterations"):
        return None  # more or fewer requests is the plan's doing, not the service's
    if "hit" in last or last in ("throughput", "rps") or unit == "per_s":
        return "lower"
    if unit in ("ms", "ratio", "usd") or last in ("errors", "dropped_iterations"):
        return "higher"
    return None


# --- numbers ------------------------------------------------------------------------------------


def delta_pct(measured: float | None, baseline: float | None) -> float | None:
    """Percent change against the baseline (+12.5 == 12.5 % higher); None when it cannot be said."""
    if measured is None or baseline is None:
        return None
    if baseline == 0:
        # A change from zero has no percentage; "no change" still does.
        return 0.0 if measured == 0 else None
    return (measured - baseline) / abs(baseline) * 100.0


def worse_pct(measured: float, baseline: float, direction: Direction) -> float:
    """How much worse than the baseline, in percent (negative: better); inf for any loss from zero."""
    if baseline == 0:
        worse = measured > 0 if direction == "higher" else measured < 0
        return math.inf if worse else 0.0
    change = (measured - baseline) / abs(baseline) * 100.0
    return change if direction == "higher" else -change


def is_regression(measured: float, baseline: float, direction: Direction, max_worse_pct: float) -> bool:
    """Worse than the baseline by more than the limit; exactly at the limit still passes."""
    return worse_pct(measured, baseline, direction) > max_worse_pct + _EPSILON_PCT


def regression_limit(baseline: float, direction: Direction, max_worse_pct: float) -> float:
    """The value a regression check compares to: the baseline moved by the limit, the worse way."""
    step = abs(baseline) * max_worse_pct / 100.0
    return baseline + step if direction == "higher" else baseline - step


# --- figures from a file ------------------------------------------------------------------------


def parse_figures(data: object, where: str) -> dict[str, float]:
    """Validate a baseline file's content: {metric path: number, or a string with a unit ("420ms")}."""
    if not isinstance(data, dict):
        raise BaselineError(
            f"{where}: a baseline file is a JSON object of figures by metric path, "
            'e.g. {"http.latency.p95": 420, "http.error_rate": 0.004}'
        )
    figures: dict[str, float] = {}
    problems: list[str] = []
    for key, value in data.items():
        if value is None:
            continue  # the other system did not measure it: no figure
        if not _known_metric(str(key)):
            # A figure no metric can match would silently compare nothing.
            problems.append(f"{key}: {unknown_figure_hint(str(key))}")
            continue
        metric = canonical_metric(str(key))
        try:
            number = _figure(metric, value)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
            continue
        if metric in figures:
            problems.append(f"{key}: {metric} is given twice")
            continue
        figures[metric] = number
    if problems:
        if any("names no metric" in p for p in problems):
            problems.append(
                "a file in another tool's or system's shape is read as it is with a map: "
                "baseline: {file: F, map: {responseTime.p95: http.latency.p95}} (docs/migrating.md)"
            )
        raise BaselineError(f"{where} has invalid figures:", problems)
    if not figures:
        raise BaselineError(f"{where} has no figures")
    return figures


# Other tools' and systems' names for surge's metrics (keys compared lowercased, without
# separators; a dotted key is matched by its last part too: responseTime.p95 -> p95).
_FOREIGN_NAMES = {
    **{p: f"http.latency.{p}" for p in ("p50", "p75", "p90", "p95", "p99", "p999", "min", "max", "mean")},
    "median": "http.latency.p50",
    "avg": "http.latency.mean",
    "average": "http.latency.mean",
    "latency": "http.latency.p95",
    "responsetime": "http.latency.p95",
    "requestrate": "http.throughput",
    "rps": "http.throughput",
    "throughput": "http.throughput",
    "requestspersecond": "http.throughput",
    "reqpersec": "http.throughput",
    "errorrate": "http.error_rate",
    "failurerate": "http.error_rate",
    "errors": "http.errors",
    "requests": "http.requests",
    "requestcount": "http.requests",
}


def unknown_figure_hint(key: str) -> str:
    """Why a baseline key matches no metric, with the surge name it most likely means."""
    norm = [re.sub(r"[^a-z0-9]", "", part.lower()) for part in (key, key.rsplit(".", 1)[-1])]
    guess = next((_FOREIGN_NAMES[n] for n in norm if n in _FOREIGN_NAMES), None)
    hint = "names no metric; baseline figures are keyed by metric path as thresholds name them"
    if guess is None:
        return (
            hint
            + ' (http.latency.p95, http.error_rate, http.throughput, endpoint["NAME"].p99, cost.monthly_usd)'
        )
    unit = ""
    if guess == "http.error_rate":
        unit = ' (a fraction: 0.5 % is 0.005 or "0.5%")'
    elif guess.startswith("http.latency"):
        unit = ' (in ms, or with a unit: "450ms")'
    return f"{hint}: did you mean {guess}?{unit}"


def _figure(metric: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number in the metric's unit (ms, fraction, per second, USD)")
    known = _known_metric(metric)
    if isinstance(value, str):
        if known:
            # Reuse the thresholds' units, so "420ms", "0.4%" and "130/s" read as they do there.
            try:
                return _finite(parse_threshold(f"{metric} <= {value}").target)
            except ThresholdError as exc:
                raise ValueError(str(exc).replace(f"{metric} <= ", "")) from None
        try:
            return _finite(float(value))
        except ValueError:
            raise ValueError(f"'{value}' is not a number") from None
    number = _finite(float(value))
    if known and parse_metric(metric).kind == "ratio" and number > 1:
        raise ValueError(f'{number:g} is not a fraction; write 0.004 or "0.4%" for 0.4 %')
    return number


def _known_metric(metric: str) -> bool:
    try:
        parse_metric(metric)
    except ThresholdError:
        return False
    return True


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    if number < 0:
        raise ValueError(f"{number:g} is negative; figures are latencies, rates, throughputs or costs")
    return number


# --- applying a baseline (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class BaselineOutcome:
    checks: list[Check]
    info: BaselineInfo | None


def regression_metrics(
    checks: Sequence[Check], regression: Regression | None, targets: Sequence[str] = ()
) -> list[str]:
    """The metrics a regression rule covers: those it names, else every check's and the headline
    (in an A/B run, each target's headline: both targets' requests together compare with nothing)."""
    if regression is None:
        return []
    if regression.metrics:
        return list(regression.metrics)
    headline = [f'target["{t}"].{m}' for t in targets for m in REGRESSION_HEADLINE] or list(
        REGRESSION_HEADLINE
    )
    out: list[str] = []
    for metric in [*(c["metric"] for c in checks), *headline]:
        if metric not in out:
            out.append(metric)
    return out


def _direction_for(metric: str, checks: Sequence[Check]) -> Direction | None:
    for c in checks:
        if c["metric"] == metric:
            d = op_direction(c["op"])
            if d is not None:
                return d
    return default_direction(metric)


# Earlier runs of the plan a noise band is read from (history, repeats), and the fewest that say
# anything.
NOISE_RUNS = 10
NOISE_MIN_RUNS = 3

# A regression rule compares several metrics; each could cry wolf by chance. The alarm level is
# shared among them (Bonferroni), so identical runs fail the rule as a whole at most this often.
FALSE_ALARM_RATE = 0.05
# The power the "smallest detectable change" is stated at.
DETECTION_POWER = 0.95


@dataclass(frozen=True)
class Noise:
    """What a regression check knows of the noise: one standard error of the change measured
    minus baseline (in the metric's unit), and where it was read."""

    se: float
    source: str
    # Degrees of freedom when the noise was read from a few earlier runs (None: from the runs'
    # own data, thousands of requests): a spread from three runs is itself uncertain.
    df: int | None = None

    def critical(self, metrics_compared: int) -> float:
        """Standard errors a change must reach to be called real (one-sided, the false-alarm
        rate shared among the metrics compared)."""
        p = 1.0 - FALSE_ALARM_RATE / max(metrics_compared, 1)
        return NormalDist().inv_cdf(p) if self.df is None else t_quantile(p, self.df)

    def power(self) -> float:
        return (
            NormalDist().inv_cdf(DETECTION_POWER) if self.df is None else t_quantile(DETECTION_POWER, self.df)
        )

    def beyond(self, worse_by: float, metrics_compared: int) -> bool:
        """A change this much the worse way (in the metric's unit) is more than the noise makes."""
        return worse_by > self.critical(metrics_compared) * self.se

    def band_pct(self, figure: float, metrics_compared: int) -> float | None:
        """The largest change (in % of ``figure``) the noise alone makes, at the false-alarm rate;
        None when it cannot be said (an open interval, a figure of 0)."""
        if figure == 0 or not math.isfinite(self.se):
            return None
        return self.critical(metrics_compared) * self.se / abs(figure) * 100.0

    def detectable_pct(self, figure: float, max_worse_pct: float, metrics_compared: int) -> float | None:
        """The smallest change (in % of ``figure``) a rule allowing ``max_worse_pct`` finds 95 % of
        the time with this noise."""
        band = self.band_pct(figure, metrics_compared)
        if band is None:
            return None
        return max(max_worse_pct, band) + self.power() * self.se / abs(figure) * 100.0


def change_noise(
    metric: str,
    measured: float,
    figure: float,
    measured_interval: Interval | None,
    baseline: Baseline,
    direction: Direction = "higher",
) -> Noise | None:
    """One standard error of (measured - baseline) the worse way: from both runs' 95 % intervals
    (the measured figure's better side, the baseline's worse side: a regression must be shown from
    there), or from the spread between earlier runs of the plan, whichever is larger; None when
    neither is known. Infinite when an interval is open on the side that matters (too few requests
    behind a high percentile: nothing can be shown)."""
    se_m: float | None = None
    if measured_interval is not None:
        lo, hi = measured_interval.lo, measured_interval.hi
        below = (measured - lo) / Z_95
        above = math.inf if hi is None else (hi - measured) / Z_95
        se_m = below if direction == "higher" else above
    found = baseline.intervals.get(metric) or baseline.intervals.get(untargeted(metric))
    se_b: float | None = None
    if found is not None:
        lo_b, hi_b = found
        if direction == "higher":
            se_b = math.inf if hi_b is None else max((hi_b - figure) / Z_95, 0.0)
        else:
            se_b = max((figure - lo_b) / Z_95, 0.0)
    elif se_m is not None:
        # Another system's figure (a file): taken as measured as precisely as this run's (relatively;
        # absolutely from a zero).
        se_b = se_m * abs(figure) / measured if measured > 0 and math.isfinite(se_m) else se_m
    within = math.sqrt(se_m**2 + se_b**2) if se_m is not None and se_b is not None else None
    spread = baseline.noise.get(metric, baseline.noise.get(untargeted(metric)))
    between = math.sqrt(2.0) * spread * abs(figure) if spread is not None else None
    if within is None and between is None:
        return None
    if between is not None and (within is None or between > within):
        return Noise(
            between,
            f"the spread between {baseline.noise_runs} earlier runs of the plan",
            baseline.noise_runs - 1,
        )
    where = (
        "both runs' 95% intervals"
        if found is not None
        else "this run's 95% interval (the baseline's taken as equal)"
    )
    return Noise(within or 0.0, where)


@dataclass(frozen=True)
class OfferedLoad:
    """An open-model run's offered load: what its constant-rate phases asked for in requests per
    second (arrivals/s times the requests an iteration made there), and what each delivered.

    In the open model the plan sets the rate: the run's throughput, averaged over warm-up and
    ramps, is the plan's shape, not the service's. Against another system's (or another plan's)
    throughput, only a phase that offered that load says anything."""

    offered: Mapping[str, float]  # phase -> requests/s asked for
    delivered: Mapping[str, float | None]  # phase -> requests/s measured

    def match(self, figure: float, max_worse_pct: float) -> tuple[str, float | None] | None:
        """The phase whose offered load is the baseline's figure (within the rule's percentage)."""
        if figure <= 0:
            return None
        near = [
            (abs(rate - figure) / figure, name)
            for name, rate in self.offered.items()
            if abs(rate - figure) / figure * 100.0 <= max(max_worse_pct, 1.0) + _EPSILON_PCT
        ]
        if not near:
            return None
        name = min(near)[1]
        return name, self.delivered.get(name)

    def unmatched_note(self, metric: str, figure: float, max_worse_pct: float) -> str:
        rates = (
            ", ".join(f"{name} {rate:.1f}/s" for name, rate in self.offered.items())
            or "none at a constant rate"
        )
        return (
            f"{metric} is not compared: in the open model the plan sets the rate, and no phase offered "
            f"the baseline's {figure:.1f} requests/s (within {max(max_worse_pct, 1.0):g}%; the plan's "
            f"constant-rate phases offered {rates}); a phase at that rate would be compared with it"
        )


def _regression_check(
    metric: str,
    measured: float | None,
    figure: float,
    direction: Direction,
    max_worse_pct: float,
    noise: Noise | None = None,
    metrics_compared: int = 1,
) -> Check:
    limit = regression_limit(figure, direction, max_worse_pct)
    status: CheckStatus = "no-data"
    bound = isinstance(measured, AtLeast)
    detail: str | None = None
    if measured is not None:
        status = "fail" if is_regression(measured, figure, direction, max_worse_pct) else "pass"
        if noise is not None and status == "fail" and not bound:
            worse_by = (measured - figure) if direction == "higher" else (figure - measured)
            if not noise.beyond(worse_by, metrics_compared):
                status = "pass"
                detail = (
                    f"{_worse_text(measured, figure, direction)}: beyond {max_worse_pct:g}% but within "
                    f"the noise ({_noise_text(noise, figure)}): not a regression"
                )
            else:
                detail = (
                    f"{_worse_text(measured, figure, direction)}: beyond {max_worse_pct:g}% and beyond "
                    f"the noise ({_noise_text(noise, figure)})"
                )
        if bound and direction == "higher":
            status = "fail"  # at least this much, maybe far more: not proven within the limit
    delta = delta_pct(measured, figure)
    check = Check(
        name=f"{REGRESSION_PREFIX}{metric} within {max_worse_pct:g}% of baseline",
        metric=metric,
        op="<=" if direction == "higher" else ">=",
        target=round(limit, 6),
        unit=metric_unit(metric),
        measured=None if measured is None else round(measured, 6),
        baseline=figure,
        delta_pct=None if delta is None else round(delta, 3),
        status=status,
        abort_on_fail=False,
        kind="regression",
    )
    if bound:
        check["at_least"] = True
    detectable = None if noise is None else noise.detectable_pct(figure, max_worse_pct, metrics_compared)
    if noise is not None and detectable is not None:
        check["noise_pct"] = round(noise.se / abs(figure) * 100.0, 3)
        check["detectable_pct"] = round(detectable, 3)
    if detail is not None:
        check["detail"] = detail
    return check


def _worse_text(measured: float, figure: float, direction: Direction) -> str:
    pct = worse_pct(measured, figure, direction)
    return "worse than a baseline of 0" if math.isinf(pct) else f"worse by {pct:.1f}%"


def _noise_text(noise: Noise, figure: float) -> str:
    if math.isinf(noise.se):
        return "its 95% interval is open on that side: too few requests behind this figure to show a change"
    if figure == 0:
        return f"one standard error {noise.se:.3g}, from {noise.source}"
    return f"one standard error ±{noise.se / abs(figure) * 100:.1f}% of the baseline, from {noise.source}"


_TARGET_PREFIX = re.compile(r"""^target\[(?:"[^"]*"|'[^']*')\]\.""")


def target_of(metric: str) -> str | None:
    """The target an A/B run's metric names: target["sst"].http.latency.p95 -> sst; else None."""
    found = _TARGET_PREFIX.match(metric)
    return None if found is None else found.group(0)[8:-3]


def untargeted(metric: str) -> str:
    """An A/B run's metric without its target: target["sst"].http.latency.p95 -> http.latency.p95."""
    return _TARGET_PREFIX.sub("", metric, count=1)


def figure_for(figures: Mapping[str, float], metric: str) -> float | None:
    """The baseline's figure for a metric. In an A/B run a target's own figure (an earlier A/B run's),
    else the baseline's figure of one system (a file, or a run of one target): the reference every
    target is compared with."""
    figure = figures.get(metric)
    return figures.get(untargeted(metric)) if figure is None else figure


def apply_baseline(
    checks: Sequence[Check],
    *,
    spec: str | None,
    baseline: Baseline | None,
    regression: Regression | None,
    measured: Mapping[str, float | None],
    notes: Sequence[str] = (),
    targets: Sequence[str] = (),
    intervals: Mapping[str, Interval | None] | None = None,
    offered: Mapping[str | None, OfferedLoad] | None = None,
) -> BaselineOutcome:
    """The checks with their baseline figures and deltas, plus the regression rule's checks.

    ``measured`` holds the value of every metric in :func:`regression_metrics` (missing ones fall
    back to a check's measured value). ``notes`` come from resolving the baseline (e.g. last-pass
    found no earlier passing run) and are carried into the report.
    """
    if spec is None:
        return BaselineOutcome(list(checks), None)
    all_notes = list(notes)
    figures: Mapping[str, float] = baseline.figures if baseline else {}
    out: list[Check] = []
    missing: list[str] = []
    for c in checks:
        figure = figure_for(figures, c["metric"]) if baseline else None
        if baseline and figure is None and c["metric"] not in missing:
            missing.append(c["metric"])
        delta = delta_pct(c["measured"], figure)
        out.append({**c, "baseline": figure, "delta_pct": None if delta is None else round(delta, 3)})

    if baseline and regression is not None:
        by_metric = {c["metric"]: c["measured"] for c in reversed(checks)}
        skipped: list[str] = []
        compared: list[tuple[str, float | None, float, Direction]] = []
        for metric in regression_metrics(checks, regression, targets):
            figure = figure_for(figures, metric)
            if figure is None:
                if metric not in missing:
                    missing.append(metric)
                continue
            direction = _direction_for(metric, checks)
            if direction is None:
                skipped.append(metric)
                continue
            value = measured[metric] if metric in measured else by_metric.get(metric)
            load = None if offered is None else offered.get(target_of(metric))
            if load is not None and untargeted(metric) == "http.throughput":
                matched = load.match(figure, regression.max_worse_pct)
                if matched is None:
                    all_notes.append(load.unmatched_note(metric, figure, regression.max_worse_pct))
                    continue
                phase, _ = matched
                metric = metric.removesuffix("http.throughput") + f'phase["{phase}"].throughput'
                value = measured.get(metric, matched[1])
            compared.append((metric, value, figure, direction))
        blind: list[str] = []
        for metric, value, figure, direction in compared:
            noise = None
            if regression.noise == "aware" and value is not None:
                interval = (intervals or {}).get(metric)
                noise = change_noise(metric, value, figure, interval, baseline, direction)
                if noise is None:
                    blind.append(metric)
            out.append(
                _regression_check(
                    metric, value, figure, direction, regression.max_worse_pct, noise, len(compared)
                )
            )
        if blind:
            all_notes.append(
                "the regression rule knows no noise for " + ", ".join(blind) + ": compared on the "
                "figures alone (no interval for them, and fewer than "
                f"{NOISE_MIN_RUNS} earlier runs of the plan)"
            )
        if skipped:
            all_notes.append(
                "the regression rule skips "
                + ", ".join(skipped)
                + ": neither higher nor lower is worse for it (check with == or !=, or a count)"
            )
    if missing:
        all_notes.append(
            "the baseline has no figure for " + ", ".join(missing) + ": shown without a delta, not compared"
        )
    if baseline and baseline.source == "file":
        # A figure no check uses is usually a typo in the file's metric path: say so.
        used = {m for c in out for m in (c["metric"], untargeted(c["metric"]))}
        unused = sorted(set(figures) - used)
        if unused:
            all_notes.append("baseline figures no check uses: " + ", ".join(unused))

    info = BaselineInfo(
        spec=spec,
        source=baseline.source if baseline else None,
        ref=baseline.ref if baseline else None,
        label=baseline.label if baseline else f"none ({spec} found nothing to compare to)",
        figures=dict(figures),
        max_worse_pct=regression.max_worse_pct if regression else None,
        notes=all_notes,
    )
    if baseline is not None and (baseline.intervals or baseline.noise):
        info["intervals"] = {m: [lo, hi] for m, (lo, hi) in baseline.intervals.items()}
        info["noise"] = dict(baseline.noise)
        info["noise_runs"] = baseline.noise_runs
    if baseline is not None and baseline.plan_hash:
        info["plan_hash"] = baseline.plan_hash
    return BaselineOutcome(out, info)


def check_regression_covers(plan: Plan, baseline: Baseline) -> None:
    """A regression rule that would compare no metric is silently off: refuse it (exit 2)."""
    if plan.regression is None:
        return
    threshold_metrics = [t.metric.canonical for t in plan.parsed_thresholds()]
    headline = [f'target["{t}"].{m}' for t in plan.targets for m in REGRESSION_HEADLINE] or list(
        REGRESSION_HEADLINE
    )
    covered = plan.regression.metrics or list(dict.fromkeys([*threshold_metrics, *headline]))
    if any(figure_for(baseline.figures, m) is not None for m in covered):
        return
    raise BaselineError(
        f"regression: the baseline ({baseline.label}) has a figure for none of the metrics the rule "
        f"compares ({', '.join(covered)}); it would check nothing. Its figures: "
        f"{', '.join(sorted(baseline.figures)) or 'none'}"
    )


# --- resolving a plan's baseline (I/O at the edge: a file, and the history given) --------------


def baseline_from_record(record: RunRecord, spec: str, label: str) -> Baseline:
    return Baseline(
        spec=spec,
        source="run",
        ref=record.run_id,
        label=label,
        figures=dict(record.metrics),
        intervals={m: (span[0] or 0.0, span[1]) for m, span in record.intervals.items()},
        plan_hash=record.plan_hash or None,
    )


def noise_between(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each metric's spread between runs of a plan: the standard deviation of one run's figure as a
    share of their mean (metrics with fewer than NOISE_MIN_RUNS figures, or a mean of 0, have none)."""
    out: dict[str, float] = {}
    for metric in sorted(set().union(*runs)) if runs else []:
        values = [r[metric] for r in runs if metric in r]
        if len(values) < NOISE_MIN_RUNS:
            continue
        mean = statistics.fmean(values)
        if mean != 0:
            out[metric] = statistics.stdev(values) / abs(mean)
    return out


def with_history_noise(
    baseline: Baseline, plan: Plan, history: RunHistory, *, exclude_run: str | None = None
) -> Baseline:
    """The baseline with the noise the plan's earlier complete runs show: runs of the same load (its
    checks and baseline may have changed since; older records without a load hash count when the
    whole plan is unchanged)."""
    digest, load = plan.plan_hash(), plan.load_hash()
    runs = [
        r
        for r in history.list(plan=plan.name, limit=NOISE_RUNS + 5)
        if not r.partial
        and r.verdict != "error"
        and (r.load_hash == load if r.load_hash else r.plan_hash == digest)
        and r.run_id != exclude_run
    ][:NOISE_RUNS]
    if len(runs) < NOISE_MIN_RUNS:
        return baseline
    return replace(baseline, noise=noise_between([r.metrics for r in runs]), noise_runs=len(runs))


def baseline_from_file(
    body: str | bytes, source: BaselineFile, *, where: str, spec: str, ref: str, name: str
) -> Baseline:
    """A baseline file's content, read as the plan's ``baseline`` says (pure): the same for a local
    file and an S3 object. ``where`` starts every message ("baseline file PATH"), ``ref`` is where it
    was read, ``name`` its file name (the label)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except ValueError:
        raise BaselineError(f"{where} is not text (UTF-8)") from None
    mapping = source.mapping()
    kind = source.format if source.format != "auto" else detect_format(name, text)
    if kind == "locust":
        try:
            figures = parse_figures(locust_figures(text), where)
        except FormatError as exc:
            raise BaselineError(f"{where} (read as {FORMAT_LABELS['locust']}): {exc}") from None
        return Baseline(spec, "file", ref, f"file {name} ({FORMAT_LABELS['locust']})", figures)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"{where} is not valid JSON: {exc}") from None
    label = f"file {name}"
    try:
        if mapping is not None:
            figures = parse_figures(mapped_figures(data, mapping), where)
            label += f" ({FORMAT_LABELS['mapped']})"
        elif kind == "artillery":
            figures = parse_figures(artillery_figures(data), where)
            label += f" ({FORMAT_LABELS['artillery']})"
        elif kind == "k6":
            figures = parse_figures(k6_figures(data), where)
            label += f" ({FORMAT_LABELS['k6']})"
        else:
            figures = parse_figures(data, where)
    except FormatError as exc:
        read_as = FORMAT_LABELS["mapped" if mapping is not None else kind]
        raise BaselineError(f"{where} (read as {read_as}): {exc}") from None
    return Baseline(spec=spec, source="file", ref=ref, label=label, figures=figures)


def load_baseline_file(path: Path, spec: str, source: BaselineFile) -> Baseline:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise BaselineError(f"baseline file {path}: cannot read it ({exc.strerror or exc})") from None
    return baseline_from_file(
        body, source, where=f"baseline file {path}", spec=spec, ref=str(path), name=path.name
    )


RemoteBaselineReader = Callable[[BaselineFile, str], Baseline]
"""Reads a baseline file named by an s3:// URI: (the plan's baseline, spec) -> Baseline (cloud runs'
Report step)."""


def resolve_baseline(
    plan: Plan,
    history: RunHistory,
    *,
    base_dir: Path,
    before: str | None = None,
    exclude_run: str | None = None,
    read_remote: RemoteBaselineReader | None = None,
) -> tuple[Baseline | None, list[str]]:
    """The plan's baseline, or (None, [why]) for last-pass with no earlier passing run.

    Raises BaselineError (exit 2, before any traffic) when a named run or file cannot be used.
    ``before``/``exclude_run`` keep a re-rendered run from becoming its own last-pass baseline.
    ``read_remote`` reads a baseline file given as an s3:// URI (only cloud runs have one).
    """
    found, notes = _resolve(plan, history, base_dir, before, exclude_run, read_remote)
    if found is not None and plan.regression is not None and plan.regression.noise == "aware":
        found = with_history_noise(found, plan, history, exclude_run=exclude_run)
    # A damaged record is skipped where the history is searched, and said.
    return found, [*notes, *(f"skipped {d}" for d in getattr(history, "damaged", ()))]


def _resolve(
    plan: Plan,
    history: RunHistory,
    base_dir: Path,
    before: str | None,
    exclude_run: str | None,
    read_remote: RemoteBaselineReader | None,
) -> tuple[Baseline | None, list[str]]:
    spec = plan.baseline_spec
    if spec is None or plan.baseline is None:
        return None, []
    if isinstance(plan.baseline, BaselineFile):
        if is_s3_uri(plan.baseline.file):
            if read_remote is None:
                raise BaselineError(
                    f"baseline.file: {plan.baseline.file} is read by cloud runs only; use a local file"
                )
            remote = read_remote(plan.baseline, spec)
            check_regression_covers(plan, remote)
            return remote, []
        path = Path(plan.baseline.file)
        found = load_baseline_file(path if path.is_absolute() else base_dir / path, spec, plan.baseline)
        check_regression_covers(plan, found)
        return found, []
    if plan.baseline == LAST_PASS:
        record = history.last_pass(plan.name, before=before)
        if record is not None and record.run_id == exclude_run:
            record = history.last_pass(plan.name, before=record.started_at)
        if record is None:
            return None, [
                f"baseline last-pass: no earlier complete, passing run of plan '{plan.name}' in the "
                f"history {history.where}; this run has no baseline (another folder's runs are in "
                "its own history: --history FILE or SURGE_HISTORY names one)"
            ]
        label = f"run {record.run_id} (last passing run, started {record.started_at}, from {history.where})"
        return baseline_from_record(record, spec, label), []
    record = history.get(plan.baseline)
    if record is None:
        raise BaselineError(
            f"baseline: no run '{plan.baseline}' in the history {history.where}; list runs with "
            "`surge runs`, or use baseline: last-pass"
        )
    label = f"run {record.run_id} ({record.verdict}, started {record.started_at})"
    notes = []
    if record.plan != plan.name:
        notes.append(f"the baseline run is of plan '{record.plan}', not '{plan.name}'")
    return baseline_from_record(record, spec, label), notes
