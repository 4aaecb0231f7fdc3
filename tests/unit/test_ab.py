"""A/B in one run, pure parts: the plan's targets, the check grammar (target["x"]..., comparisons),
how workers are shared out among targets (surge.lanes), per-target merging, the report's judgement
and its side-by-side rows (reports/targets.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.markdown import render_markdown
from reports.targets import targets_view
from reports.view import format_target
from surge.errors import PlanError
from surge.evaluate import TargetSources, evaluate
from surge.finish import build_report
from surge.lanes import lane_of, local_worker_count, worker_count
from surge.plan import Plan
from surge.plan_load import parse_plan
from surge.run_facts import RunFacts
from surge.stats import AtLeast, Recorder, merge_results
from surge.thresholds import MetricRef, ThresholdError, parse_metric, parse_threshold
from tests.unit.test_stats import T0_MONO, Sample, record_all, worker_result

OLD, NEW = "http://127.0.0.1:8081", "http://127.0.0.1:8082"


def ab_plan(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "ab",
        "targets": {"old": OLD, "new": NEW},
        "load": {"phases": [{"name": "steady", "duration": "5s", "rate": 10}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
    }
    data.update(overrides)
    return data


def plan_of(**overrides: Any) -> Plan:
    return parse_plan(ab_plan(**overrides), base_dir=Path.cwd())


def problems(**overrides: Any) -> str:
    with pytest.raises(PlanError) as info:
        plan_of(**overrides)
    return str(info.value) + "\n".join(info.value.problems)


# -- the plan ----------------------------------------------------------------------------------------


def test_an_ab_plan_needs_no_target_and_allows_every_targets_host() -> None:
    plan = plan_of(targets={"old": OLD + "/", "new": "http://localhost:9000"})
    assert plan.target == OLD  # the first target stands for `target`
    assert plan.targets == {"old": OLD, "new": "http://localhost:9000"}
    assert {"127.0.0.1", "localhost"} <= plan.allowed_hosts
    one = plan.for_target("new")
    assert one.target == "http://localhost:9000" and one.targets == {}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"targets": {"old": OLD}}, "compares two or more targets"),
        ({"targets": {"old": OLD, "new": OLD + "/"}}, "are the same URL"),
        ({"targets": {"old": OLD, "new": "ftp://x"}}, "is not an http(s) URL"),
        ({"targets": {"old": OLD, "bad name": NEW}}, "targets"),
        ({"target": "http://127.0.0.1:9999"}, "is not one of targets"),
        ({"targets": {}, "target": OLD, "target_load": "split"}, "name them under targets"),
        ({"target_load": "split", "workers": 1}, "needs at least 2"),
    ],
)
def test_ab_plan_mistakes_are_refused_with_what_to_do(overrides: dict[str, Any], expected: str) -> None:
    assert expected in problems(**overrides)


def test_checks_naming_targets_the_plan_lacks_are_refused() -> None:
    assert 'no target named "nope"; the plan has: old, new' in problems(
        thresholds=['target["nope"].http.latency.p95 < 1s']
    )
    assert 'no target named "gone"' in problems(
        thresholds=['target["new"].http.latency.p95 < target["gone"].http.latency.p95']
    )
    assert 'no endpoint named "GET /x"' in problems(
        thresholds=['target["new"].http.latency.p95 < target["old"].endpoint["GET /x"].p95']
    )
    one_target = {"targets": {}, "target": OLD, "thresholds": ['target["old"].http.latency.p95 < 1s']}
    assert "this plan has one target" in problems(**one_target)
    aborting = [
        {"check": 'target["new"].http.error_rate < target["old"].http.error_rate', "abort_on_fail": True}
    ]
    assert "cannot abort it" in problems(thresholds=aborting)


def test_checks_without_a_target_hold_for_each_target() -> None:
    plan = plan_of(
        thresholds=[
            "http.error_rate < 1%",
            'endpoint["GET /api/mocs"].p99 < 1s',
            'target["new"].http.latency.p95 < 300ms',
        ]
    )
    assert [t.expr for t in plan.parsed_thresholds()] == [
        'target["old"].http.error_rate < 1%',
        'target["new"].http.error_rate < 1%',
        'target["old"].endpoint["GET /api/mocs"].p99 < 1s',
        'target["new"].endpoint["GET /api/mocs"].p99 < 1s',
        'target["new"].http.latency.p95 < 300ms',
    ]


# -- the grammar -------------------------------------------------------------------------------------


def test_a_target_prefix_names_one_targets_metric() -> None:
    ref = parse_metric("target['new'].endpoint[\"GET /api/mocs\"].p99.9")
    assert ref == MetricRef("endpoint", "GET /api/mocs", ("latency", "p999"), "ms", target="new")
    assert ref.canonical == 'target["new"].endpoint["GET /api/mocs"].latency.p999'
    assert ref.untargeted().canonical == 'endpoint["GET /api/mocs"].latency.p999'
    th = parse_threshold('target["new"].phase["spike"].error_rate < 2%')
    assert (th.metric.target, th.metric.namespace, th.target) == ("new", "phase", 0.02)


def test_a_comparison_reads_other_targets_metrics_on_the_right() -> None:
    th = parse_threshold('target["new"].http.latency.p95 < (target["old"].http.latency.p95 + 20) * 1.05')
    assert th.operands == (MetricRef("http", None, ("latency", "p95"), "ms", target="old"),)
    assert not th.is_bound  # known when the run ends
    assert th.bind({'target["old"].http.latency.p95': 100.0}).target == pytest.approx(126.0)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('target["a"].lambda["f"].cold_start.p99 < 1s', "services and cost are named on their own"),
        ('target[""].http.latency.p95 < 1s', "the target selector in"),
        ('http.latency.p95 < target["a"].http.latency.p95', "names the target on the left too"),
        ('target["a"].http.latency.p95 < target["b"].http.error_rate', "is a ratio and cannot be compared"),
        ('target["a"].http.latency.p95 < target["a"].http.latency.p95', "with itself"),
        ('target["a"].http.latency.p95 < target["b"].http.latency.p95 * pool', "'pool' is not a value here"),
    ],
)
def test_comparison_mistakes_are_refused(expr: str, expected: str) -> None:
    with pytest.raises(ThresholdError) as info:
        parse_threshold(expr)
    assert expected in str(info.value)


# -- sharing the workers out -------------------------------------------------------------------------


def test_each_target_gets_the_whole_schedule_from_every_nth_worker() -> None:
    plan = plan_of()
    assert (
        worker_count(plan, 3) == 6 and local_worker_count(plan, 2) == 2 and local_worker_count(plan, 1) == 2
    )
    lanes = [lane_of(plan, i, 6) for i in range(6)]
    assert [(ln.target, ln.shard, ln.shards) for ln in lanes] == [
        ("old", 0, 3),
        ("new", 0, 3),
        ("old", 1, 3),
        ("new", 1, 3),
        ("old", 2, 3),
        ("new", 2, 3),
    ]
    assert {ln.plan.target for ln in lanes if ln.target == "new"} == {NEW}
    with pytest.raises(ValueError):
        lane_of(plan, 0, 5)


def test_split_shares_one_schedule_among_the_targets() -> None:
    plan = plan_of(target_load="split")
    assert worker_count(plan, 3) == 4 and worker_count(plan, 1) == 2 and local_worker_count(plan, 2) == 2
    lanes = [lane_of(plan, i, 4) for i in range(4)]
    assert [(ln.target, ln.shard, ln.shards) for ln in lanes] == [
        ("old", 0, 4),
        ("new", 1, 4),
        ("old", 2, 4),
        ("new", 3, 4),
    ]
    one = parse_plan({**ab_plan(), "targets": {}, "target": OLD}, base_dir=Path.cwd())
    assert worker_count(one, 3) == 3 and lane_of(one, 1, 3).target is None


# -- merging and judging -----------------------------------------------------------------------------


def recorded(latency_ms: float, n: int = 50, error_every: int = 0) -> Recorder:
    samples = [
        Sample(
            t=i * 4.9 / n,
            endpoint="GET /api/mocs",
            rt_us=int(latency_ms * 1000),
            st_us=int(latency_ms * 1000),
            status=500 if error_every and i % error_every == 0 else 200,
            error="http_5xx" if error_every and i % error_every == 0 else None,
        )
        for i in range(n)
    ]
    return record_all(samples)


def ab_stats(old_ms: float, new_ms: float, new_errors_every: int = 0) -> Any:
    results = []
    for shard, (name, rec) in enumerate(
        (("old", recorded(old_ms)), ("new", recorded(new_ms, error_every=new_errors_every)))
    ):
        result = worker_result(rec, shard, 2)
        result["target"] = name
        results.append(result)
    return merge_results(results)


def test_results_merge_per_target_as_well_as_together() -> None:
    stats = ab_stats(10.0, 40.0)
    assert set(stats["targets"]) == {"old", "new"}
    assert stats["workers"] == 2 and stats["targets"]["old"]["workers"] == 1
    again = merge_results([stats, ab_stats(10.0, 40.0)])  # partials (segments) merge the same way
    assert again["targets"]["new"]["workers"] == 2


def test_the_report_judges_each_target_and_the_comparison() -> None:
    plan = plan_of(
        thresholds=[
            "http.error_rate < 1%",
            'target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05',
        ]
    )
    report = build_report(plan, ab_stats(10.0, 40.0, new_errors_every=10), RunFacts(run_id="r1"))
    checks = {c["name"]: c for c in report["checks"]}
    assert checks['target["old"].http.error_rate < 1%']["status"] == "pass"
    assert checks['target["new"].http.error_rate < 1%']["status"] == "fail"
    comparison = checks['target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05']
    assert comparison["status"] == "fail"
    old_p95 = report["targets"]["old"]["latency_ms"]["p95"]
    assert old_p95 == pytest.approx(10.0, rel=0.01)  # within the histogram's precision
    assert comparison["against"] == {'target["old"].http.latency.p95': old_p95}
    assert comparison["target"] == pytest.approx(old_p95 * 1.05, rel=1e-6)
    assert comparison["measured"] == pytest.approx(40.0, rel=0.01)
    assert '(from target["old"].http.latency.p95 = ' in format_target(comparison)
    assert report["verdict"] == "fail"
    assert report["targets"]["old"]["verdict"] == "pass" and report["targets"]["new"]["verdict"] == "fail"
    assert 'validity: target["old"] something was measured' in checks
    assert report["totals"]["requests"] == 100 and report["targets"]["new"]["totals"]["requests"] == 50
    assert report["target"] == f"old {OLD} vs new {NEW}"


def test_a_comparison_with_nothing_to_compare_has_no_data() -> None:
    plan = plan_of(thresholds=['target["new"].http.latency.p95 < target["old"].http.latency.p95'])
    result = worker_result(recorded(40.0), 1, 2)
    result["target"] = "new"
    report = build_report(plan, merge_results([result]), RunFacts(run_id="r2"))
    comparison = next(c for c in report["checks"] if c["kind"] == "threshold")
    assert comparison["status"] == "no-data"
    assert "has no data, so there is nothing to compare with" in comparison["detail"]
    assert report["verdict"] == "fail"
    assert report["targets"]["old"]["totals"]["requests"] == 0  # the target none of whose workers reported


class _Fixed:
    def __init__(self, values: dict[str, float | None]) -> None:
        self.values = values

    def interval(self, ref: MetricRef) -> None:
        return None

    def value(self, ref: MetricRef) -> float | None:
        return self.values.get(ref.canonical)


def test_a_lower_bound_on_the_right_is_not_a_figure_to_compare_with() -> None:
    th = parse_threshold('target["new"].http.latency.p95 < target["old"].http.latency.p95')
    source = TargetSources(
        _Fixed({}),
        {"new": _Fixed({"http.latency.p95": 5.0}), "old": _Fixed({"http.latency.p95": AtLeast(10_000.0)})},
    )
    (check,) = evaluate([th], source)
    assert check["status"] == "no-data" and "timed-out requests" in check["detail"]


def test_the_side_by_side_rows_compare_with_the_first_target() -> None:
    plan = plan_of(thresholds=["http.error_rate < 50%"])
    report = build_report(plan, ab_stats(10.0, 40.0, new_errors_every=10), RunFacts(run_id="r3"))
    view = targets_view(report)
    assert view is not None and view.names == ["old", "new"] and view.delta_headers == ["new vs old"]
    rows = {r.label: r for r in view.tables[0].rows}
    p95 = rows["Latency p95"]
    assert p95.deltas[0].verdict == "worse" and p95.deltas[0].text.startswith("+3")
    assert rows["Error rate"].values == ["0.00%", "10.0%"] and rows["Error rate"].deltas[0].text == "—"
    endpoints = {r.label for r in view.tables[1].rows}
    assert endpoints == {"GET /api/mocs p95", "GET /api/mocs error rate"}
    markdown = render_markdown(report)
    assert "## Targets compared" in markdown and "| Latency p95 |" in markdown
    assert "## Latency (all targets together)" in markdown
    assert (
        targets_view(
            build_report(
                parse_plan({**ab_plan(), "targets": {}, "target": OLD}),
                merge_results([worker_result(recorded(5.0))]),
                RunFacts(run_id="r4"),
            )
        )
        is None
    )


def test_services_name_the_target_they_serve() -> None:
    from reports.services import service_heading, service_metrics_view
    from surge.metrics.collect import ServiceMetrics
    from surge.metrics.reduce import ServiceResult

    services = [{"type": "lambda", "name": "api", "function_name": "mocs-api", "target": "new"}]
    plan = plan_of(services=services, thresholds=['lambda["api"].errors.sum < 5'])
    metrics = ServiceMetrics(window=(1.0, 6.0), collected=True)
    metrics.services['lambda["api"]'] = ServiceResult(
        "api", "lambda", None, "function mocs-api", values={"errors.sum": 2.0}
    )
    report = build_report(plan, ab_stats(10.0, 20.0), RunFacts(run_id="r5", metrics=metrics))
    view = service_metrics_view(report["service_metrics"])
    assert view is not None and view.services[0].target == "new"
    assert service_heading(view.services[0]).startswith("target new · AWS Lambda")
    assert next(c for c in report["checks"] if c["metric"].startswith("lambda"))["status"] == "pass"
    assert "no target named 'gone'" in problems(services=[{**services[0], "target": "gone"}])


def test_the_cost_per_million_divides_by_the_requests_of_the_target_its_lambdas_serve() -> None:
    from surge.summary_ab import cost_requests

    lam = {"type": "lambda", "name": "api", "function_name": "mocs-api"}
    stats = ab_stats(10.0, 20.0)
    served = plan_of(services=[{**lam, "target": "new"}])
    assert cost_requests(served, stats) == 50
    unlabelled = plan_of(services=[lam])
    assert cost_requests(unlabelled, stats) is None
    one = parse_plan({**ab_plan(), "targets": {}, "target": OLD, "services": [lam]}, base_dir=Path.cwd())
    single = merge_results([worker_result(recorded(5.0))])
    assert cost_requests(one, single) == 50


def test_a_one_system_baseline_is_every_targets_reference() -> None:
    from surge.baseline import Baseline

    plan = plan_of(
        baseline={"file": "old.json"},
        regression={"max_worse_pct": 20},
        thresholds=["http.latency.p95 < 1s"],
    )
    old = Baseline(
        spec="file:old.json",
        source="file",
        ref="old.json",
        label="the old system",
        figures={"http.latency.p95": 12.0},
    )
    report = build_report(plan, ab_stats(10.0, 40.0), RunFacts(run_id="b1", baseline=old, baseline_notes=[]))
    checks = {c["name"]: c for c in report["checks"]}
    assert checks['target["old"].http.latency.p95 < 1s']["baseline"] == 12.0
    assert checks['target["new"].http.latency.p95 < 1s']["delta_pct"] == pytest.approx(233.3, abs=1.0)
    regressions = {c["metric"]: c["status"] for c in report["checks"] if c["kind"] == "regression"}
    assert regressions == {'target["old"].http.latency.p95': "pass", 'target["new"].http.latency.p95': "fail"}
    assert report["targets"]["old"]["verdict"] == "pass" and report["targets"]["new"]["verdict"] == "fail"
    assert report["baseline"] is not None and report["baseline"]["label"] == "the old system"


def _two_requests_an_iteration(latency_ms: float) -> Recorder:
    """10 arrivals/s for 5 s, each iteration two requests: 20 requests/s offered."""
    rec = Recorder(T0_MONO, 1.0)
    for i in range(50):
        now = T0_MONO + i * 0.098
        rec.iteration_started(now, 1)
        for _ in range(2):
            rec.record("GET /api/mocs", now, int(latency_ms * 1000), int(latency_ms * 1000), 200, None, 100)
    return rec


@pytest.mark.parametrize(("figure", "compared"), [(20.0, True), (50.0, False)])
def test_an_ab_runs_throughput_is_compared_per_target_with_the_phase_that_offered_it(
    figure: float, compared: bool
) -> None:
    """Every target gets the plan's open-model load: another system's throughput says something only
    against a phase that offered it, on each target's own figures (the one-target rule, per target)."""
    from surge.baseline import Baseline

    plan = plan_of(baseline={"file": "old.json"}, regression={"max_worse_pct": 5})
    results = []
    for shard, (name, ms) in enumerate((("old", 10.0), ("new", 11.0))):
        result = worker_result(_two_requests_an_iteration(ms), shard, 2)
        result["target"] = name
        results.append(result)
    old = Baseline(
        "file:old.json",
        "file",
        "old.json",
        "the old system",
        {"http.throughput": figure, "http.latency.p95": 12.0},
    )
    report = build_report(
        plan, merge_results(results), RunFacts(run_id="t1", baseline=old, baseline_notes=[])
    )
    regression = {c["metric"]: c for c in report["checks"] if c["kind"] == "regression"}
    notes = report["baseline"]["notes"] if report["baseline"] else []
    for target in ("old", "new"):
        assert f'target["{target}"].http.throughput' not in regression  # never the run's average
        matched = regression.get(f'target["{target}"].phase["steady"].throughput')
        if compared:
            assert matched is not None and matched["baseline"] == 20.0 and matched["status"] == "pass"
            assert matched["measured"] == pytest.approx(20.0, rel=0.05)
        else:
            assert matched is None
            assert any(n.startswith(f'target["{target}"].http.throughput is not compared') for n in notes), (
                notes
            )


