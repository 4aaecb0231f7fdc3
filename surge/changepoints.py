"""Where a plan's history changed: change points in a series of runs' figures (p95, error rate...).

A plan run again and again is a time series; a regression that slipped past a gate, or a fix,
shows as a step in it. The method is binary segmentation on the mean: the split that best
separates the series into a before and an after (largest between-segments share of the squared
deviations), kept only when a permutation test says a split that good is rare in shuffled copies of
the same values (p < 0.01 by default), then searched again on each side. Learnt from the
change-point detection run on performance histories (MongoDB's e-divisive means, Hunter / Apache
Otava); this is a simpler cousin, for tens of runs. Pure: no I/O, seeded."""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SIDE = 3  # runs on each side of a change: fewer tell a step from an outlier badly
PERMUTATIONS = 199
ALPHA = 0.01


@dataclass(frozen=True)
class Change:
    at: int  # the index of the first value after the change
    before: float  # median before (since the previous change)
    after: float  # median after (up to the next change)
    p_value: float

    @property
    def change_pct(self) -> float | None:
        return (self.after - self.before) / self.before * 100.0 if self.before else None


def _prefix(values: Sequence[float]) -> list[float]:
    out = [0.0]
    for v in values:
        out.append(out[-1] + v)
    return out


def _best_split(values: Sequence[float]) -> tuple[int, float]:
    """The split index and its score: the between-segments sum of squares (higher: a cleaner step)."""
    n = len(values)
    p = _prefix(values)
    best_at, best = -1, -1.0
    for k in range(MIN_SIDE, n - MIN_SIDE + 1):
        s1, s2 = p[k], p[n] - p[k]
        score = s1 * s1 / k + s2 * s2 / (n - k) - p[n] * p[n] / n
        if score > best:
            best_at, best = k, score
    return best_at, best


def _best_pair(values: Sequence[float]) -> tuple[int, int, float]:
    """Two splits at once: a change that came and went (a regression, then its fix) splits the
    series in three, and no single split separates it well."""
    n = len(values)
    p = _prefix(values)
    best = (-1, -1, -1.0)
    base = p[n] * p[n] / n
    for a in range(MIN_SIDE, n - 2 * MIN_SIDE + 1):
        s1 = p[a] * p[a] / a
        for b in range(a + MIN_SIDE, n - MIN_SIDE + 1):
            s2, s3 = p[b] - p[a], p[n] - p[b]
            score = s1 + s2 * s2 / (b - a) + s3 * s3 / (n - b) - base
            if score > best[2]:
                best = (a, b, score)
    return best


def _p_value(
    values: Sequence[float], score: float, rng: random.Random, permutations: int, *, pair: bool = False
) -> float:
    shuffled = list(values)
    at_least = 0
    for _ in range(permutations):
        rng.shuffle(shuffled)
        got = _best_pair(shuffled)[2] if pair else _best_split(shuffled)[1]
        if got >= score - 1e-9 * max(abs(score), 1.0):
            at_least += 1
    return (at_least + 1) / (permutations + 1)


def change_points(
    values: Sequence[float], *, alpha: float = ALPHA, permutations: int = PERMUTATIONS, seed: int = 0
) -> list[Change]:
    """The series' change points, in order; none in a series that only varies by chance (at
    ``alpha``, per test)."""
    rng = random.Random(seed)
    cuts: list[tuple[int, float]] = []

    def single(lo: int, hi: int) -> tuple[int, float] | None:
        segment = values[lo:hi]
        if len(segment) < 2 * MIN_SIDE or statistics.pvariance(segment) == 0:
            return None
        k, score = _best_split(segment)
        return (lo + k, _p_value(segment, score, rng, permutations)) if k > 0 else None

    def search(lo: int, hi: int) -> None:
        found = single(lo, hi)
        if found is not None and found[1] < alpha:
            cuts.append(found)
            search(lo, found[0])
            search(found[0], hi)
            return
        segment = values[lo:hi]
        if len(segment) < 3 * MIN_SIDE or statistics.pvariance(segment) == 0:
            return
        a, b, score = _best_pair(segment)
        if a < 0 or _p_value(segment, score, rng, permutations, pair=True) >= alpha:
            return
        # Each cut of the pair must hold on its own, between its neighbours: a single step found
        # as a pair brings one cut that does not.
        found_each = (single(lo, lo + b), single(lo + a, hi))
        kept = list(dict((c[0], c) for c in found_each if c is not None and c[1] < alpha).values())
        if not kept:
            return
        cuts.extend(kept)
        edges = sorted({lo, hi, *(at for at, _ in kept)})
        for x, y in itertools.pairwise(edges):
            search(x, y)

    search(0, len(values))
    cuts.sort()
    bounds = [0, *(at for at, _ in cuts), len(values)]
    return [
        Change(
            at=at,
            before=statistics.median(values[bounds[i] : at]),
            after=statistics.median(values[at : bounds[i + 2]]),
            p_value=p,
        )
        for i, (at, p) in enumerate(cuts)
    ]
