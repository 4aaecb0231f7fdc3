"""Service metrics end to end against moto: metrics put into (moto) CloudWatch over a run's window
are collected, land in the report dicts, and their thresholds pass, fail or have no data as declared.

What moto cannot do, and how this test deals with it (see DESIGN.md):
- GetMetricData with a percentile statistic raises inside moto: the `PercentilesUnsupported`
  wrapper answers those queries as CloudWatch does for a metric without percentile data (an empty
  series), so the collector's real path runs and percentile checks come out no-data. Percentile
  parsing is tested on recorded responses in tests/unit/test_metrics_cloudwatch.py.
- Logs Insights `stats` are not evaluated: cold starts come out no-data (recorded responses in
  tests/unit/test_metrics_logs.py).
- Cost Explorer answers what the test seeds through /moto-api/static/ce/cost-and-usage-results.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from pydantic import TypeAdapter

from reports.markdown import render_markdown
from surge.evaluate import evaluate
from surge.metrics import (
    CostSpec,
    FixedClients,
    ServiceMetricSource,
    bind_thresholds,
    collect_services,
)
from surge.metrics.spec import Services
from surge.thresholds import parse_threshold
from tests.report_fixtures import sample_report

REGION = "us-east-1"
PERCENTILE_FREE = ("Sum", "Maximum", "Minimum", "Average", "SampleCount")


class PercentilesUnsupported:
    """Forwards to moto's CloudWatch; percentile queries come back empty instead of crashing moto."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def get_metric_data(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        queries = kw["MetricDataQueries"]
        keep = [q for q in queries if q["MetricStat"]["Stat"] in PERCENTILE_FREE]
        answer: dict[str, Any] = self.client.get_metric_data(**{**kw, "MetricDataQueries": keep})
        answer["MetricDataResults"] += [
            {
                "Id": q["Id"],
                "Label": q.get("Label", ""),
                "Timestamps": [],
                "Values": [],
                "StatusCode": "Complete",
            }
            for q in queries
            if q not in keep
        ]
        return answer


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


SERVICES = TypeAdapter(Services).validate_python(
    [
        {
            "type": "lambda",
            "name": "orders",
            "function_name": "orders-fn",
            "memory_mb": 512,
            "concurrency_limit": 50,
        },
        {"type": "dynamodb", "name": "orders", "table": "orders", "operations": ["GetItem", "PutItem"]},
        {"type": "dynamodb", "name": "sessions", "table": "sessions", "operations": ["GetItem", "PutItem"]},
        {"type": "elasticache", "name": "sessions", "cluster_id": "sessions-001"},
        {"type": "rds", "name": "main", "instance_id": "main-db", "pool_max": 100},
    ]
)
COST = CostSpec(tag_key="app", tag_value="mocs", lookback_days=7, baseline_monthly_usd=950)

THRESHOLDS = {
    'lambda["orders"].invocations.sum >= 1000': "pass",
    'lambda["orders"].errors.sum == 0': "fail",  # 2 errors in minute 6
    'lambda["orders"].error_rate < 1%': "pass",  # 2 / 1000
    'lambda["orders"].throttles.sum == 0': "pass",  # never published while invoked: 0
    'lambda["orders"].duration.max < 1s': "pass",
    'lambda["orders"].concurrent_executions.max < concurrency_limit * 0.8': "fail",  # 42 >= 40
    'lambda["orders"].duration.p99 < 1s': "no-data",  # moto computes no percentiles
    'lambda["orders"].cold_start.p99 < 2s': "no-data",  # moto does not evaluate Logs Insights stats
    'dynamodb["orders"].throttled_requests.sum == 0': "fail",  # 3 throttled PutItems
    'dynamodb["sessions"].throttled_requests.sum == 0': "pass",  # consumed capacity, no throttles
    'dynamodb["sessions"].write_throttle_events.sum == 0': "pass",
    'elasticache["sessions"].hit_rate > 80%': "pass",  # 900 / 1000
    'elasticache["sessions"].cpu.max < 80%': "pass",  # 61 %
    'rds["main"].connections.max < pool * 0.9': "fail",  # 95 >= 90
    'rds["main"].cpu.max < 90%': "no-data",  # nothing was put
    "cost.monthly_usd <= baseline": "pass",  # 7 days x $30 -> $900 a month
    "cost.per_million_requests_usd < 2": "pass",
}


def put(
    cw: Any, namespace: str, name: str, dims: dict[str, str], value: float, at: float, unit: str = "None"
) -> None:
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Value": value,
                "Unit": unit,
                "Timestamp": datetime.fromtimestamp(at, UTC),
            }
        ],
    )


