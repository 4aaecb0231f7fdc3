"""The run's own uncertainty: 95 % intervals that cover the truth about 95 % of the time, on
independent and on correlated requests, for percentiles, error rates and throughput."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surge.stats import Aggregate
from surge.uncertainty import (
    Batch,
    Interval,
    design_effect,
    error_rate_interval,
    latency_interval,
    t_95,
    throughput_interval,
    wilson,
)

MEDIAN_US = 20_000.0
SIGMA = 0.5


def _true_ms(pct: float) -> float:
    return math.exp(math.log(MEDIAN_US) + SIGMA * NormalDist().inv_cdf(pct / 100.0)) / 1000.0


def _run(
    seed: int, rho: float, intervals: int = 60, per_interval: int = 100
) -> tuple[Aggregate, list[Batch]]:
    """A run's latencies, lognormal, correlated between neighbouring requests (AR(1) on the log
    scale with coefficient rho), in batches of two one-second intervals as the report cuts them."""
    rnd = random.Random(seed)
    total, batches = Aggregate(), []
    level = 0.0
    for i in range(intervals):
        if i % 2 == 0:
            batches.append(Aggregate())
        for _ in range(per_interval):
            level = rho * level + math.sqrt(1 - rho * rho) * rnd.gauss(0, 1)
            v = int(math.exp(math.log(MEDIAN_US) + SIGMA * level))
            for agg in (total, batches[-1]):
                agg.rt.record_value(v)
                agg.requests += 1
    return total, [Batch.of(b) for b in batches]


def _coverage(rho: float, pct: float, runs: int = 120) -> float:
    hits = 0
    for seed in range(runs):
        total, batches = _run(seed, rho)
        found = latency_interval(total, batches, "latency", "pct", pct)
        assert found is not None and found.hi is not None
        hits += found.lo <= _true_ms(pct) <= found.hi
    return hits / runs


@pytest.mark.parametrize("pct", [50.0, 95.0, 99.0])
def test_percentile_intervals_cover_the_truth_on_independent_requests(pct: float) -> None:
    # 95 % nominal; 120 runs put the observed share within about ±4 points of it.
    assert 0.89 <= _coverage(0.0, pct) <= 1.0


@pytest.mark.parametrize("pct", [50.0, 95.0, 99.0])
def test_correlated_requests_widen_the_interval_so_it_still_covers(pct: float) -> None:
    widened = _coverage(0.9, pct)
    assert widened >= 0.87
    # The same data read as independent requests would cover far less often: the widening is
    # what holds the promise.
    hits = 0
    for seed in range(120):
        total, _ = _run(seed, 0.9)
        naive = latency_interval(total, [], "latency", "pct", pct)
        assert naive is not None and naive.hi is not None
        hits += naive.lo <= _true_ms(pct) <= naive.hi
    assert hits / 120 < widened - 0.1


def test_the_design_effect_is_one_for_independent_shares_and_large_for_clumped_ones() -> None:
    even = [(100, 50)] * 20
    assert design_effect(even, 0.5) == 1.0
    clumped = [(100, 100)] * 10 + [(100, 0)] * 10
    assert design_effect(clumped, 0.5) > 50
    assert design_effect([(100, 50)] * 3, 0.5) == 1.0  # too few batches to say


def test_t_quantiles_approach_the_normal_one() -> None:
    assert t_95(4) == pytest.approx(2.776, abs=0.01)  # table values
    assert t_95(29) == pytest.approx(2.045, abs=0.002)
    assert t_95(10_000) == pytest.approx(1.96, abs=0.001)


@settings(max_examples=200, deadline=None)
@given(errors=st.integers(0, 1000), extra=st.integers(0, 5000))
def test_wilson_stays_within_0_and_1_and_holds_the_share(errors: int, extra: int) -> None:
    n = errors + extra
    if n == 0:
        return
    lo, hi = wilson(errors, n)
    assert 0.0 <= lo <= errors / n <= hi <= 1.0


def test_an_error_rate_of_zero_still_has_an_upper_bound() -> None:
    total = Aggregate(requests=3000)
    batches = [Batch.of(Aggregate(requests=100)) for _ in range(30)]
    found = error_rate_interval(total, batches)
    assert found is not None and found.lo == 0.0
    assert found.hi is not None and 0 < found.hi < 0.002  # about the "rule of three": 3/n


def test_clumped_errors_give_a_wider_error_rate_interval_than_scattered_ones() -> None:
    scattered = [Batch.of(Aggregate(requests=100, errors={"http_5xx": 2})) for _ in range(30)]
    clumped = [Batch.of(Aggregate(requests=100, errors={"http_5xx": 20 if i < 3 else 0})) for i in range(30)]
    total = Aggregate(requests=3000, errors={"http_5xx": 60})
    a, b = error_rate_interval(total, scattered), error_rate_interval(total, clumped)
    assert a is not None and b is not None and a.hi is not None and b.hi is not None
    assert b.hi - b.lo > 2 * (a.hi - a.lo)


def test_a_ramp_is_not_noise_in_the_throughput_interval() -> None:
    ramp = [Batch.of(Aggregate(requests=10 * i)) for i in range(1, 31)]
    total = Aggregate(requests=sum(b.requests for b in ramp))
    found = throughput_interval(total, ramp, 30.0)
    assert found is not None and found.hi is not None
    # Successive batches differ by 10 requests: about Poisson, not the ramp's whole range.
    assert (found.hi - found.lo) / (total.requests / 30.0) < 0.1


def test_an_interval_holds_its_own_figure_and_reads_back_its_standard_error() -> None:
    iv = Interval(90.0, 110.0)
    assert iv.contains(100.0) and not iv.contains(111.0)
    se = iv.se()
    assert se is not None and se == pytest.approx(20 / (2 * 1.959964))
    assert Interval(1.0, None).se() is None and Interval(1.0, None).contains(1e9)


def test_a_high_percentile_of_few_requests_is_bounded_by_the_largest_value() -> None:
    # 150 requests: the p99's upper rank lies past the last; the largest value recorded bounds it.
    total, batches = _run(1, 0.0, intervals=3, per_interval=50)
    found = latency_interval(total, batches, "latency", "pct", 99.0)
    assert found is not None and found.hi is not None
    assert found.hi == pytest.approx(total.rt.get_max_value() / 1000.0, rel=0.002)
