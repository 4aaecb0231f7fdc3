"""surge compare's judgement (reports/compare.py): the noise read as the plan's regression rule
reads it (both runs' intervals, earlier runs' spread), changes within it, regressions beyond a
percentage and the noise, endpoint and phase rows from reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reports.compare import (
    compare_records,
    detail_metrics,
    regressions,
    render_compare_html,
    render_compare_text,
)
from surge.baseline import apply_baseline, baseline_from_record, noise_between
from surge.plan import Regression
from surge.store.history import RunRecord
from surge.uncertainty import Interval


def record(
    run_id: str, intervals: dict[str, list[float | None]] | None = None, **metrics: float
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        plan="p",
        plan_hash="h",
        started_at="2026-12-02T10:00:00Z",
        ended_at="2026-12-02T10:01:00Z",
        verdict="pass",
        partial=False,
        location="",
        metrics={"http.latency.p95": 100.0, "http.error_rate": 0.01, "http.throughput": 50.0, **metrics},
        intervals=intervals or {},
    )


def test_a_change_within_both_runs_intervals_is_noise_not_a_regression() -> None:
    a = record("a", {"http.latency.p95": [90.0, 110.0]})
    b = record(
        "b", {"http.latency.p95": [98.0, 118.0]}, **{"http.latency.p95": 108.0, "http.error_rate": 0.02}
    )
    rows = {r.metric: r for r in compare_records(a, b)}
    p95 = rows["http.latency.p95"]
    # One standard error of the change: sqrt(5.1^2 + 5.1^2) = 7.2 ms; one metric compared with a
    # known noise: 1.645 of them (11.9 %) is what noise alone makes.
    assert p95.judgement == "noise" and p95.noise_pct == pytest.approx(11.87, abs=0.05)
    assert rows["http.error_rate"].judgement == "worse" and rows["http.error_rate"].noise_pct is None
    assert [r.metric for r in regressions(list(rows.values()), 5.0)] == ["http.error_rate"]
    assert regressions(list(rows.values()), 150.0) == []  # +100 % is within a 150 % allowance
    assert "(within noise)  noise ±11.9%" in render_compare_text(a, b, list(rows.values()))


def test_the_noise_between_earlier_runs_counts_when_it_is_larger() -> None:
    a, b = record("a"), record("b", **{"http.latency.p95": 120.0})
    assert compare_records(a, b)[5].judgement == "worse"  # nothing known of the noise
    earlier = [{"http.latency.p95": v} for v in (90.0, 100.0, 110.0)]  # 10 % spread, 3 runs
    row = next(r for r in compare_records(a, b, earlier=earlier) if r.metric == "http.latency.p95")
    # sqrt(2) x 10 % of 100 ms, and Student's t for 2 degrees of freedom (2.92): 41 %.
    assert row.judgement == "noise" and row.noise_pct == pytest.approx(41.3, abs=0.1)
    assert compare_records(a, b, earlier=earlier[:2])[5].judgement == "worse"  # two runs are no spread


@pytest.mark.parametrize("b_p95", [101.0, 104.0, 106.0, 108.0, 112.0, 115.0, 125.0, 160.0])
def test_compare_and_the_plans_regression_rule_judge_a_pair_alike(b_p95: float) -> None:
    """One noise model: `surge compare --fail-if-worse 5` and `regression: {max_worse_pct: 5}`
    reach the same verdict on the same two runs."""
    a = record("a", {"http.latency.p95": [95.0, 106.0]})
    b = record("b", {"http.latency.p95": [b_p95 * 0.95, b_p95 * 1.06]}, **{"http.latency.p95": b_p95})
    earlier = [{"http.latency.p95": v} for v in (97.0, 100.0, 104.0, 99.0)]
    rows = compare_records(a, b, earlier=earlier)
    by_compare = [r.metric for r in regressions(rows, 5.0)] == ["http.latency.p95"]
    baseline = baseline_from_record(a, "a", "a")
    baseline = replace(baseline, noise=noise_between(earlier), noise_runs=len(earlier))
    checks = apply_baseline(
        [],
        spec="a",
        baseline=baseline,
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p95"]),
        measured={"http.latency.p95": b_p95},
        intervals={"http.latency.p95": Interval(b_p95 * 0.95, b_p95 * 1.06)},
    ).checks
    (rule,) = [c for c in checks if c.get("kind") == "regression"]
    assert by_compare == (rule["status"] == "fail")


def test_endpoints_and_phases_are_compared_from_the_reports() -> None:
    def report(p95: float) -> Any:
        latency = {"p95": p95}
        return {
            "endpoints": {"GET /a": {"latency_ms": latency, "error_rate": 0.0}},
            "phases": [
                {"name": "steady", "latency_ms": latency, "throughput_rps": 20.0, "status": "ran"},
                {"name": "later", "latency_ms": {"p95": None}, "throughput_rps": 0.0, "status": "not run"},
            ],
        }

    da, db = detail_metrics(report(10.0)), detail_metrics(report(30.0))
    assert set(da) == {
        'endpoint["GET /a"].latency.p95',
        'endpoint["GET /a"].error_rate',
        'phase["steady"].latency.p95',
        'phase["steady"].throughput',
    }
    rows = compare_records(record("a"), record("b"), details=(da, db))
    endpoint = next(r for r in rows if r.metric == 'endpoint["GET /a"].latency.p95')
    assert endpoint.group == "endpoints" and endpoint.judgement == "worse" and endpoint.delta_pct == 200.0
    assert next(r for r in rows if r.metric == 'phase["steady"].throughput').group == "phases"
    page = render_compare_html(record("a"), record("b"), rows)
    assert '<section id="endpoints">' in page and '<section id="phases">' in page
