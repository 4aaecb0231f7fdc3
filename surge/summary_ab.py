"""The report of an A/B run (a plan with ``targets:``): each target's figures as a one-target
report gives them, side by side, and the run's checks judged per target and across targets.
Pure, as surge.summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from surge.evaluate import evaluate, verdict
from surge.metrics.collect import ServiceMetrics
from surge.plan import Plan
from surge.report_model import Check, Report, TargetReport
from surge.stats import RESULT_VERSION, RunStats
from surge.summary import build_report, report_source, run_findings
from surge.validity import PREFIX, RunEnd, is_validity_check


def build_ab_report(
    plan: Plan,
    stats: RunStats,
    *,
    run_id: str,
    mode: Literal["local", "cloud"],
    partial: bool,
    aborted_by: str | None,
    error: str | None,
    metrics: ServiceMetrics | None,
    end: RunEnd | None,
) -> Report:
    legs = {name: _one_target(plan, name) for name in plan.targets}
    parts = stats.get("targets") or {}
    target_reports: dict[str, TargetReport] = {}
    validity: dict[str, list[Check]] = {}
    for name, leg in legs.items():
        leg_stats = parts.get(name) or _nothing(stats)
        one = build_report(
            leg, leg_stats, run_id=run_id, mode=mode, partial=partial, aborted_by=aborted_by, end=end
        )
        validity[name] = [_on_target(c, name) for c in one["checks"] if is_validity_check(c)]
        target_reports[name] = _target_report(one)
    # The run's own figures (every target's requests together) and its service metrics and cost.
    whole = build_report(
        plan.model_copy(update={"targets": {}, "thresholds": [], "recovery": []}),
        stats,
        run_id=run_id,
        mode=mode,
        partial=partial,
        aborted_by=aborted_by,
        error=error,
        metrics=metrics,
        end=end,
    )
    judged = evaluate(plan.parsed_thresholds(), report_source(plan, stats, metrics), plan.within_uncertainty)
    checks = [*judged, *(c for name in legs for c in validity[name])]
    target_reports = target_verdicts(target_reports, checks)
    _label_services(whole, plan)
    out = whole.copy()
    out["checks"] = checks
    out["verdict"] = verdict(checks, out["error"])
    out["target"] = " vs ".join(f"{name} {url}" for name, url in plan.targets.items())
    out["targets"] = target_reports
    out["target_load"] = plan.target_load
    out["plan_hash"] = plan.plan_hash()
    out["load_hash"] = plan.load_hash()
    out["findings"] = run_findings(plan, stats, out)
    return out


def cost_requests(plan: Plan, report: Report) -> int | None:
    """The request count the Lambda cost per million requests divides by. An A/B run's Lambdas
    serve one target: when they all say which, that target's requests; else None, and the cost
    takes the services' own count (the API's requests, or the one Lambda's invocations)."""
    if not plan.targets:
        return report["totals"]["requests"]
    served = {s.target for s in plan.services if s.type == "lambda"}
    targets = report.get("targets") or {}
    if len(served) == 1 and (name := next(iter(served))) is not None and name in targets:
        return targets[name]["totals"]["requests"]
    return None


def target_verdicts(targets: Mapping[str, TargetReport], checks: Sequence[Check]) -> dict[str, TargetReport]:
    """Each target's verdict from its own checks: those naming it (thresholds, regression, validity)."""
    out: dict[str, TargetReport] = {}
    for name, report in targets.items():
        # A comparison is its left side's (target["new"]... < target["old"]... * 1.05 is new's).
        own = [c for c in checks if c["metric"].startswith(_prefix(name))]
        out[name] = {**report, "verdict": verdict(own)}
    return out


def _label_services(report: Report, plan: Plan) -> None:
    """Each collected service says which target it serves, where the plan declares it."""
    services = report["service_metrics"].get("services")
    if not isinstance(services, dict):
        return
    for spec in plan.services:
        entry = services.get(f'{spec.type}["{spec.name}"]')
        if spec.target is not None and isinstance(entry, dict):
            entry["target"] = spec.target


def _one_target(plan: Plan, name: str) -> Plan:
    # Its figures and validity only: the A/B plan's thresholds are judged across targets, above.
    return plan.for_target(name).model_copy(update={"thresholds": []})


def _prefix(name: str) -> str:
    return f'target["{name}"].'


def _on_target(check: Check, name: str) -> Check:
    """One target's validity check, named as the run's: validity: target["ecs"] every worker reported."""
    renamed = check.copy()
    renamed["name"] = f'{PREFIX}target["{name}"] {check["name"].removeprefix(PREFIX)}'
    renamed["metric"] = _prefix(name) + check["metric"]
    return renamed


def _target_report(one: Report) -> TargetReport:
    report = TargetReport(
        url=one["target"],
        verdict=one["verdict"],
        totals=one["totals"],
        latency_ms=one["latency_ms"],
        service_time_ms=one["service_time_ms"],
        errors_by_class=one["errors_by_class"],
        status_codes=one["status_codes"],
        endpoints=one["endpoints"],
        stages=one["stages"],
        phases=one["phases"],
        timeseries=one["timeseries"],
        generator=one["generator"],
    )
    if "failures" in one:
        report["failures"] = one["failures"]
    if "recovery" in one:
        report["recovery"] = one["recovery"]
    if "uncertainty" in one:
        report["uncertainty"] = one["uncertainty"]
    return report


def _nothing(stats: RunStats) -> RunStats:
    """A target none of whose workers delivered anything: no figures (its validity says so)."""
    return RunStats(
        version=RESULT_VERSION,
        interval_s=stats["interval_s"],
        t0=stats["t0"],
        started_at=stats["started_at"],
        ended_at=stats["ended_at"],
        workers=0,
        workers_failed=0,
        stopped_early=stats["stopped_early"],
        errors=[],
        intervals={},
        health=[],
    )
