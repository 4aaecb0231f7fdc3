"""Service metrics and cost as ``report.json`` carries them, read into views both renderers share.

The shapes are the report model's (``ServiceMetricsSection``, ``CostSection`` in
``surge/report_model.py``), as ``ServiceMetrics.to_report_dict()`` writes them; a stored report.json
is checked against them when it is read, so the views read them as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from reports.formatting import (
    DASH,
    format_count,
    format_datetime,
    format_delta,
    format_duration,
    format_ratio,
    format_usd,
    format_value,
    unit_for_key,
)
from surge.report_model import CostSection, ServiceEntry, ServiceMetricsSection

__all__ = [
    "CostLine",
    "CostView",
    "ServiceMetricsView",
    "ServiceSeries",
    "ServiceValue",
    "ServiceView",
    "by_service_rows",
    "cost_view",
    "period_label",
    "series_is_zero",
    "service_heading",
    "service_metrics_view",
    "split_notes",
    "threshold_example",
    "threshold_name",
    "window_line",
    "zero_series",
]

_TYPE_LABELS = {
    "lambda": "AWS Lambda",
    "dynamodb": "DynamoDB",
    "elasticache": "ElastiCache",
    "rds": "RDS",
    "opensearch": "OpenSearch",
    "s3": "S3",
    "apigateway": "API Gateway",
    "sqs": "SQS",
    "custom": "Custom metrics",
}
# The statistic a preset path ends with (``cpu.max``): a ratio path ending in one got "_ratio" added.
_STAT_END = re.compile(r"(?:^|\.)(?:sum|max|min|mean|avg|average|last|p\d+(?:\.\d+)?)$")


def threshold_name(key: str) -> str:
    """A report value key as thresholds name it: ``duration.p95_ms`` -> ``duration.p95``.

    The inverse of ``surge.metrics.report.report_key``: "_ms" and "_per_s" are always added, so
    always removed; "_ratio" only follows a statistic (``cpu.max_ratio``), since a path already
    ending in a rate (``hit_rate``, ``4xx_rate``) keeps its name. Anything else stays as written.
    """
    for suffix in ("_ms", "_per_s"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    if key.endswith("_ratio") and _STAT_END.search(key[: -len("_ratio")]):
        return key[: -len("_ratio")]
    return key


def _unit(key: str) -> str:
    # Values without a unit suffix are counts (invocations, connections, capacity units).
    return unit_for_key(key) or "count"


def period_label(seconds: float) -> str:
    """A CloudWatch period as a reader says it: 1 s, 30 s, 1 min, 5 min, 1 h."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class ServiceValue:
    key: str  # as report.json has it: "duration.p95_ms"
    name: str  # as a threshold names it: "duration.p95"
    unit: str
    value: float | None

    @property
    def text(self) -> str:
        return format_value(self.value, self.unit)


@dataclass(frozen=True)
class ServiceSeries:
    key: str
    name: str
    unit: str
    points: tuple[tuple[float, float | None], ...]  # (seconds since the run's start, value)


@dataclass(frozen=True)
class ServiceView:
    key: str  # as thresholds address the service: lambda["orders"]
    type: str
    name: str
    resource: str
    region: str | None
    period_s: float | None
    values: tuple[ServiceValue, ...]
    series: tuple[ServiceSeries, ...]
    notes: tuple[str, ...]
    target: str | None = None  # an A/B run: the target it serves

    @property
    def type_label(self) -> str:
        return _TYPE_LABELS.get(self.type, self.type)


@dataclass(frozen=True)
class ServiceMetricsView:
    start: str | None
    end: str | None
    duration_s: float | None
    collected: bool
    notes: tuple[str, ...]
    services: tuple[ServiceView, ...]


def _service(key: str, entry: ServiceEntry) -> ServiceView:
    values = tuple(ServiceValue(k, threshold_name(k), _unit(k), v) for k, v in entry["values"].items())
    series = tuple(
        ServiceSeries(
            k, threshold_name(k), _unit(k), tuple(sorted((float(p["t"]), p["value"]) for p in points))
        )
        for k, points in entry["series"].items()
    )
    return ServiceView(
        key=key,
        type=entry["type"] or key.split("[", 1)[0],
        name=entry["name"] or key,
        resource=entry["resource"],
        region=entry["region"],
        period_s=entry["period_s"],
        values=values,
        series=series,
        notes=tuple(entry["notes"]),
        target=entry.get("target"),
    )


