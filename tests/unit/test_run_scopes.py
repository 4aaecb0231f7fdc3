"""The one pass over a run's intervals (surge.run_scopes) reads every scope as reading it alone does."""

from __future__ import annotations

import ctypes

from hypothesis import given, settings
from hypothesis import strategies as st

from surge.run_scopes import ScopeTotals, busiest_endpoints, read_scopes
from surge.stats import Aggregate, RunStats, aggregate, batch_aggregates, merge_results
from surge.uncertainty import Batch
from tests.unit.test_stats import Sample, record_all, worker_result

ENDPOINTS = ("GET /a", "GET /b", "POST /c", "stage:pay")

# One request: (endpoint, second, service time in ms, error class or None)
requests = st.lists(
    st.tuples(
        st.sampled_from(ENDPOINTS),
        st.integers(0, 44),
        st.integers(1, 5_000),
        st.sampled_from([None, None, None, "http_5xx", "timeout"]),
    ),
    min_size=1,
    max_size=300,
)


def run_of(reqs: list[tuple[str, int, int, str | None]]) -> RunStats:
    samples = [
        Sample(sec + 0.5, name, ms * 1000 + 250, ms * 1000, 0 if error == "timeout" else 200, error)
        for name, sec, ms, error in sorted(reqs, key=lambda r: r[1])
    ]
    return merge_results([worker_result(record_all(samples), ended_s=45.0)])


def same(a: Aggregate, b: Aggregate) -> None:
    assert (a.requests, a.errors, a.status, a.iterations, a.dropped, a.bytes) == (
        b.requests,
        b.errors,
        b.status,
        b.iterations,
        b.dropped,
        b.bytes,
    )
    for which in ("latency", "service_time"):
        for stat, pct in (("min", None), ("mean", None), ("p50", 50.0), ("p99", 99.0), ("max", None)):
            assert a.latency(which, stat, pct) == b.latency(which, stat, pct)


def same_scope(mine: ScopeTotals, total: Aggregate, alone: list[Aggregate]) -> None:
    """A scope of the one pass: its total, and each batch as the batch read alone gives it."""
    same(mine.total, total)
    assert len(mine.batches) == len(alone)
    for got, agg in zip(mine.batches, alone, strict=True):
        want = Batch.of(agg)
        assert (got.requests, got.errors, got.latency_n, got.service_time_n) == (
            want.requests,
            want.errors,
            want.latency_n,
            want.service_time_n,
        )
        for which in ("latency", "service_time"):
            a, b = got.samples(which), want.samples(which)
            assert (a.total, a.low, list(a.counts), a.mean()) == (b.total, b.low, list(b.counts), b.mean())


@settings(max_examples=60, deadline=None)
@given(requests)
def test_every_scope_of_the_one_pass_equals_that_scope_read_alone(
    reqs: list[tuple[str, int, int, str | None]],
) -> None:
    stats = run_of(reqs)
    phases = [(0.0, 10.0), (10.0, 30.0), (30.0, float("inf"))]
    scopes = read_scopes(stats, phases)
    same_scope(scopes.run, aggregate(stats), batch_aggregates(stats))
    for name, scope in scopes.endpoints.items():
        same_scope(scope, aggregate(stats, endpoint=name), batch_aggregates(stats, endpoint=name))
    for r, scope in zip(phases, scopes.phases, strict=True):
        same_scope(scope, aggregate(stats, t_range=r), batch_aggregates(stats, t_range=r))
    # The series: each interval's figures, the run's (stages left out) and the busiest endpoints'.
    step = stats["interval_s"]
    for point in scopes.timeseries:
        t = point["t"]
        one = aggregate(stats, t_range=(t, t + step))
        assert (point["requests"], point["errors"]) == (one.requests, one.error_count)
        assert point["p99"] == (None if (v := one.latency("latency", "p99", 99.0)) is None else round(v, 3))
    for name, points in scopes.endpoint_series.items():
        assert name in busiest_endpoints(stats)
        assert sum(p["requests"] for p in points) == aggregate(stats, endpoint=name).requests


def test_a_cleared_aggregate_is_as_good_as_new() -> None:
    stats = run_of([("GET /a", s, 10 + s * 100, "timeout" if s % 3 else None) for s in range(40)])
    used = Aggregate()
    for data in stats["intervals"].values():
        for ep in data["endpoints"].values():
            used.add_endpoint(ep)
    assert used.rt.get_total_count() and used.latency("latency", "p99", 99.0) is not None
    used.clear()
    for h in (used.rt, used.st):
        assert h.get_total_count() == 0
        assert not any((ctypes.c_uint64 * h.counts_len).from_address(ctypes.addressof(h.counts)))
    assert used.rt_timeouts.get_total_count() == 0 and used.requests == 0 and used.errors == {}
    # Read again after new adds (a percentile kept from before the clear must not be returned).
    for data in list(stats["intervals"].values())[:2]:
        for ep in data["endpoints"].values():
            used.add_endpoint(ep)
    fresh = Aggregate()
    for data in list(stats["intervals"].values())[:2]:
        for ep in data["endpoints"].values():
            fresh.add_endpoint(ep)
    same(used, fresh)
