"""The report.json shapes of service metrics and cost, and the target's cost per million requests.

Value keys carry a unit suffix (``duration.p95_ms``, ``cpu.max_ratio``, ``monthly_usd``) because
the renderers guess units from key suffixes. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from surge.metrics.cost import CostSummary, lambda_cost, per_million
from surge.metrics.prices import Prices, prices_for
from surge.metrics.reduce import ServiceResult
from surge.metrics.spec import ApiGatewayService, CostSpec, LambdaService, ServiceSpec
from surge.report_model import CostSection, ServiceEntry, ServicePoint
from surge.vocabulary import report_key


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def service_report(result: ServiceResult, start: float, period: int | None) -> ServiceEntry:
    kinds = result.kinds
    values = {report_key(p, kinds.get(p, "count")): _round(v) for p, v in result.values.items()}
    series = {
        report_key(p, kinds.get(p, "count")): [
            ServicePoint(t=round(t - start, 3), value=round(v, 6)) for t, v in pts
        ]
        for p, pts in result.series.items()
        if pts
    }
    return ServiceEntry(
        type=result.type,
        name=result.name,
        resource=result.resource,
        region=result.region,
        period_s=period,
        values=values,
        series=series,
        notes=list(result.notes),
    )


@dataclass
class TargetCost:
    window_usd: float | None = None  # what the Lambda-based target cost during the run's window
    requests: float | None = None
    per_million_usd: float | None = None
    components: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def target_cost(
    services: Sequence[ServiceSpec],
    results: Mapping[str, ServiceResult],
    *,
    requests: float | None,
    prices: Prices | None,
    default_region: str | None,
) -> TargetCost:
    """Lambda requests + GB-seconds (and API Gateway requests) over the window, per million requests.

    The denominator is the load's request count when given, else the API's Count, else the only
    Lambda's invocations: several Lambdas per request would otherwise be counted several times.
    """
    out = TargetCost()
    lambdas = [s for s in services if isinstance(s, LambdaService)]
    apis = [s for s in services if isinstance(s, ApiGatewayService)]
    if not lambdas:
        return out
    total = 0.0
    for s in lambdas:
        r = results.get(f'lambda["{s.name}"]')
        if s.memory_mb is None:
            out.notes.append(
                f'declare memory_mb for lambda["{s.name}"] to count it in the cost per million requests'
            )
            continue
        inv = r.values.get("invocations.sum") if r else None
        dur = r.values.get("duration.sum") if r else None
        if inv is None or dur is None:
            out.notes.append(
                f'lambda["{s.name}"] has no Invocations/Duration data: no cost per million requests'
            )
            return out
        p, note = (prices, None) if prices is not None else prices_for(s.region or default_region)
        if note:
            out.notes.append(note)
        c = lambda_cost(
            invocations=inv, duration_ms_sum=dur, memory_mb=s.memory_mb, architecture=s.architecture, prices=p
        )
        out.components[f"lambda.{s.name}_usd"] = round(c, 6)
        total += c
    if not out.components:
        return out
    for a in apis:
        r = results.get(f'apigateway["{a.name}"]')
        count = r.values.get("count.sum") if r else None
        if count is not None:
            p = prices if prices is not None else prices_for(a.region or default_region)[0]
            price = p.apigateway_http_request if a.api_id else p.apigateway_rest_request
            out.components[f"apigateway.{a.name}_usd"] = round(count * price, 6)
            total += count * price
    denominator = requests
    if denominator is None and len(apis) == 1:
        r = results.get(f'apigateway["{apis[0].name}"]')
        denominator = r.values.get("count.sum") if r else None
    if denominator is None and len(lambdas) == 1:
        r = results.get(f'lambda["{lambdas[0].name}"]')
        denominator = r.values.get("invocations.sum") if r else None
    if denominator is None:
        out.notes.append("cost per million requests needs the run's request count (several Lambdas, no API)")
    out.window_usd, out.requests = round(total, 6), denominator
    out.per_million_usd = _round(per_million(total, denominator))
    return out


def cost_report(
    spec: CostSpec | None,
    summary: CostSummary | None,
    target: TargetCost,
    run: Mapping[str, float] | None,
) -> CostSection:
    out: CostSection = {}
    notes: list[str] = []
    if spec is not None and summary is not None:
        out.update(
            CostSection(
                tag=f"{spec.tag_key}={spec.tag_value}",
                metric=spec.metric,
                period={"start": summary.start, "end": summary.end},
                lookback_days=summary.lookback_days,
                lookback_usd=summary.lookback_usd,
                monthly_usd=summary.monthly_usd,
                by_service_monthly_usd=summary.by_service_monthly_usd,
                estimated=summary.estimated,
            )
        )
        notes.extend(summary.notes)
    if target.components or target.notes:
        out["target_window_usd"] = target.window_usd
        out["target_requests"] = target.requests
        out["per_million_requests_usd"] = target.per_million_usd
        out["target_components_usd"] = target.components
        notes.extend(target.notes)
    if run is not None:
        out["run_usd"] = run["total_usd"]
        out["run_components_usd"] = {k: v for k, v in run.items() if k != "total_usd"}
    if notes:
        out["notes"] = list(dict.fromkeys(notes))
    return out
