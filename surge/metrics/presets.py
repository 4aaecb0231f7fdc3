"""Per service type, the CloudWatch and Logs Insights queries it needs, named by threshold path.

Pure: a service's spec in, its query definitions out. Every path here is in
``surge.vocabulary`` with the same kind (a unit test holds them together).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from surge.metrics.spec import (
    ApiGatewayService,
    CustomService,
    DynamoDBService,
    ElastiCacheService,
    LambdaService,
    OpenSearchService,
    RDSService,
    S3Service,
    ServiceSpec,
    SQSService,
)
from surge.vocabulary import Kind, unit_kind

Reduce = Literal["sum", "max", "min", "mean", "percentile", "last"]
DerivedOp = Literal["ratio", "share", "sum", "max", "per_second_over"]

_PERCENTILE_STAT = re.compile(r"^(p\d|tm|wm|tc|ts|TM|WM|TC|TS|PR|IQM)")


def reduce_for_stat(stat: str) -> Reduce:
    """How a statistic's per-period values become one value for the window."""
    if stat in ("Sum", "SampleCount"):
        return "sum"
    if stat == "Maximum":
        return "max"
    if stat == "Minimum":
        return "min"
    if stat == "Average":
        return "mean"
    if _PERCENTILE_STAT.match(stat):
        return "percentile"
    raise ValueError(f"unknown statistic {stat}")


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch metric statistic, and the threshold path it answers."""

    path: str
    kind: Kind
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    unit: str | None = None  # the unit CloudWatch holds the data in
    scale: float = 1.0  # from CloudWatch's unit to the kind's (Seconds -> ms: 1000)
    send_unit: bool = False  # filter on `unit`: only for custom metrics, as a wrong unit reads nothing
    # Paths whose data proves the resource reported in the window. Some metrics (DynamoDB
    # throttles) get datapoints only when the event happens: absent *with* activity means 0.
    zero_if_active: tuple[str, ...] = ()
    hint: str | None = None  # said when the query returns no data

    @property
    def reduce(self) -> Reduce:
        return reduce_for_stat(self.stat)


@dataclass(frozen=True)
class MathQuery:
    """A CloudWatch metric math expression over the same service's query paths (custom only)."""

    path: str
    kind: Kind
    expression: str
    reduce: Reduce = "max"
    scale: float = 1.0


@dataclass(frozen=True)
class LogsQuery:
    """A Logs Insights ``stats`` query; each result field becomes a path."""

    log_group: str
    query: str
    fields: tuple[tuple[str, str, Kind], ...]  # (result field, path, kind)


@dataclass(frozen=True)
class Derived:
    """A value computed from other paths of the same service, after reduction.

    ratio: a / b.  share: a / (a + b).  sum, max: across inputs (missing ones skipped).
    per_second_over: the peak over periods of (a's per-period sum / period seconds) / b.
    """

    path: str
    kind: Kind
    op: DerivedOp
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class ServiceQueries:
    name: str
    type: str
    region: str | None
    resource: str  # what the report shows: "function orders-api"
    metrics: tuple[MetricQuery, ...]
    expressions: tuple[MathQuery, ...] = ()
    logs: tuple[LogsQuery, ...] = ()
    derived: tuple[Derived, ...] = ()
    constants: tuple[tuple[str, float], ...] = ()  # values the plan declares (rds pool)
    high_resolution: bool = False

    def kinds(self) -> dict[str, Kind]:
        out: dict[str, Kind] = {q.path: q.kind for q in self.metrics}
        out.update({e.path: e.kind for e in self.expressions})
        out.update({path: kind for lq in self.logs for _, path, kind in lq.fields})
        out.update({d.path: d.kind for d in self.derived})
        out.update({name: "count" for name, _ in self.constants})
        return out


_Q = Callable[..., MetricQuery]


def _maker(namespace: str, dimensions: tuple[tuple[str, str], ...]) -> _Q:
    def make(
        path: str,
        kind: Kind,
        metric: str,
        stat: str,
        *,
        unit: str | None = None,
        scale: float = 1.0,
        zero_if_active: tuple[str, ...] = (),
        hint: str | None = None,
        dims: tuple[tuple[str, str], ...] | None = None,
    ) -> MetricQuery:
        return MetricQuery(
            path=path,
            kind=kind,
            namespace=namespace,
            metric=metric,
            dimensions=dimensions if dims is None else dims,
            stat=stat,
            unit=unit,
            scale=scale,
            zero_if_active=zero_if_active,
            hint=hint,
        )

    return make


