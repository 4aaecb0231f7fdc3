from __future__ import annotations

import pytest

from surge.cloud.emf import run_metrics_emf
from tests.report_fixtures import sample_report


def test_emf_record_declares_every_metric_it_carries() -> None:
    report = sample_report()
    record = run_metrics_emf(report, 1_700_000_000_000)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Surge"
    assert ["service"] in directive["Dimensions"] and ["service", "plan"] in directive["Dimensions"]
    names = [m["Name"] for m in directive["Metrics"]]
    for name in names:
        assert isinstance(record[name], float), name
    for dims in directive["Dimensions"]:
        assert all(d in record for d in dims)
    assert record["Requests"] == report["totals"]["requests"]
    assert record["LatencyP95Ms"] == report["latency_ms"]["p95"]
    assert record["ChecksFailed"] == sum(c["status"] != "pass" for c in report["checks"])


def test_emf_leaves_out_latencies_without_data() -> None:
    report = sample_report()
    report["latency_ms"] = {k: None for k in report["latency_ms"]}  # type: ignore[assignment]
    record = run_metrics_emf(report, 0)
    names = [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert "LatencyP95Ms" not in names and "LatencyP95Ms" not in record


def test_put_metric_data_carries_what_the_emf_record_declares() -> None:
    from surge.metrics.publish import metric_data

    report = sample_report()
    emf = run_metrics_emf(report, 0)
    data = metric_data(report, 1_700_000_000.0)
    declared = emf["_aws"]["CloudWatchMetrics"][0]
    assert len(data) == len(declared["Metrics"]) * len(declared["Dimensions"])
    for datum in data:
        assert datum["Value"] == emf[datum["MetricName"]]
        assert [d["Name"] for d in datum["Dimensions"]] in declared["Dimensions"]
        assert datum["Timestamp"].timestamp() == 1_700_000_000.0
    assert {d["Value"] for datum in data for d in datum["Dimensions"] if d["Name"] == "plan"} == {
        report["plan"]
    }


def test_each_closed_interval_is_a_live_emf_record() -> None:
    from surge.cloud.emf import LIVE_P95, LIVE_REQUESTS, interval_metrics_emf
    from surge.stats import Recorder

    rec = Recorder(100.0, 1.0)
    for k in range(20):
        rec.record("GET /a", 100.0 + k / 10, 20_000, 19_000, 200 if k else 500, None if k else "http_5xx", 10)
    rec.record("stage:deliver", 100.5, 1_000, 1_000, 0, None, 0)  # a stage is not a request
    rec.close_all()
    records = interval_metrics_emf(
        rec.intervals, t0=1_700_000_000.0, interval_s=1.0, plan="p", run_id="r", worker="w"
    )
    assert [r["_aws"]["Timestamp"] for r in records] == [1_700_000_000_000, 1_700_000_001_000]
    assert [r[LIVE_REQUESTS] for r in records] == [10.0, 10.0]
    assert records[0]["LiveErrors"] == 1.0 and records[1]["LiveErrors"] == 0.0
    assert records[0][LIVE_P95] == pytest.approx(20.0, rel=0.01)
    (directive,) = records[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Surge" and ["service"] in directive["Dimensions"]
    # Every metric the directive names is a top-level member, as EMF requires.
    assert all(m["Name"] in records[0] for m in directive["Metrics"])
    assert {"service", "plan"} <= set(records[0])
