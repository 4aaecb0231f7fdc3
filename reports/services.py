"""Service metrics and cost as ``report.json`` carries them, read into views both renderers share.

The shapes are what ``ServiceMetrics.to_report_dict()`` writes (``surge/metrics/report.py``). The
report types them as plain dicts, and a report.json may come from another version, so everything
here is read defensively: a section that does not have the expected shape yields ``None`` (or lands
in ``other``) and the renderers fall back to a generic key/value table rather than failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _notes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(n) for n in value if n is not None)


def _points(raw: object) -> tuple[tuple[float, float | None], ...] | None:
    if not isinstance(raw, list | tuple):
        return None
    points: list[tuple[float, float | None]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            return None
        t = _number(item.get("t"))
        if t is None:
            return None
        points.append((t, _number(item.get("value"))))
    return tuple(sorted(points, key=lambda p: p[0]))


def _service(key: str, raw: Mapping[str, object]) -> ServiceView | None:
    values_raw, series_raw = raw.get("values", {}), raw.get("series", {})
    if not isinstance(values_raw, Mapping) or not isinstance(series_raw, Mapping):
        return None
    values = tuple(
        ServiceValue(str(k), threshold_name(str(k)), _unit(str(k)), _number(v)) for k, v in values_raw.items()
    )
    series: list[ServiceSeries] = []
    for k, pts in series_raw.items():
        points = _points(pts)
        if points is None:
            return None
        series.append(ServiceSeries(str(k), threshold_name(str(k)), _unit(str(k)), points))
    return ServiceView(
        key=key,
        type=_text(raw.get("type")) or key.split("[", 1)[0],
        name=_text(raw.get("name")) or key,
        resource=_text(raw.get("resource")) or "",
        region=_text(raw.get("region")),
        period_s=_number(raw.get("period_s")),
        values=values,
        series=tuple(series),
        notes=_notes(raw.get("notes")),
        target=_text(raw.get("target")),
    )


def service_metrics_view(section: Mapping[str, object]) -> ServiceMetricsView | None:
    """The ``service_metrics`` section as ``ServiceMetrics.to_report_dict()`` writes it, or None
    when it has another shape (an empty section, or one written by something else)."""
    services_raw = section.get("services")
    if not isinstance(services_raw, Mapping):
        return None
    services: list[ServiceView] = []
    for key, raw in services_raw.items():
        service = _service(str(key), raw) if isinstance(raw, Mapping) else None
        if service is None:
            return None
        services.append(service)
    window = section.get("window")
    window = window if isinstance(window, Mapping) else {}
    return ServiceMetricsView(
        start=_text(window.get("start")),
        end=_text(window.get("end")),
        duration_s=_number(window.get("duration_s")),
        collected=section.get("collected") is not False,
        notes=_notes(section.get("notes")),
        services=tuple(services),
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
_KNOWN_COST_KEYS = frozenset(
    {
        "tag",
        "metric",
        "period",
        "lookback_days",
        "lookback_usd",
        "monthly_usd",
        "by_service_monthly_usd",
        "estimated",
        "target_window_usd",
        "target_requests",
        "per_million_requests_usd",
        "target_components_usd",
        "run_usd",
        "run_components_usd",
        "notes",
        "baseline_monthly_usd",
        "delta_vs_baseline_usd",
        "delta_vs_baseline_pct",
        "within_baseline",
    }
)


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
    other: dict[str, object] = field(default_factory=dict)  # keys this view does not know
    source: str | None = None  # where the monthly projection comes from
    monthly_usd: float | None = None
    baseline_usd: float | None = None
    delta_pct: float | None = None
    within_baseline: bool | None = None
    per_million_usd: float | None = None
    run_usd: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.projection or self.by_service or self.target or self.run or self.notes or self.other)


def _signed_usd(value: float | None) -> str:
    if value is None:
        return DASH
    return ("+" if value > 0 else "") + format_usd(value)


def _components(raw: object) -> list[tuple[str, float | None]]:
    if not isinstance(raw, Mapping):
        return []
    return [(str(k), _number(v)) for k, v in raw.items()]


def _target_label(key: str) -> str:
    # "lambda.orders_usd" -> lambda["orders"], as the service sections and thresholds name it.
    base = key.removesuffix("_usd")
    kind, _, name = base.partition(".")
    return f'{kind}["{name}"]' if name else base


def _projection(cost: Mapping[str, object], view: CostView) -> None:
    monthly = view.monthly_usd = _number(cost.get("monthly_usd"))
    baseline = view.baseline_usd = _number(cost.get("baseline_monthly_usd"))
    lookback_usd = _number(cost.get("lookback_usd"))
    days = _number(cost.get("lookback_days"))
    if "monthly_usd" in cost or "tag" in cost:
        view.projection.append(CostLine("Projected monthly cost", format_usd(monthly), "cost.monthly_usd"))
    if baseline is not None:
        view.projection.append(CostLine("Baseline", format_usd(baseline), "baseline"))
    delta_usd = _number(cost.get("delta_vs_baseline_usd"))
    view.delta_pct = _number(cost.get("delta_vs_baseline_pct"))
    if delta_usd is not None:
        text = f"{_signed_usd(delta_usd)} ({format_delta(view.delta_pct)})"
        view.projection.append(CostLine("Difference from the baseline", text))
    within = cost.get("within_baseline")
    if isinstance(within, bool):
        view.within_baseline = within
        verdict = "within the baseline" if within else "over the baseline"
        view.projection.append(CostLine("Verdict", verdict, status="pass" if within else "fail"))
    if "lookback_usd" in cost:
        label = f"Actual cost over the last {days:g} days" if days else "Actual cost over the lookback"
        view.projection.append(CostLine(label, format_usd(lookback_usd), "cost.lookback_usd"))
    view.source = _cost_source(cost, days)


def _cost_source(cost: Mapping[str, object], days: float | None) -> str | None:
    tag, metric = _text(cost.get("tag")), _text(cost.get("metric"))
    if tag is None:
        return None
    text = f"Cost Explorer {metric or 'cost'} of resources tagged {tag}"
    period = cost.get("period")
    if isinstance(period, Mapping) and _text(period.get("start")) and _text(period.get("end")):
        text += f", {period['start']} to {period['end']} (end exclusive)"
    if days:
        text += f", × 30 / {days:g} for a month"
    if cost.get("estimated") is True:
        text += "; partly estimated"
    return text


def cost_view(cost: Mapping[str, object]) -> CostView:
    """The ``cost`` section in four parts, plus whatever keys it has that this view does not know."""
    view = CostView(other={k: v for k, v in cost.items() if k not in _KNOWN_COST_KEYS})
    _projection(cost, view)
    monthly = view.monthly_usd
    for name, usd in _components(cost.get("by_service_monthly_usd")):
        if usd is not None:
            share = usd / monthly if monthly else None
            view.by_service.append((name, usd, share))
    if "per_million_requests_usd" in cost or "target_components_usd" in cost:
        view.per_million_usd = _number(cost.get("per_million_requests_usd"))
        view.target.append(
            CostLine(
                "Cost per million requests",
                format_usd(view.per_million_usd),
                "cost.per_million_requests_usd",
            )
        )
        view.target.append(
            CostLine(
                "Target's cost over the run's window", format_usd(_number(cost.get("target_window_usd")))
            )
        )
        for key, usd in _components(cost.get("target_components_usd")):
            view.target.append(CostLine(_target_label(key), format_usd(usd), part=True))
        view.target.append(CostLine("Requests it served", format_count(_number(cost.get("target_requests")))))
    if "run_usd" in cost or "run_components_usd" in cost:
        for key, usd in _components(cost.get("run_components_usd")):
            label = _RUN_COMPONENTS.get(key, key.removesuffix("_usd").replace("_", " "))
            view.run.append(CostLine(label, format_usd(usd)))
        view.run_usd = _number(cost.get("run_usd"))
        view.run.append(CostLine("Total", format_usd(view.run_usd), "cost.run_usd"))
    view.notes = list(_notes(cost.get("notes")))
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
