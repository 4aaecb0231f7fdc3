"""When each arrival is intended to start, how a plan is cut into segments (time) and shards (rate).

Pure: no clocks, no I/O. Times are seconds from the plan's start.

Arrivals follow the cumulative count N(t) of the phases (linear within a ramp), and arrival k is
intended at the instant N(t) == k, so a 60 s phase at 10/s has exactly 600 arrivals and a ramp is
exact over its phase. Shard i of n takes the arrivals k ≡ i (mod n): together the shards produce
exactly the plan's arrivals, spread evenly. With Poisson spacing each shard draws an independent
process at 1/n of the intensity (their sum is again Poisson at the full rate).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseShape:
    start_s: float
    duration_s: float
    level_from: float  # rate (open) or users (closed) at the phase's start
    level_to: float  # ... and at its end (linear in between)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def level_at(self, t: float) -> float:
        frac = min(max((t - self.start_s) / self.duration_s, 0.0), 1.0)
        return self.level_from + (self.level_to - self.level_from) * frac

    def arrivals_until(self, t: float) -> float:
        """Expected arrivals from the phase's start until t (area under the rate line)."""
        x = min(max(t - self.start_s, 0.0), self.duration_s)
        return self.level_from * x + (self.level_to - self.level_from) * x * x / (2 * self.duration_s)

    @property
    def total_arrivals(self) -> float:
        return (self.level_from + self.level_to) / 2 * self.duration_s

    def time_of(self, n: float) -> float:
        """Inverse of arrivals_until: the instant the phase's n-th arrival is due (0 <= n <= total)."""
        a = (self.level_to - self.level_from) / (2 * self.duration_s)
        b = self.level_from
        if n <= 0:
            return self.start_s
        if abs(a) < 1e-15:
            return self.start_s + n / b
        disc = max(b * b + 4 * a * n, 0.0)
        # The stable root of a x^2 + b x - n = 0 (no cancellation when b is large).
        return self.start_s + min(2 * n / (b + math.sqrt(disc)), self.duration_s)


def shapes(levels: Sequence[tuple[float, float, float]]) -> list[PhaseShape]:
    """(duration, from, to) per phase -> phases laid end to end."""
    out: list[PhaseShape] = []
    t = 0.0
    for duration, lo, hi in levels:
        out.append(PhaseShape(t, duration, lo, hi))
        t += duration
    return out


def total_duration(phases: Sequence[PhaseShape]) -> float:
    return phases[-1].end_s if phases else 0.0


def phase_index_at(phases: Sequence[PhaseShape], t: float) -> int:
    for i, p in enumerate(phases):
        if t < p.end_s:
            return i
    return len(phases) - 1


def cumulative_arrivals(phases: Sequence[PhaseShape], t: float) -> float:
    return sum(p.arrivals_until(t) for p in phases if p.start_s <= t)


def _time_of_global(phases: Sequence[PhaseShape], n: float, prefix: Sequence[float]) -> float | None:
    for p, before in zip(phases, prefix, strict=True):
        if n < before + p.total_arrivals - 1e-9:
            return p.time_of(n - before)
    return None


def _prefix(phases: Sequence[PhaseShape]) -> list[float]:
    acc, out = 0.0, []
    for p in phases:
        out.append(acc)
        acc += p.total_arrivals
    return out


