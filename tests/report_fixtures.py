"""A realistic ``Report`` for renderer tests: a 10-minute migration check with three phases, and
the service metrics and cost a real ``ServiceMetrics`` produces for its window."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any, cast

from pydantic import TypeAdapter

from surge.metrics.cloudwatch import Series
from surge.metrics.collect import ServiceMetrics, service_key
from surge.metrics.cost import RunUsage, baseline_comparison, cost_request, run_cost, summarize_costs
from surge.metrics.presets import ServiceQueries, service_queries
from surge.metrics.reduce import ServiceResult, service_result
from surge.metrics.report import cost_report, target_cost
from surge.metrics.spec import CostSpec, Services
from surge.report_model import (
    REPORT_SCHEMA_VERSION,
    Check,
    CheckStatus,
    EndpointReport,
    LatencySummary,
    PhaseReport,
    Report,
    TimeseriesPoint,
)

# (name, start_s, duration_s, start rate, end rate): warm-up, ramp, sustained — like the seeds' plans.
PHASES: tuple[tuple[str, float, float, float, float], ...] = (
    ("warm-up", 0.0, 60.0, 10.0, 10.0),
    ("ramp-up", 60.0, 120.0, 10.0, 150.0),
    ("sustained", 180.0, 420.0, 150.0, 150.0),
)
ERROR_CLASSES = ("http_5xx", "timeout", "connect")


def latency(p50: float, scale: float = 1.0) -> LatencySummary:
    return {
        "min": round(p50 * 0.21 * scale, 3),
        "mean": round(p50 * 1.18 * scale, 3),
        "p50": round(p50 * scale, 3),
        "p90": round(p50 * 2.1 * scale, 3),
        "p95": round(p50 * 2.9 * scale, 3),
        "p99": round(p50 * 4.4 * scale, 3),
        "p999": round(p50 * 7.9 * scale, 3),
        "max": round(p50 * 12.3 * scale, 3),
    }


def _rate_at(t: float) -> float:
    for _name, start, duration, rate, ramp_to in PHASES:
        if start <= t < start + duration:
            return rate + (ramp_to - rate) * (t - start) / duration
    return PHASES[-1][4]


def sample_timeseries(points: int = 120, interval_s: float = 5.0, seed: int = 7) -> list[TimeseriesPoint]:
    """Points spread over the 600 s plan; values carry full float precision like real aggregates."""
    rng = random.Random(seed)
    span = PHASES[-1][1] + PHASES[-1][2]
    series: list[TimeseriesPoint] = []
    for i in range(points):
        t = i * span / points
        rate = _rate_at(t)
        requests = max(1, round(rate * interval_s * rng.uniform(0.95, 1.05)))
        # Errors start once the sustained phase is under way, as a struggling service's would.
        counts = {c: rng.choice((0, 0, 0, 1, 2, 3)) if t > 200 else 0 for c in ERROR_CLASSES}
        by_class = {c: n for c, n in counts.items() if n}
        errors = sum(by_class.values())
        p50 = 80 + rate * 0.9 + rng.uniform(-5, 5)
        series.append(
            {
                "t": t,
                "rps": requests / interval_s,
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests,
                "dropped": rng.choice((0, 0, 0, 0, 1)) if rate > 140 else 0,
                "in_flight": round(rate * p50 / 1000 * rng.uniform(0.9, 1.1)),
                "p50": round(p50, 3),
                "p95": round(p50 * 2.9, 3),
                "p99": round(p50 * 4.4, 3),
                "service_p50": round(p50 * 0.93, 3),
                "service_p95": round(p50 * 2.6, 3),
                "service_p99": round(p50 * 3.8, 3),
                "errors_by_class": by_class,
            }
        )
    return series


def _checks() -> list[Check]:
    def check(name: str, metric: str, op: str, target: float, unit: str, **rest: Any) -> Check:
        base = {
            "measured": None,
            "baseline": None,
            "delta_pct": None,
            "status": "pass",
            "abort_on_fail": False,
            "kind": "threshold",
        }
        return cast(
            Check, {"name": name, "metric": metric, "op": op, "target": target, "unit": unit} | base | rest
        )

    return [
        check(
            "http.latency.p95 < 500ms",
            "http.latency.p95",
            "<",
            500.0,
            "ms",
            measured=612.4,
            baseline=480.0,
            delta_pct=27.583,
            status="fail",
        ),
        check(
            "http.throughput > 100/s",
            "http.throughput",
            ">",
            100.0,
            "per_s",
            measured=143.27,
            baseline=120.5,
            delta_pct=18.896,
        ),
        check(
            "http.errors.rate < 1%",
            "http.error_rate",
            "<",
            0.01,
            "ratio",
            measured=0.0042,
            abort_on_fail=True,
        ),
        check(
            "lambda.cold_start.p99 < 2s",
            "service.lambda.init_duration.p99",
            "<",
            2000.0,
            "ms",
            status="no-data",
        ),
        check(
            "cost.total <= 12.50 USD",
            "cost.total",
            "<=",
            12.5,
            "usd",
            measured=9.87,
            baseline=11.2,
            delta_pct=-11.875,
        ),
    ]


def _endpoints() -> dict[str, EndpointReport]:
    def endpoint(requests: int, by_class: dict[str, int], p50: float) -> EndpointReport:
        errors = sum(by_class.values())
        return {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests,
            "throughput_rps": requests / 600.0,
            "errors_by_class": by_class,
            "latency_ms": latency(p50),
            "service_time_ms": latency(p50, 0.93),
            "status_codes": {},
        }

    return {
        "GET /api/mocs": endpoint(41_210, {"http_5xx": 180, "timeout": 21}, 201.4),
        "GET /api/mocs/:id": endpoint(30_952, {"http_5xx": 130, "timeout": 21, "connect": 3}, 172.9),
    }


def _phases(timeseries: list[TimeseriesPoint]) -> list[PhaseReport]:
    phases: list[PhaseReport] = []
    for name, start, duration, _rate, _ramp_to in PHASES:
        points = [p for p in timeseries if start <= p["t"] < start + duration]
        requests = sum(p["requests"] for p in points)
        errors = sum(p["errors"] for p in points)
        phases.append(
            {
                "status": "ran",
                "name": name,
                "start_s": start,
                "duration_s": duration,
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else 0.0,
                "throughput_rps": requests / duration,
                "dropped_iterations": sum(p["dropped"] for p in points),
                "latency_ms": latency(90.0 + len(phases) * 60),
                "service_time_ms": latency(90.0 + len(phases) * 60, 0.93),
            }
        )
    return phases


def sample_report(**overrides: Any) -> Report:
    """A failing run (one check over target, one without data); keyword arguments replace top-level keys."""
    timeseries = overrides.pop("timeseries") if "timeseries" in overrides else sample_timeseries()
    service = sample_service_metrics().to_report_dict()
    report: Report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "surge_version": "0.1.0",
        "interval_s": 1.0,
        "run_id": "20250314T101500Z-7f3a9c",
        "plan": "mocs-api-migration",
        "plan_hash": "9c1e4b7d2a6f08e35b1d",
        "verdict": "fail",
        "partial": False,
        "aborted_by": None,
        "error": None,
        "started_at": "2025-03-14T10:15:00Z",
        "ended_at": "2025-03-14T10:25:03Z",
        "duration_s": 600.0,
        "target": "http://127.0.0.1:8080",
        "mode": "local",
        "model": "open",
        "checks": _checks(),
        "totals": {
            "requests": 72_162,
            "errors": 355,
            "error_rate": 355 / 72_162,
            "throughput_rps": 72_162 / 600.0,
            "dropped_iterations": 41,
            "iterations": 72_162,
            "bytes_received": 318_754_112,
        },
        "latency_ms": latency(211.2),
        "service_time_ms": latency(211.2, 0.93),
        "errors_by_class": {"http_5xx": 310, "timeout": 42, "connect": 3},
        "status_codes": {"200": 71_849, "503": 310},
        "endpoints": _endpoints(),
        "stages": {},
        "phases": _phases(timeseries),
        "timeseries": timeseries,
        "service_metrics": service["service_metrics"],
        "cost": service["cost"],
        "generator": {
            "workers": 4,
            "workers_failed": 0,
            "max_loop_lag_ms": 12.5,
            "cpu_pct": 63.2,
            "saturated": False,
            "notes": [],
        },
        "baseline": None,
        "end": {"stopped_by": None, "workers_lost": 0, "lost_reasons": []},
        "failures": [],
        "findings": [],
        "uncertainty": {},
    }
    return cast(Report, {**report, **overrides})


def no_latency() -> LatencySummary:
    keys = ("min", "mean", "p50", "p90", "p95", "p99", "p999", "max")
    return cast(LatencySummary, dict.fromkeys(keys))


def errored_report(**overrides: Any) -> Report:
    """A run that failed before measuring anything: every collection empty, every latency missing."""
    empty: dict[str, Any] = {
        "verdict": "error",
        "partial": True,
        "error": "Prepare failed: target host 10.0.0.8 is not in allowed_hosts",
        "duration_s": 0.0,
        "checks": [],
        "totals": {
            "requests": 0,
            "errors": 0,
            "error_rate": 0.0,
            "throughput_rps": 0.0,
            "dropped_iterations": 0,
            "iterations": 0,
            "bytes_received": 0,
        },
        "latency_ms": no_latency(),
        "service_time_ms": no_latency(),
        "errors_by_class": {},
        "status_codes": {},
        "endpoints": {},
        "phases": [],
        "timeseries": [],
        "service_metrics": {},
        "cost": {},
    }
    return sample_report(**(empty | overrides))


def passing_report(**overrides: Any) -> Report:
    """The sample run with every check met."""
    passed: CheckStatus = "pass"
    checks = [c | {"status": passed, "measured": c["measured"] or c["target"]} for c in _checks()]
    return sample_report(**({"verdict": "pass", "checks": checks} | overrides))


# --- service metrics and cost, as the collector produces them ------------------------------------

RUN_START = datetime(2025, 3, 14, 10, 15, tzinfo=UTC).timestamp()  # the report's started_at
PERIOD_S = 60
# A run starts when it starts, not on CloudWatch's minute: the first period began 20 s earlier.
FIRST_PERIOD = RUN_START - 20
SERVICE_SPECS = TypeAdapter(Services).validate_python(
    [
        {
            "type": "lambda",
            "name": "orders",
            "function_name": "orders-api",
            "memory_mb": 1024,
            "concurrency_limit": 50,
            "region": "us-east-1",
        },
        {"type": "dynamodb", "name": "orders", "table": "orders", "operations": ["GetItem", "PutItem"]},
        {"type": "elasticache", "name": "sessions", "cluster_id": "sessions-001", "region": "us-east-1"},
        {"type": "rds", "name": "main", "instance_id": "main-db", "pool_max": 100},
        {"type": "s3", "name": "assets", "bucket": "mocs-assets"},
    ]
)
COST_SPEC = CostSpec(tag_key="app", tag_value="mocs", lookback_days=7, baseline_monthly_usd=950)
COST_BY_SERVICE_DAILY = {
    "AWS Lambda": 13.75,
    "Amazon DynamoDB": 8.94,
    "Amazon ElastiCache": 5.0,
    "Amazon Simple Storage Service": 2.01,
}


def _load_at(minute: int) -> float:
    """The plan's mean request rate over one CloudWatch period (from FIRST_PERIOD)."""
    t0 = FIRST_PERIOD - RUN_START + minute * PERIOD_S
    samples = [_rate_at(max(t0 + s, 0.0)) for s in range(PERIOD_S)]
    return sum(samples) / len(samples)


