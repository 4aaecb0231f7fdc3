"""Every metric surge knows, named once, with its kind: the run's requests (http, endpoint, phase,
stage), recovery, the services' CloudWatch metrics, cost. The ground floor of the metric names: the
threshold grammar (surge.thresholds) validates against it, the service presets promise to produce
exactly its service paths (a unit test keeps them in step), the findings read the paths it names,
and the report's checks use its units. Pure data and lookups; it imports nothing of surge.
"""

from __future__ import annotations

import re
from typing import Literal

# A metric's kind is its unit: a duration in ms, a fraction, a rate per second, a count, dollars.
Kind = Literal["ms", "ratio", "per_s", "count", "usd"]

# -- the run's requests ---------------------------------------------------------------------------

# The whole run; each endpoint, phase and stage by name; an A/B run's target prefixes any of them.
REQUEST_NAMESPACE = "http"
KEYED_REQUEST_NAMESPACES = ("endpoint", "phase", "stage")
LATENCY_GROUPS = ("latency", "service_time")  # corrected response time, and send -> last byte
LATENCY_STATS = ("min", "max", "mean", "avg", "med", "p50", "p90", "p95", "p99", "p999")
# The scalars each request scope has ("rps" is throughput's other name).
REQUEST_SCALARS: dict[str, Kind] = {
    "error_rate": "ratio",
    "errors": "count",
    "requests": "count",
    "throughput": "per_s",
    "rps": "per_s",
    "dropped_iterations": "count",
    "iterations": "count",
}

# How long the service took to get back after a phase: recovery["NAME"].time (the plan's recovery).
RECOVERY_NAMESPACE = "recovery"
RECOVERY_METRICS: dict[str, Kind] = {"time": "ms"}

# The namespaces an A/B run's target["NAME"] prefix applies to: each target's own requests.
TARGET_NAMESPACES = (REQUEST_NAMESPACE, *KEYED_REQUEST_NAMESPACES, RECOVERY_NAMESPACE)

# -- the target's services (CloudWatch) and cost --------------------------------------------------

SERVICE_TYPES = (
    "lambda",
    "dynamodb",
    "elasticache",
    "rds",
    "opensearch",
    "s3",
    "apigateway",
    "sqs",
    "custom",
)
COST_NAMESPACE = "cost"

# "*" stands for one path part chosen by the plan (a DynamoDB operation such as GetItem).
WILDCARD = "*"

SERVICE_METRICS: dict[str, dict[str, Kind]] = {
    "lambda": {
        "invocations.sum": "count",
        "errors.sum": "count",
        "error_rate": "ratio",
        "throttles.sum": "count",
        "duration.p50": "ms",
        "duration.p95": "ms",
        "duration.p99": "ms",
        "duration.max": "ms",
        "duration.sum": "ms",
        "concurrent_executions.max": "count",
        "concurrency_limit": "count",
        "concurrency_utilization.max": "ratio",
        "cold_start.count": "count",
        "cold_start.invocations": "count",
        "cold_start.rate": "ratio",
        "cold_start.p50": "ms",
        "cold_start.p99": "ms",
        "cold_start.max": "ms",
        # From the REPORT lines too, in MB: what the function used of the memory it has.
        "memory_used_mb.max": "count",
        "memory_used_mb.p99": "count",
        "memory_size_mb": "count",
    },
    "dynamodb": {
        "throttled_requests.sum": "count",
        "throttled_requests.*.sum": "count",
        "read_throttle_events.sum": "count",
        "write_throttle_events.sum": "count",
        "consumed_rcu.sum": "count",
        "consumed_wcu.sum": "count",
        "provisioned_rcu.max": "count",
        "provisioned_wcu.max": "count",
        "rcu_utilization.max": "ratio",
        "wcu_utilization.max": "ratio",
        "successful_request_latency.p95": "ms",
        "successful_request_latency.*.p95": "ms",
    },
    "elasticache": {
        "cache_hits.sum": "count",
        "cache_misses.sum": "count",
        "hit_rate": "ratio",
        "cpu.max": "ratio",
        "engine_cpu.max": "ratio",
        "evictions.sum": "count",
        "curr_connections.max": "count",
        "memory.max": "ratio",
    },
    "rds": {
        "connections.max": "count",
        "pool": "count",
        "connection_utilization.max": "ratio",
        "cpu.max": "ratio",
        "read_latency.p95": "ms",
        "write_latency.p95": "ms",
    },
    "opensearch": {
        "search_latency.p95": "ms",
        "search_latency.p99": "ms",
        "indexing_latency.p95": "ms",
        "4xx.sum": "count",
        "5xx.sum": "count",
        "cpu.max": "ratio",
        "jvm_memory_pressure.max": "ratio",
    },
    "s3": {
        "first_byte_latency.p95": "ms",
        "first_byte_latency.p99": "ms",
        "total_request_latency.p95": "ms",
        "total_request_latency.p99": "ms",
        "requests.sum": "count",
        "4xx.sum": "count",
        "5xx.sum": "count",
    },
    "apigateway": {
        "latency.p95": "ms",
        "latency.p99": "ms",
        "integration_latency.p95": "ms",
        "count.sum": "count",
        "4xx.sum": "count",
        "5xx.sum": "count",
        "4xx_rate": "ratio",
        "5xx_rate": "ratio",
    },
    "sqs": {
        "visible_messages.max": "count",
        "in_flight_messages.max": "count",
        "oldest_message_age.max": "ms",
        "sent.sum": "count",
        "deleted.sum": "count",
    },
}