class ArrivalStream:
    """Intended start times of one shard's arrivals inside a window, in order, with a way to
    skip (and count) every arrival due before an instant without producing each one: a worker
    that cannot start them (in-flight cap) drops them all at once, whatever the rate."""

    def __init__(
        self,
        phases: Sequence[PhaseShape],
        *,
        shard: int = 0,
        shards: int = 1,
        window: tuple[float, float] | None = None,
        poisson: bool = False,
        seed: int = 0,
    ) -> None:
        if not 0 <= shard < shards:
            raise ValueError("shard must be in [0, shards)")
        self.phases = phases
        self.shard, self.shards = shard, shards
        self.w0, self.w1 = window if window is not None else (0.0, total_duration(phases))
        self.poisson = poisson
        self._prefix = _prefix(phases)
        n0 = cumulative_arrivals(phases, self.w0)
        self._n1 = cumulative_arrivals(phases, self.w1)
        if poisson:
            # A unit-rate process in "arrival-count space", mapped back through N^-1, is a Poisson
            # process with the plan's time-varying rate; each shard runs at 1/shards of it.
            self._rng = random.Random(f"{seed}:{shard}:{self.w0}")
            self._n = n0 + self._rng.expovariate(1.0) * shards
        else:
            k = math.ceil(n0 - 1e-9)
            self._n = float(k + (shard - k) % shards)

    def __iter__(self) -> ArrivalStream:
        return self

    def __next__(self) -> float:
        n = self._n
        if n >= self._n1 - (0.0 if self.poisson else 1e-9):
            raise StopIteration
        t = _time_of_global(self.phases, n, self._prefix)
        if t is None or t >= self.w1:
            self._n = math.inf
            raise StopIteration
        if self.poisson:
            self._n = n + self._rng.expovariate(1.0) * self.shards
        else:
            self._n = n + self.shards
        return t

    def skip_until(self, t: float) -> int:
        """Skip every arrival of this shard due before plan time ``t``; returns how many."""
        upto = min(cumulative_arrivals(self.phases, min(t, self.w1)), self._n1)
        if self._n >= upto:
            return 0
        if self.poisson:
            # The count of a Poisson process over the span, drawn at once; after it, memoryless.
            count = _poisson_count(self._rng, (upto - self._n) / self.shards) + 1
            self._n = upto + self._rng.expovariate(1.0) * self.shards
            return count
        # Uniform: the shard's arrival numbers n, n + shards, ... below upto.
        count = math.ceil((upto - 1e-9 - self._n) / self.shards)
        self._n += count * self.shards
        return count


def _poisson_count(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (exact below 50, the normal approximation above)."""
    if mean <= 0:
        return 0
    if mean < 50:
        limit, k, p = math.exp(-mean), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def arrivals(
    phases: Sequence[PhaseShape],
    *,
    shard: int = 0,
    shards: int = 1,
    window: tuple[float, float] | None = None,
    poisson: bool = False,
    seed: int = 0,
) -> Iterator[float]:
    """Intended start times of this shard's arrivals inside ``window`` [start, end), in order."""
    return ArrivalStream(phases, shard=shard, shards=shards, window=window, poisson=poisson, seed=seed)


def expected_arrivals(phases: Sequence[PhaseShape], window: tuple[float, float] | None = None) -> int:
    """How many arrivals all shards together produce in the window (uniform spacing)."""
    w0, w1 = window if window is not None else (0.0, total_duration(phases))
    n0 = math.ceil(cumulative_arrivals(phases, w0) - 1e-9)
    n1 = math.ceil(cumulative_arrivals(phases, w1) - 1e-9)
    return max(n1 - n0, 0)


def users_at(phases: Sequence[PhaseShape], t: float) -> int:
    """Closed model: how many virtual users should be active at t (ramps linear, rounded down)."""
    if t < 0 or not phases or t >= total_duration(phases):
        return 0
    return math.floor(phases[phase_index_at(phases, t)].level_at(t) + 1e-9)


def shard_user_ids(max_users: int, shard: int, shards: int) -> list[int]:
    """Global user numbers this shard runs: user j belongs to shard j mod n, so ramps stay even."""
    return list(range(shard, max_users, shards))


def peak_level(phases: Sequence[PhaseShape], window: tuple[float, float] | None = None) -> float:
    w0, w1 = window if window is not None else (0.0, total_duration(phases))
    peak = 0.0
    for p in phases:
        if p.end_s <= w0 or p.start_s >= w1:
            continue
        peak = max(peak, p.level_at(max(w0, p.start_s)), p.level_at(min(w1, p.end_s)))
    return peak


@dataclass(frozen=True)
class Segment:
    index: int
    start_s: float
    end_s: float
    shards: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def segments(
    phases: Sequence[PhaseShape],
    *,
    max_segment_s: float = 600.0,
    per_shard_capacity: float,
    min_shards: int = 1,
    max_shards: int = 1000,
) -> list[Segment]:
    """Cut a plan into segments of at most ``max_segment_s`` (a Lambda lives 15 minutes) and give
    each enough shards that none runs above ``per_shard_capacity`` at the segment's peak."""
    total = total_duration(phases)
    count = max(1, math.ceil(total / max_segment_s - 1e-9))
    length = total / count
    out = []
    for i in range(count):
        w0, w1 = i * length, total if i == count - 1 else (i + 1) * length
        need = math.ceil(peak_level(phases, (w0, w1)) / per_shard_capacity - 1e-9)
        out.append(Segment(i, w0, w1, min(max(need, min_shards), max_shards)))
    return out