# Lambda writes one REPORT line per invocation; @initDuration is present only on cold starts.
# @maxMemoryUsed and @memorySize are bytes (the AWS Lambda Operator Guide's memory queries divide
# by 1000 twice for MB): read here in MB, for right-sizing the function's memory.
COLD_START_QUERY = (
    'filter @type = "REPORT"\n'
    "| stats count(@initDuration) as cold, count(*) as invocations, "
    "pct(@initDuration, 50) as p50_init, pct(@initDuration, 99) as p99_init, max(@initDuration) as max_init, "
    "max(@maxMemoryUsed / 1000 / 1000) as max_mem_mb, pct(@maxMemoryUsed / 1000 / 1000, 99) as p99_mem_mb, "
    "max(@memorySize / 1000 / 1000) as size_mb"
)


def _lambda(s: LambdaService) -> ServiceQueries:
    q = _maker("AWS/Lambda", (("FunctionName", s.function_name),))
    active = ("invocations.sum",)
    metrics = (
        q("invocations.sum", "count", "Invocations", "Sum"),
        q("errors.sum", "count", "Errors", "Sum", zero_if_active=active),
        q("throttles.sum", "count", "Throttles", "Sum", zero_if_active=active),
        q("duration.p50", "ms", "Duration", "p50", unit="Milliseconds"),
        q("duration.p95", "ms", "Duration", "p95", unit="Milliseconds"),
        q("duration.p99", "ms", "Duration", "p99", unit="Milliseconds"),
        q("duration.max", "ms", "Duration", "Maximum", unit="Milliseconds"),
        q("duration.sum", "ms", "Duration", "Sum", unit="Milliseconds"),
        q("concurrent_executions.max", "count", "ConcurrentExecutions", "Maximum"),
    )
    logs: tuple[LogsQuery, ...] = ()
    derived = [Derived("error_rate", "ratio", "ratio", ("errors.sum", "invocations.sum"))]
    if s.cold_starts:
        logs = (
            LogsQuery(
                s.log_group_name,
                COLD_START_QUERY,
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
            ),
        )
        derived.append(
            Derived("cold_start.rate", "ratio", "ratio", ("cold_start.count", "cold_start.invocations"))
        )
    constants: tuple[tuple[str, float], ...] = ()
    if s.concurrency_limit is not None:
        constants = (("concurrency_limit", float(s.concurrency_limit)),)
        derived.append(
            Derived(
                "concurrency_utilization.max",
                "ratio",
                "ratio",
                ("concurrent_executions.max", "concurrency_limit"),
            )
        )
    return ServiceQueries(
        s.name, s.type, s.region, f"function {s.function_name}", metrics, (), logs, tuple(derived), constants
    )


def _dynamodb(s: DynamoDBService) -> ServiceQueries:
    table = (("TableName", s.table),)
    q = _maker("AWS/DynamoDB", table)
    active = ("consumed_rcu.sum", "consumed_wcu.sum")
    on_demand = "no provisioned capacity in the window: an on-demand table has none (utilization has no data)"
    metrics = [
        q("read_throttle_events.sum", "count", "ReadThrottleEvents", "Sum", zero_if_active=active),
        q("write_throttle_events.sum", "count", "WriteThrottleEvents", "Sum", zero_if_active=active),
        q("consumed_rcu.sum", "count", "ConsumedReadCapacityUnits", "Sum"),
        q("consumed_wcu.sum", "count", "ConsumedWriteCapacityUnits", "Sum"),
        q("provisioned_rcu.max", "count", "ProvisionedReadCapacityUnits", "Maximum", hint=on_demand),
        q("provisioned_wcu.max", "count", "ProvisionedWriteCapacityUnits", "Maximum", hint=on_demand),
    ]
    for op in s.operations:
        dims = (*table, ("Operation", op))
        metrics.append(
            q(
                f"throttled_requests.{op}.sum",
                "count",
                "ThrottledRequests",
                "Sum",
                dims=dims,
                zero_if_active=active,
            )
        )
    for op in s.operations:
        dims = (*table, ("Operation", op))
        metrics.append(
            q(
                f"successful_request_latency.{op}.p95",
                "ms",
                "SuccessfulRequestLatency",
                "p95",
                dims=dims,
                unit="Milliseconds",
            )
        )
    derived = (
        Derived(
            "throttled_requests.sum",
            "count",
            "sum",
            tuple(f"throttled_requests.{op}.sum" for op in s.operations),
        ),
        Derived(
            "successful_request_latency.p95",
            "ms",
            "max",
            tuple(f"successful_request_latency.{op}.p95" for op in s.operations),
        ),
        Derived(
            "rcu_utilization.max", "ratio", "per_second_over", ("consumed_rcu.sum", "provisioned_rcu.max")
        ),
        Derived(
            "wcu_utilization.max", "ratio", "per_second_over", ("consumed_wcu.sum", "provisioned_wcu.max")
        ),
    )
    return ServiceQueries(s.name, s.type, s.region, f"table {s.table}", tuple(metrics), derived=derived)


