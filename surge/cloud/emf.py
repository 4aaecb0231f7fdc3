"""A run's headline figures as a CloudWatch Embedded Metric Format record. Pure.

The Report step prints it to its log, and CloudWatch turns it into custom metrics (namespace
``Surge``) without any API call, so nightly runs chart as trends on the stack's dashboard.
"""

from __future__ import annotations

from typing import Any

from surge.report_model import Report

NAMESPACE = "Surge"
SERVICE = "surge"


def run_metrics_emf(report: Report, timestamp_ms: int) -> dict[str, Any]:
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
        if value is not None:  # no data is left out, never written as 0
            values[name] = (float(value), "Milliseconds")
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    # Fleet-wide (the dashboard) and per plan (trends of one nightly test).
                    "Dimensions": [["service"], ["service", "plan"]],
                    "Metrics": [{"Name": n, "Unit": u} for n, (_, u) in values.items()],
                }
            ],
        },
        "service": SERVICE,
        "plan": report["plan"],
        "run_id": report["run_id"],
        "verdict": report["verdict"],
    }
    record.update({n: v for n, (v, _) in values.items()})
    return record
