"""surge.hdr_read gives exactly hdrh's own mean, stddev and percentiles, from the counts array."""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from surge import hdr_read
from surge.stats import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS

values = st.lists(st.integers(LOWEST_US, 600_000_000), min_size=0, max_size=300)
percentiles = st.lists(st.floats(0.0, 100.0), min_size=1, max_size=6)


def histogram(recorded: list[int], repeat: int = 1) -> HdrHistogram:
    h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for v in recorded:
        h.record_value(v, repeat)
    return h


@settings(max_examples=150, deadline=None)
@given(values, st.integers(1, 50), percentiles)
def test_the_same_figures_as_hdrh(recorded: list[int], repeat: int, pcts: list[float]) -> None:
    h = histogram(recorded, repeat)
    assert math.isclose(hdr_read.mean(h), h.get_mean_value(), rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(hdr_read.stddev(h), h.get_stddev(), rel_tol=1e-9, abs_tol=1e-6)
    assert hdr_read.values_at_percentiles(h, pcts) == [h.get_value_at_percentile(p) for p in pcts]


@settings(max_examples=50, deadline=None)
@given(values.filter(bool), percentiles)
def test_a_decoded_histogram_reads_the_same(recorded: list[int], pcts: list[float]) -> None:
    # Decoded histograms may carry a shorter counts array than their layout.
    h = HdrHistogram.decode(histogram(recorded).encode())
    assert math.isclose(hdr_read.mean(h), h.get_mean_value(), rel_tol=1e-12)
    assert hdr_read.values_at_percentiles(h, pcts) == [h.get_value_at_percentile(p) for p in pcts]


@settings(max_examples=80, deadline=None)
@given(st.lists(values, min_size=1, max_size=5))
def test_adding_encoded_histograms_counts_exactly_as_hdrh(parts: list[list[int]]) -> None:
    from surge.stats import add_encoded, encode, new_histogram

    ours, theirs = new_histogram(), new_histogram()
    for recorded in parts:
        data = encode(histogram(recorded))
        add_encoded(ours, data)
        theirs.decode_and_add(data)
    assert list(ours.counts) == list(theirs.counts)
    assert ours.get_total_count() == theirs.get_total_count()
    if theirs.get_total_count():
        # hdrh's add of an empty histogram drops its min to 0; the fast path keeps the true one.
        everything = histogram([v for recorded in parts for v in recorded])
        assert (ours.get_min_value(), ours.get_max_value()) == (
            everything.get_min_value(),
            everything.get_max_value(),
        )
        if all(parts):
            assert ours.get_min_value() == theirs.get_min_value()
        assert hdr_read.values_at_percentiles(ours, [50, 99, 100]) == [
            theirs.get_value_at_percentile(p) for p in (50, 99, 100)
        ]


@settings(max_examples=100, deadline=None)
@given(values, st.booleans(), st.lists(st.integers(0, 700_000_000), min_size=1, max_size=8))
def test_recorded_counts_read_as_their_histogram(
    recorded: list[int], decoded: bool, asked: list[int]
) -> None:
    from surge.uncertainty import count_at_or_below

    h = histogram(recorded)
    if decoded and recorded:
        h = HdrHistogram.decode(h.encode())
    kept = hdr_read.RecordedCounts(h)
    assert kept.total == h.get_total_count()
    assert kept.mean() == hdr_read.mean(h)
    assert [kept.at_or_below(v) for v in asked] == [count_at_or_below(h, v) for v in asked]
    # The recorded span only: a batch is kept in a few KB, not the histogram's 180 KB.
    assert len(kept.counts) <= h.counts_len