def _elasticache(s: ElastiCacheService) -> ServiceQueries:
    dims: tuple[tuple[str, str], ...] = (("CacheClusterId", s.cluster_id),)
    if s.node_id:
        dims = (*dims, ("CacheNodeId", s.node_id))
    q = _maker("AWS/ElastiCache", dims)
    memcached = s.engine == "memcached"
    metrics = [
        q("cache_hits.sum", "count", "GetHits" if memcached else "CacheHits", "Sum"),
        q("cache_misses.sum", "count", "GetMisses" if memcached else "CacheMisses", "Sum"),
        q("cpu.max", "ratio", "CPUUtilization", "Maximum", unit="Percent", scale=0.01),
        q("evictions.sum", "count", "Evictions", "Sum", zero_if_active=("cpu.max",)),
        q("curr_connections.max", "count", "CurrConnections", "Maximum"),
    ]
    if not memcached:
        metrics.insert(
            3, q("engine_cpu.max", "ratio", "EngineCPUUtilization", "Maximum", unit="Percent", scale=0.01)
        )
        metrics.append(
            q("memory.max", "ratio", "DatabaseMemoryUsagePercentage", "Maximum", unit="Percent", scale=0.01)
        )
    # The window's hit rate is total hits over total lookups, not a mean of per-minute rates.
    derived = (Derived("hit_rate", "ratio", "share", ("cache_hits.sum", "cache_misses.sum")),)
    resource = f"cluster {s.cluster_id}" + (f" node {s.node_id}" if s.node_id else "")
    return ServiceQueries(s.name, s.type, s.region, resource, tuple(metrics), derived=derived)


def _rds(s: RDSService) -> ServiceQueries:
    if s.instance_id is not None:
        dims, resource = (("DBInstanceIdentifier", s.instance_id),), f"instance {s.instance_id}"
    else:
        dims, resource = (("DBClusterIdentifier", s.cluster_id or ""),), f"cluster {s.cluster_id}"
    q = _maker("AWS/RDS", dims)
    metrics = (
        q("connections.max", "count", "DatabaseConnections", "Maximum"),
        q("cpu.max", "ratio", "CPUUtilization", "Maximum", unit="Percent", scale=0.01),
        q("read_latency.p95", "ms", "ReadLatency", "p95", unit="Seconds", scale=1000.0),
        q("write_latency.p95", "ms", "WriteLatency", "p95", unit="Seconds", scale=1000.0),
    )
    constants: tuple[tuple[str, float], ...] = ()
    derived: tuple[Derived, ...] = ()
    if s.pool_max is not None:
        constants = (("pool", float(s.pool_max)),)
        derived = (Derived("connection_utilization.max", "ratio", "ratio", ("connections.max", "pool")),)
    return ServiceQueries(s.name, s.type, s.region, resource, metrics, derived=derived, constants=constants)


def _opensearch(s: OpenSearchService) -> ServiceQueries:
    q = _maker("AWS/ES", (("ClientId", s.client_id), ("DomainName", s.domain)))
    active = ("cpu.max",)
    metrics = (
        q("search_latency.p95", "ms", "SearchLatency", "p95", unit="Milliseconds"),
        q("search_latency.p99", "ms", "SearchLatency", "p99", unit="Milliseconds"),
        q("indexing_latency.p95", "ms", "IndexingLatency", "p95", unit="Milliseconds"),
        q("4xx.sum", "count", "4xx", "Sum", zero_if_active=active),
        q("5xx.sum", "count", "5xx", "Sum", zero_if_active=active),
        q("cpu.max", "ratio", "CPUUtilization", "Maximum", unit="Percent", scale=0.01),
        q("jvm_memory_pressure.max", "ratio", "JVMMemoryPressure", "Maximum", unit="Percent", scale=0.01),
    )
    return ServiceQueries(s.name, s.type, s.region, f"domain {s.domain}", metrics)


def s3_request_metrics_hint(bucket: str, filter_id: str) -> str:
    return (
        f"S3 request metrics for bucket {bucket} (filter '{filter_id}') returned no data: they are off "
        f"unless enabled (paid, ~15 min before data appears). Enable them with: aws s3api "
        f"put-bucket-metrics-configuration --bucket {bucket} --id {filter_id} "
        f"--metrics-configuration Id={filter_id}"
    )


