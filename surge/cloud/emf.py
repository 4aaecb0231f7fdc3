"""A run's headline figures as a CloudWatch Embedded Metric Format record. Pure.

The Report step prints it to its log, and CloudWatch turns it into custom metrics (namespace
``Surge``) without any API call, so nightly runs chart as trends on the stack's dashboard. Local
runs publish the same metrics with PutMetricData (surge.metrics.publish, `--publish-metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from surge.headline_metrics import DIMENSION_SETS, NAMESPACE, SERVICE, headline_metrics
from surge.report_model import Report
from surge.stats import Aggregate, IntervalData, is_stage


def run_metrics_emf(report: Report, timestamp_ms: int) -> dict[str, Any]:
    values = headline_metrics(report)
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    # Fleet-wide (the dashboard) and per plan (trends of one nightly test).
                    "Dimensions": DIMENSION_SETS,
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


# Per interval, from every worker while a run goes on: the live view of the stack's dashboard. Other
# names than a run's totals, so summing them over a day does not count a run twice.
LIVE_REQUESTS = "LiveRequests"
LIVE_ERRORS = "LiveErrors"
LIVE_DROPPED = "LiveDroppedIterations"
LIVE_P95 = "LiveLatencyP95Ms"  # one worker's p95 in one interval: the dashboard shows the worst


def interval_metrics_emf(
    intervals: Mapping[str, IntervalData],
    *,
    t0: float,
    interval_s: float,
    plan: str,
    run_id: str,
    worker: str,
) -> list[dict[str, Any]]:
    """One EMF record per closed interval of one worker, stamped with the interval's start."""
    records = []
    for key in sorted(intervals, key=int):
        data = intervals[key]
        agg = Aggregate()
        for name, ep in data["endpoints"].items():
            if not is_stage(name):
                agg.add_endpoint(ep)
        values: dict[str, tuple[float, str]] = {
            LIVE_REQUESTS: (float(agg.requests), "Count"),
            LIVE_ERRORS: (float(agg.error_count), "Count"),
            LIVE_DROPPED: (float(data["dropped"]), "Count"),
        }
        p95 = agg.latency("latency", "p95", 95.0)
        if p95 is not None:
            values[LIVE_P95] = (float(p95), "Milliseconds")
        record: dict[str, Any] = {
            "_aws": {
                "Timestamp": int((t0 + int(key) * interval_s) * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": DIMENSION_SETS,
                        "Metrics": [{"Name": n, "Unit": u} for n, (_, u) in values.items()],
                    }
                ],
            },
            "service": SERVICE,
            "plan": plan,
            "run_id": run_id,
            "worker": worker,
        }
        record.update({n: v for n, (v, _) in values.items()})
        records.append(record)
    return records
