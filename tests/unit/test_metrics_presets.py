"""Presets (surge/metrics/presets.py): the exact CloudWatch / Logs Insights queries per service type.

Snapshots are literal: a changed namespace, metric name, dimension or statistic must fail here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from surge import vocabulary as catalog
from surge.metrics.presets import COLD_START_QUERY, ServiceQueries, reduce_for_stat, service_queries
from surge.metrics.spec import CostSpec, Services, ServiceSpec
from surge.thresholds import parse_metric

SERVICES = TypeAdapter(Services)


def spec(data: dict[str, Any]) -> ServiceSpec:
    return SERVICES.validate_python([data])[0]


def rows(sq: ServiceQueries) -> list[tuple[str, str, str, dict[str, str], str, float]]:
    return [(q.path, q.namespace, q.metric, dict(q.dimensions), q.stat, q.scale) for q in sq.metrics]


def derived(sq: ServiceQueries) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(d.path, d.op, d.inputs) for d in sq.derived]


FN = {"FunctionName": "orders-fn"}


def test_lambda_preset() -> None:
    sq = service_queries(
        spec({"type": "lambda", "name": "orders", "function_name": "orders-fn", "concurrency_limit": 100})
    )
    assert sq.resource == "function orders-fn"
    assert rows(sq) == [
        ("invocations.sum", "AWS/Lambda", "Invocations", FN, "Sum", 1.0),
        ("errors.sum", "AWS/Lambda", "Errors", FN, "Sum", 1.0),
        ("throttles.sum", "AWS/Lambda", "Throttles", FN, "Sum", 1.0),
        ("duration.p50", "AWS/Lambda", "Duration", FN, "p50", 1.0),
        ("duration.p95", "AWS/Lambda", "Duration", FN, "p95", 1.0),
        ("duration.p99", "AWS/Lambda", "Duration", FN, "p99", 1.0),
        ("duration.max", "AWS/Lambda", "Duration", FN, "Maximum", 1.0),
        ("duration.sum", "AWS/Lambda", "Duration", FN, "Sum", 1.0),
        ("concurrent_executions.max", "AWS/Lambda", "ConcurrentExecutions", FN, "Maximum", 1.0),
    ]
    assert [(lq.log_group, lq.query, lq.fields) for lq in sq.logs] == [
        (
            "/aws/lambda/orders-fn",
            'filter @type = "REPORT"\n'
            "| stats count(@initDuration) as cold, count(*) as invocations, "
            "pct(@initDuration, 50) as p50_init, pct(@initDuration, 99) as p99_init, max(@initDuration) as max_init, "
            "max(@maxMemoryUsed / 1000 / 1000) as max_mem_mb, pct(@maxMemoryUsed / 1000 / 1000, 99) as p99_mem_mb, "
            "max(@memorySize / 1000 / 1000) as size_mb",
            (
                ("cold", "cold_start.count", "count"),
                ("invocations", "cold_start.invocations", "count"),
                ("p50_init", "cold_start.p50", "ms"),
                ("p99_init", "cold_start.p99", "ms"),
                ("max_init", "cold_start.max", "ms"),
                ("max_mem_mb", "memory_used_mb.max", "count"),
                ("p99_mem_mb", "memory_used_mb.p99", "count"),
                ("size_mb", "memory_size_mb", "count"),
            ),
        )
    ]
    assert derived(sq) == [
        ("error_rate", "ratio", ("errors.sum", "invocations.sum")),
        ("cold_start.rate", "ratio", ("cold_start.count", "cold_start.invocations")),
        ("concurrency_utilization.max", "ratio", ("concurrent_executions.max", "concurrency_limit")),
    ]
    assert sq.constants == (("concurrency_limit", 100.0),)
    # Throttles and errors are only published when they happen: zero when invocations show activity.
    assert {q.path: q.zero_if_active for q in sq.metrics if q.zero_if_active} == {
        "errors.sum": ("invocations.sum",),
        "throttles.sum": ("invocations.sum",),
    }


def test_lambda_options() -> None:
    sq = service_queries(
        spec(
            {
                "type": "lambda",
                "name": "x",
                "function_name": "f",
                "log_group": "/custom/group",
                "cold_starts": True,
            }
        )
    )
    assert sq.logs[0].log_group == "/custom/group"
    assert sq.constants == ()
    off = service_queries(spec({"type": "lambda", "name": "x", "function_name": "f", "cold_starts": False}))
    assert off.logs == ()
    assert "cold_start.rate" not in off.kinds()
    assert COLD_START_QUERY.startswith('filter @type = "REPORT"')


def test_dynamodb_preset_per_operation() -> None:
    sq = service_queries(
        spec(
            {
                "type": "dynamodb",
                "name": "orders",
                "table": "orders-table",
                "operations": ["GetItem", "PutItem"],
            }
        )
    )
    t = {"TableName": "orders-table"}
    get, put = {**t, "Operation": "GetItem"}, {**t, "Operation": "PutItem"}
    assert rows(sq) == [
        ("read_throttle_events.sum", "AWS/DynamoDB", "ReadThrottleEvents", t, "Sum", 1.0),
        ("write_throttle_events.sum", "AWS/DynamoDB", "WriteThrottleEvents", t, "Sum", 1.0),
        ("consumed_rcu.sum", "AWS/DynamoDB", "ConsumedReadCapacityUnits", t, "Sum", 1.0),
        ("consumed_wcu.sum", "AWS/DynamoDB", "ConsumedWriteCapacityUnits", t, "Sum", 1.0),
        ("provisioned_rcu.max", "AWS/DynamoDB", "ProvisionedReadCapacityUnits", t, "Maximum", 1.0),
        ("provisioned_wcu.max", "AWS/DynamoDB", "ProvisionedWriteCapacityUnits", t, "Maximum", 1.0),
        ("throttled_requests.GetItem.sum", "AWS/DynamoDB", "ThrottledRequests", get, "Sum", 1.0),
        ("throttled_requests.PutItem.sum", "AWS/DynamoDB", "ThrottledRequests", put, "Sum", 1.0),
        (
            "successful_request_latency.GetItem.p95",
            "AWS/DynamoDB",
            "SuccessfulRequestLatency",
            get,
            "p95",
            1.0,
        ),
        (
            "successful_request_latency.PutItem.p95",
            "AWS/DynamoDB",
            "SuccessfulRequestLatency",
            put,
            "p95",
            1.0,
        ),
    ]
    assert derived(sq) == [
        (
            "throttled_requests.sum",
            "sum",
            ("throttled_requests.GetItem.sum", "throttled_requests.PutItem.sum"),
        ),
        (
            "successful_request_latency.p95",
            "max",
            ("successful_request_latency.GetItem.p95", "successful_request_latency.PutItem.p95"),
        ),
        ("rcu_utilization.max", "per_second_over", ("consumed_rcu.sum", "provisioned_rcu.max")),
        ("wcu_utilization.max", "per_second_over", ("consumed_wcu.sum", "provisioned_wcu.max")),
    ]


def test_dynamodb_default_operations() -> None:
    sq = service_queries(spec({"type": "dynamodb", "name": "o", "table": "t"}))
    ops = [dict(q.dimensions)["Operation"] for q in sq.metrics if q.metric == "ThrottledRequests"]
    assert ops == [
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    ]


def test_elasticache_preset() -> None:
    sq = service_queries(
        spec({"type": "elasticache", "name": "sessions", "cluster_id": "sessions-001", "node_id": "0001"})
    )
    d = {"CacheClusterId": "sessions-001", "CacheNodeId": "0001"}
    assert rows(sq) == [
        ("cache_hits.sum", "AWS/ElastiCache", "CacheHits", d, "Sum", 1.0),
        ("cache_misses.sum", "AWS/ElastiCache", "CacheMisses", d, "Sum", 1.0),
        ("cpu.max", "AWS/ElastiCache", "CPUUtilization", d, "Maximum", 0.01),
        ("engine_cpu.max", "AWS/ElastiCache", "EngineCPUUtilization", d, "Maximum", 0.01),
        ("evictions.sum", "AWS/ElastiCache", "Evictions", d, "Sum", 1.0),
        ("curr_connections.max", "AWS/ElastiCache", "CurrConnections", d, "Maximum", 1.0),
        ("memory.max", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", d, "Maximum", 0.01),
    ]
    assert derived(sq) == [("hit_rate", "share", ("cache_hits.sum", "cache_misses.sum"))]


def test_elasticache_memcached_names() -> None:
    sq = service_queries(
        spec({"type": "elasticache", "name": "m", "cluster_id": "mc", "engine": "memcached"})
    )
    assert [q.metric for q in sq.metrics] == [
        "GetHits",
        "GetMisses",
        "CPUUtilization",
        "Evictions",
        "CurrConnections",
    ]
    assert all(dict(q.dimensions) == {"CacheClusterId": "mc"} for q in sq.metrics)


def test_rds_preset() -> None:
    sq = service_queries(spec({"type": "rds", "name": "main", "instance_id": "main-db", "pool_max": 100}))
    d = {"DBInstanceIdentifier": "main-db"}
    assert rows(sq) == [
        ("connections.max", "AWS/RDS", "DatabaseConnections", d, "Maximum", 1.0),
        ("cpu.max", "AWS/RDS", "CPUUtilization", d, "Maximum", 0.01),
        # RDS reports latency in seconds: thresholds compare milliseconds.
        ("read_latency.p95", "AWS/RDS", "ReadLatency", d, "p95", 1000.0),
        ("write_latency.p95", "AWS/RDS", "WriteLatency", d, "p95", 1000.0),
    ]
    assert sq.constants == (("pool", 100.0),)
    assert derived(sq) == [("connection_utilization.max", "ratio", ("connections.max", "pool"))]
    aurora = service_queries(spec({"type": "rds", "name": "a", "cluster_id": "aurora-1"}))
    assert {dict(q.dimensions)["DBClusterIdentifier"] for q in aurora.metrics} == {"aurora-1"}
    assert aurora.constants == () and aurora.derived == ()


def test_opensearch_preset() -> None:
    sq = service_queries(
        spec({"type": "opensearch", "name": "search", "domain": "mocs", "client_id": "123456789012"})
    )
    d = {"ClientId": "123456789012", "DomainName": "mocs"}
    assert rows(sq) == [
        ("search_latency.p95", "AWS/ES", "SearchLatency", d, "p95", 1.0),
        ("search_latency.p99", "AWS/ES", "SearchLatency", d, "p99", 1.0),
        ("indexing_latency.p95", "AWS/ES", "IndexingLatency", d, "p95", 1.0),
        ("4xx.sum", "AWS/ES", "4xx", d, "Sum", 1.0),
        ("5xx.sum", "AWS/ES", "5xx", d, "Sum", 1.0),
        ("cpu.max", "AWS/ES", "CPUUtilization", d, "Maximum", 0.01),
        ("jvm_memory_pressure.max", "AWS/ES", "JVMMemoryPressure", d, "Maximum", 0.01),
    ]


def test_s3_preset_and_request_metrics_hint() -> None:
    sq = service_queries(spec({"type": "s3", "name": "assets", "bucket": "mocs-assets"}))
    d = {"BucketName": "mocs-assets", "FilterId": "EntireBucket"}
    assert rows(sq) == [
        ("first_byte_latency.p95", "AWS/S3", "FirstByteLatency", d, "p95", 1.0),
        ("first_byte_latency.p99", "AWS/S3", "FirstByteLatency", d, "p99", 1.0),
        ("total_request_latency.p95", "AWS/S3", "TotalRequestLatency", d, "p95", 1.0),
        ("total_request_latency.p99", "AWS/S3", "TotalRequestLatency", d, "p99", 1.0),
        ("requests.sum", "AWS/S3", "AllRequests", d, "Sum", 1.0),
        ("4xx.sum", "AWS/S3", "4xxErrors", d, "Sum", 1.0),
        ("5xx.sum", "AWS/S3", "5xxErrors", d, "Sum", 1.0),
    ]
    hint = sq.metrics[0].hint or ""
    assert "EntireBucket" in hint and "put-bucket-metrics-configuration --bucket mocs-assets" in hint
    other = service_queries(spec({"type": "s3", "name": "a", "bucket": "b-1", "filter_id": "api"}))
    assert dict(other.metrics[0].dimensions)["FilterId"] == "api"


def test_apigateway_rest_and_http_presets() -> None:
    rest = service_queries(
        spec({"type": "apigateway", "name": "api", "api_name": "mocs-api", "stage": "prod"})
    )
    d = {"ApiName": "mocs-api", "Stage": "prod"}
    assert rows(rest) == [
        ("latency.p95", "AWS/ApiGateway", "Latency", d, "p95", 1.0),
        ("latency.p99", "AWS/ApiGateway", "Latency", d, "p99", 1.0),
        ("integration_latency.p95", "AWS/ApiGateway", "IntegrationLatency", d, "p95", 1.0),
        ("count.sum", "AWS/ApiGateway", "Count", d, "Sum", 1.0),
        ("4xx.sum", "AWS/ApiGateway", "4XXError", d, "Sum", 1.0),
        ("5xx.sum", "AWS/ApiGateway", "5XXError", d, "Sum", 1.0),
    ]
    http = service_queries(spec({"type": "apigateway", "name": "h", "api_id": "a1b2c3"}))
    assert [(q.metric, dict(q.dimensions)) for q in http.metrics][-2:] == [
        ("4xx", {"ApiId": "a1b2c3"}),
        ("5xx", {"ApiId": "a1b2c3"}),
    ]
    assert derived(http) == [
        ("4xx_rate", "ratio", ("4xx.sum", "count.sum")),
        ("5xx_rate", "ratio", ("5xx.sum", "count.sum")),
    ]


def test_sqs_preset() -> None:
    sq = service_queries(spec({"type": "sqs", "name": "jobs", "queue_name": "jobs-queue"}))
    d = {"QueueName": "jobs-queue"}
    assert rows(sq) == [
        ("visible_messages.max", "AWS/SQS", "ApproximateNumberOfMessagesVisible", d, "Maximum", 1.0),
        ("in_flight_messages.max", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", d, "Maximum", 1.0),
        ("oldest_message_age.max", "AWS/SQS", "ApproximateAgeOfOldestMessage", d, "Maximum", 1000.0),
        ("sent.sum", "AWS/SQS", "NumberOfMessagesSent", d, "Sum", 1.0),
        ("deleted.sum", "AWS/SQS", "NumberOfMessagesDeleted", d, "Sum", 1.0),
    ]


def test_custom_queries_and_expressions() -> None:
    sq = service_queries(
        spec(
            {
                "type": "custom",
                "name": "x",
                "queries": [
                    {
                        "id": "hits",
                        "namespace": "App",
                        "metric": "Hits",
                        "dimensions": {"B": "2", "A": "1"},
                        "stat": "Sum",
                    },
                    {"id": "lat", "namespace": "App", "metric": "Latency", "stat": "p99", "unit": "Seconds"},
                ],
                "expressions": [
                    {"id": "ratio", "expression": "hits / (hits + 1)", "unit": "Percent", "reduce": "min"}
                ],
            }
        )
    )
    assert rows(sq) == [
        ("hits", "App", "Hits", {"A": "1", "B": "2"}, "Sum", 1.0),
        ("lat", "App", "Latency", {}, "p99", 1000.0),
    ]
    assert [(q.unit, q.send_unit, q.kind) for q in sq.metrics] == [
        (None, False, "count"),
        ("Seconds", True, "ms"),
    ]
    (e,) = sq.expressions
    assert (e.path, e.kind, e.expression, e.reduce, e.scale) == (
        "ratio",
        "ratio",
        "hits / (hits + 1)",
        "min",
        0.01,
    )


@pytest.mark.parametrize(
    ("stat", "how"),
    [
        ("Sum", "sum"),
        ("SampleCount", "sum"),
        ("Maximum", "max"),
        ("Minimum", "min"),
        ("Average", "mean"),
        ("p99", "percentile"),
        ("p99.9", "percentile"),
        ("tm99", "percentile"),
        ("TM(10%:90%)", "percentile"),
        ("IQM", "percentile"),
    ],
)
def test_reduce_for_stat(stat: str, how: str) -> None:
    assert reduce_for_stat(stat) == how


# -- the catalog and the presets agree ------------------------------------------------------------

EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "lambda", "name": "a", "function_name": "f", "concurrency_limit": 10, "memory_mb": 512},
    {"type": "dynamodb", "name": "a", "table": "t"},
    {"type": "elasticache", "name": "a", "cluster_id": "c"},
    {"type": "rds", "name": "a", "instance_id": "i", "pool_max": 10},
    {"type": "opensearch", "name": "a", "domain": "d", "client_id": "123456789012"},
    {"type": "s3", "name": "a", "bucket": "bkt"},
    {"type": "apigateway", "name": "a", "api_name": "n"},
    {"type": "sqs", "name": "a", "queue_name": "q"},
]


@pytest.mark.parametrize("data", EVERY_TYPE, ids=[d["type"] for d in EVERY_TYPE])
def test_every_preset_path_is_in_the_catalog_with_its_kind(data: dict[str, Any]) -> None:
    kinds = service_queries(spec(data)).kinds()
    for path, kind in kinds.items():
        assert catalog.metric_kind(data["type"], path) == kind, path
    # and every catalog entry is produced (wildcards by at least one operation)
    for pattern in catalog.SERVICE_METRICS[data["type"]]:
        if catalog.WILDCARD in pattern:
            head, tail = pattern.split(".*.")
            assert any(p.startswith(head + ".") and p.endswith("." + tail) for p in kinds), pattern
        else:
            assert pattern in kinds, pattern


def test_threshold_grammar_knows_every_service_type() -> None:
    # One list of types (surge.vocabulary): the grammar reads a metric of each.
    for service_type in catalog.SERVICE_TYPES:
        path = "my_query" if service_type == "custom" else catalog.known_metrics(service_type)[0]
        ref = parse_metric(f'{service_type}["x"].{path.replace("<Operation>", "GetItem")}')
        assert (ref.namespace, ref.key) == (service_type, "x")


def test_unknown_paths_have_no_kind() -> None:
    assert catalog.metric_kind("lambda", "duration.p42") is None
    assert catalog.metric_kind("dynamodb", "throttled_requests.GetItem.sum") == "count"
    assert catalog.metric_kind("dynamodb", "throttled_requests.Get-Item.sum") is None
    assert catalog.metric_kind("nosuch", "x") is None


# -- spec validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "lambda", "name": "a"}, "function_name"),
        (
            {"type": "lambda", "name": "a", "function_name": "f", "memory": 1},
            "Extra inputs are not permitted",
        ),
        ({"type": "redis", "name": "a"}, "does not match any of the expected tags"),
        ({"type": "rds", "name": "a"}, "either 'instance_id' or 'cluster_id'"),
        (
            {"type": "rds", "name": "a", "instance_id": "i", "cluster_id": "c"},
            "either 'instance_id' or 'cluster_id'",
        ),
        ({"type": "rds", "name": "a", "instance_id": "i", "pool_max": 0}, "greater than or equal to 1"),
        ({"type": "apigateway", "name": "a"}, "'api_name' (REST API) or 'api_id' (HTTP API)"),
        ({"type": "opensearch", "name": "a", "domain": "d", "client_id": "12"}, "client_id"),
        (
            {"type": "dynamodb", "name": "a", "table": "t", "operations": ["GetItems"]},
            "unknown operation(s) GetItems",
        ),
        ({"type": "sqs", "name": 'a"b', "queue_name": "q"}, "cannot contain quotes"),
        ({"type": "sqs", "name": "a", "queue_name": "q", "region": "mars"}, "region"),
        (
            {"type": "custom", "name": "a", "queries": [{"id": "Bad", "namespace": "N", "metric": "M"}]},
            "String should match pattern",
        ),
        (
            {
                "type": "custom",
                "name": "a",
                "queries": [{"id": "q", "namespace": "N", "metric": "M", "stat": "P95"}],
            },
            "'P95' is not a CloudWatch statistic",
        ),
        (
            {
                "type": "custom",
                "name": "a",
                "queries": [{"id": "q", "namespace": "N", "metric": "M"}],
                "expressions": [{"id": "q", "expression": "q*2"}],
            },
            "repeated: q",
        ),
        (
            {
                "type": "custom",
                "name": "a",
                "queries": [{"id": "q", "namespace": "N", "metric": "M", "unit": "ms"}],
            },
            "unit",
        ),
    ],
)
def test_invalid_service_specs(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec(data)
    assert fragment in str(info.value)


def test_duplicate_service_names_refused_per_type() -> None:
    with pytest.raises(ValidationError, match=r'lambda\["a"\] is already declared at services\[0\]'):
        SERVICES.validate_python(
            [
                {"type": "lambda", "name": "a", "function_name": "f"},
                {"type": "lambda", "name": "a", "function_name": "g"},
            ]
        )
    # the same label for two types is fine: lambda["orders"] and dynamodb["orders"]
    SERVICES.validate_python(
        [
            {"type": "lambda", "name": "a", "function_name": "f"},
            {"type": "dynamodb", "name": "a", "table": "t"},
        ]
    )


def test_cost_spec_defaults_and_limits() -> None:
    c = CostSpec.model_validate({"tag_key": "app", "tag_value": "mocs", "baseline_monthly_usd": 950})
    assert (c.lookback_days, c.metric, c.services) == (7, "UnblendedCost", None)
    with pytest.raises(ValidationError):
        CostSpec.model_validate({"tag_key": "app", "tag_value": "mocs", "lookback_days": 0})
    with pytest.raises(ValidationError):
        CostSpec.model_validate({"tag_key": "app"})