def _s3(s: S3Service) -> ServiceQueries:
    q = _maker("AWS/S3", (("BucketName", s.bucket), ("FilterId", s.filter_id)))
    hint = s3_request_metrics_hint(s.bucket, s.filter_id)
    active = ("requests.sum",)
    metrics = (
        q("first_byte_latency.p95", "ms", "FirstByteLatency", "p95", unit="Milliseconds", hint=hint),
        q("first_byte_latency.p99", "ms", "FirstByteLatency", "p99", unit="Milliseconds", hint=hint),
        q("total_request_latency.p95", "ms", "TotalRequestLatency", "p95", unit="Milliseconds", hint=hint),
        q("total_request_latency.p99", "ms", "TotalRequestLatency", "p99", unit="Milliseconds", hint=hint),
        q("requests.sum", "count", "AllRequests", "Sum", hint=hint),
        q("4xx.sum", "count", "4xxErrors", "Sum", zero_if_active=active, hint=hint),
        q("5xx.sum", "count", "5xxErrors", "Sum", zero_if_active=active, hint=hint),
    )
    return ServiceQueries(s.name, s.type, s.region, f"bucket {s.bucket}", metrics)


def _apigateway(s: ApiGatewayService) -> ServiceQueries:
    dims: tuple[tuple[str, str], ...]
    if s.api_name is not None:  # REST APIs: ApiName dimension, 4XXError/5XXError
        dims, names, resource = (("ApiName", s.api_name),), ("4XXError", "5XXError"), f"REST API {s.api_name}"
    else:  # HTTP APIs: ApiId dimension, 4xx/5xx
        dims, names, resource = (("ApiId", s.api_id or ""),), ("4xx", "5xx"), f"HTTP API {s.api_id}"
    if s.stage:
        dims = (*dims, ("Stage", s.stage))
        resource += f" stage {s.stage}"
    q = _maker("AWS/ApiGateway", dims)
    active = ("count.sum",)
    metrics = (
        q("latency.p95", "ms", "Latency", "p95", unit="Milliseconds"),
        q("latency.p99", "ms", "Latency", "p99", unit="Milliseconds"),
        q("integration_latency.p95", "ms", "IntegrationLatency", "p95", unit="Milliseconds"),
        q("count.sum", "count", "Count", "Sum"),
        q("4xx.sum", "count", names[0], "Sum", zero_if_active=active),
        q("5xx.sum", "count", names[1], "Sum", zero_if_active=active),
    )
    derived = (
        Derived("4xx_rate", "ratio", "ratio", ("4xx.sum", "count.sum")),
        Derived("5xx_rate", "ratio", "ratio", ("5xx.sum", "count.sum")),
    )
    return ServiceQueries(s.name, s.type, s.region, resource, metrics, derived=derived)


def _sqs(s: SQSService) -> ServiceQueries:
    q = _maker("AWS/SQS", (("QueueName", s.queue_name),))
    metrics = (
        q("visible_messages.max", "count", "ApproximateNumberOfMessagesVisible", "Maximum"),
        q("in_flight_messages.max", "count", "ApproximateNumberOfMessagesNotVisible", "Maximum"),
        q(
            "oldest_message_age.max",
            "ms",
            "ApproximateAgeOfOldestMessage",
            "Maximum",
            unit="Seconds",
            scale=1000.0,
        ),
        q("sent.sum", "count", "NumberOfMessagesSent", "Sum"),
        q("deleted.sum", "count", "NumberOfMessagesDeleted", "Sum"),
    )
    return ServiceQueries(s.name, s.type, s.region, f"queue {s.queue_name}", metrics)


def _custom(s: CustomService) -> ServiceQueries:
    metrics = []
    for cq in s.queries:
        kind, scale = unit_kind(cq.unit)
        metrics.append(
            MetricQuery(
                path=cq.id,
                kind=kind,
                namespace=cq.namespace,
                metric=cq.metric,
                dimensions=tuple(sorted(cq.dimensions.items())),
                stat=cq.stat,
                unit=cq.unit,
                scale=scale,
                send_unit=cq.unit is not None,
            )
        )
    expressions = []
    for ce in s.expressions:
        kind, scale = unit_kind(ce.unit)
        expressions.append(MathQuery(ce.id, kind, ce.expression, ce.reduce, scale))
    resource = ", ".join(sorted({q.namespace for q in s.queries}))
    return ServiceQueries(
        s.name,
        s.type,
        s.region,
        resource,
        tuple(metrics),
        tuple(expressions),
        high_resolution=s.high_resolution,
    )


def service_queries(spec: ServiceSpec) -> ServiceQueries:
    """The query definitions for one declared service."""
    if isinstance(spec, LambdaService):
        return _lambda(spec)
    if isinstance(spec, DynamoDBService):
        return _dynamodb(spec)
    if isinstance(spec, ElastiCacheService):
        return _elasticache(spec)
    if isinstance(spec, RDSService):
        return _rds(spec)
    if isinstance(spec, OpenSearchService):
        return _opensearch(spec)
    if isinstance(spec, S3Service):
        return _s3(spec)
    if isinstance(spec, ApiGatewayService):
        return _apigateway(spec)
    if isinstance(spec, SQSService):
        return _sqs(spec)
    return _custom(spec)
