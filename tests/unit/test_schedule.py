"""Arrival scheduling, shards and segments (surge/schedule.py)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from functools import cache

import pytest

from surge.schedule import (
    PhaseShape,
    arrivals,
    cumulative_arrivals,
    expected_arrivals,
    peak_level,
    segments,
    shapes,
    shard_user_ids,
    total_duration,
    users_at,
)

# The seeds' migration shape: warm-up 60 s @10/s, ramp 10→100/s over 120 s, 600 s @100/s, ramp-down.
MIGRATION = shapes([(60, 10, 10), (120, 10, 100), (600, 100, 100), (60, 100, 10)])
MIGRATION_COUNTS = [600, 6600, 60_000, 3300]


@cache
def migration_arrivals() -> tuple[float, ...]:
    return tuple(arrivals(MIGRATION))


def all_arrivals(phases: Sequence[PhaseShape], **kwargs: object) -> list[float]:
    return list(arrivals(phases, **kwargs))  # type: ignore[arg-type]


def per_phase(times: Sequence[float], phases: Sequence[PhaseShape]) -> list[int]:
    return [sum(1 for t in times if p.start_s <= t < p.end_s) for p in phases]


def assert_increasing_within(times: Sequence[float], w0: float, w1: float) -> None:
    assert all(b > a for a, b in itertools.pairwise(times)), "arrival times must strictly increase"
    assert all(w0 <= t < w1 for t in times), "arrival outside its window"


# -- exact counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "count"),
    [
        ([(60, 10, 10)], 600),
        ([(120, 10, 100)], 6600),
        ([(30, 1, 1)], 30),
        ([(10, 0, 10)], 50),
        ([(10, 10, 0)], 50),
        ([(3, 0.5, 0.5)], 2),  # 1.5 arrivals due: at t=0 and t=2
        ([(60, 10, 10), (120, 10, 100), (600, 100, 100), (60, 100, 10)], 70_500),
    ],
)
def test_exact_arrival_counts(levels: list[tuple[float, float, float]], count: int) -> None:
    phases = shapes(levels)
    times = all_arrivals(phases)
    assert len(times) == count
    assert expected_arrivals(phases) == count
    assert_increasing_within(times, 0.0, total_duration(phases))


def test_counts_per_phase_of_multi_phase_plan() -> None:
    times = list(migration_arrivals())
    assert per_phase(times, MIGRATION) == MIGRATION_COUNTS
    assert [p.total_arrivals for p in MIGRATION] == MIGRATION_COUNTS
    assert total_duration(MIGRATION) == 840.0


def test_constant_rate_is_evenly_spaced() -> None:
    times = all_arrivals(shapes([(60, 10, 10)]))
    assert times[0] == 0.0
    assert all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx(59.9)


def test_ramp_follows_rate_line_each_second() -> None:
    phases = shapes([(120, 10, 100)])
    per_second = Counter(int(t) for t in all_arrivals(phases))
    for s in range(120):
        rate_mid = 10 + 90 * (s + 0.5) / 120  # the rate line's mean over [s, s+1)
        assert abs(per_second[s] - rate_mid) <= 1, (s, per_second[s], rate_mid)
    assert per_second[0] < per_second[60] < per_second[119]


def test_ramp_down_follows_rate_line() -> None:
    phases = shapes([(60, 100, 10)])
    per_second = Counter(int(t) for t in all_arrivals(phases))
    for s in range(60):
        assert abs(per_second[s] - (100 - 90 * (s + 0.5) / 60)) <= 1


def test_cumulative_arrivals_is_area_under_rate_line() -> None:
    assert cumulative_arrivals(MIGRATION, 0) == 0
    assert cumulative_arrivals(MIGRATION, 60) == pytest.approx(600)
    assert cumulative_arrivals(MIGRATION, 120) == pytest.approx(600 + 60 * 10 + 45 * 60 * 60 / 120)
    assert cumulative_arrivals(MIGRATION, 840) == pytest.approx(70_500)


def test_zero_rate_pause_produces_no_arrivals() -> None:
    phases = shapes([(10, 5, 5), (10, 0, 0), (10, 5, 5)])
    times = all_arrivals(phases)
    assert per_phase(times, phases) == [50, 0, 50]
    assert expected_arrivals(phases) == 100
    assert expected_arrivals(phases, (10, 20)) == 0
    poisson = all_arrivals(phases, poisson=True, seed=3)
    assert per_phase(poisson, phases)[1] == 0
    assert per_phase(poisson, phases)[0] > 0 and per_phase(poisson, phases)[2] > 0


# -- shards ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_shards_partition_the_arrivals(n: int) -> None:
    whole = list(migration_arrivals())
    parts = [all_arrivals(MIGRATION, shard=i, shards=n) for i in range(n)]
    union = sorted(t for part in parts for t in part)
    assert union == whole  # same instants, none duplicated, none missing
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1  # spread evenly
    for part in parts:
        assert_increasing_within(part, 0.0, 840.0)


@pytest.mark.parametrize(("shard", "shards"), [(-1, 2), (2, 2), (0, 0)])
def test_bad_shard_refused(shard: int, shards: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        all_arrivals(MIGRATION, shard=shard, shards=shards)


# -- windows (segments of time) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cuts",
    [
        [0, 420, 840],
        [0, 60, 180, 780, 840],
        [0, 0.05, 1, 59.99, 60, 61.3, 333.333, 839.95, 840],
    ],
)
@pytest.mark.parametrize("shards", [1, 3])
def test_windows_partition_the_arrivals(cuts: list[float], shards: int) -> None:
    whole = list(migration_arrivals())
    union: list[float] = []
    expected_total = 0
    for w0, w1 in itertools.pairwise(cuts):
        in_window: list[float] = []
        for i in range(shards):
            part = all_arrivals(MIGRATION, window=(w0, w1), shard=i, shards=shards)
            assert_increasing_within(part, w0, w1)
            in_window += part
        assert len(in_window) == expected_arrivals(MIGRATION, (w0, w1))
        expected_total += expected_arrivals(MIGRATION, (w0, w1))
        union += in_window
    assert sorted(union) == whole
    assert expected_total == len(whole)


def test_window_matches_the_slice_of_the_whole() -> None:
    whole = list(migration_arrivals())
    window = all_arrivals(MIGRATION, window=(100.0, 200.0))
    assert window == [t for t in whole if 100.0 <= t < 200.0]


# -- Poisson ---------------------------------------------------------------------------------------------


def test_poisson_total_close_to_expected() -> None:
    phases = shapes([(600, 100, 100)])
    n = len(all_arrivals(phases, poisson=True, seed=11))
    assert abs(n - 60_000) < 0.02 * 60_000


def test_poisson_follows_a_ramp() -> None:
    phases = shapes([(300, 10, 200)])
    times = all_arrivals(phases, poisson=True, seed=5)
    assert abs(len(times) - 31_500) < 0.03 * 31_500
    first, last = sum(1 for t in times if t < 30), sum(1 for t in times if t >= 270)
    # The rate line's area: 30 s * 19.5/s = 585 in the first 30 s, 30 s * 190.5/s = 5715 in the last.
    assert 450 < first < 720
    assert 5400 < last < 6050
    assert_increasing_within(times, 0.0, 300.0)


def test_poisson_reproducible_per_seed_and_different_per_shard() -> None:
    phases = shapes([(60, 50, 50)])
    a = all_arrivals(phases, poisson=True, seed=1)
    assert a == all_arrivals(phases, poisson=True, seed=1)
    assert a != all_arrivals(phases, poisson=True, seed=2)
    s0 = all_arrivals(phases, poisson=True, seed=1, shard=0, shards=2)
    s1 = all_arrivals(phases, poisson=True, seed=1, shard=1, shards=2)
    assert s0 != s1
    assert not set(s0) & set(s1)
    # Each shard runs at half the intensity; together about the full rate.
    assert abs(len(s0) + len(s1) - 3000) < 0.08 * 3000
    assert abs(len(s0) - len(s1)) < 0.15 * 1500


def test_poisson_spacing_is_exponential_not_uniform() -> None:
    times = all_arrivals(shapes([(200, 100, 100)]), poisson=True, seed=9)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    assert mean == pytest.approx(0.01, rel=0.05)
    # An exponential's standard deviation equals its mean; uniform spacing would have ~0.
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    assert sd == pytest.approx(mean, rel=0.1)


def test_poisson_windows_stay_inside() -> None:
    for seed in range(5):
        part = all_arrivals(MIGRATION, poisson=True, seed=seed, window=(30.0, 170.5), shard=1, shards=3)
        assert part
        assert_increasing_within(part, 30.0, 170.5)


# -- closed model ----------------------------------------------------------------------------------------


def test_users_at_closed_ramp() -> None:
    phases = shapes([(60, 0, 60), (60, 60, 60)])
    assert [users_at(phases, t) for t in (-1, 0, 0.5, 1, 30, 59.99, 60, 100, 119.9, 120, 200)] == [
        0, 0, 0, 1, 30, 59, 60, 60, 60, 0, 0,
    ]  # fmt: skip


def test_users_at_ramp_down() -> None:
    phases = shapes([(100, 100, 0)])
    assert users_at(phases, 0) == 100
    assert users_at(phases, 50) == 50
    assert users_at(phases, 99.5) == 0


def test_users_at_without_phases() -> None:
    assert users_at([], 1.0) == 0


def test_shard_user_ids_partition_users() -> None:
    assert shard_user_ids(10, 1, 3) == [1, 4, 7]
    assert shard_user_ids(10, 0, 1) == list(range(10))
    ids = [u for i in range(4) for u in shard_user_ids(1000, i, 4)]
    assert sorted(ids) == list(range(1000))
    # A ramp keeps shards even: the first k users are spread over all shards.
    first_40 = Counter(u % 4 for u in range(40))
    assert set(first_40.values()) == {10}


# -- segments --------------------------------------------------------------------------------------------


def test_fourteen_minute_plan_cut_into_two_segments() -> None:
    segs = segments(MIGRATION, max_segment_s=600, per_shard_capacity=30)
    assert len(segs) == 2
    assert [s.index for s in segs] == [0, 1]
    assert segs[0].start_s == 0.0
    assert segs[0].end_s == segs[1].start_s
    assert segs[-1].end_s == 840.0
    assert all(s.duration_s <= 600 for s in segs)
    assert sum(s.duration_s for s in segs) == pytest.approx(840.0)
    assert [s.shards for s in segs] == [4, 4]  # ceil(100 / 30) at each segment's peak
    # The segments' arrivals are the plan's arrivals.
    union = [t for s in segs for t in all_arrivals(MIGRATION, window=(s.start_s, s.end_s))]
    assert union == list(migration_arrivals())


def test_segment_shards_follow_each_segments_peak() -> None:
    phases = shapes([(600, 10, 10), (600, 10, 1000), (300, 1000, 1000)])
    segs = segments(phases, max_segment_s=600, per_shard_capacity=100)
    assert [(s.start_s, s.end_s) for s in segs] == [(0, 500), (500, 1000), (1000, 1500)]
    assert peak_level(phases, (0, 500)) == 10
    assert peak_level(phases, (500, 1000)) == pytest.approx(10 + 990 * 400 / 600)
    assert [s.shards for s in segs] == [1, 7, 10]


def test_segment_shards_bounded_by_min_and_max() -> None:
    assert [s.shards for s in segments(MIGRATION, per_shard_capacity=30, max_shards=2)] == [2, 2]
    assert [s.shards for s in segments(MIGRATION, per_shard_capacity=1000, min_shards=4)] == [4, 4]
    assert [s.shards for s in segments(MIGRATION, per_shard_capacity=1000)] == [1, 1]


def test_short_plan_is_one_segment() -> None:
    segs = segments(shapes([(30, 5, 5)]), per_shard_capacity=100)
    assert [(s.start_s, s.end_s, s.shards) for s in segs] == [(0.0, 30.0, 1)]


def test_exactly_max_segment_is_one_segment() -> None:
    assert len(segments(shapes([(600, 5, 5)]), max_segment_s=600, per_shard_capacity=100)) == 1
    assert len(segments(shapes([(601, 5, 5)]), max_segment_s=600, per_shard_capacity=100)) == 2