def service_metrics_view(section: ServiceMetricsSection) -> ServiceMetricsView | None:
    """The ``service_metrics`` section as views, or None when the plan declared no services."""
    if "services" not in section:
        return None
    window = section.get("window")
    return ServiceMetricsView(
        start=window["start"] if window else None,
        end=window["end"] if window else None,
        duration_s=window["duration_s"] if window else None,
        collected=section.get("collected", True),
        notes=tuple(section.get("notes", [])),
        services=tuple(_service(key, entry) for key, entry in section["services"].items()),
    )


def service_heading(service: ServiceView) -> str:
    """``AWS Lambda · function orders-api · us-east-1 · 1 min periods``."""
    parts = [service.type_label]
    if service.target:
        parts.insert(0, f"target {service.target}")
    if service.resource:
        parts.append(service.resource)
    parts.append(service.region or "default region")
    if service.period_s:
        parts.append(f"{period_label(service.period_s)} periods")
    return " · ".join(parts)


def threshold_example(view: ServiceMetricsView) -> str | None:
    """A threshold's name for one measured value, a latency percentile if there is one."""
    measured = [(s, v) for s in view.services for v in s.values if v.value is not None]
    preferred = [(s, v) for s, v in measured if v.name.endswith((".p95", ".p99"))] or measured
    return f"{preferred[0][0].key}.{preferred[0][1].name}" if preferred else None


def window_line(view: ServiceMetricsView) -> str:
    text = (
        f"Collected over the run's window, {format_datetime(view.start)} to {format_datetime(view.end)}"
        f" ({format_duration(view.duration_s)})."
    )
    if not view.collected:
        text = "Not collected: every service metric below has no data."
    return text


# --- cost --------------------------------------------------------------------------------------------

_RUN_COMPONENTS = {
    "lambda_usd": "Lambda (workers)",
    "step_functions_usd": "Step Functions",
    "s3_usd": "S3 requests",
    "dynamodb_usd": "DynamoDB requests",
    "cloudwatch_usd": "CloudWatch metric reads",
}


@dataclass(frozen=True)
class CostLine:
    label: str
    value: str
    metric: str | None = None  # what a threshold names it: cost.monthly_usd
    status: str | None = None  # "pass" | "fail": styled like the sign-off's statuses
    part: bool = False  # one part of the line above it


@dataclass
class CostView:
    projection: list[CostLine] = field(default_factory=list)  # monthly projection vs baseline
    by_service: list[tuple[str, float, float | None]] = field(default_factory=list)  # name, $/month, share
    target: list[CostLine] = field(default_factory=list)  # the target's cost per million requests
    run: list[CostLine] = field(default_factory=list)  # this run's own cost, by component, then total
    notes: list[str] = field(default_factory=list)
    source: str | None = None  # where the monthly projection comes from
    monthly_usd: float | None = None
    baseline_usd: float | None = None
    delta_pct: float | None = None
    within_baseline: bool | None = None
    per_million_usd: float | None = None
    run_usd: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.projection or self.by_service or self.target or self.run or self.notes)


def _signed_usd(value: float | None) -> str:
    if value is None:
        return DASH
    return ("+" if value > 0 else "") + format_usd(value)


def _target_label(key: str) -> str:
    # "lambda.orders_usd" -> lambda["orders"], as the service sections and thresholds name it.
    base = key.removesuffix("_usd")
    kind, _, name = base.partition(".")
    return f'{kind}["{name}"]' if name else base


