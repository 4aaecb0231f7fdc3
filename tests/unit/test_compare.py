"""surge compare's judgement (reports/compare.py): noise bands from earlier runs, changes within
them, regressions beyond a percentage and the noise, endpoint and phase rows from reports."""

from __future__ import annotations

from typing import Any

from reports.compare import (
    compare_records,
    detail_metrics,
    noise_bands,
    regressions,
    render_compare_html,
    render_compare_text,
)
from surge.store.history import RunRecord


def record(run_id: str, **metrics: float) -> RunRecord:
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
    )


def test_the_noise_band_is_the_largest_distance_from_the_median() -> None:
    runs = [{"http.latency.p95": v, "http.requests": 10.0} for v in (100.0, 110.0, 95.0, 104.0)]
    bands = noise_bands(runs)
    assert bands["http.latency.p95"] == 7.843  # 110 is 8 from the median, 102
    assert bands["http.requests"] == 0.0
    assert noise_bands(runs[:2]) == {}  # two runs are no band


def test_a_change_within_the_noise_is_no_regression() -> None:
    a = record("a")
    b = record("b", **{"http.latency.p95": 108.0, "http.error_rate": 0.02})
    rows = {r.metric: r for r in compare_records(a, b, noise={"http.latency.p95": 10.0})}
    assert rows["http.latency.p95"].judgement == "noise" and rows["http.latency.p95"].noise_pct == 10.0
    assert rows["http.error_rate"].judgement == "worse"
    assert [r.metric for r in regressions(list(rows.values()), 5.0)] == ["http.error_rate"]
    assert regressions(list(rows.values()), 150.0) == []  # +100 % is within a 150 % allowance
    assert "(within noise)  noise ±10.0%" in render_compare_text(a, b, list(rows.values()))


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
