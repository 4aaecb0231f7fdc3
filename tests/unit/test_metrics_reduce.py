"""Reduction (surge/metrics/reduce.py): series to the one value a threshold compares; derived values;
missing data stays None."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from surge.metrics.cloudwatch import Series
from surge.metrics.presets import ServiceQueries, service_queries
from surge.metrics.reduce import reduce_values, service_result
from surge.metrics.spec import Services

T0 = 1_800_000_000.0


def sq_of(data: dict[str, Any]) -> ServiceQueries:
    return service_queries(TypeAdapter(Services).validate_python([data])[0])


def s(*values: float, status: str = "Complete") -> Series:
    return Series([(T0 + 60 * i, v) for i, v in enumerate(values)], status)


@pytest.mark.parametrize(
    ("how", "expected"),
    [("sum", 10.0), ("max", 4.0), ("percentile", 4.0), ("min", 1.0), ("mean", 2.5), ("last", 4.0)],
)
def test_reduce_values(how: str, expected: float) -> None:
    assert reduce_values([1.0, 2.0, 3.0, 4.0], how) == expected  # type: ignore[arg-type]
    assert reduce_values([], how) is None  # type: ignore[arg-type]


LAMBDA = {"type": "lambda", "name": "orders", "function_name": "fn", "concurrency_limit": 100}


def test_lambda_values_series_and_notes() -> None:
    r = service_result(
        sq_of(LAMBDA),
        series={
            "invocations.sum": s(600, 400),
            "duration.p95": s(180, 240),
            "duration.p99": s(900, 400),
            "duration.max": s(1200, 800),
            "duration.sum": s(60000, 50000),
            "concurrent_executions.max": s(12, 30),
        },
        whole={"duration.p95": Series([(T0, 215.0)])},
        logs={"cold": 12.0, "invocations": 1000.0, "p50_init": 350.0, "p99_init": 1800.0, "max_init": None},
        period=60,
    )
    v = r.values
    assert v["invocations.sum"] == 1000.0
    assert v["duration.p95"] == 215.0  # the whole-window percentile, not a per-period one
    assert v["duration.p99"] == 900.0  # no whole-window value: the highest per-period one
    assert v["duration.max"] == 1200.0 and v["duration.sum"] == 110000.0
    assert v["errors.sum"] == 0.0 and v["throttles.sum"] == 0.0  # absent, with invocations: zero
    assert v["error_rate"] == 0.0
    assert v["concurrency_limit"] == 100.0 and v["concurrency_utilization.max"] == pytest.approx(0.30)
    assert v["cold_start.count"] == 12.0 and v["cold_start.rate"] == pytest.approx(0.012)
    assert v["cold_start.p99"] == 1800.0 and v["cold_start.max"] is None
    assert v["duration.p50"] is None  # never a zero
    assert r.series["duration.p95"] == [(T0, 180.0), (T0 + 60, 240.0)]
    assert r.series["concurrency_utilization.max"] == [(T0, 0.12), (T0 + 60, 0.30)]
    assert r.series["error_rate"] == []  # errors have no datapoints to divide
    assert r.notes == [
        "duration.p99: no whole-window value; used the highest per-period p99 (conservative)",
        "errors.sum: no datapoints while invocations.sum shows activity; CloudWatch publishes it only "
        "when it happens, so it counts as 0",
        "throttles.sum: no datapoints while invocations.sum shows activity; CloudWatch publishes it only "
        "when it happens, so it counts as 0",
        "no data in the window for: duration.p50",
    ]


def test_nothing_published_is_no_data_not_zero() -> None:
    r = service_result(sq_of(LAMBDA), series={}, whole={}, logs={}, period=60)
    assert all(v is None for k, v in r.values.items() if k != "concurrency_limit")
    assert "errors.sum" in r.notes[-1] and "throttles.sum" in r.notes[-1]


def test_a_failed_call_adds_no_per_metric_noise() -> None:
    r = service_result(sq_of(LAMBDA), series={}, whole={}, logs={}, period=60, failed=True)
    assert r.notes == []
    assert r.values["invocations.sum"] is None


def test_partial_and_failed_statuses_are_reported() -> None:
    r = service_result(
        sq_of(LAMBDA),
        series={
            "invocations.sum": s(5, status="PartialData"),
            "duration.max": Series([], "InternalError", ["boom"]),
        },
        whole={},
        logs={},
        period=60,
    )
    assert "invocations.sum: CloudWatch answered PartialData" in r.notes
    assert "duration.max: CloudWatch answered InternalError (boom)" in r.notes


def test_elasticache_hit_rate_is_total_hits_over_total_lookups() -> None:
    r = service_result(
        sq_of({"type": "elasticache", "name": "sessions", "cluster_id": "c"}),
        series={
            "cache_hits.sum": s(900, 100),
            "cache_misses.sum": s(100, 900),
            "cpu.max": s(35.5, 72.0),
        },
        whole={},
        logs={},
        period=60,
    )
    # a mean of per-minute rates would say 0.5; the window's rate is 1000 / 2000
    assert r.values["hit_rate"] == 0.5
    assert r.series["hit_rate"] == [(T0, 0.9), (T0 + 60, 0.1)]
    assert r.values["cpu.max"] == pytest.approx(0.72)  # percent -> fraction
    assert r.values["evictions.sum"] == 0.0  # absent while the node reported CPU


def test_hit_rate_without_lookups_is_no_data() -> None:
    r = service_result(
        sq_of({"type": "elasticache", "name": "sessions", "cluster_id": "c"}),
        series={"cache_hits.sum": s(0), "cache_misses.sum": s(0)},
        whole={},
        logs={},
        period=60,
    )
    assert r.values["hit_rate"] is None


def test_dynamodb_throttles_latency_and_utilization() -> None:
    sq = sq_of({"type": "dynamodb", "name": "orders", "table": "t", "operations": ["GetItem", "PutItem"]})
    r = service_result(
        sq,
        series={
            "consumed_wcu.sum": s(1200, 3000),
            "provisioned_wcu.max": s(100, 100),
            "throttled_requests.PutItem.sum": s(0, 7),
            "successful_request_latency.GetItem.p95": s(3.5, 4.0),
            "successful_request_latency.PutItem.p95": s(8.0, 6.5),
        },
        whole={
            "successful_request_latency.GetItem.p95": Series([(T0, 3.8)]),
            "successful_request_latency.PutItem.p95": Series([(T0, 7.1)]),
        },
        logs={},
        period=60,
    )
    v = r.values
    assert v["throttled_requests.PutItem.sum"] == 7.0
    assert v["throttled_requests.GetItem.sum"] == 0.0  # absent while the table consumed capacity
    assert v["throttled_requests.sum"] == 7.0
    assert v["successful_request_latency.p95"] == 7.1  # the slowest operation
    # peak consumed per second over provisioned: 3000 / 60 / 100
    assert v["wcu_utilization.max"] == pytest.approx(0.5)
    assert r.series["wcu_utilization.max"] == [(T0, pytest.approx(0.2)), (T0 + 60, pytest.approx(0.5))]
    assert v["rcu_utilization.max"] is None and v["provisioned_rcu.max"] is None
    assert any("on-demand table has none" in n for n in r.notes)
    assert r.series["throttled_requests.sum"] == [(T0, 0.0), (T0 + 60, 7.0)]


def test_rds_pool_and_seconds_to_ms() -> None:
    r = service_result(
        sq_of({"type": "rds", "name": "main", "instance_id": "db", "pool_max": 100}),
        series={"connections.max": s(40, 95), "read_latency.p95": s(0.0042, 0.0051)},
        whole={"read_latency.p95": Series([(T0, 0.0048)])},
        logs={},
        period=60,
    )
    assert r.values["pool"] == 100.0
    assert r.values["connection_utilization.max"] == pytest.approx(0.95)
    assert r.values["read_latency.p95"] == pytest.approx(4.8)
    assert r.series["read_latency.p95"] == [(T0, pytest.approx(4.2)), (T0 + 60, pytest.approx(5.1))]


def test_s3_without_request_metrics_says_how_to_enable_them_once() -> None:
    r = service_result(
        sq_of({"type": "s3", "name": "assets", "bucket": "mocs-assets"}),
        series={},
        whole={},
        logs={},
        period=60,
    )
    assert all(v is None for v in r.values.values())
    hints = [n for n in r.notes if "request metrics" in n]
    assert len(hints) == 1
    assert "filter 'EntireBucket'" in hints[0] and "--id EntireBucket" in hints[0]


def test_apigateway_error_rate() -> None:
    r = service_result(
        sq_of({"type": "apigateway", "name": "api", "api_name": "mocs"}),
        series={"count.sum": s(1000, 1000), "5xx.sum": s(0, 4)},
        whole={},
        logs={},
        period=60,
    )
    assert r.values["5xx_rate"] == pytest.approx(0.002)
    assert r.values["4xx.sum"] == 0.0 and r.values["4xx_rate"] == 0.0


def test_custom_expression_values_and_scale() -> None:
    sq = sq_of(
        {
            "type": "custom",
            "name": "app",
            "queries": [
                {"id": "lat", "namespace": "App", "metric": "Latency", "stat": "Average", "unit": "Seconds"}
            ],
            "expressions": [{"id": "pct", "expression": "lat * 10", "unit": "Percent", "reduce": "min"}],
        }
    )
    r = service_result(
        sq,
        series={"lat": s(0.2, 0.4), "pct": s(50.0, 30.0)},
        whole={"lat": Series([(T0, 0.25)])},
        logs={},
        period=60,
    )
    assert r.values["lat"] == pytest.approx(250.0)  # whole-window average, seconds -> ms
    assert r.values["pct"] == pytest.approx(0.3)
    assert r.kinds == {"lat": "ms", "pct": "ratio"}
