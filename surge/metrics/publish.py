"""A local run's headline figures to CloudWatch (`surge run --publish-metrics`).

Cloud runs write them as EMF from the Report step; a run made on a CI machine or a laptop sends the
same metrics, namespace and dimensions with PutMetricData, so both chart as one trend on the stack's
dashboard. The CloudWatch client is injected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from surge.headline_metrics import DIMENSION_SETS, NAMESPACE, SERVICE, headline_metrics
from surge.report_model import Report

MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit


def metric_data(report: Report, timestamp: float) -> list[dict[str, Any]]:
    """PutMetricData datums: every headline metric once per dimension set, as the EMF record
    declares them. Pure."""
    values = {"service": SERVICE, "plan": report["plan"]}
    when = datetime.fromtimestamp(timestamp, UTC)
    metrics = headline_metrics(report)
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": d, "Value": values[d]} for d in dims],
            "Timestamp": when,
            "Value": value,
            "Unit": unit,
        }
        for dims in DIMENSION_SETS
        for name, (value, unit) in metrics.items()
    ]


def publish_run_metrics(cloudwatch: Any, report: Report, timestamp: float) -> int:
    """Send the run's headline metrics; returns how many datums were sent."""
    data = metric_data(report, timestamp)
    for i in range(0, len(data), MAX_DATUMS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + MAX_DATUMS_PER_CALL])
    return len(data)