def _story(path: str, minute: int, rate: float) -> float | None:
    """Per-minute CloudWatch figures, in CloudWatch's units, of a service that strains at full load."""
    full = rate / 150.0  # 0..1: share of the sustained rate
    spike = 1.0 if minute == 4 else 0.0  # the ramp's top: connection storm, CPU spike, throttles
    values: dict[str, float | None] = {
        # lambda
        "invocations.sum": round(rate * PERIOD_S),
        "errors.sum": float(minute % 3 == 1 and minute > 3) * 4,
        "duration.p50": 62 + 70 * full,
        "duration.p95": 110 + 120 * full + 90 * spike,
        "duration.p99": 160 + 190 * full + 240 * spike,
        "duration.max": 420 + 300 * full + 900 * spike,
        "duration.sum": round(rate * PERIOD_S) * (70 + 80 * full),
        "concurrent_executions.max": round(4 + 28 * full + 10 * spike),
        # dynamodb
        "consumed_rcu.sum": round(rate * PERIOD_S * 0.7),
        "consumed_wcu.sum": round(rate * PERIOD_S * 0.3),
        "throttled_requests.PutItem.sum": 3.0 if spike else None,
        "successful_request_latency.GetItem.p95": 3.1 + 2.0 * full,
        "successful_request_latency.PutItem.p95": 6.4 + 3.5 * full + 4 * spike,
        # elasticache
        "cache_hits.sum": round(rate * PERIOD_S * 0.86),
        "cache_misses.sum": round(rate * PERIOD_S * 0.14),
        "cpu.max": 12 + 46 * full + 24 * spike,  # percent
        "engine_cpu.max": 9 + 38 * full + 30 * spike,
        "curr_connections.max": round(20 + 60 * full),
        "memory.max": 41.5 + minute * 0.3,
        # rds
        "connections.max": round(30 + 52 * full + 8 * spike),
        "read_latency.p95": 0.0011 + 0.0019 * full,  # seconds
        "write_latency.p95": 0.0024 + 0.0031 * full + 0.004 * spike,
    }
    return values.get(path)


