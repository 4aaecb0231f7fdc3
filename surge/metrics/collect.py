"""Collect every declared service's metrics and the cost for a run's window; answer thresholds.

One entry point (`collect_services`) shared by local runs and the cloud workflow's Collect step;
clients, sleep and clock are injected so tests run it against moto or recorded responses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from surge.metrics.aws import MetricClients, credentials_available, describe_error
from surge.metrics.cloudwatch import Series, Window, collect_metric_data
from surge.metrics.cost import RunUsage, baseline_comparison, explorer_costs, run_cost
from surge.metrics.logs import LogsOutcome, run_insights_query
from surge.metrics.presets import LogsQuery, ServiceQueries, service_queries
from surge.metrics.prices import Prices
from surge.metrics.reduce import ServiceResult, service_result
from surge.metrics.report import cost_report, service_report, target_cost
from surge.metrics.spec import CostSpec, LambdaService, ServiceSpec
from surge.report_model import CostSection, ServiceMetricsSection, ServiceSections
from surge.thresholds import MetricRef
from surge.uncertainty import Interval
from surge.vocabulary import COST_METRICS, COST_NAMESPACE, SERVICE_TYPES

DEFAULT_INGESTION_DELAY_S = 90.0  # CloudWatch usually shows a minute's datapoint 1-2 minutes later


def service_key(type_: str, name: str) -> str:
    return f'{type_}["{name}"]'


@dataclass
class ServiceMetrics:
    window: tuple[float, float]
    services: dict[str, ServiceResult] = field(default_factory=dict)  # by service_key
    periods: dict[str, int] = field(default_factory=dict)  # series period per service key
    cost_values: dict[str, float | None] = field(default_factory=dict)
    cost: CostSection = field(default_factory=lambda: CostSection())  # the report's cost section
    notes: list[str] = field(default_factory=list)
    collected: bool = True

    def value(self, namespace: str, key: str | None, path: str) -> float | None:
        if namespace == COST_NAMESPACE:
            return self.cost_values.get(path)
        result = self.services.get(service_key(namespace, key or ""))
        return None if result is None else result.values.get(path)

    def to_report_dict(self) -> ServiceSections:
        """``service_metrics`` and ``cost`` for report.json."""
        cost = CostSection(**self.cost)
        if not self.services and not self.notes:
            return ServiceSections(service_metrics={}, cost=cost)
        start, end = self.window
        section = ServiceMetricsSection(
            window={"start": _iso(start), "end": _iso(end), "duration_s": round(end - start, 3)},
            collected=self.collected,
            notes=list(self.notes),
            services={
                key: service_report(r, start, self.periods.get(key)) for key, r in self.services.items()
            },
        )
        return ServiceSections(service_metrics=section, cost=cost)

    def to_json(self) -> dict[str, Any]:
        """Lossless form for ``runs/<run>/metrics.json`` (the cloud Collect step hands it to Report)."""
        return {
            "window": list(self.window),
            "services": {
                k: {
                    "name": r.name,
                    "type": r.type,
                    "region": r.region,
                    "resource": r.resource,
                    "values": r.values,
                    "kinds": r.kinds,
                    "series": {p: [list(pt) for pt in pts] for p, pts in r.series.items()},
                    "notes": r.notes,
                }
                for k, r in self.services.items()
            },
            "periods": self.periods,
            "cost_values": self.cost_values,
            "cost": self.cost,
            "notes": self.notes,
            "collected": self.collected,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceMetrics:
        services = {
            k: ServiceResult(
                name=v["name"],
                type=v["type"],
                region=v.get("region"),
                resource=v.get("resource", ""),
                values=dict(v.get("values", {})),
                kinds=dict(v.get("kinds", {})),
                series={p: [(float(t), float(x)) for t, x in pts] for p, pts in v.get("series", {}).items()},
                notes=list(v.get("notes", [])),
            )
            for k, v in data.get("services", {}).items()
        }
        start, end = data["window"]
        return cls(
            window=(float(start), float(end)),
            services=services,
            periods={k: int(v) for k, v in data.get("periods", {}).items()},
            cost_values=dict(data.get("cost_values", {})),
            cost=cast(CostSection, dict(data.get("cost", {}))),
            notes=list(data.get("notes", [])),
            collected=bool(data.get("collected", True)),
        )


class ServiceMetricSource:
    """A MetricSource for the service namespaces and ``cost``; anything else goes to ``fallback``.

    ``ServiceMetricSource(metrics, fallback=stats_source(plan, stats))`` answers every threshold.
    """

    NAMESPACES = frozenset((*SERVICE_TYPES, COST_NAMESPACE))

    def __init__(self, metrics: ServiceMetrics, fallback: Any = None) -> None:
        self.metrics = metrics
        self.fallback = fallback

    def value(self, ref: MetricRef) -> float | None:
        if ref.namespace in self.NAMESPACES:
            return self.metrics.value(ref.namespace, ref.key, ".".join(ref.path))
        if self.fallback is not None:
            result: float | None = self.fallback.value(ref)
            return result
        return None

    def interval(self, ref: MetricRef) -> Interval | None:
        """Load figures' intervals; CloudWatch's figures come without one."""
        if ref.namespace in self.NAMESPACES or self.fallback is None:
            return None
        found: Interval | None = self.fallback.interval(ref)
        return found


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def skipped_metrics(
    services: Sequence[ServiceSpec], cost_spec: CostSpec | None, window: tuple[float, float], reason: str
) -> ServiceMetrics:
    """Every declared metric with no data and one note saying why (e.g. no AWS credentials)."""
    out = ServiceMetrics(window, notes=[reason], collected=False)
    for spec in services:
        sq = service_queries(spec)
        kinds = sq.kinds()
        out.services[service_key(sq.type, sq.name)] = ServiceResult(
            sq.name, sq.type, sq.region, sq.resource, values=dict.fromkeys(kinds), kinds=kinds
        )
    if cost_spec is not None:
        out.cost_values = dict.fromkeys(COST_METRICS)
        out.cost = {"notes": [reason]}
    return out


def collect_services(
    services: Sequence[ServiceSpec],
    cost_spec: CostSpec | None,
    window: tuple[float, float],
    clients: MetricClients,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    ingestion_delay_s: float = DEFAULT_INGESTION_DELAY_S,
    logs_timeout_s: float = 60.0,
    requests: int | None = None,
    run_usage: RunUsage | None = None,
    prices: Prices | None = None,
    default_region: str | None = None,
) -> ServiceMetrics:
    """Read every service's metrics over ``window`` (epoch seconds) and the cost; never raises for
    an AWS failure: what could not be read is None, with a note naming the cause."""
    end = window[1]
    out = ServiceMetrics(window)
    plans = [service_queries(s) for s in services]
    if plans:
        # The last minute's datapoints reach CloudWatch (and logs reach Insights) a little late.
        wait = end + ingestion_delay_s - now()
        if wait > 0:
            sleep(wait)
    t_now = now()
    fetched = _cloudwatch(plans, window, clients, t_now, sleep, out)
    for i, sq in enumerate(plans):
        got = fetched.get(i, _Fetched(failed=True))
        logs: dict[str, float | None] = {}
        log_notes: list[str] = []
        for lq in sq.logs:
            outcome = _logs(clients, sq.region, lq, window, sleep, now, logs_timeout_s)
            logs.update(outcome.values)
            log_notes.extend(outcome.notes)
        result = service_result(
            sq, series=got.series, whole=got.whole, logs=logs, period=got.period or 60, failed=got.failed
        )
        result.notes.extend(log_notes)
        key = service_key(sq.type, sq.name)
        out.services[key] = result
        if got.period:
            out.periods[key] = got.period
    if (
        cost_spec is not None
        or run_usage is not None
        or any(isinstance(s, LambdaService) and s.memory_mb for s in services)
    ):
        _cost(out, services, cost_spec, clients, sleep, t_now, requests, run_usage, prices, default_region)
    return out


@dataclass
class _Fetched:
    series: dict[str, Series] = field(default_factory=dict)
    whole: dict[str, Series] = field(default_factory=dict)
    failed: bool = False  # the call failed: every value is None and the note says why
    period: int = 0


def _cloudwatch(
    plans: Sequence[ServiceQueries],
    window: tuple[float, float],
    clients: MetricClients,
    t_now: float,
    sleep: Callable[[float], None],
    out: ServiceMetrics,
) -> dict[int, _Fetched]:
    # One GetMetricData request per region (and resolution): a client talks to one region.
    groups: dict[tuple[str | None, bool], list[tuple[int, ServiceQueries]]] = {}
    for i, sq in enumerate(plans):
        if sq.metrics or sq.expressions:
            groups.setdefault((sq.region, sq.high_resolution), []).append((i, sq))
    found: dict[int, _Fetched] = {}
    for (region, high_res), members in groups.items():
        w = Window.for_run(window[0], window[1], t_now, high_resolution=high_res)
        try:
            client = clients.client("cloudwatch", region)
        except Exception as exc:
            out.notes.append(describe_error(exc, "creating a CloudWatch client"))
            continue
        cw = collect_metric_data(client, members, w, sleep=sleep)
        out.notes.extend(dict.fromkeys(cw.notes))
        for i, _ in members:
            found[i] = _Fetched(
                series={p: s for (j, p), s in cw.series.items() if j == i},
                whole={p: s for (j, p), s in cw.whole.items() if j == i},
                failed=i in cw.failed,
                period=w.period,
            )
    return found


def _logs(
    clients: MetricClients,
    region: str | None,
    lq: LogsQuery,
    window: tuple[float, float],
    sleep: Callable[[float], None],
    now: Callable[[], float],
    timeout_s: float,
) -> LogsOutcome:
    fields = [f for f, _, _ in lq.fields]
    try:
        client = clients.client("logs", region)
    except Exception as exc:
        return LogsOutcome(dict.fromkeys(fields), [describe_error(exc, "creating a CloudWatch Logs client")])
    return run_insights_query(
        client,
        log_group=lq.log_group,
        query=lq.query,
        fields=fields,
        start=window[0],
        end=window[1],
        sleep=sleep,
        now=now,
        timeout_s=timeout_s,
    )


def _cost(
    out: ServiceMetrics,
    services: Sequence[ServiceSpec],
    cost_spec: CostSpec | None,
    clients: MetricClients,
    sleep: Callable[[float], None],
    t_now: float,
    requests: int | None,
    run_usage: RunUsage | None,
    prices: Prices | None,
    default_region: str | None,
) -> None:
    values: dict[str, float | None] = dict.fromkeys(COST_METRICS)
    summary = None
    if cost_spec is not None:
        try:
            client = clients.client("ce", None)
        except Exception as exc:
            out.notes.append(describe_error(exc, "creating a Cost Explorer client"))
        else:
            today = datetime.fromtimestamp(t_now, UTC).date()
            summary = explorer_costs(client, cost_spec, today=today, sleep=sleep)
            values["monthly_usd"], values["lookback_usd"] = summary.monthly_usd, summary.lookback_usd
    target = target_cost(
        services, out.services, requests=requests, prices=prices, default_region=default_region
    )
    values["per_million_requests_usd"] = target.per_million_usd
    run = run_cost(run_usage, prices) if run_usage is not None else None
    values["run_usd"] = None if run is None else run["total_usd"]
    out.cost_values = values
    out.cost = cost_report(cost_spec, summary, target, run)
    if cost_spec is not None:
        out.cost.update(
            baseline_comparison(summary.monthly_usd if summary else None, cost_spec.baseline_monthly_usd)
        )


NO_CREDENTIALS = "no AWS credentials found (environment, profile, SSO or instance role)"


def uncollectable(session: Any = None) -> str | None:
    """Why a local run cannot collect service metrics and cost (no credentials), or None: known
    before any traffic, so the run says so at its start rather than after the load."""
    if session is None:
        import boto3

        session = boto3.Session()
    return None if credentials_available(session) else NO_CREDENTIALS


def collect_or_skip(
    services: Sequence[ServiceSpec],
    cost_spec: CostSpec | None,
    window: tuple[float, float],
    *,
    session: Any = None,
    **kwargs: Any,
) -> ServiceMetrics:
    """For local runs: collect when boto3 finds credentials, else every value is no-data with a note."""
    from surge.metrics.aws import SessionClients

    if not services and cost_spec is None:
        return ServiceMetrics(window)
    if session is None:
        import boto3

        session = boto3.Session()
    reason = uncollectable(session)
    if reason is not None:
        return skipped_metrics(services, cost_spec, window, f"not collected: {reason}")
    kwargs.setdefault("default_region", getattr(session, "region_name", None))
    return collect_services(services, cost_spec, window, SessionClients(session), **kwargs)
