"""Validity checks (surge/validity.py), honest latency (timeouts as lower bounds), dropped arrivals
counted without walking them, and the live view's complete intervals. Pure: no processes, no I/O."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from surge.baseline import _regression_check
from surge.errors import PlanError
from surge.evaluate import evaluate, holds
from surge.finish import build_report
from surge.live import LiveView
from surge.plan import Plan
from surge.plan_load import parse_plan
from surge.report_model import Check, Report
from surge.run_facts import RunFacts
from surge.schedule import ArrivalStream, shapes
from surge.stats import (
    AtLeast,
    HealthData,
    Recorder,
    RunStats,
    WorkerResult,
    aggregate,
    latency_stat,
    merge_results,
    new_histogram,
)
from surge.summary import stats_source
from surge.validity import RunEnd, validity_checks

T0_EPOCH = 1_700_000_000.0
T0_MONO = 100.0


def plan(**overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "validity",
        "target": "http://127.0.0.1:8080",
        "load": {"phases": [{"name": "one", "duration": "4s", "rate": 10}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/a"}]}],
        "thresholds": ["http.latency.p95 < 5s"],
    }
    data.update(overrides)
    return parse_plan(data)


def health(worker: str = "w0", **fields: Any) -> HealthData:
    base = HealthData(
        worker=worker,
        max_loop_lag_ms=1.0,
        loop_lag_p99_ms=0.5,
        cpu_pct=10.0,
        saturated=False,
        notes=[],
        wait_pct=1.0,
        arrivals=40,
        dropped=0,
        late_arrivals=0,
        max_late_ms=0.0,
    )
    base.update(fields)  # type: ignore[typeddict-item]
    return base


def result(
    rec: Recorder,
    shard: int = 0,
    shards: int = 1,
    *,
    ended_s: float = 4.2,
    error: str | None = None,
    hd: HealthData | None = None,
) -> WorkerResult:
    rec.close_all()
    return WorkerResult(
        version=1,
        worker=f"w{shard}",
        shard=shard,
        shards=shards,
        interval_s=1.0,
        t0=T0_EPOCH,
        window=[0.0, 4.0],
        started_at=T0_EPOCH,
        ended_at=T0_EPOCH + ended_s,
        stopped_early=False,
        error=error,
        intervals=rec.intervals,
        health=hd or health(f"w{shard}"),
    )


def steady(
    iterations: int = 40,
    *,
    status: int = 200,
    error: str | None = None,
    rt_us: int = 20_000,
    dropped: int = 0,
    seconds: float = 4.0,
) -> Recorder:
    rec = Recorder(T0_MONO, 1.0)
    for k in range(iterations):
        now = T0_MONO + k * seconds / iterations
        rec.iteration_started(now, 1)
        rec.record("GET /a", now, rt_us, rt_us, status, error, 10)
    if dropped:
        rec.iteration_dropped(T0_MONO + 0.5, dropped)
    return rec


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c["name"]: c for c in checks}


def check(checks: list[Check], start: str) -> Check:
    found = [c for c in checks if c["name"].startswith("validity: " + start)]
    assert found, [c["name"] for c in checks]
    return found[0]


# -- the checks ------------------------------------------------------------------------------------


def test_a_clean_run_passes_every_validity_check() -> None:
    checks = validity_checks(plan(), merge_results([result(steady())]), RunEnd())
    assert [c["name"] for c in checks] == [
        "validity: every worker reported",
        "validity: at most 1% of the planned iterations dropped",
        "validity: the generator kept up",
        "validity: something was measured",
        "validity: the whole plan ran",
    ]
    assert all(c["status"] == "pass" and c["kind"] == "validity" for c in checks), checks


def test_a_lost_worker_fails_and_says_how_much_is_missing() -> None:
    stats = merge_results(
        [result(steady(20, seconds=4.0), 0, 2), result(Recorder(T0_MONO, 1.0), 1, 2, error="gone")]
    )
    workers = check(validity_checks(plan(), stats, RunEnd()), "every worker reported")
    assert workers["status"] == "fail" and workers["measured"] == 1.0 and workers["target"] == 0.0
    assert "1 of 2 worker(s)" in workers["detail"] and "gone" in workers["detail"]
    assert "about 50% of the planned iterations are in no figure" in workers["detail"]


@pytest.mark.parametrize(
    ("tolerance", "status"), [(1, "pass"), ("50%", "pass"), ("49%", "fail"), (0, "fail")]
)
def test_lost_workers_may_be_tolerated_by_count_or_share(tolerance: object, status: str) -> None:
    stats = merge_results([result(steady(20), 0, 2), result(Recorder(T0_MONO, 1.0), 1, 2, error="gone")])
    p = plan(validity={"max_workers_lost": tolerance})
    workers = check(validity_checks(p, stats, RunEnd()), "every worker reported")
    assert workers["status"] == status
    if tolerance:
        assert "validity.max_workers_lost changed by the plan" in workers["name"]


def test_cloud_shards_missing_from_the_results_count_as_lost() -> None:
    stats = merge_results([result(steady())])
    end = RunEnd(workers_lost=2, lost_reasons=("2 shard result(s) missing",))
    workers = check(validity_checks(plan(), stats, end), "every worker reported")
    assert workers["status"] == "fail" and workers["measured"] == 2.0
    assert "2 of 3 worker(s)" in workers["detail"]


def test_dropped_iterations_fail_with_the_cause_at_the_in_flight_cap() -> None:
    stats = merge_results([result(steady(30, rt_us=900_000, dropped=10), hd=health(dropped=10))])
    dropped = check(validity_checks(plan(), stats, RunEnd()), "at most 1% of the planned iterations dropped")
    assert dropped["status"] == "fail" and dropped["measured"] == 0.25
    assert "in flight reached the cap of 1000 per worker" in dropped["detail"]
    assert "answered slowly (p95 latency 900 ms)" in dropped["detail"]
    assert "figures understate" in dropped["detail"]


def test_dropped_iterations_of_a_saturated_generator_say_so() -> None:
    stats = merge_results([result(steady(30, dropped=10), hd=health(cpu_pct=99.0))])
    dropped = check(validity_checks(plan(), stats, RunEnd()), "at most 1% of the planned iterations dropped")
    assert "the generator could not keep up (w0: CPU 99% of a core > 90%)" in dropped["detail"]
    kept_up = check(validity_checks(plan(), stats, RunEnd()), "the generator kept up")
    assert kept_up["status"] == "fail" and "add workers" in kept_up["detail"]


def test_a_loosened_drop_limit_is_shown_as_changed() -> None:
    stats = merge_results([result(steady(39, dropped=1))])
    checks = validity_checks(plan(validity={"max_dropped": "5%"}), stats, RunEnd())
    dropped = check(checks, "at most 5% of the planned iterations dropped")
    assert dropped["status"] == "pass"
    assert "(validity.max_dropped changed by the plan; default 1%)" in dropped["name"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"loop_lag_p99_ms": 40.0}, "event-loop lag p99 40 ms > 25 ms"),
        ({"cpu_pct": 95.0}, "CPU 95% of a core > 90%"),
        ({"cpu_pct": 60.0, "wait_pct": 35.0}, "waiting for a core 35%"),
        ({"late_arrivals": 5, "arrivals": 100, "max_late_ms": 80.0}, "5 of 100 arrivals started late"),
    ],
)
def test_the_generator_check_names_what_saturated(fields: dict[str, Any], why: str) -> None:
    stats = merge_results([result(steady(), hd=health(**fields))])
    kept_up = check(validity_checks(plan(), stats, RunEnd()), "the generator kept up")
    assert kept_up["status"] == "fail" and why in kept_up["detail"]
    loose = plan(validity={"max_loop_lag": "50ms", "max_cpu": "99%", "max_late": "10%"})
    assert check(validity_checks(loose, stats, RunEnd()), "the generator kept up")["status"] == "pass"


def test_nothing_answered_or_everything_failing_measured_nothing() -> None:
    timeouts = merge_results([result(steady(status=0, error="timeout", rt_us=2_000_000))])
    measured = check(validity_checks(plan(), timeouts, RunEnd()), "something was measured")
    assert (
        measured["status"] == "fail"
        and "none of the 40 requests got an answer (timeout 40)" in measured["detail"]
    )
    not_found = merge_results([result(steady(status=404, error="http_4xx"))])
    measured = check(validity_checks(plan(), not_found, RunEnd()), "something was measured")
    assert (
        measured["status"] == "fail"
        and "every one of the 40 requests failed (http_4xx 40)" in measured["detail"]
    )


def test_a_stopped_run_never_passes() -> None:
    stats = merge_results([result(steady(20), ended_s=2.0)])
    ran = check(validity_checks(plan(), stats, RunEnd(stopped_by="SIGTERM")), "the whole plan ran")
    assert ran["status"] == "fail" and ran["measured"] == 0.5 and "SIGTERM" in ran["detail"]
    short = check(validity_checks(plan(), stats, RunEnd()), "the whole plan ran")
    assert short["status"] == "fail" and "cover 2.0 s of the planned 4 s" in short["detail"]


def test_validity_failures_fail_the_verdict_and_show_in_every_format() -> None:
    stats = merge_results([result(steady(status=404, error="http_4xx"))])
    report = build_report(plan(thresholds=[]), stats, RunFacts(run_id="r"))
    assert report["verdict"] == "fail"
    md, html, junit = render_markdown(report), render_html(report), render_junit(report)
    assert "Not a valid test" in md and "Not a valid test" in html
    assert 'type="validity"' in junit and "every one of the 40 requests failed" in junit


def test_a_baseline_never_compares_validity_checks() -> None:
    from surge.baseline import Baseline

    stats = merge_results([result(steady())])
    p = plan(baseline="last-pass", regression={"max_worse_pct": 5})
    base = Baseline("last-pass", "run", "r0", "run r0", {"http.latency.p95": 20.0, "run.workers_lost": 0.0})
    report = build_report(p, stats, RunFacts(run_id="r", baseline=base, baseline_notes=[]))
    assert not [
        c for c in report["checks"] if c.get("kind") == "regression" and c["metric"].startswith("run.")
    ]
    assert all(c["baseline"] is None for c in report["checks"] if c.get("kind") == "validity")


# -- honest latency ----------------------------------------------------------------------------------


def test_timeouts_are_lower_bounds_not_samples() -> None:
    rec = Recorder(T0_MONO, 1.0)
    for k in range(90):
        rec.record("GET /a", T0_MONO + k / 100, 10_000, 10_000, 200, None, 1)
    for k in range(10):
        rec.record("GET /a", T0_MONO + 0.9 + k / 100, 2_005_000, 2_004_000, 0, "timeout", 0)
    agg = aggregate(merge_results([result(rec)]))
    assert agg.rt.get_total_count() == 90 and agg.rt_timeouts.get_total_count() == 10
    p50, p95 = agg.latency("latency", "p50", 50.0), agg.latency("latency", "p95", 95.0)
    assert p50 == pytest.approx(10.0, rel=0.01) and not isinstance(p50, AtLeast)
    assert isinstance(p95, AtLeast) and p95 == pytest.approx(2005.0, rel=0.01)
    assert isinstance(agg.latency("latency", "max", None), AtLeast)
    assert isinstance(agg.latency("service_time", "p99", 99.0), AtLeast)


def test_unanswered_requests_are_errors_not_latencies() -> None:
    rec = Recorder(T0_MONO, 1.0)
    rec.record("GET /a", T0_MONO, 10_000, 10_000, 200, None, 1)
    for error in ("connect", "reset", "refused", "tls", "dns", "interrupted"):
        rec.record("GET /a", T0_MONO, 5_000_000, 5_000_000, 0, error, 0)
    agg = aggregate(merge_results([result(rec)]))
    assert agg.requests == 7 and agg.error_count == 6
    assert agg.rt.get_total_count() == 1 and agg.latency("latency", "max", None) == pytest.approx(
        10.0, rel=0.01
    )


@pytest.mark.parametrize(
    ("op", "target", "ok"),
    [("<", 5000.0, False), ("<=", 1e9, False), (">", 1000.0, True), (">=", 3000.0, False)],
)
def test_a_lower_bound_proves_only_checks_it_already_meets(op: Any, target: float, ok: bool) -> None:
    assert holds(AtLeast(2005.0), op, target) is ok


def test_a_check_on_a_bound_fails_and_says_at_least() -> None:
    rec = steady(10, status=0, error="timeout", rt_us=2_005_000)
    p = plan()
    (c,) = evaluate(p.parsed_thresholds(), stats_source(p, merge_results([result(rec)])))
    assert c["status"] == "fail" and c["at_least"] is True and c["measured"] == pytest.approx(2005, rel=0.01)
    report = build_report(p, merge_results([result(rec)]), RunFacts(run_id="r"))
    assert "≥ 2,00" in render_markdown(report)
    assert "p95" in report["latency_ms"]["at_least"]


def test_a_regression_check_on_a_bound_is_not_proven() -> None:
    c = _regression_check("http.latency.p95", AtLeast(100.0), 200.0, "higher", 5.0)
    assert c["status"] == "fail" and c["at_least"] is True
    assert _regression_check("http.throughput", AtLeast(300.0), 200.0, "lower", 5.0)["status"] == "pass"


@settings(max_examples=150, deadline=None)
@given(
    samples=st.lists(st.integers(1, 10_000_000), min_size=0, max_size=60),
    timeouts=st.lists(st.integers(1, 10_000_000), min_size=0, max_size=20),
    pct=st.floats(0.0, 100.0),
)
def test_percentiles_with_timeouts_rank_them_above_every_answer(
    samples: list[int], timeouts: list[int], pct: float
) -> None:
    h, cut = new_histogram(), new_histogram()
    for v in samples:
        h.record_value(v)
    for v in timeouts:
        cut.record_value(v)
    value = latency_stat(h, cut, "p", pct)
    if not samples and not timeouts:
        assert value is None
        return
    assert value is not None
    rank = max(int(pct / 100.0 * (len(samples) + len(timeouts)) + 0.5), 1)
    if rank <= len(samples):
        assert not isinstance(value, AtLeast)
        exact = sorted(samples)[rank - 1] / 1000
        assert math.isclose(value, exact, rel_tol=0.002)
    else:
        assert isinstance(value, AtLeast)
        assert math.isclose(value, sorted(timeouts)[rank - len(samples) - 1] / 1000, rel_tol=0.002)


# -- dropped arrivals counted at once -----------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 3])
def test_skipping_arrivals_counts_exactly_what_walking_would(shards: int) -> None:
    phases = shapes([(2.0, 100.0, 300.0), (1.0, 50.0, 50.0)])
    for shard in range(shards):
        walked = list(ArrivalStream(phases, shard=shard, shards=shards))
        stream = ArrivalStream(phases, shard=shard, shards=shards)
        first = [next(stream) for _ in range(5)]
        skipped = stream.skip_until(1.5)
        rest = list(stream)
        assert first == walked[:5]
        assert len(first) + skipped + len(rest) == len(walked)
        assert rest == [t for t in walked if t >= 1.5 - 1e-9][: len(rest)]
        assert rest[0] >= 1.5 - 1e-6


def test_skipping_poisson_arrivals_counts_about_what_walking_would() -> None:
    phases = shapes([(10.0, 1000.0, 1000.0)])
    stream = ArrivalStream(phases, poisson=True, seed=3)
    next(stream)
    skipped = stream.skip_until(9.0)
    assert abs(skipped - 9000) < 5 * math.sqrt(9000)
    assert all(t >= 9.0 for t in stream)


def test_an_absurd_rate_is_refused_whatever_the_limits() -> None:
    with pytest.raises(PlanError) as err:
        plan(load={"phases": [{"duration": "1s", "rate": 1e9}]}, limits={"max_rate": float("inf")})
    assert "no generator fleet schedules" in str(err.value)


def test_validity_settings_are_validated() -> None:
    assert plan(validity={"max_dropped": "2.5%"}).validity.max_dropped == 0.025
    assert plan(validity={"max_loop_lag": "50ms"}).validity.max_loop_lag == pytest.approx(0.05)
    for bad in ({"max_dropped": "150%"}, {"max_workers_lost": 2.5}, {"max_cpu": "fast"}, {"unknown": 1}):
        with pytest.raises(PlanError):
            plan(validity=bad)
    # A plan that keeps the defaults hashes as it did before validity settings existed.
    assert "validity" not in plan().model_dump(exclude_defaults=True)
    assert plan().plan_hash() == plan(validity={}).plan_hash()
    assert plan().plan_hash() != plan(validity={"max_dropped": "2%"}).plan_hash()


# -- phases that did not run ---------------------------------------------------------------------------


def test_a_phase_that_never_ran_is_not_run_in_every_format() -> None:
    p = plan(
        load={
            "phases": [
                {"name": "first", "duration": "2s", "rate": 10},
                {"name": "second", "duration": "2s", "rate": 10},
            ]
        }
    )
    stats: RunStats = merge_results([result(steady(20, seconds=2.0), ended_s=2.0)])
    report: Report = build_report(p, stats, RunFacts(run_id="r", end=RunEnd(stopped_by="Ctrl-C")))
    assert [ph["status"] for ph in report["phases"]] == ["ran", "not run"]
    md = render_markdown(report)
    second = next(line for line in md.splitlines() if line.startswith("| second"))
    assert "not run" in second and "0.00%" not in second and "0.00/s" not in second
    assert "not run" in render_html(report)


# -- the live view -------------------------------------------------------------------------------------


def interval(requests: int) -> dict[str, Any]:
    rec = Recorder(T0_MONO, 1.0)
    for k in range(requests):
        rec.record("GET /a", T0_MONO + k / (requests + 1), 5_000, 5_000, 200, None, 1)
    rec.close_all()
    return rec.intervals


def test_the_live_line_waits_for_every_live_worker() -> None:
    view = LiveView(plan(), workers=2)
    view.add({"0": interval(50)["0"]}, shard=0, closed_before=1)
    snap = view.snapshot(1.0)
    assert snap.rps == 0.0 and snap.reporting is None  # worker 1 has not sent second 0 yet
    view.add({"0": interval(50)["0"]}, shard=1, closed_before=1)
    assert view.snapshot(1.0).rps == 100.0
    # Worker 1 falls three seconds behind: the newest interval is shown, marked as partial.
    for k in range(1, 5):
        view.add({str(k): interval(50)["0"]}, shard=0, closed_before=k + 1)
    snap = view.snapshot(5.0)
    assert snap.rps == 50.0 and snap.reporting == (1, 2)
    view.worker_done(1)  # it delivered its result: no longer holds the view back
    assert view.snapshot(5.0).reporting is None


def test_an_idle_worker_does_not_hold_the_view_back() -> None:
    view = LiveView(plan(), workers=2)
    view.add({"0": interval(40)["0"]}, shard=0, closed_before=1)
    view.add({}, shard=1, closed_before=1)  # nothing recorded, but second 0 is closed
    assert view.snapshot(1.0).rps == 40.0