def _fetched(sq: ServiceQueries) -> tuple[dict[str, Series], dict[str, Series]]:
    """What GetMetricData answers for the service: per-period series and whole-window figures."""
    series: dict[str, Series] = {}
    whole: dict[str, Series] = {}
    for q in sq.metrics:
        points = [
            (FIRST_PERIOD + m * PERIOD_S, v)
            for m in range(11)
            if (v := _story(q.path, m, _load_at(m))) is not None
        ]
        series[q.path] = Series(points)
        if points and q.reduce in ("percentile", "mean"):
            # CloudWatch's figure over the whole window sits below the worst minute's.
            whole[q.path] = Series([(FIRST_PERIOD, max(v for _, v in points) * 0.93)])
    return series, whole


def _results() -> dict[str, ServiceResult]:
    results: dict[str, ServiceResult] = {}
    cold_starts = {
        "cold": 37.0,
        "invocations": 72_159.0,
        "p50_init": 612.4,
        "p99_init": 1840.2,
        "max_init": 2130.7,
    }
    for spec in SERVICE_SPECS:
        sq = service_queries(spec)
        series, whole = _fetched(sq)
        logs = cold_starts if sq.type == "lambda" else {}
        results[service_key(sq.type, sq.name)] = service_result(
            sq, series=series, whole=whole, logs=logs, period=PERIOD_S
        )
    return results


