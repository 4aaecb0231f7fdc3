"""Mergeable statistics (surge/stats.py), the report built from them (surge/summary.py) and the
checks and verdict (surge/evaluate.py)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from surge.evaluate import abort_reason, evaluate, verdict
from surge.finish import build_report
from surge.plan import Plan
from surge.plan_load import parse_plan
from surge.report_model import Check, Report
from surge.run_facts import RunFacts
from surge.stats import (
    HIGHEST_US,
    HealthData,
    Recorder,
    RunStats,
    WorkerResult,
    aggregate,
    decode,
    merge_results,
    new_histogram,
    percentile_ms,
    stat_ms,
)
from surge.summary import stats_source
from surge.thresholds import MetricRef, Threshold, parse_threshold

T0_EPOCH = 1_700_000_000.0  # wall clock of plan time 0
T0_MONO = 500.0  # the recorder's monotonic clock at plan time 0
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)

# -- builders -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float  # plan seconds
    endpoint: str
    rt_us: int
    st_us: int
    status: int = 200
    error: str | None = None
    nbytes: int = 100


def health(worker: str, *, lag: float = 1.0, cpu: float = 10.0, saturated: bool = False) -> HealthData:
    return HealthData(
        worker=worker,
        max_loop_lag_ms=lag,
        loop_lag_p99_ms=lag / 2,
        cpu_pct=cpu,
        saturated=saturated,
        notes=[],
    )


def worker_result(
    rec: Recorder,
    shard: int = 0,
    shards: int = 1,
    *,
    ended_s: float = 5.0,
    error: str | None = None,
    stopped_early: bool = False,
    hd: HealthData | None = None,
) -> WorkerResult:
    rec.close_all()
    return WorkerResult(
        version=1,
        worker=f"w{shard}",
        shard=shard,
        shards=shards,
        interval_s=rec.interval_s,
        t0=T0_EPOCH,
        window=[0.0, 5.0],
        started_at=T0_EPOCH - 0.5 + shard * 0.01,
        ended_at=T0_EPOCH + ended_s - shard * 0.01,
        stopped_early=stopped_early,
        error=error,
        intervals=rec.intervals,
        health=hd or health(f"w{shard}"),
    )


def record_all(samples: Sequence[Sample], interval_s: float = 1.0) -> Recorder:
    rec = Recorder(T0_MONO, interval_s)
    for s in samples:
        rec.record(s.endpoint, T0_MONO + s.t, s.rt_us, s.st_us, s.status, s.error, s.nbytes)
    return rec


def lognormal(rng: random.Random) -> int:
    return max(1, int(rng.lognormvariate(math.log(20_000), 0.8)))


def bimodal(rng: random.Random) -> int:
    # 90 % fast cache hits around 5 ms, 10 % slow misses around 800 ms.
    if rng.random() < 0.9:
        return max(1, int(rng.gauss(5_000, 500)))
    return max(1, int(rng.gauss(800_000, 50_000)))


def uniform(rng: random.Random) -> int:
    return rng.randint(1, 2_000_000)


DISTRIBUTIONS: dict[str, Callable[[random.Random], int]] = {
    "lognormal": lognormal,
    "bimodal": bimodal,
    "uniform": uniform,
}


def synthetic(dist: str, n: int, workers: int, seed: int = 1) -> list[list[Sample]]:
    """n samples over 5 s and two endpoints, dealt at random to ``workers`` workers."""
    rng = random.Random(seed)
    gen = DISTRIBUTIONS[dist]
    per_worker: list[list[Sample]] = [[] for _ in range(workers)]
    for _ in range(n):
        rt = gen(rng)
        st = max(1, int(rt * rng.uniform(0.3, 1.0)))
        ep = "GET /a" if rng.random() < 0.6 else "POST /b"
        per_worker[rng.randrange(workers)].append(Sample(rng.uniform(0, 5), ep, rt, st))
    return per_worker


def results_of(per_worker: Sequence[Sequence[Sample]]) -> list[WorkerResult]:
    n = len(per_worker)
    return [worker_result(record_all(samples), i, n) for i, samples in enumerate(per_worker)]


def exact_bounds(ordered: Sequence[int], pct: float) -> tuple[int, int]:
    """The exact percentile of sorted raw samples: nearest rank, rounded up or to nearest (both
    conventions are in use; they differ by at most one rank)."""
    n = len(ordered)
    ranks = (max(math.ceil(pct / 100 * n), 1), max(int(pct / 100 * n + 0.5), 1))
    return ordered[min(ranks) - 1], ordered[min(max(ranks), n) - 1]


def assert_hdr_close(measured_ms: float | None, lo_us: float, hi_us: float, what: str = "") -> None:
    """Within HDR precision (3 significant digits): relative error <= 0.1 % plus 1 µs."""
    assert measured_ms is not None, what
    v = measured_ms * 1000.0
    assert lo_us * 0.999 - 1 <= v <= hi_us * 1.001 + 1, f"{what}: {v} µs not in [{lo_us}, {hi_us}]"


def assert_percentiles_match(h: Any, values: Sequence[int], what: str, *, mean: bool = False) -> None:
    assert h.get_total_count() == len(values), what
    ordered = sorted(values)
    for pct in PERCENTILES:
        lo, hi = exact_bounds(ordered, pct)
        assert_hdr_close(percentile_ms(h, pct), lo, hi, f"{what} p{pct}")
    assert_hdr_close(stat_ms(h, "min", None), ordered[0], ordered[0], f"{what} min")
    assert_hdr_close(stat_ms(h, "max", None), ordered[-1], ordered[-1], f"{what} max")
    if mean:  # slow to read (it walks every bucket): checked once per distribution
        exact = sum(values) / len(values)
        assert_hdr_close(stat_ms(h, "mean", None), exact, exact, f"{what} mean")


def histogram_content(h: Any) -> dict[int, int]:
    """Every non-empty bucket of a histogram: equal contents, equal histograms."""
    return {i: c for i, c in enumerate(h.counts) if c}


def fingerprint(stats: RunStats) -> dict[str, Any]:
    """Everything merging must preserve, with histograms decoded (encodings may differ)."""
    out: dict[str, Any] = {}
    for key, data in stats["intervals"].items():
        eps = {}
        for name, ep in data["endpoints"].items():
            eps[name] = {
                **{k: ep[k] for k in ("requests", "errors", "status", "bytes")},
                "rt": histogram_content(decode(ep["rt"])),
                "st": histogram_content(decode(ep["st"])),
            }
        out[key] = {k: data[k] for k in ("iterations", "dropped", "in_flight", "users")} | {"endpoints": eps}
    return out


# -- merged percentiles vs exact percentiles -------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "workers"),
    [("lognormal", 2), ("lognormal", 5), ("lognormal", 10), ("bimodal", 3), ("bimodal", 10), ("uniform", 7)],
)
def test_merged_percentiles_match_exact(dist: str, workers: int) -> None:
    per_worker = synthetic(dist, 12_000, workers, seed=workers)
    merged = merge_results(results_of(per_worker))
    everything = [s for samples in per_worker for s in samples]
    assert merged["workers"] == workers

    total = aggregate(merged)
    assert total.requests == len(everything)
    assert_percentiles_match(total.rt, [s.rt_us for s in everything], "response time", mean=True)
    assert_percentiles_match(total.st, [s.st_us for s in everything], "service time")

    only_b = aggregate(merged, endpoint="POST /b")
    assert_percentiles_match(only_b.rt, [s.rt_us for s in everything if s.endpoint == "POST /b"], "POST /b")

    window = aggregate(merged, t_range=(2.0, 4.0))
    assert_percentiles_match(window.rt, [s.rt_us for s in everything if 2.0 <= s.t < 4.0], "t in [2, 4)")


def test_bimodal_p95_sees_the_slow_mode() -> None:
    # A mean or an average of workers' percentiles would hide it; the merged histogram must not.
    merged = merge_results(results_of(synthetic("bimodal", 5_000, 4)))
    agg = aggregate(merged)
    p50, p95 = percentile_ms(agg.rt, 50), percentile_ms(agg.rt, 95)
    assert p50 is not None and p95 is not None
    assert 3 < p50 < 7
    assert 600 < p95 < 1000


def test_percentiles_of_empty_histogram_are_none() -> None:
    h = new_histogram()
    assert percentile_ms(h, 95) is None
    for stat in ("min", "max", "mean"):
        assert stat_ms(h, stat, None) is None
    assert aggregate(merge_results(results_of([[]]))).requests == 0


def test_stat_ms_unknown_statistic() -> None:
    rec = record_all([Sample(0.1, "e", 1000, 500)])
    h = aggregate(worker_result(rec)).rt
    with pytest.raises(ValueError, match="unknown statistic"):
        stat_ms(h, "p95", None)
    assert stat_ms(h, "p95", 95.0) == percentile_ms(h, 95.0)


# -- merge algebra --------------------------------------------------------------------------------------


def test_merge_is_associative_and_commutative() -> None:
    a, b, c = results_of(synthetic("lognormal", 3_000, 3, seed=5))
    left = merge_results([merge_results([a, b]), c])
    right = merge_results([a, merge_results([b, c])])
    flat = merge_results([c, a, b])
    assert fingerprint(left) == fingerprint(right) == fingerprint(flat)
    assert left["workers"] == right["workers"] == flat["workers"] == 3
    for stats in (left, right, flat):
        agg = aggregate(stats)
        assert agg.requests == 3_000
        assert [percentile_ms(agg.rt, p) for p in PERCENTILES] == [
            percentile_ms(aggregate(left).rt, p) for p in PERCENTILES
        ]


def test_merge_sums_counters() -> None:
    def worker(shard: int, errors: int) -> WorkerResult:
        rec = Recorder(T0_MONO, 1.0)
        now = T0_MONO + 0.5
        for i in range(10):
            rec.iteration_started(now, in_flight=i + 1)
            status, err = (503, "http_5xx") if i < errors else (200, None)
            rec.record("GET /a", now, 2000, 1500, status, err, 1000 + shard)
        rec.record("GET /a", now, 30_000_000, 0, 0, "timeout", 0)  # no status: not counted as one
        rec.iteration_dropped(now)
        rec.users_active(now, 4)
        return worker_result(rec, shard, 3, error="boom" if shard == 2 else None)

    merged = merge_results([worker(0, 1), worker(1, 2), worker(2, 0)])
    data = merged["intervals"]["0"]
    ep = data["endpoints"]["GET /a"]
    assert ep["requests"] == 33
    assert ep["errors"] == {"http_5xx": 3, "timeout": 3}
    assert ep["status"] == {"503": 3, "200": 27}
    assert ep["bytes"] == 10 * (1000 + 1001 + 1002)
    assert data["iterations"] == 30
    assert data["dropped"] == 3
    assert data["in_flight"] == 30  # per-worker peaks, summed
    assert data["users"] == 12
    assert merged["workers"] == 3
    assert merged["workers_failed"] == 1
    assert merged["errors"] == ["boom"]
    assert [h["worker"] for h in merged["health"]] == ["w0", "w1", "w2"]
    assert merged["started_at"] == T0_EPOCH - 0.5
    assert merged["ended_at"] == T0_EPOCH + 5.0
    agg = aggregate(merged)
    assert (agg.requests, agg.error_count, agg.dropped, agg.iterations) == (33, 6, 3, 30)
    assert agg.status == {"503": 3, "200": 27}


def test_merge_of_merged_segments() -> None:
    seg0 = merge_results(results_of(synthetic("lognormal", 500, 2, seed=1)))
    seg1 = merge_results(results_of(synthetic("lognormal", 700, 3, seed=2)))
    seg1["stopped_early"] = True
    run = merge_results([seg0, seg1])
    assert run["workers"] == 5
    assert run["stopped_early"] is True
    assert aggregate(run).requests == 1_200
    assert len(run["health"]) == 5


def test_merge_nothing_refused() -> None:
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_results([])


def test_json_round_trip_merges_the_same() -> None:
    results = results_of(synthetic("bimodal", 2_000, 3, seed=9))
    shipped = [json.loads(json.dumps(r)) for r in results]
    assert fingerprint(merge_results(shipped)) == fingerprint(merge_results(results))
    assert json.loads(json.dumps(merge_results(results))) == merge_results(shipped)


def test_merge_does_not_modify_its_inputs() -> None:
    results = results_of(synthetic("lognormal", 600, 2, seed=3))
    before = json.dumps(results, sort_keys=True)
    merge_results(results)
    merge_results([merge_results(results), results[0]])
    assert json.dumps(results, sort_keys=True) == before


# -- the recorder ------------------------------------------------------------------------------------------


def test_intervals_keyed_by_index() -> None:
    times = [-0.5, 0.2, 0.99, 1.0, 3.2, 11.5]
    rec = record_all([Sample(t, "e", 1000, 1000) for t in times])
    result = worker_result(rec)
    assert sorted(result["intervals"], key=int) == ["0", "1", "3", "11"]
    assert [result["intervals"][k]["endpoints"]["e"]["requests"] for k in ("0", "1", "3", "11")] == [
        3,
        1,
        1,
        1,
    ]

    half = worker_result(record_all([Sample(t, "e", 1000, 1000) for t in (0.2, 0.7, 3.2)], interval_s=0.5))
    assert sorted(half["intervals"], key=int) == ["0", "1", "6"]


def test_merged_intervals_in_numeric_order() -> None:
    a = worker_result(record_all([Sample(t + 0.5, "e", 1000, 1000) for t in range(0, 12, 2)]), 0, 2)
    b = worker_result(record_all([Sample(t + 0.5, "e", 1000, 1000) for t in range(1, 12, 2)]), 1, 2)
    merged = merge_results([a, b])
    assert list(merged["intervals"]) == [str(i) for i in range(12)]
    assert [p["t"] for p in build_report(report_plan(), merged, RunFacts(run_id="r"))["timeseries"]] == [
        float(i) for i in range(12)
    ]


def test_close_before_releases_only_finished_intervals() -> None:
    rec = Recorder(T0_MONO, 1.0)
    for t in (0.5, 1.5, 2.5):
        rec.record("e", T0_MONO + t, 1000, 1000, 200, None, 1)
    done = rec.close_before(T0_MONO + 2.0)
    assert sorted(done) == ["0", "1"]
    assert sorted(rec.intervals) == ["0", "1"]
    assert rec.close_before(T0_MONO + 2.9) == {}
    assert rec.close_before(T0_MONO + 1.0) == {}
    rec.record("e", T0_MONO + 2.7, 1000, 1000, 200, None, 1)
    rest = rec.close_all()
    assert list(rest) == ["2"]
    assert rest["2"]["endpoints"]["e"]["requests"] == 2
    assert sorted(rec.intervals) == ["0", "1", "2"]
    assert rec.close_all() == {}


def test_late_event_into_closed_interval_keeps_its_data() -> None:
    rec = Recorder(T0_MONO, 1.0)
    rec.record("e", T0_MONO + 0.5, 1000, 1000, 200, None, 1)
    rec.iteration_started(T0_MONO + 0.5, 1)
    rec.close_before(T0_MONO + 1.2)
    rec.iteration_dropped(T0_MONO + 0.95)  # due at 0.95 s, handled late
    rec.close_all()
    interval = rec.intervals["0"]
    assert interval["dropped"] == 1
    assert interval["iterations"] == 1
    assert interval["endpoints"]["e"]["requests"] == 1


def test_histograms_reused_after_close_start_empty() -> None:
    rec = Recorder(T0_MONO, 1.0)
    rec.record("e", T0_MONO + 0.5, 900_000, 800_000, 200, None, 1)
    rec.close_before(T0_MONO + 1.0)
    rec.record("e", T0_MONO + 1.5, 1_000, 1_000, 200, None, 1)
    result = worker_result(rec)
    second = aggregate(result, t_range=(1.0, 2.0))
    assert second.rt.get_total_count() == 1
    assert stat_ms(second.rt, "max", None) == pytest.approx(1.0, rel=1e-3)


def test_corrected_interval_adds_synthetic_samples_to_response_time_only() -> None:
    rec = Recorder(T0_MONO, 1.0)
    # A user stalled 1 s where it expected an iteration every 100 ms: the samples it did not send.
    rec.record("e", T0_MONO + 0.5, 1_000_000, 1_000_000, 200, None, 10, corrected_interval_us=100_000)
    # A response faster than the expected interval adds nothing.
    rec.record("e", T0_MONO + 0.6, 50_000, 40_000, 200, None, 10, corrected_interval_us=100_000)
    agg = aggregate(worker_result(rec))
    assert agg.requests == 2
    assert agg.st.get_total_count() == 2
    assert agg.rt.get_total_count() == 11  # 1000, 900, ..., 100 ms, and 50 ms
    assert stat_ms(agg.rt, "min", None) == pytest.approx(50.0, rel=1e-3)
    assert stat_ms(agg.rt, "max", None) == pytest.approx(1000.0, rel=1e-3)
    assert percentile_ms(agg.rt, 50) == pytest.approx(500.0, rel=1e-3)
    assert percentile_ms(agg.st, 50) == pytest.approx(40.0, rel=1e-3)


def test_values_clamped_to_histogram_range() -> None:
    rec = Recorder(T0_MONO, 1.0)
    rec.record("e", T0_MONO, 0, -5, 200, None, 0)
    rec.record("e", T0_MONO, HIGHEST_US * 10, HIGHEST_US * 10, 200, None, 0)
    agg = aggregate(worker_result(rec))
    assert agg.rt.get_total_count() == 2
    assert stat_ms(agg.rt, "min", None) == pytest.approx(0.001)
    assert stat_ms(agg.st, "max", None) == pytest.approx(HIGHEST_US / 1000, rel=1e-3)


# -- the report ------------------------------------------------------------------------------------------

THRESHOLDS = [
    "http.latency.p95 < 500ms",  # pass: 300 ms
    'phase["warm"].latency.p95 < 200ms',  # pass: 100 ms
    'phase["main"].latency.p95 < 200ms',  # fail: 300 ms
    'endpoint["B"].error_rate < 1%',  # fail: 10 %
    'endpoint["GET /never"].p99 < 1s',  # no-data
    'endpoint["GET /never"].error_rate < 1%',  # no-data
    "http.throughput > 30/s",  # pass: 40/s
    "http.dropped_iterations == 0",  # fail: 2
    "http.requests >= 200",  # pass
]


def report_plan(thresholds: Sequence[object] = ()) -> Plan:
    return parse_plan(
        {
            "name": "report-test",
            "target": "http://127.0.0.1:8080",
            "load": {
                "phases": [
                    {"name": "warm", "duration": "2s", "rate": 10},
                    {"name": "main", "duration": "3s", "rate": 10},
                ]
            },
            "scenarios": [
                {
                    "name": "s",
                    "flow": [{"get": "/a"}, {"post": {"url": "/b", "name": "B"}}, {"get": "/never"}],
                }
            ],
            "thresholds": list(thresholds),
        }
    )


def report_stats(*, seconds: int = 5, ended_s: float = 5.3, stopped_early: bool = False) -> RunStats:
    """2 workers; each second each sends 10 x GET /a (100 ms warm, 300 ms main) and 10 x B (2 ms),
    one B per worker-second failing with a 500; one iteration dropped per worker in second 0."""
    results = []
    for w in range(2):
        rec = Recorder(T0_MONO, 1.0)
        for s in range(seconds):
            rt_a = 100_000 if s < 2 else 300_000
            for k in range(10):
                now = T0_MONO + s + k / 10
                rec.iteration_started(now, 2)
                rec.record("GET /a", now, rt_a, rt_a - 10_000, 200, None, 1000)
                failed = k == 0
                rec.record("B", now, 2_000, 1_500, 500 if failed else 200, "http_5xx" if failed else None, 50)
        rec.iteration_dropped(T0_MONO + 0.3)
        hd = health(f"w{w}", lag=3.0 + w, cpu=40.0 + w * 20, saturated=False)
        results.append(
            worker_result(rec, w, 2, ended_s=ended_s, stopped_early=stopped_early and w == 1, hd=hd)
        )
    return merge_results(results)


@cache
def full_stats() -> RunStats:
    """report_stats() built once: the report tests only read it."""
    return report_stats()


@cache
def full_report() -> Report:
    return build_report(report_plan(THRESHOLDS), full_stats(), RunFacts(run_id="run-1"))


def checks_for(*exprs: object) -> list[Check]:
    """The checks build_report would produce for these thresholds over full_stats()."""
    plan = report_plan(exprs)
    return evaluate(plan.parsed_thresholds(), stats_source(plan, full_stats()))


def check_statuses(checks: Sequence[Check]) -> dict[str, str]:
    """The plan's checks by name (every run's validity checks are tested on their own)."""
    return {c["name"]: c["status"] for c in checks if c.get("kind") != "validity"}


def test_report_has_the_contract_keys() -> None:
    report = full_report()
    json.dumps(report)  # the machine contract must serialize
    top = {"run_id", "plan", "verdict", "started_at", "ended_at", "checks", "totals", "latency_ms"}
    top |= {"service_time_ms", "endpoints", "phases", "timeseries", "service_metrics", "cost", "generator"}
    assert top <= set(report)
    latency_keys = {"min", "mean", "p50", "p90", "p95", "p99", "p999", "max"}
    assert set(report["latency_ms"]) == latency_keys
    assert set(report["service_time_ms"]) == latency_keys
    check_keys = {"name", "metric", "op", "target", "measured", "baseline", "delta_pct", "status"}
    assert all(check_keys <= set(c) for c in report["checks"])
    assert {"requests", "errors", "error_rate", "throughput_rps", "dropped_iterations"} <= set(
        report["totals"]
    )
    for ep in report["endpoints"].values():
        assert {"requests", "errors", "latency_ms"} <= set(ep)
        assert set(ep["latency_ms"]) == latency_keys
    for point in report["timeseries"]:
        assert {"t", "rps", "error_rate", "p50", "p95", "p99"} <= set(point)
    assert {"workers", "workers_failed", "max_loop_lag_ms", "cpu_pct", "saturated"} <= set(
        report["generator"]
    )
    assert report["run_id"] == "run-1"
    assert report["plan"] == "report-test"
    assert report["started_at"] == "2023-11-14T22:13:20Z"
    assert report["ended_at"] == "2023-11-14T22:13:25Z"
    assert report["service_metrics"] == {} and report["cost"] == {}


def test_report_totals_endpoints_and_latency() -> None:
    report = full_report()
    assert report["duration_s"] == 5.0  # the drain after the plan's end does not count
    totals = report["totals"]
    assert totals["requests"] == 200
    assert totals["errors"] == 10
    assert totals["error_rate"] == 0.05
    assert totals["throughput_rps"] == 40.0
    assert totals["dropped_iterations"] == 2
    assert totals["iterations"] == 100
    assert totals["bytes_received"] == 100 * 1000 + 100 * 50
    assert report["errors_by_class"] == {"http_5xx": 10}
    assert report["status_codes"] == {"200": 190, "500": 10}

    assert set(report["endpoints"]) == {"GET /a", "B"}
    a, b = report["endpoints"]["GET /a"], report["endpoints"]["B"]
    assert (a["requests"], a["errors"], a["error_rate"]) == (100, 0, 0.0)
    assert (b["requests"], b["errors"], b["error_rate"]) == (100, 10, 0.1)
    assert b["errors_by_class"] == {"http_5xx": 10}
    assert a["throughput_rps"] == b["throughput_rps"] == 20.0
    assert a["latency_ms"]["p50"] == pytest.approx(300.0, rel=1e-3)
    assert a["latency_ms"]["min"] == pytest.approx(100.0, rel=1e-3)
    assert a["service_time_ms"]["max"] == pytest.approx(290.0, rel=1e-3)
    assert b["latency_ms"]["p99"] == pytest.approx(2.0, rel=1e-3)

    lat = report["latency_ms"]
    assert lat["p50"] == pytest.approx(2.0, rel=1e-3)  # half the requests are B
    assert lat["p95"] == pytest.approx(300.0, rel=1e-3)
    assert lat["mean"] == pytest.approx((40 * 100 + 60 * 300 + 100 * 2) / 200, rel=1e-3)


def test_report_phases() -> None:
    report = full_report()
    warm, main = report["phases"]
    assert (warm["name"], warm["start_s"], warm["duration_s"]) == ("warm", 0.0, 2.0)
    assert (main["name"], main["start_s"], main["duration_s"]) == ("main", 2.0, 3.0)
    assert (warm["requests"], main["requests"]) == (80, 120)
    assert (warm["errors"], main["errors"]) == (4, 6)
    assert warm["throughput_rps"] == main["throughput_rps"] == 40.0
    assert (warm["dropped_iterations"], main["dropped_iterations"]) == (2, 0)
    assert warm["latency_ms"]["max"] == pytest.approx(100.0, rel=1e-3)
    assert main["latency_ms"]["max"] == pytest.approx(300.0, rel=1e-3)


def test_report_timeseries_one_point_per_interval() -> None:
    report = full_report()
    series = report["timeseries"]
    assert [p["t"] for p in series] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(p["requests"] == 40 and p["rps"] == 40.0 for p in series)
    assert all(p["errors"] == 2 and p["error_rate"] == 0.05 for p in series)
    assert [p["dropped"] for p in series] == [2, 0, 0, 0, 0]
    assert [p["p99"] for p in series] == pytest.approx([100.0, 100.0, 300.0, 300.0, 300.0], rel=1e-3)
    assert all(p["p50"] == pytest.approx(2.0, rel=1e-3) for p in series)
    assert series[0]["errors_by_class"] == {"http_5xx": 2}


def test_report_checks_and_verdict() -> None:
    report = full_report()
    assert check_statuses(report["checks"]) == {
        "http.latency.p95 < 500ms": "pass",
        'phase["warm"].latency.p95 < 200ms': "pass",
        'phase["main"].latency.p95 < 200ms': "fail",
        'endpoint["B"].error_rate < 1%': "fail",
        'endpoint["GET /never"].p99 < 1s': "no-data",
        'endpoint["GET /never"].error_rate < 1%': "no-data",
        "http.throughput > 30/s": "pass",
        "http.dropped_iterations == 0": "fail",
        "http.requests >= 200": "pass",
    }
    by_name = {c["name"]: c for c in report["checks"]}
    error_rate = by_name['endpoint["B"].error_rate < 1%']
    assert error_rate["metric"] == 'endpoint["B"].error_rate'
    assert (error_rate["op"], error_rate["target"], error_rate["measured"]) == ("<", 0.01, 0.1)
    assert error_rate["baseline"] is None and error_rate["delta_pct"] is None
    assert by_name["http.throughput > 30/s"]["measured"] == 40.0
    assert by_name['endpoint["GET /never"].p99 < 1s']["measured"] is None
    assert report["verdict"] == "fail"
    assert report["error"] is None
    assert report["partial"] is False


def test_verdict_pass_when_every_check_passes() -> None:
    checks = checks_for("http.latency.p95 < 500ms", "http.error_rate < 10%", 'endpoint["GET /a"].p99 < 400ms')
    assert [c["status"] for c in checks] == ["pass", "pass", "pass"]
    assert verdict(checks) == "pass"


def test_missing_data_never_passes() -> None:
    checks = checks_for("http.latency.p95 < 500ms", 'endpoint["GET /never"].p95 < 10s')
    assert [c["status"] for c in checks] == ["pass", "no-data"]
    assert verdict(checks) == "fail"


def test_no_requests_endpoint_error_count_is_no_data() -> None:
    (check,) = checks_for('endpoint["GET /never"].errors < 1')
    assert check["status"] == "no-data"


def test_report_error_verdict() -> None:
    report = build_report(
        report_plan(["http.requests >= 1"]), full_stats(), RunFacts(run_id="r", error="target down")
    )
    assert report["checks"][0]["status"] == "pass"
    assert report["verdict"] == "error"
    assert report["error"] == "target down"


def test_every_worker_failed_is_an_error() -> None:
    recs = [Recorder(T0_MONO, 1.0) for _ in range(2)]
    stats = merge_results([worker_result(r, i, 2, error=f"crash {i}") for i, r in enumerate(recs)])
    report = build_report(report_plan(), stats, RunFacts(run_id="r"))
    assert report["verdict"] == "error"
    assert report["error"] is not None and report["error"].startswith("every worker failed")
    assert report["generator"]["workers_failed"] == 2
    assert "worker failed: crash 0" in report["generator"]["notes"]
    assert report["totals"]["requests"] == 0
    assert report["latency_ms"]["p95"] is None


def test_report_generator_health() -> None:
    gen = full_report()["generator"]
    assert (gen["workers"], gen["workers_failed"]) == (2, 0)
    assert gen["max_loop_lag_ms"] == 4.0
    assert gen["cpu_pct"] == 60.0
    assert gen["saturated"] is False


def test_stopped_early_report_is_partial_and_covers_what_ran() -> None:
    stats = report_stats(seconds=2, ended_s=2.0, stopped_early=True)
    plan = report_plan(['phase["main"].latency.p95 < 1s', 'phase["warm"].throughput > 30/s'])
    report = build_report(plan, stats, RunFacts(run_id="r"))
    assert report["partial"] is True
    assert report["duration_s"] == 2.0
    assert report["totals"]["throughput_rps"] == 40.0
    assert [p["duration_s"] for p in report["phases"]] == [2.0, 0.0]
    assert report["phases"][1]["requests"] == 0
    assert check_statuses(report["checks"]) == {
        'phase["main"].latency.p95 < 1s': "no-data",
        'phase["warm"].throughput > 30/s': "pass",
    }


# -- evaluate and abort ----------------------------------------------------------------------------------


@dataclass
class FakeSource:
    values: dict[str, float | None]

    def interval(self, ref: MetricRef) -> None:
        return None

    def value(self, ref: MetricRef) -> float | None:
        return self.values.get(ref.canonical)


def thresholds(*exprs: str, abort: bool = False, grace: float = 0.0) -> list[Threshold]:
    return [parse_threshold(e, abort_on_fail=abort, grace_s=grace) for e in exprs]


def test_evaluate_statuses_and_rounding() -> None:
    source = FakeSource({"http.latency.p95": 123.45678912, "http.error_rate": 0.02})
    checks = evaluate(
        thresholds("http.latency.p95 < 500ms", "http.error_rate < 1%", "http.requests > 1"), source
    )
    assert [c["status"] for c in checks] == ["pass", "fail", "no-data"]
    assert checks[0]["measured"] == 123.456789
    assert (checks[0]["unit"], checks[1]["unit"], checks[2]["unit"]) == ("ms", "ratio", "count")
    assert checks[2]["measured"] is None
    assert checks[0]["abort_on_fail"] is False


@pytest.mark.parametrize(
    ("statuses", "error", "expected"),
    [
        (["pass", "pass"], None, "pass"),
        (["pass", "fail"], None, "fail"),
        (["pass", "no-data"], None, "fail"),
        ([], None, "pass"),
        (["pass"], "boom", "error"),
        (["fail"], "boom", "error"),
    ],
)
def test_verdict(statuses: list[str], error: str | None, expected: str) -> None:
    checks = [Check(name="c", metric="m", op="<", target=1.0, unit="ms", measured=None, baseline=None,
                    delta_pct=None, status=s, abort_on_fail=False) for s in statuses]  # type: ignore[typeddict-item]  # fmt: skip
    assert verdict(checks, error) == expected


def test_abort_reason_honours_grace() -> None:
    source = FakeSource({"http.error_rate": 0.5, "http.latency.p95": 100.0})
    ths = thresholds("http.error_rate < 20%", abort=True, grace=10.0)
    assert abort_reason(ths, source, elapsed_s=5.0) is None
    assert abort_reason(ths, source, elapsed_s=10.0) == "http.error_rate < 20%"
    assert abort_reason(ths, source, elapsed_s=60.0) == "http.error_rate < 20%"


def test_abort_reason_only_for_abort_on_fail_breaches_with_data() -> None:
    source = FakeSource({"http.error_rate": 0.5, "http.latency.p95": 100.0, "http.requests": None})
    assert abort_reason(thresholds("http.error_rate < 20%"), source, 100.0) is None  # not abort_on_fail
    assert abort_reason(thresholds("http.latency.p95 < 500ms", abort=True), source, 100.0) is None  # passing
    assert abort_reason(thresholds("http.requests > 5", abort=True), source, 100.0) is None  # no data yet
    mixed = thresholds(
        "http.latency.p95 < 500ms", "http.latency.p95 < 50ms", "http.error_rate < 1%", abort=True
    )
    assert abort_reason(mixed, source, 100.0) == "http.latency.p95 < 50ms"  # the first breached


def test_abort_reason_from_live_stats() -> None:
    plan = report_plan([{"check": "http.error_rate < 1%", "abort_on_fail": True, "grace": "3s"}])
    source = stats_source(plan, full_stats())
    assert abort_reason(plan.parsed_thresholds(), source, elapsed_s=2.0) is None
    assert abort_reason(plan.parsed_thresholds(), source, elapsed_s=3.0) == "http.error_rate < 1%"


def test_every_request_is_in_one_phase_even_one_recorded_after_the_plan_ends() -> None:
    # A request sent at 4.999 s that completes at 5.01 s is recorded in interval 5, past the plan's
    # 5 s: it belongs to the last phase, so the phases add up to the totals (it used to be in none).
    samples = [Sample(t, "e", 1000, 1000) for t in (0.5, 1.5, 2.5, 3.5, 4.5)] + [
        Sample(5.01, "e", 1000, 1000)
    ]
    stats = merge_results([worker_result(record_all(samples), ended_s=5.1)])
    report = build_report(report_plan(), stats, RunFacts(run_id="r"))
    assert [p["requests"] for p in report["phases"]] == [2, 4]
    assert sum(p["requests"] for p in report["phases"]) == report["totals"]["requests"] == 6
    plan = report_plan(['phase["main"].requests == 4'])
    assert evaluate(plan.parsed_thresholds(), stats_source(plan, stats))[0]["status"] == "pass"
