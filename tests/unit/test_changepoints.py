"""Change points in a plan's history: a real step is found where it happened; a series that only
varies by chance has none."""

from __future__ import annotations

import random

from surge.changepoints import change_points


def noisy(mean: float, n: int, rng: random.Random, spread: float = 0.1) -> list[float]:
    return [mean * (1 + rng.gauss(0, spread)) for _ in range(n)]


def test_a_step_is_found_where_it_happened() -> None:
    rng = random.Random(1)
    series = noisy(50.0, 12, rng) + noisy(65.0, 10, rng)  # p95 +30 % from run 12 on
    (change,) = change_points(series)
    assert change.at == 12
    assert 45 < change.before < 55 and 60 < change.after < 70 and change.p_value < 0.01
    assert change.change_pct is not None and 20 < change.change_pct < 40


def test_a_regression_and_its_fix_are_two_changes() -> None:
    rng = random.Random(2)
    series = noisy(50.0, 10, rng, 0.05) + noisy(80.0, 8, rng, 0.05) + noisy(50.0, 10, rng, 0.05)
    assert [c.at for c in change_points(series)] == [10, 18]


def test_runs_that_only_vary_by_chance_show_no_change() -> None:
    # Identical runs of an unchanged target: no change in (nearly) every history.
    found = sum(
        bool(change_points(noisy(50.0, 25, random.Random(seed), 0.2), seed=seed)) for seed in range(40)
    )
    assert found <= 2


def test_short_or_flat_series_have_none() -> None:
    assert change_points([1.0, 2.0, 3.0, 4.0, 5.0]) == []
    assert change_points([7.0] * 20) == []
    assert change_points([]) == []
