"""Thresholds against the plan's declared services: does the service exist, does it provide the
metric, which values (``pool``) its right side may use. Pure; used when the plan is validated."""

from __future__ import annotations

from collections.abc import Sequence

from surge.metrics.presets import service_queries
from surge.metrics.spec import CostSpec, LambdaService, RDSService, ServiceSpec
from surge.thresholds import Threshold, ThresholdError, parse_threshold
from surge.vocabulary import COST_NAMESPACE, SERVICE_TYPES

_WHY_MISSING = {
    "pool": "declare pool_max for it",
    "connection_utilization.max": "declare pool_max for it",
    "concurrency_limit": "declare concurrency_limit for it",
    "concurrency_utilization.max": "declare concurrency_limit for it",
    "cold_start.": "its cold_starts is off",
}


def declared_names(spec: ServiceSpec | None, cost: CostSpec | None = None) -> dict[str, float]:
    """The values a threshold's right side may name for this service (or for ``cost``)."""
    if isinstance(spec, RDSService) and spec.pool_max is not None:
        return {"pool": float(spec.pool_max)}
    if isinstance(spec, LambdaService) and spec.concurrency_limit is not None:
        return {"concurrency_limit": float(spec.concurrency_limit)}
    if spec is None and cost is not None and cost.baseline_monthly_usd is not None:
        return {"baseline": float(cost.baseline_monthly_usd)}
    return {}


def _find(services: Sequence[ServiceSpec], type_: str, name: str | None) -> ServiceSpec | None:
    return next((s for s in services if s.type == type_ and s.name == name), None)


def _cost_problem(th: Threshold, services: Sequence[ServiceSpec], cost: CostSpec | None) -> str | None:
    path = ".".join(th.metric.path)
    if path in ("monthly_usd", "lookback_usd") and cost is None:
        return f"{th.metric.canonical} needs a cost: section (tag_key, tag_value) to read Cost Explorer"
    if path == "per_million_requests_usd" and not any(
        isinstance(s, LambdaService) and s.memory_mb for s in services
    ):
        return f"{th.metric.canonical} needs a lambda service with memory_mb under services:"
    missing = th.names - set(declared_names(None, cost))
    if missing:
        return f"'{th.expr}' names {', '.join(sorted(missing))}: declare cost.baseline_monthly_usd"
    return None


def threshold_problem(th: Threshold, services: Sequence[ServiceSpec], cost: CostSpec | None) -> str | None:
    """Why this threshold cannot be checked against the plan's services, or None when it can."""
    ns = th.metric.namespace
    if ns == COST_NAMESPACE:
        return _cost_problem(th, services, cost)
    if ns not in SERVICE_TYPES:
        return None
    spec = _find(services, ns, th.metric.key)
    if spec is None:
        declared = ", ".join(f'"{s.name}"' for s in services if s.type == ns)
        where = (
            f"the plan declares: {declared}" if declared else f"declare it under services: with type: {ns}"
        )
        return f'no {ns} service named "{th.metric.key}"; {where}'
    path = ".".join(th.metric.path)
    kinds = service_queries(spec).kinds()
    if path not in kinds:
        why = next(
            (w for k, w in _WHY_MISSING.items() if path == k or (k.endswith(".") and path.startswith(k))),
            None,
        )
        if why:
            return f"{th.metric.canonical} is not available: {why}"
        if ns == "custom":
            return f"{th.metric.canonical}: the custom service has no query or expression with id '{path}'"
        if ns == "dynamodb":
            return f"{th.metric.canonical}: that operation is not in the service's operations list"
        return f"{th.metric.canonical} is not available for this service"
    if ns == "custom" and kinds[path] != th.metric.kind:
        try:
            parse_threshold(th.expr, kind=kinds[path])
        except ThresholdError as exc:
            return f"{exc} (the query's unit makes it a {kinds[path]})"
    missing = th.names - set(declared_names(spec))
    if missing:
        return f"'{th.expr}' names {', '.join(sorted(missing))}, which {th.metric.namespace}[\"{th.metric.key}\"] does not declare"
    return None


def bind_threshold(th: Threshold, services: Sequence[ServiceSpec], cost: CostSpec | None) -> Threshold:
    """The threshold ready to evaluate: custom kinds from the declared unit, named values filled in.
    Raises ThresholdError with the problem when it cannot be."""
    problem = threshold_problem(th, services, cost)
    if problem:
        raise ThresholdError(problem)
    ns = th.metric.namespace
    if ns == COST_NAMESPACE:
        return th.bind(declared_names(None, cost))
    if ns not in SERVICE_TYPES:
        return th
    spec = _find(services, ns, th.metric.key)
    if ns == "custom" and spec is not None:
        kind = service_queries(spec).kinds()[".".join(th.metric.path)]
        if kind != th.metric.kind:
            th = parse_threshold(th.expr, abort_on_fail=th.abort_on_fail, grace_s=th.grace_s, kind=kind)
    return th.bind(declared_names(spec))


def bind_thresholds(
    thresholds: Sequence[Threshold], services: Sequence[ServiceSpec], cost: CostSpec | None
) -> list[Threshold]:
    return [bind_threshold(th, services, cost) for th in thresholds]