def _projection(cost: CostSection, view: CostView) -> None:
    monthly = view.monthly_usd = cost.get("monthly_usd")
    baseline = view.baseline_usd = cost.get("baseline_monthly_usd")
    days = cost.get("lookback_days")
    if "monthly_usd" in cost or "tag" in cost:
        view.projection.append(CostLine("Projected monthly cost", format_usd(monthly), "cost.monthly_usd"))
    if baseline is not None:
        view.projection.append(CostLine("Baseline", format_usd(baseline), "baseline"))
    delta_usd = cost.get("delta_vs_baseline_usd")
    view.delta_pct = cost.get("delta_vs_baseline_pct")
    if delta_usd is not None:
        text = f"{_signed_usd(delta_usd)} ({format_delta(view.delta_pct)})"
        view.projection.append(CostLine("Difference from the baseline", text))
    within = cost.get("within_baseline")
    if within is not None:
        view.within_baseline = within
        verdict = "within the baseline" if within else "over the baseline"
        view.projection.append(CostLine("Verdict", verdict, status="pass" if within else "fail"))
    if "lookback_usd" in cost:
        label = f"Actual cost over the last {days:g} days" if days else "Actual cost over the lookback"
        view.projection.append(CostLine(label, format_usd(cost["lookback_usd"]), "cost.lookback_usd"))
    view.source = _cost_source(cost, days)


def _cost_source(cost: CostSection, days: int | None) -> str | None:
    tag = cost.get("tag")
    if tag is None:
        return None
    text = f"Cost Explorer {cost.get('metric') or 'cost'} of resources tagged {tag}"
    period = cost.get("period")
    if period is not None and period["start"] and period["end"]:
        text += f", {period['start']} to {period['end']} (end exclusive)"
    if days:
        text += f", × 30 / {days:g} for a month"
    if cost.get("estimated") is True:
        text += "; partly estimated"
    return text


def cost_view(cost: CostSection) -> CostView:
    """The ``cost`` section in four parts: the monthly projection, by service, the target's cost per
    million requests, the run's own cost."""
    view = CostView()
    _projection(cost, view)
    monthly = view.monthly_usd
    for name, usd in cost.get("by_service_monthly_usd", {}).items():
        view.by_service.append((name, usd, usd / monthly if monthly else None))
    if "per_million_requests_usd" in cost or "target_components_usd" in cost:
        view.per_million_usd = cost.get("per_million_requests_usd")
        view.target.append(
            CostLine(
                "Cost per million requests",
                format_usd(view.per_million_usd),
                "cost.per_million_requests_usd",
            )
        )
        view.target.append(
            CostLine("Target's cost over the run's window", format_usd(cost.get("target_window_usd")))
        )
        for key, usd in cost.get("target_components_usd", {}).items():
            view.target.append(CostLine(_target_label(key), format_usd(usd), part=True))
        view.target.append(CostLine("Requests it served", format_count(cost.get("target_requests"))))
    if "run_usd" in cost or "run_components_usd" in cost:
        for key, usd in cost.get("run_components_usd", {}).items():
            label = _RUN_COMPONENTS.get(key, key.removesuffix("_usd").replace("_", " "))
            view.run.append(CostLine(label, format_usd(usd)))
        view.run_usd = cost.get("run_usd")
        view.run.append(CostLine("Total", format_usd(view.run_usd), "cost.run_usd"))
    view.notes = list(cost.get("notes", []))
    return view


def share_text(share: float | None) -> str:
    return format_ratio(share) if share is not None else DASH


def by_service_rows(view: CostView) -> list[tuple[str, str, str]]:
    return [(name, format_usd(usd), share_text(share)) for name, usd, share in view.by_service]


# Notes that explain how a figure was obtained, as opposed to ones saying a figure is missing.
_INFO_MARKERS = ("counts as 0", "(conservative)", "prices were used", "still estimated")


def split_notes(notes: Sequence[str]) -> tuple[list[str], list[str]]:
    """(warnings, explanations): what a reader must act on or distrust, and how figures were read."""
    info = [n for n in notes if any(m in n for m in _INFO_MARKERS)]
    return [n for n in notes if n not in info], info


def series_is_zero(series: ServiceSeries) -> bool:
    return bool(series.points) and all(v == 0 for _, v in series.points)


def zero_series(services: Sequence[ServiceSeries]) -> list[str]:
    return [s.name for s in services if series_is_zero(s)]
