"""How sure a run's figures are: a 95 % interval for a percentile, a mean, an error rate and a
throughput, read from the run's own data. Pure: aggregates in, intervals out.

- **Percentiles** are distribution-free: the true q-quantile lies between the values at ranks
  ``q·n ∓ z·sqrt(n·q·(1-q))`` (the binomial count of requests below it), whatever the latency's
  shape. That holds for independent requests; neighbouring requests are not (a slow second makes
  many slow requests), so the half-width is widened by the *design effect* D the batch means show:
  how much more the share of requests below the quantile varies between batches of consecutive
  intervals than independent requests would let it (D >= 1; n/D is the effective sample size).
- **Error rates** use the same design effect on a Wilson interval (it stays inside [0, 1] and
  says something at 0 errors).
- **Means** use the batch means directly.
- **Throughput** uses the requests per batch, their variance read from successive differences
  (a ramp's planned change in rate is not noise).

A high percentile of few requests is bounded above by the largest value recorded (a little less
than 95 % sure there). Fewer than :data:`MIN_BATCHES` batches (a run of a few seconds) cannot show a design effect:
the independent-request interval is used, which is narrower than the truth when requests are
correlated; :attr:`Interval.batches` tells the reader how many there were.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from hdrh.histogram import HdrHistogram

from surge import hdr_read
from surge.stats import Aggregate, AtLeast, latency_stat

CONFIDENCE = 0.95
Z_95 = 1.959964  # two-sided 95 %
MIN_BATCHES = 5


@dataclass(frozen=True)
class Interval:
    """A 95 % interval in the metric's unit. ``hi`` None: unbounded above (the upper rank fell
    among timed-out requests, whose latency is only known to be at least their timeout)."""

    lo: float
    hi: float | None
    batches: int = 0

    def contains(self, value: float) -> bool:
        return self.lo <= value and (self.hi is None or value <= self.hi)

    def as_list(self) -> list[float | None]:
        return [round(self.lo, 6), None if self.hi is None else round(self.hi, 6)]

    def se(self) -> float | None:
        """The figure's standard error, read back from the interval (None: unbounded)."""
        return None if self.hi is None else (self.hi - self.lo) / (2.0 * Z_95)


@dataclass(frozen=True)
class Batch:
    """One batch of a scope's consecutive intervals, as its uncertainty reads it: its counts, and
    each latency histogram's recorded counts (a few KB where the aggregate's four histograms are
    720 KB: a report of 30 endpoints holds ~1,000 batches)."""

    requests: int
    errors: int
    latency: hdr_read.RecordedCounts
    service_time: hdr_read.RecordedCounts
    latency_n: int  # responses timed, timed-out requests included
    service_time_n: int

    @classmethod
    def of(cls, agg: Aggregate) -> Batch:
        return cls(
            requests=agg.requests,
            errors=agg.error_count,
            latency=hdr_read.RecordedCounts(agg.rt),
            service_time=hdr_read.RecordedCounts(agg.st),
            latency_n=int(agg.rt.get_total_count() + agg.rt_timeouts.get_total_count()),
            service_time_n=int(agg.st.get_total_count() + agg.st_timeouts.get_total_count()),
        )

    def samples(self, which: str) -> hdr_read.RecordedCounts:
        return self.latency if which == "latency" else self.service_time

    def n(self, which: str) -> int:
        return self.latency_n if which == "latency" else self.service_time_n


def count_at_or_below(h: HdrHistogram, value_us: float) -> int:
    """Recorded values at or below ``value_us`` (equal within the histogram's precision)."""
    if h.get_total_count() == 0:
        return 0
    if value_us >= h.get_max_value():
        return int(h.get_total_count())
    return hdr_read.count_at_or_below(h, h._counts_index_for(int(value_us)))


@lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (``p`` in (0.5, 1)) for ``df`` degrees of freedom: a spread read from a
    few runs or batches is itself uncertain. Bisection on the CDF, integrated numerically (pure)."""
    z = NormalDist().inv_cdf(p)
    if df <= 0 or df > 1000:
        return z
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def pdf(x: float) -> float:
        return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))

    def cdf(x: float) -> float:  # Simpson's rule from 0 to x, plus the half below 0
        steps = 400
        h = x / steps
        total = pdf(0.0) + pdf(x) + sum((4 if k % 2 else 2) * pdf(k * h) for k in range(1, steps))
        return 0.5 + total * h / 3

    lo, hi = z, max(z * 2, 1.0)
    while cdf(hi) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def t_95(df: int) -> float:
    """Student's t for a two-sided 95 % interval with ``df`` degrees of freedom."""
    return t_quantile(0.975, df)


def _z_for(parts: Sequence[tuple[int, int]], d: float) -> float:
    used = sum(1 for n, _ in parts if n > 0)
    return t_95(used - 1) if d > 1.0 and used >= MIN_BATCHES else Z_95


