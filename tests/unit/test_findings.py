"""Findings (surge/findings.py) and recovery (surge/recovery.py), pure: each finding from the data
that supports it and none without; recovery times from merged intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from surge.errors import PlanError
from surge.findings import FindingScope, count_above, error_bursts, find, latency_knee, service_findings
from surge.finish import build_report
from surge.plan import Plan
from surge.plan_load import parse_plan
from surge.recovery import recovery_of
from surge.report_model import Check, ServiceEntry, ServiceMetricsSection, TimeseriesPoint
from surge.run_facts import RunFacts
from surge.stats import AtLeast, merge_results, new_histogram
from tests.unit.test_stats import Sample, record_all, worker_result

TARGET = "http://127.0.0.1:8080"


def plan_of(**overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "f",
        "target": TARGET,
        "load": {"phases": [{"name": "ramp", "duration": "10s", "rate": 10, "ramp_to": 110}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/a"}, {"get": "/b"}]}],
    }
    data.update(overrides)
    return parse_plan(data, base_dir=Path.cwd())


def point(
    t: float, p95: float | None, *, rps: float = 10.0, errors: int = 0, requests: int = 10, **classes: int
) -> TimeseriesPoint:
    return TimeseriesPoint(
        t=t,
        rps=rps,
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        dropped=0,
        in_flight=0,
        p50=p95,
        p95=p95,
        p99=p95,
        service_p50=p95,
        service_p95=p95,
        service_p99=p95,
        errors_by_class=dict(classes),
    )


def failed_check(name: str, metric: str, target: float, unit: str = "ms") -> Check:
    return Check(
        name=name,
        metric=metric,
        op="<",
        target=target,
        unit=unit,
        measured=target * 2,
        baseline=None,
        delta_pct=None,
        status="fail",
        abort_on_fail=False,
        kind="threshold",
    )


def stats_with(samples: list[Sample]) -> Any:
    return merge_results([worker_result(record_all(samples))])


def test_count_above_counts_to_the_histograms_precision() -> None:
    h = new_histogram()
    for v in (1_000, 2_000, 50_000, 400_000):
        h.record_value(v)
    assert count_above(h, 10_000) == 2 and count_above(h, 500_000) == 0 and count_above(h, 0) == 4


def test_the_slow_endpoint_is_named_with_its_share() -> None:
    samples = [Sample(i * 0.05, "GET /a", 10_000, 10_000) for i in range(90)]
    samples += [Sample(i * 0.05, "GET /b", 400_000, 400_000) for i in range(10)]
    plan = plan_of(thresholds=["http.latency.p99 < 100ms"])
    report = build_report(plan, stats_with(samples), RunFacts(run_id="r"))
    (slow,) = [f for f in report["findings"] if f["kind"] == "slow-endpoints"]
    assert slow["title"] == "GET /b holds 100% of the 10 requests slower than 100 ms"
    assert slow["evidence"][0].startswith("GET /b: 10 of its 10 requests over 100 ms (100% of its requests")
    assert slow["check"] == "http.latency.p99 < 100ms"


def test_endpoints_slow_alike_point_at_a_shared_cause() -> None:
    samples = [
        Sample(i * 0.05, n, 400_000 if i % 2 else 10_000, 1) for n in ("GET /a", "GET /b") for i in range(50)
    ]
    report = build_report(
        plan_of(thresholds=["http.latency.p95 < 100ms"]), stats_with(samples), RunFacts(run_id="r")
    )
    (slow,) = [f for f in report["findings"] if f["kind"] == "slow-endpoints"]
    assert slow["title"].startswith("every endpoint was slow alike: 50% of the requests over 100 ms")
    assert "shared" in slow["recommendation"]


def test_one_endpoint_is_no_finding_of_its_own() -> None:
    plan = plan_of(
        scenarios=[{"name": "s", "flow": [{"get": "/a"}]}], thresholds=["http.latency.p95 < 100ms"]
    )
    samples = [Sample(i * 0.05, "GET /a", 400_000, 1) for i in range(50)]
    report = build_report(plan, stats_with(samples), RunFacts(run_id="r"))
    assert not [f for f in report["findings"] if f["kind"] == "slow-endpoints"]


def test_the_knee_is_where_the_percentile_crosses_and_holds() -> None:
    plan = plan_of()
    series = [point(t, 10.0 if t < 6 else 300.0, rps=10 + 10 * t, requests=40) for t in range(10)]
    check = failed_check("http.latency.p95 < 100ms", "http.latency.p95", 100.0)
    knee = latency_knee(plan, FindingScope(None, stats_with([]), series), [check])
    assert knee is not None and knee["kind"] == "latency-knee" and knee["at_s"] == 6
    assert (
        knee["title"]
        == "latency broke at 0:06, at 70 arrivals/s (70 requests/s): p95 crossed its target 100 ms"
    )
    # A single interval above is not a knee; slow from the first interval is its own finding.
    blip = [point(t, 300.0 if t == 5 else 10.0, requests=40) for t in range(10)]
    assert latency_knee(plan, FindingScope(None, stats_with([]), blip), [check]) is None
    slow = latency_knee(
        plan, FindingScope(None, stats_with([]), [point(t, 300.0, requests=40) for t in range(10)]), [check]
    )
    assert slow is not None and slow["kind"] == "slow-from-start"
    # Intervals of a few requests say nothing: no knee from them.
    sparse = [point(t, 10.0 if t < 6 else 300.0) for t in range(10)]
    assert latency_knee(plan, FindingScope(None, stats_with([]), sparse), [check]) is None
    # Without a failed latency check: twice the early level.
    doubled = latency_knee(plan, FindingScope(None, stats_with([]), series), [])
    assert doubled is not None and "twice its early level (10.0 ms)" in doubled["title"]


def test_error_bursts_and_scattered_errors() -> None:
    plan = plan_of()
    series = [
        point(t, 10.0, errors=6 if t in (3, 4) else 0, http_5xx=6 if t in (3, 4) else 0) for t in range(10)
    ]
    (burst,) = error_bursts(
        plan, FindingScope(None, stats_with([]), series), ["first failure of GET /a: status 500"]
    )
    assert burst["title"] == "errors 0:03–0:05: 12 of 20 requests (60%): http_5xx 12"
    assert burst["at_s"] == 3 and "5xx" in burst["recommendation"]
    assert burst["evidence"][1] == "first failure of GET /a: status 500"
    scattered = [
        point(t, 10.0, errors=1 if t % 3 == 0 else 0, timeout=1 if t % 3 == 0 else 0) for t in range(10)
    ]
    (spread,) = error_bursts(plan, FindingScope(None, stats_with([]), scattered), [])
    assert spread["title"].startswith("errors spread through the run, no burst: 4 of 100 requests")
    assert (
        error_bursts(plan, FindingScope(None, stats_with([]), [point(t, 10.0) for t in range(5)]), []) == []
    )


def services(**values: dict[str, float | None]) -> ServiceMetricsSection:
    """A service_metrics section as a run writes it, with these values and no series."""
    return {
        "services": {
            key: ServiceEntry(
                type=key.split("[", 1)[0],
                name=key.split('"')[1],
                resource="",
                region=None,
                period_s=60,
                values=v,
                series={},
                notes=[],
            )
            for key, v in values.items()
        }
    }


def test_service_metrics_bring_their_recommendation_and_none_without_data() -> None:
    found = service_findings(
        services(
            **{
                'lambda["api"]': {
                    "throttles.sum": 12.0,
                    "concurrent_executions.max": 40.0,
                    "cold_start.p99_ms": 2400.0,
                },
                'dynamodb["orders"]': {"throttled_requests.sum": 5.0},
                'rds["main"]': {"connection_utilization.max_ratio": 0.95, "connections.max": 95.0},
                'elasticache["sessions"]': {"hit_rate": 0.4, "evictions.sum": 30.0},
                'sqs["jobs"]': {
                    "sent.sum": 5000.0,
                    "deleted.sum": 3000.0,
                    "visible_messages.max": 2000.0,
                    "oldest_message_age.max_ms": 95_000.0,
                },
            }
        ),
        [failed_check('lambda["api"].cold_start.p99 < 1s', 'lambda["api"].cold_start.p99', 1000.0)],
    )
    advice = {f["title"]: f.get("recommendation", "") for f in found}
    assert "reserved concurrency" in advice['lambda["api"] was throttled 12 times']
    assert (
        "Provisioned concurrency" in advice['lambda["api"]\'s cold starts broke their target: p99 2,400 ms']
    )
    assert "on-demand" in advice['dynamodb["orders"] throttled 5 requests']
    assert "RDS Proxy" in advice['rds["main"]\'s connections reached 95% of the pool']
    assert "too small" in advice['elasticache["sessions"]\'s hit rate was 40%']
    assert (
        "do not keep up"
        in advice['sqs["jobs"] grew: 5,000 messages sent, 3,000 processed, up to 2,000 waiting']
    )
    quiet = services(
        **{
            'lambda["api"]': {"throttles.sum": 0.0, "cold_start.p99_ms": None},
            'dynamodb["orders"]': {"throttled_requests.sum": None},
            'rds["main"]': {"connection_utilization.max_ratio": None},
            'elasticache["sessions"]': {"hit_rate": None},
        }
    )
    assert service_findings(quiet, []) == []
    assert service_findings({}, []) == []


def test_a_failed_run_its_data_cannot_explain_says_so() -> None:
    checks = [failed_check("http.throughput > 500/s", "http.throughput", 500.0, "per_s")]
    out = find(
        plan_of(),
        [FindingScope(None, stats_with([]), [point(t, 10.0) for t in range(6)])],
        checks,
        service_metrics={},
        verdict="fail",
    )
    assert [f["kind"] for f in out] == ["no-clear-cause"]
    assert "http.throughput > 500/s" in out[0]["evidence"][0]
    assert (
        find(plan_of(), [FindingScope(None, stats_with([]), [])], [], service_metrics={}, verdict="pass")
        == []
    )


def unread(note: str) -> ServiceEntry:
    """A declared service none of whose metrics could be read, and the note saying why."""
    return ServiceEntry(
        type="lambda", name="api", resource="", region=None, period_s=None, values={}, series={}, notes=[note]
    )


def test_no_clear_cause_lists_the_failed_checks_and_points_where_the_plan_can_look() -> None:
    failed = failed_check("http.throughput > 500/s", "http.throughput", 500.0, "per_s")
    nodata = failed_check('lambda["api"].errors.sum < 1', 'lambda["api"].errors.sum', 1.0, "count")
    nodata["status"] = "no-data"
    series = [point(t, 10.0) for t in range(6)]

    def recommendation(plan: Plan, service_metrics: dict[str, Any]) -> tuple[list[str], str]:
        (found,) = find(
            plan,
            [FindingScope(None, stats_with([]), series)],
            [nodata, failed],
            service_metrics=service_metrics,
            verdict="fail",
        )
        return found["evidence"], found.get("recommendation", "")

    # The failed check is named, not crowded out by the checks that had no data.
    evidence, advice = recommendation(plan_of(target="https://api.example.com"), {})
    assert evidence[0] == "failed: http.throughput > 500/s" and evidence[1] == "1 check(s) had no data"
    assert advice.startswith("Declare the target's services")
    # Services the plan declares are not advised again: that they were not collected is.
    declared = plan_of(
        target="https://api.example.com",
        services=[{"type": "lambda", "name": "api", "function_name": "api-fn"}],
    )
    _, advice = recommendation(declared, {"collected": False, "notes": ["no AWS credentials found"]})
    assert "were not collected (no AWS credentials found)" in advice and "Declare" not in advice
    # Collected, but these credentials may not read them: the permission is what to fix.
    denied = "access denied: the role needs the IAM permission cloudwatch:GetMetricData (AccessDenied)"
    _, advice = recommendation(
        declared, {"collected": True, "notes": [], "services": {'lambda["api"]': unread(denied)}}
    )
    assert advice.startswith(f"Some of the declared services' metrics could not be read ({denied})")
    assert "give the credentials the run uses that permission" in advice
    # A target on this machine has no AWS services to declare: its own logs are where to look.
    for target in ("http://127.0.0.1:8080", "http://localhost:9", "http://127.8.9.10", "http://[::1]:80"):
        _, advice = recommendation(plan_of(target=target), {})
        assert advice.startswith("The target runs on this machine"), target


def test_validity_problems_come_first() -> None:
    check = failed_check("validity: the generator kept up", "validity.generator", 0.0, "count")
    check["kind"] = "validity"
    check["detail"] = "worker 0's loop lag p99 was 80 ms"
    (found,) = find(
        plan_of(), [FindingScope(None, stats_with([]), [])], [check], service_metrics={}, verdict="fail"
    )
    assert found == {
        "kind": "validity",
        "title": "not a valid test: the generator kept up did not hold",
        "evidence": ["worker 0's loop lag p99 was 80 ms"],
        "check": "validity: the generator kept up",
    }


# -- recovery ----------------------------------------------------------------------------------------


def spike_plan(**recovery: Any) -> Plan:
    return plan_of(
        load={
            "phases": [
                {"name": "before", "duration": "2s", "rate": 10},
                {"name": "spike", "duration": "2s", "rate": 50},
                {"name": "after", "duration": "6s", "rate": 10},
            ]
        },
        recovery=[{"after": "spike", "p95": "100ms", "hold": "2s", **recovery}],
    )


def slow_until(t_back: float, *, errors_until: float = 0.0) -> Any:
    samples = [
        Sample(
            t / 10,
            "GET /a",
            500_000 if 2 <= t / 10 < t_back else 20_000,
            1,
            status=500 if t / 10 < errors_until else 200,
            error="http_5xx" if t / 10 < errors_until else None,
        )
        for t in range(100)
    ]
    return stats_with(samples)


def test_recovery_is_from_the_phase_end_to_the_first_interval_that_holds() -> None:
    plan = spike_plan()
    result = recovery_of(plan, plan.recovery[0], slow_until(6.5), run_s=10.0)
    assert (result.name, result.since_s, result.recovered_at_s, result.time_ms) == (
        "after-spike",
        4.0,
        7.0,
        3000.0,
    )
    assert result.levels == "p95 <= 100 ms for 2 s"
    already = recovery_of(plan, plan.recovery[0], slow_until(3.0), run_s=10.0)
    assert already.time_ms == 0.0
    from_start = spike_plan(since="start")
    assert recovery_of(from_start, from_start.recovery[0], slow_until(6.5), run_s=10.0).time_ms == 5000.0


def test_no_recovery_within_the_run_is_a_lower_bound() -> None:
    plan = spike_plan()
    never = recovery_of(plan, plan.recovery[0], slow_until(20.0), run_s=10.0)
    assert never.recovered_at_s is None and isinstance(never.time_ms, AtLeast) and never.time_ms == 6000.0
    # Back at 9 s, but the run ends before it held 2 s: not proven.
    late = recovery_of(plan, plan.recovery[0], slow_until(9.0), run_s=10.0)
    assert isinstance(late.time_ms, AtLeast)
    errors = spike_plan(error_rate="1%")
    failing = recovery_of(errors, errors.recovery[0], slow_until(5.0, errors_until=8.0), run_s=10.0)
    assert failing.recovered_at_s == 8.0
    assert recovery_of(plan, plan.recovery[0], slow_until(5.0), run_s=3.0).time_ms is None  # stopped before


def test_recovery_plan_mistakes_are_refused() -> None:
    def problems(**overrides: Any) -> str:
        with pytest.raises(PlanError) as info:
            plan_of(**overrides)
        return str(info.value) + "\n".join(info.value.problems)

    assert "no phase named 'nope'" in problems(recovery=[{"after": "nope", "p95": "1s"}])
    assert "say what recovered means" in problems(recovery=[{"after": "ramp"}])
    assert "a second recovery named 'after-ramp'" in problems(recovery=[{"after": "ramp", "p95": "1s"}] * 2)
    assert 'no recovery named "gone"' in problems(thresholds=['recovery["gone"].time < 1m'])
    assert "a recovery has one metric, its time" in problems(
        recovery=[{"after": "ramp", "p95": "1s"}], thresholds=['recovery["after-ramp"].p95 < 1m']
    )


def test_a_crossing_that_recovers_at_a_higher_load_is_not_a_knee() -> None:
    # Two slow intervals at 0:03-0:04, then fast again while the ramp climbs: noise, not a knee.
    plan = plan_of()
    series = [point(t, 300.0 if t in (3, 4) else 10.0, requests=40) for t in range(10)]
    assert latency_knee(plan, FindingScope(None, stats_with([]), series), []) is None


def test_the_knee_is_placed_between_the_first_crossing_and_the_one_that_held() -> None:
    plan = plan_of()
    slow = {3, 6, 7, 8, 9}  # a lone slow interval at 0:03, then broken from 0:06
    series = [point(t, 300.0 if t in slow else 10.0, requests=40) for t in range(10)]
    knee = latency_knee(plan, FindingScope(None, stats_with([]), series), [])
    assert knee is not None and knee["at_s"] == 6
    placed = knee["evidence"][-1]
    assert (
        placed.startswith("the data places the knee between 40 arrivals/s") and "and 70 arrivals/s" in placed
    )
    assert "up to somewhere between 40 arrivals/s" in knee["recommendation"]


def test_identical_noisy_runs_place_the_knee_alike() -> None:
    """Two runs of one ramp against a service that saturates at 60 arrivals/s, each interval's p95
    noisy (a tenth of them spike): both place the knee, and their ranges overlap."""
    import random

    plan = plan_of()
    ranges = []
    for seed in (1, 2):
        rnd = random.Random(seed)
        series = []
        for t in range(10):
            level = 10 + 10 * t
            p95 = (200.0 if level >= 60 else 15.0) * rnd.uniform(0.8, 1.2)
            if rnd.random() < 0.1:
                p95 *= 3  # a noisy interval
            series.append(point(t, p95, requests=40))
        knee = latency_knee(plan, FindingScope(None, stats_with([]), series), [])
        assert knee is not None
        ranges.append(knee["at_s"])
    assert abs(ranges[0] - ranges[1]) <= 1
