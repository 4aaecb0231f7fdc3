"""merge_encoded against hdrh's own decode_and_add: the same counts, min, max and total, whatever
the histograms hold (sparse, dense, empty, the whole range, merges of merges)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from surge.stats import (
    HIGHEST_US,
    LOWEST_US,
    Aggregate,
    EndpointIntervalData,
    decode,
    encode,
    merge_encoded,
    new_histogram,
)

values = st.lists(st.integers(min_value=LOWEST_US, max_value=HIGHEST_US), max_size=300)
clustered = st.lists(st.integers(min_value=5_000, max_value=400_000), min_size=200, max_size=2_000)


def _encoded(vals: list[int]) -> str:
    h = new_histogram()
    for v in vals:
        h.record_value(v)
    return encode(h)


def _reference(encoded: list[str]) -> str:
    h = new_histogram()
    for e in encoded:
        if e:
            h.decode_and_add(e)
    return encode(h)


def _same(a: str, b: str) -> None:
    ha, hb = decode(a), decode(b)
    assert ha.get_total_count() == hb.get_total_count()
    assert ha.get_min_value() == hb.get_min_value()
    assert ha.get_max_value() == hb.get_max_value()
    assert list(ha.counts) == list(hb.counts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(values, clustered), min_size=1, max_size=8))
def test_merge_equals_hdrh_decode_and_add(groups: list[list[int]]) -> None:
    encoded = [_encoded(g) for g in groups]
    _same(merge_encoded(encoded), _reference(encoded))


@settings(max_examples=30, deadline=None)
@given(st.lists(values, min_size=2, max_size=9))
def test_merge_of_merges_equals_one_merge(groups: list[list[int]]) -> None:
    encoded = [_encoded(g) for g in groups]
    half = len(encoded) // 2
    nested = merge_encoded([merge_encoded(encoded[:half]), merge_encoded(encoded[half:])])
    _same(nested, merge_encoded(encoded))
    _same(nested, _reference(encoded))


def test_empty_encodings_and_no_encodings() -> None:
    assert decode(merge_encoded([])).get_total_count() == 0
    assert decode(merge_encoded(["", ""])).get_total_count() == 0
    one = _encoded([1_000, 2_000])
    _same(merge_encoded(["", one, ""]), one)


def test_scratch_is_left_clean_between_merges() -> None:
    # A merge must not leak counts into the next one through the decoder's scratch array.
    merge_encoded([_encoded([10, 10_000, HIGHEST_US]), _encoded([LOWEST_US])])
    later = merge_encoded([_encoded([500]), _encoded([700])])
    h = decode(later)
    assert h.get_total_count() == 2
    assert sum(h.counts) == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(values, clustered), min_size=1, max_size=8))
def test_a_sum_of_aggregates_equals_one_aggregate_of_everything(groups: list[list[int]]) -> None:
    """A scope's total is the sum of its batches (surge.summary): the same counts, min, max and
    percentiles as adding every encoded histogram into one."""
    whole, parts = Aggregate(), []
    for group in groups:
        h = new_histogram()
        for v in group:
            h.record_value(v)
        ep: EndpointIntervalData = {
            "requests": len(group),
            "errors": {"timeout": 1},
            "status": {"200": len(group)},
            "bytes": 10,
            "rt": encode(h),
            "st": encode(h),
        }
        whole.add_endpoint(ep)
        part = Aggregate()
        part.add_endpoint(ep)
        parts.append(part)
    summed = Aggregate()
    for part in parts:
        summed.add(part)
    assert (summed.requests, summed.errors, summed.status, summed.bytes) == (
        whole.requests,
        whole.errors,
        whole.status,
        whole.bytes,
    )
    for a, b in ((summed.rt, whole.rt), (summed.st, whole.st)):
        assert a.get_total_count() == b.get_total_count()
        assert (a.get_min_value(), a.get_max_value()) == (b.get_min_value(), b.get_max_value())
        assert list(a.counts) == list(b.counts)
