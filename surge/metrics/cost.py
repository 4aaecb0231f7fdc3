"""Cost: Cost Explorer actuals by cost-allocation tag, projected to a month; the run's own cost;
a Lambda target's cost per million requests. The arithmetic is pure; only ``fetch_costs`` calls AWS."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from surge.metrics.aws import MetricsError, describe_error, with_retries
from surge.metrics.prices import Prices, prices_for
from surge.metrics.spec import CostSpec
from surge.report_model import CostSection

DAYS_PER_MONTH = 30  # the projection the issue asks for: N days of actuals x 30 / N


def cost_request(spec: CostSpec, today: date) -> dict[str, Any]:
    """GetCostAndUsage over the last ``lookback_days`` full days (today is still being billed)."""
    start = today - timedelta(days=spec.lookback_days)
    tag: dict[str, Any] = {
        "Tags": {"Key": spec.tag_key, "Values": [spec.tag_value], "MatchOptions": ["EQUALS"]}
    }
    flt = tag
    if spec.services:
        flt = {"And": [tag, {"Dimensions": {"Key": "SERVICE", "Values": list(spec.services)}}]}
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": today.isoformat()},  # End is exclusive
        "Granularity": "DAILY",
        "Metrics": [spec.metric],
        "Filter": flt,
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }


def fetch_costs(
    client: Any, request: Mapping[str, Any], *, sleep: Callable[[float], None]
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        kwargs = dict(request)
        if token:
            kwargs["NextPageToken"] = token
        page = with_retries(lambda kw=kwargs: client.get_cost_and_usage(**kw), sleep=sleep)  # type: ignore[misc]
        pages.append(page)
        token = page.get("NextPageToken")
        if not token:
            break
    return pages


@dataclass
class CostSummary:
    start: str
    end: str
    lookback_days: int
    lookback_usd: float | None = None
    monthly_usd: float | None = None
    by_service_monthly_usd: dict[str, float] = field(default_factory=dict)
    unit: str = "USD"
    estimated: bool = False
    notes: list[str] = field(default_factory=list)


def summarize_costs(
    pages: Sequence[Mapping[str, Any]], spec: CostSpec, request: Mapping[str, Any]
) -> CostSummary:
    period = request["TimePeriod"]
    out = CostSummary(period["Start"], period["End"], spec.lookback_days)
    by_service: dict[str, float] = {}
    units: set[str] = set()
    seen_group = False
    for page in pages:
        for day in page.get("ResultsByTime", []):
            out.estimated = out.estimated or bool(day.get("Estimated"))
            for group in day.get("Groups", []):
                amount = group.get("Metrics", {}).get(spec.metric)
                if amount is None:
                    continue
                seen_group = True
                name = " / ".join(group.get("Keys", [])) or "(unnamed)"
                by_service[name] = by_service.get(name, 0.0) + float(amount["Amount"])
                units.add(amount.get("Unit", "USD"))
    if not seen_group:
        out.notes.append(
            f"no cost carries the tag {spec.tag_key}={spec.tag_value} from {out.start} to {out.end}: is it "
            "activated as a cost-allocation tag (Billing > Cost allocation tags)? New tags take up to 24 h to appear"
        )
        return out
    if units - {"USD"}:
        out.notes.append(
            f"Cost Explorer reports in {', '.join(sorted(units))}, not USD; figures are as reported"
        )
        out.unit = ", ".join(sorted(units))
    if out.estimated:
        out.notes.append("some days are still estimated by Cost Explorer and may change")
    factor = DAYS_PER_MONTH / spec.lookback_days
    out.lookback_usd = round(sum(by_service.values()), 4)
    out.monthly_usd = round(out.lookback_usd * factor, 2)
    out.by_service_monthly_usd = {
        k: round(v * factor, 2)
        for k, v in sorted(by_service.items(), key=lambda kv: -kv[1])
        if round(v * factor, 2)
    }
    return out


def explorer_costs(
    client: Any, spec: CostSpec, *, today: date, sleep: Callable[[float], None]
) -> CostSummary:
    request = cost_request(spec, today)
    try:
        pages = fetch_costs(client, request, sleep=sleep)
    except Exception as exc:
        period = request["TimePeriod"]
        summary = CostSummary(period["Start"], period["End"], spec.lookback_days)
        summary.notes.append(f"Cost Explorer: {describe_error(exc, 'ce:GetCostAndUsage')}")
        return summary
    return summarize_costs(pages, spec, request)


def baseline_comparison(monthly_usd: float | None, baseline_usd: float | None) -> CostSection:
    if baseline_usd is None:
        return {}
    out: CostSection = {"baseline_monthly_usd": baseline_usd}
    if monthly_usd is None:
        return out
    out["delta_vs_baseline_usd"] = round(monthly_usd - baseline_usd, 2)
    out["delta_vs_baseline_pct"] = (
        round((monthly_usd - baseline_usd) / baseline_usd * 100, 2) if baseline_usd else None
    )
    out["within_baseline"] = monthly_usd <= baseline_usd
    return out


# -- what a Lambda target and the run itself cost ---------------------------------------------------


def lambda_cost(
    *, invocations: float, duration_ms_sum: float, memory_mb: int, architecture: str, prices: Prices
) -> float:
    """Requests plus GB-seconds, from CloudWatch's Duration (billed duration rounds each call up
    to the next millisecond, so this is a hair low)."""
    gb_s = duration_ms_sum / 1000.0 * memory_mb / 1024.0
    return invocations * prices.lambda_request + gb_s * prices.lambda_gb_s(architecture)


def per_million(cost_usd: float | None, requests: float | None) -> float | None:
    if cost_usd is None or not requests:
        return None
    return cost_usd / requests * 1e6


@dataclass(frozen=True)
class RunUsage:
    """What a run consumed, as the orchestrator counts it."""

    region: str | None = None
    lambda_gb_s: float = 0.0  # sum over worker invocations of duration (s) x memory (GB)
    lambda_requests: int = 0
    lambda_architecture: str = "x86_64"
    sfn_transitions: int = 0
    s3_put_requests: int = 0  # PUT/COPY/POST/LIST
    s3_get_requests: int = 0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    cloudwatch_metrics_requested: int = 0


def lambda_gb_seconds(duration_s: float, memory_mb: int) -> float:
    return duration_s * memory_mb / 1024.0


def run_cost(usage: RunUsage, prices: Prices | None = None) -> dict[str, float]:
    """The run's own cost by component, in USD. Pure."""
    p = prices or prices_for(usage.region)[0]
    parts = {
        "lambda_usd": usage.lambda_gb_s * p.lambda_gb_s(usage.lambda_architecture)
        + usage.lambda_requests * p.lambda_request,
        "step_functions_usd": usage.sfn_transitions * p.sfn_transition,
        "s3_usd": usage.s3_put_requests * p.s3_put + usage.s3_get_requests * p.s3_get,
        "dynamodb_usd": usage.dynamodb_write_units * p.dynamodb_write_unit
        + usage.dynamodb_read_units * p.dynamodb_read_unit,
        "cloudwatch_usd": usage.cloudwatch_metrics_requested * p.cloudwatch_metric_requested,
    }
    out = {k: round(v, 6) for k, v in parts.items()}
    out["total_usd"] = round(sum(parts.values()), 6)
    return out


__all__ = [
    "CostSummary",
    "MetricsError",
    "RunUsage",
    "baseline_comparison",
    "cost_request",
    "explorer_costs",
    "fetch_costs",
    "lambda_cost",
    "lambda_gb_seconds",
    "per_million",
    "run_cost",
    "summarize_costs",
]