def seed_cloudwatch(cw: Any, start: float) -> None:
    """Ten minutes of a service under load, one datapoint per minute, as the services publish them."""
    fn = {"FunctionName": "orders-fn"}
    for minute in range(10):
        at = start + 60 * minute + 10
        put(cw, "AWS/Lambda", "Invocations", fn, 100, at, "Count")
        put(cw, "AWS/Lambda", "Duration", fn, 120.0 + minute, at, "Milliseconds")
        put(cw, "AWS/Lambda", "ConcurrentExecutions", fn, 15 + 3 * minute, at, "Count")
        for table in ("orders", "sessions"):
            put(cw, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": table}, 50, at, "Count")
        put(cw, "AWS/ElastiCache", "CacheHits", {"CacheClusterId": "sessions-001"}, 90, at, "Count")
        put(cw, "AWS/ElastiCache", "CacheMisses", {"CacheClusterId": "sessions-001"}, 10, at, "Count")
        put(
            cw,
            "AWS/ElastiCache",
            "CPUUtilization",
            {"CacheClusterId": "sessions-001"},
            40.0 + minute * 2.3,
            at,
            "Percent",
        )
        put(
            cw,
            "AWS/RDS",
            "DatabaseConnections",
            {"DBInstanceIdentifier": "main-db"},
            50 + 5 * minute,
            at,
            "Count",
        )
    put(cw, "AWS/Lambda", "Errors", fn, 2, start + 6 * 60 + 10, "Count")
    put(
        cw,
        "AWS/DynamoDB",
        "ThrottledRequests",
        {"TableName": "orders", "Operation": "PutItem"},
        3,
        start + 7 * 60 + 10,
        "Count",
    )
    # A datapoint an hour before the run must not count.
    put(cw, "AWS/Lambda", "Errors", fn, 500, start - 3600, "Count")


def seed_logs(logs: Any, start: float) -> None:
    logs.create_log_group(logGroupName="/aws/lambda/orders-fn")
    logs.create_log_stream(logGroupName="/aws/lambda/orders-fn", logStreamName="2027/01/15/[$LATEST]abc")
    events = [
        {
            "timestamp": int((start + 30) * 1000),
            "message": "REPORT RequestId: 1 Duration: 120.5 ms Init Duration: 812.3 ms",
        },
        {"timestamp": int((start + 40) * 1000), "message": "REPORT RequestId: 2 Duration: 98.1 ms"},
    ]
    logs.put_log_events(
        logGroupName="/aws/lambda/orders-fn", logStreamName="2027/01/15/[$LATEST]abc", logEvents=events
    )


def seed_cost_explorer(daily_usd: float) -> None:
    day = {
        "TimePeriod": {"Start": "2027-01-01", "End": "2027-01-02"},
        "Total": {},
        "Groups": [
            {"Keys": ["AWS Lambda"], "Metrics": {"UnblendedCost": {"Amount": str(daily_usd), "Unit": "USD"}}}
        ],
        "Estimated": False,
    }
    resp = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results",
        json={"results": [{"ResultsByTime": [day] * 7}]},
        timeout=5,
    )
    assert resp.status_code == 201


def test_service_metrics_end_to_end(aws: None) -> None:
    end = time.time()
    start = end - 600 - end % 60  # the run: ten whole minutes, just ended
    end = start + 600
    cw = boto3.client("cloudwatch", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    seed_cloudwatch(cw, start)
    seed_logs(logs, start)
    seed_cost_explorer(30.0)
    wrapped = PercentilesUnsupported(cw)
    waits: list[float] = []

    metrics = collect_services(
        SERVICES,
        COST,
        (start, end),
        FixedClients(cloudwatch=wrapped, logs=logs, ce=boto3.client("ce", region_name=REGION)),
        sleep=waits.append,
        ingestion_delay_s=0.0,
    )

    assert wrapped.calls == 1  # every service in one GetMetricData call
    orders = metrics.services['lambda["orders"]'].values
    assert orders["invocations.sum"] == 1000.0
    assert orders["errors.sum"] == 2.0 and orders["error_rate"] == pytest.approx(0.002)
    assert orders["duration.max"] == 129.0 and orders["duration.sum"] == pytest.approx(
        sum(120.0 + m for m in range(10))
    )
    assert orders["concurrent_executions.max"] == 42.0
    assert orders["duration.p99"] is None and orders["cold_start.p99"] is None
    assert metrics.services['dynamodb["orders"]'].values["throttled_requests.sum"] == 3.0
    assert metrics.services['dynamodb["sessions"]'].values["throttled_requests.sum"] == 0.0
    assert metrics.services['elasticache["sessions"]'].values["hit_rate"] == pytest.approx(0.9)
    assert metrics.services['rds["main"]'].values["connections.max"] == 95.0
    assert metrics.cost_values["monthly_usd"] == pytest.approx(900.0)

    checks = evaluate(
        bind_thresholds([parse_threshold(t) for t in THRESHOLDS], SERVICES, COST),
        ServiceMetricSource(metrics),
    )
    assert {c["name"]: c["status"] for c in checks} == THRESHOLDS
    by_name = {c["name"]: c for c in checks}
    assert by_name['rds["main"].connections.max < pool * 0.9']["target"] == pytest.approx(90.0)
    assert by_name['lambda["orders"].concurrent_executions.max < concurrency_limit * 0.8']["measured"] == 42.0

    # The report: strict JSON, unit-suffixed keys, series relative to the run's start.
    report = metrics.to_report_dict()
    json.dumps(report, allow_nan=False)
    lam: Any = report["service_metrics"]["services"]['lambda["orders"]']  # type: ignore[index]
    assert lam["values"]["duration.max_ms"] == 129.0
    assert [p["t"] for p in lam["series"]["invocations.sum"]] == [60.0 * m for m in range(10)]
    assert any(
        "no data in the window for: duration.p50, duration.p95, duration.p99" in n for n in lam["notes"]
    )
    cost: Any = report["cost"]
    assert (
        cost["monthly_usd"] == 900.0
        and cost["within_baseline"] is True
        and cost["baseline_monthly_usd"] == 950
    )
    assert cost["by_service_monthly_usd"] == {"AWS Lambda": 900.0}
    assert cost["per_million_requests_usd"] is not None

    # The renderers take these sections as they are.
    md = render_markdown(sample_report(service_metrics=report["service_metrics"], cost=report["cost"]))
    assert "hit_rate" in md and "monthly_usd" in md