COST_METRICS: dict[str, Kind] = {
    "monthly_usd": "usd",  # Cost Explorer actuals over the lookback, projected to 30 days
    "lookback_usd": "usd",  # the actuals themselves
    "per_million_requests_usd": "usd",  # the Lambda-based target's cost per million requests
    "run_usd": "usd",  # what this run itself cost (workers, workflow, storage)
}

# Values a threshold's right-hand side may name (``< pool * 0.9``), from the plan's declarations.
NAMES: dict[str, dict[str, Kind]] = {
    "lambda": {"concurrency_limit": "count"},
    "rds": {"pool": "count"},
    COST_NAMESPACE: {"baseline": "usd"},
}

# CloudWatch units a custom query may declare: the kind thresholds compare in, and the factor
# from CloudWatch's figures to that kind (seconds -> ms, percent -> fraction).
UNIT_KINDS: dict[str, tuple[Kind, float]] = {
    "Microseconds": ("ms", 0.001),
    "Milliseconds": ("ms", 1.0),
    "Seconds": ("ms", 1000.0),
    "Percent": ("ratio", 0.01),
    "Count/Second": ("per_s", 1.0),
    "Count": ("count", 1.0),
    "None": ("count", 1.0),
    "Bytes": ("count", 1.0),
    "Kilobytes": ("count", 1.0),
    "Megabytes": ("count", 1.0),
    "Gigabytes": ("count", 1.0),
    "Bits": ("count", 1.0),
    "Bytes/Second": ("count", 1.0),
}

CUSTOM_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")  # CloudWatch's rule for a query Id
_PART = re.compile(r"^[A-Za-z0-9_]+$")


def unit_kind(unit: str | None) -> tuple[Kind, float]:
    """The threshold kind and scale factor of a CloudWatch unit; no unit reads as a plain number."""
    if unit is None:
        return "count", 1.0
    return UNIT_KINDS[unit]


def metric_kind(namespace: str, path: str) -> Kind | None:
    """The kind of a preset metric path, or None when the namespace has no such metric."""
    table = SERVICE_METRICS.get(namespace, {})
    if path in table:
        return table[path]
    parts = path.split(".")
    for pattern, kind in table.items():
        want = pattern.split(".")
        if WILDCARD in want and len(want) == len(parts):
            ok = all(w == p or (w == WILDCARD and _PART.match(p)) for w, p in zip(want, parts, strict=True))
            if ok:
                return kind
    return None


def known_metrics(namespace: str) -> list[str]:
    if namespace == COST_NAMESPACE:
        return list(COST_METRICS)
    return [p.replace(WILDCARD, "<Operation>") for p in SERVICE_METRICS.get(namespace, {})]


def names_for(namespace: str) -> dict[str, Kind]:
    return NAMES.get(namespace, {})


def report_key(path: str, kind: Kind) -> str:
    """The name a service metric has in report.json, its unit written on it: ``duration.p95`` (ms)
    -> ``duration.p95_ms``; a path already naming its unit stays as is."""
    last = path.rsplit(".", 1)[-1]
    if kind == "ms":
        return path + "_ms"
    if kind == "ratio":
        return path if last == "rate" or last.endswith(("_rate", "_ratio")) else path + "_ratio"
    if kind == "usd":
        return path if last.endswith("_usd") else path + "_usd"
    if kind == "per_s":
        return path + "_per_s"
    return path