def design_effect(parts: Sequence[tuple[int, int]], share: float) -> float:
    """How many times the variance of a share (of requests below a quantile, of errors) across
    batches ``(n_j, k_j)`` exceeds what independent requests would give; 1 when it cannot be said."""
    parts = [(n, k) for n, k in parts if n > 0]
    total = sum(n for n, _ in parts)
    if len(parts) < MIN_BATCHES or total == 0 or share <= 0.0 or share >= 1.0:
        return 1.0
    b = len(parts)
    # The ratio estimator's variance from its batch residuals (cluster sampling).
    var = b / (b - 1) * sum((k - share * n) ** 2 for n, k in parts) / total**2
    independent = share * (1.0 - share) / total
    return max(1.0, var / independent)


def _value_at_rank(total: Aggregate, which: str, rank: int) -> float | None:
    samples = _samples(total, which)
    n = samples.get_total_count()
    if rank <= n:
        return float(hdr_read.value_at_percentile(samples, min(rank / n * 100.0, 100.0))) / 1000.0
    return None  # among the timed-out requests: unbounded


def latency_interval(
    total: Aggregate, batches: Sequence[Batch], which: str, stat: str, pct: float | None
) -> Interval | None:
    """A percentile's (or the mean's) 95 % interval; None when the figure has none (min, max,
    no data, or a figure that is itself only a lower bound)."""
    samples = total.rt if which == "latency" else total.st
    timed_out = total.rt_timeouts if which == "latency" else total.st_timeouts
    n = samples.get_total_count() + timed_out.get_total_count()
    point = latency_stat(samples, timed_out, stat, pct)
    if n == 0 or point is None or isinstance(point, AtLeast):
        return None
    if pct is None:
        return _mean_interval(total, batches, which, point) if stat == "mean" else None
    q = pct / 100.0
    x_us = point * 1000.0
    parts = [(b.n(which), b.samples(which).at_or_below(x_us)) for b in batches]
    below = count_at_or_below(samples, x_us)
    d = design_effect(parts, below / n)
    half = _z_for(parts, d) * math.sqrt(n * q * (1.0 - q) * d)
    lo_rank = max(math.floor(q * n - half), 1)
    hi_rank = math.ceil(q * n + half) + 1
    lo = _value_at_rank(total, which, lo_rank)
    # Past the largest value recorded (a p99 of a few hundred requests) the largest one bounds it:
    # a little less than 95 % sure there (0.99**200 of the time the true p99 lies above the max),
    # but a bound a comparison can use; open above only among timed-out requests.
    hi = _value_at_rank(total, which, min(hi_rank, n))
    # Bucketed values: the interval always holds the figure it belongs to.
    return Interval(
        min(lo if lo is not None else point, point), None if hi is None else max(hi, point), len(batches)
    )


def _samples(agg: Aggregate, which: str) -> HdrHistogram:
    return agg.rt if which == "latency" else agg.st


def _mean_interval(total: Aggregate, batches: Sequence[Batch], which: str, mean: float) -> Interval:
    h = _samples(total, which)
    n = h.get_total_count()
    parts = [(b.samples(which), b.samples(which).total) for b in batches]
    parts = [(b, m) for b, m in parts if m > 0]
    if len(parts) >= MIN_BATCHES:
        k = len(parts)
        var = k / (k - 1) * sum((m / n) ** 2 * (b.mean() / 1000.0 - mean) ** 2 for b, m in parts)
        # Never narrower than independent requests would make it.
        var = max(var, (hdr_read.stddev(h) / 1000.0) ** 2 / n)
    else:
        var = (hdr_read.stddev(h) / 1000.0) ** 2 / n
    half = Z_95 * math.sqrt(var)
    return Interval(max(mean - half, 0.0), mean + half, len(batches))


def wilson(successes: float, n: float) -> tuple[float, float]:
    """The Wilson score interval of a share (95 %)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = Z_95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Rounding must not leave the share itself outside (at 0 % or 100 %).
    return max(min(centre - half, p), 0.0), min(max(centre + half, p), 1.0)


def error_rate_interval(total: Aggregate, batches: Sequence[Batch]) -> Interval | None:
    n = total.requests
    if n == 0:
        return None
    errors = total.error_count
    d = design_effect([(b.requests, b.errors) for b in batches], errors / n)
    lo, hi = wilson(errors / d, n / d)
    return Interval(lo, hi, len(batches))


def throughput_interval(total: Aggregate, batches: Sequence[Batch], duration_s: float) -> Interval | None:
    """Requests per second over ``duration_s``: the count's spread from successive batches
    (a Poisson count's at the least)."""
    n = total.requests
    if n == 0 or duration_s <= 0:
        return None
    counts = [b.requests for b in batches]
    dispersion = 1.0
    if len(counts) >= MIN_BATCHES:
        mean = sum(counts) / len(counts)
        successive = sum((b - a) ** 2 for a, b in itertools.pairwise(counts)) / (2 * (len(counts) - 1))
        if mean > 0:
            dispersion = max(1.0, successive / mean)
    half = Z_95 * math.sqrt(n * dispersion)
    return Interval(max(n - half, 0.0) / duration_s, (n + half) / duration_s, len(batches))
