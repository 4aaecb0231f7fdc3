from __future__ import annotations

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