def _cost(results: dict[str, ServiceResult]) -> dict[str, object]:
    today = date(2025, 3, 14)
    request = cost_request(COST_SPEC, today)
    day = {
        "Groups": [
            {"Keys": [name], "Metrics": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}}
            for name, usd in COST_BY_SERVICE_DAILY.items()
        ],
        "Estimated": False,
    }
    summary = summarize_costs([{"ResultsByTime": [day] * COST_SPEC.lookback_days}], COST_SPEC, request)
    target = target_cost(SERVICE_SPECS, results, requests=72_162, prices=None, default_region="us-east-1")
    usage = RunUsage(
        region="us-east-1",
        lambda_gb_s=4 * 600 * 2.0,
        lambda_requests=8,
        sfn_transitions=46,
        s3_put_requests=14,
        s3_get_requests=18,
        dynamodb_write_units=9.0,
        dynamodb_read_units=40.0,
        cloudwatch_metrics_requested=62,
    )
    cost = cost_report(COST_SPEC, summary, target, run_cost(usage))
    cost.update(baseline_comparison(summary.monthly_usd, COST_SPEC.baseline_monthly_usd))
    return cost


def sample_service_metrics() -> ServiceMetrics:
    """Five services over the 10-minute run, one of them (S3) without request metrics, and the cost."""
    results = _results()
    return ServiceMetrics(
        window=(RUN_START, RUN_START + 600.0),
        services=results,
        periods=dict.fromkeys(results, PERIOD_S),
        cost=_cost(results),
    )
