"""A run's headline figures as CloudWatch custom metrics: names, units, namespace and dimensions.

Pure. Both writers use them, so a cloud run and a local one chart as one trend on the stack's
dashboard: the Report step as an Embedded Metric Format record (surge.cloud.emf), a local run with
PutMetricData (surge.metrics.publish, `--publish-metrics`).
"""

from __future__ import annotations

from surge.report_model import Report

NAMESPACE = "Surge"
SERVICE = "surge"
DIMENSION_SETS = [["service"], ["service", "plan"]]


def headline_metrics(report: Report) -> dict[str, tuple[float, str]]:
    """A run's headline figures as CloudWatch metrics: name -> (value, unit). Latencies without
    data are left out, never written as 0."""
    totals = report["totals"]
    values: dict[str, tuple[float, str]] = {
        "Requests": (float(totals["requests"]), "Count"),
        "Errors": (float(totals["errors"]), "Count"),
        "ErrorRate": (float(totals["error_rate"]) * 100, "Percent"),
        "ThroughputRps": (float(totals["throughput_rps"]), "Count/Second"),
        "DroppedIterations": (float(totals["dropped_iterations"]), "Count"),
        "WorkersFailed": (float(report["generator"]["workers_failed"]), "Count"),
        "ChecksFailed": (float(sum(c["status"] != "pass" for c in report["checks"])), "Count"),
    }
    for key, name in (("p50", "LatencyP50Ms"), ("p95", "LatencyP95Ms"), ("p99", "LatencyP99Ms")):
        value = report["latency_ms"][key]  # type: ignore[literal-required]
        if value is not None:
            values[name] = (float(value), "Milliseconds")
    return values
