"""Reading an HdrHistogram's mean, standard deviation and percentiles from its counts array.

hdrh computes these in pure Python one bucket at a time (an iterator object per recorded value,
a method call per index): a report of 30 endpoints over ten minutes spent most of its 30 s there.
The same figures come from the counts array with C-level passes (accumulate, bisect, zip) and a
table of each index's value, built once per histogram layout. Results equal hdrh's own
(tests/unit/test_hdr_read.py checks them against it over generated histograms)."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from functools import cache
from itertools import accumulate, compress
from typing import Literal

from hdrh.histogram import HdrHistogram

_WORD: dict[int, Literal["Q", "I", "H"]] = {8: "Q", 4: "I", 2: "H"}  # unsigned counts by size in bytes


def _counts(h: HdrHistogram) -> memoryview[int]:
    # A decoded histogram may hold fewer counts than its layout: the rest are zero.
    n = min(h.counts_len, h.encoder.payload.counts_len)
    raw = memoryview(h.counts).cast("B")
    return raw.cast(_WORD[int(h.word_size)])[:n]


@cache
def _median_values(lowest: int, highest: int, digits: int, n: int) -> tuple[float, ...]:
    """The value hdrh's mean and stddev give each index (the middle of its equivalent range)."""
    h = HdrHistogram(lowest, highest, digits)
    return tuple(float(h._hdr_median_equiv_value(h.get_value_from_index(i))) for i in range(n))


def _values(h: HdrHistogram, n: int) -> tuple[float, ...]:
    return _median_values(h.lowest_trackable_value, h.highest_trackable_value, h.significant_figures, n)


def _nonzero(h: HdrHistogram) -> tuple[list[int], list[float]]:
    counts = _counts(h)
    low, top = _span(h, counts)
    values = _values(h, len(counts))[low:top]
    counts = counts[low:top]
    mask = [c != 0 for c in counts]
    return list(compress(counts, mask)), list(compress(values, mask))


def _span(h: HdrHistogram, counts: memoryview[int]) -> tuple[int, int]:
    """[low, top): the buckets from the lowest recorded value to the highest; every count outside
    is zero (checked for the low end, whose minimum an outside add may not have kept)."""
    top = min(h._counts_index_for(h.get_max_value()) + 1, len(counts)) if h.get_max_value() else len(counts)
    low = min(h._counts_index_for(h.get_min_value()), top) if h.get_min_value() else 0
    if low and counts[:low] != _zeros(_WORD[int(h.word_size)], len(counts))[:low]:
        low = 0  # a minimum not kept up to date (never seen from surge's own adds): read them all
    return low, top


def mean(h: HdrHistogram) -> float:
    """hdrh's get_mean_value()."""
    total = h.get_total_count()
    if not total:
        return 0.0
    return _mean_of(*_nonzero(h), total)


def _mean_of(counts: list[int], values: list[float], total: int) -> float:
    return float(sum(map(float.__mul__, map(float, counts), values))) / float(total)


def stddev(h: HdrHistogram) -> float:
    """hdrh's get_stddev()."""
    total = h.get_total_count()
    if not total:
        return 0.0
    counts, values = _nonzero(h)
    m = float(sum(map(float.__mul__, map(float, counts), values))) / total
    return math.sqrt(sum(c * (v - m) ** 2 for c, v in zip(counts, values, strict=True)) / total)


@cache
def _zeros(fmt: Literal["Q", "I", "H"], n: int) -> memoryview[int]:
    """n zero counts in this format (one layout's length): a C-level comparison with a slice of
    them tells whether any count below an index is set."""
    return memoryview(bytes(n * memoryview(b"").cast("B").cast(fmt).itemsize)).cast("B").cast(fmt)


def _cumulative(h: HdrHistogram) -> tuple[int, list[int]]:
    """(first index, the running total of the counts from it): the buckets below the lowest
    recorded value and above the highest are left out (a latency histogram's first thousand
    buckets are usually empty). Kept on the histogram while its total stays the same (a report
    reads several percentiles of one histogram; a histogram added to afterwards is read anew)."""
    kept: tuple[int, int, list[int]] | None = getattr(h, "_surge_cumulative", None)
    if kept is not None and kept[0] == h.get_total_count():
        return kept[1], kept[2]
    counts = _counts(h)
    low, top = _span(h, counts)
    cumulative = list(accumulate(counts[low:top]))
    h._surge_cumulative = (h.get_total_count(), low, cumulative)
    return low, cumulative


def values_at_percentiles(h: HdrHistogram, percentiles: Sequence[float]) -> list[int]:
    """hdrh's get_value_at_percentile() for each percentile, from one pass over the counts."""
    if not h.get_total_count():
        return [0 for _ in percentiles]
    low, cumulative = _cumulative(h)
    out = []
    for pct in percentiles:
        i = bisect_left(cumulative, h.get_target_count_at_percentile(pct))
        if i >= len(cumulative):
            out.append(0)
            continue
        value = h.get_value_from_index(low + i)
        out.append(h.get_highest_equivalent_value(value) if pct else h.get_lowest_equivalent_value(value))
    return out


def count_at_or_below(h: HdrHistogram, index: int) -> int:
    """How many recorded values fall in buckets 0..``index``."""
    if not h.get_total_count():
        return 0
    low, cumulative = _cumulative(h)
    if index < low:
        return 0
    return cumulative[min(index - low, len(cumulative) - 1)]


def value_at_percentile(h: HdrHistogram, pct: float) -> int:
    return values_at_percentiles(h, [pct])[0]


class RecordedCounts:
    """A histogram's counts from its lowest recorded value to its highest, kept apart from the
    histogram: what is read of a batch once it is complete (how many at or below a value, the
    mean) in a few KB, where the histogram's whole array is 180 KB. Read as the histogram is."""

    __slots__ = ("_cumulative", "_layout", "_mean", "counts", "low", "max_value", "total")

    def __init__(self, h: HdrHistogram) -> None:
        self.total = int(h.get_total_count())
        self.max_value = int(h.get_max_value())
        counts = _counts(h)
        self._layout = (
            h.lowest_trackable_value,
            h.highest_trackable_value,
            h.significant_figures,
            len(counts),
        )
        self.low, top = _span(h, counts) if self.total else (0, 0)
        self.counts: array[int] = array(_WORD[int(h.word_size)])
        self.counts.frombytes(counts[self.low : top].tobytes())  # one C copy of the recorded span
        self._cumulative: list[int] | None = None
        self._mean: float | None = None

    def at_or_below(self, value: float) -> int:
        """Recorded values at or below ``value`` (equal within the histogram's precision)."""
        if not self.total:
            return 0
        if value >= self.max_value:
            return self.total
        index = int(_layout_histogram(*self._layout[:3])._counts_index_for(int(value)))
        if index < self.low or not self.counts:
            return 0
        if self._cumulative is None:
            self._cumulative = list(accumulate(self.counts))
        return self._cumulative[min(index - self.low, len(self._cumulative) - 1)]

    def mean(self) -> float:
        """hdrh's get_mean_value() of the histogram these counts were read from."""
        if self._mean is None:
            if not self.total:
                self._mean = 0.0
            else:
                values = _median_values(*self._layout)[self.low : self.low + len(self.counts)]
                mask = [c != 0 for c in self.counts]
                self._mean = _mean_of(
                    list(compress(self.counts, mask)), list(compress(values, mask)), self.total
                )
        return self._mean


@cache
def _layout_histogram(lowest: int, highest: int, digits: int) -> HdrHistogram:
    """A histogram of this layout, for its value-to-index arithmetic (never recorded into)."""
    return HdrHistogram(lowest, highest, digits)
