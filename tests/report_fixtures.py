"""A realistic ``Report`` for renderer tests: a 10-minute migration check with three phases."""

from __future__ import annotations

import random
from typing import Any, cast

from surge.report_model import (
    Check,
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
    report: Report = {
        "schema_version": 1,
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
        "phases": _phases(timeseries),
        "timeseries": timeseries,
        "service_metrics": {
            "lambda": {"invocations": 72_159, "cold_starts": 37, "throttles": 0, "duration_p95_ms": 143.2},
            "redis": {"cache_hit_rate": 0.862},
        },
        "cost": {"total_usd": 9.87, "by_service_usd": {"AWS Lambda": 6.12, "Amazon API Gateway": 3.75}},
        "generator": {
            "workers": 4,
            "workers_failed": 0,
            "max_loop_lag_ms": 12.5,
            "cpu_pct": 63.2,
            "saturated": False,
            "notes": [],
        },
    }
    return cast(Report, {**report, **overrides})