def test_an_ab_runs_history_record_holds_each_targets_headline() -> None:
    from surge.store.history import RunRecord

    report = build_report(plan_of(), ab_stats(10.0, 40.0), RunFacts(run_id="h1"))
    metrics = RunRecord.from_report(report, "").metrics
    assert metrics['target["old"].http.latency.p95'] == pytest.approx(10.0, rel=0.01)
    assert metrics['target["new"].http.latency.p95'] == pytest.approx(40.0, rel=0.01)
    assert metrics['target["new"].http.requests'] == 50
    assert "http.latency.p95" not in metrics  # both targets' requests together: a reference for neither


def test_target_overrides_an_ab_plans_targets_by_name() -> None:
    from surge.plan_load import plan_model

    plan = plan_model(ab_plan(), target="new=http://127.0.0.1:9000/, old = http://127.0.0.1:9001")
    assert plan.targets == {"old": "http://127.0.0.1:9001", "new": "http://127.0.0.1:9000"}
    assert plan_model(ab_plan(), target="new=http://127.0.0.1:9000").targets["old"] == OLD
    for bad in ("http://127.0.0.1:9000", "gone=http://127.0.0.1:9000"):
        with pytest.raises(PlanError) as info:
            plan_model(ab_plan(), target=bad)
        assert "give each new URL as NAME=URL, e.g. --target old=https://api.example.com" in str(info.value)
