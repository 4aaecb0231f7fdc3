"""The report of an A/B run (a plan with ``targets:``): each target's figures as a one-target
report gives them, side by side, and the run's checks judged per target and across targets.
Pure, as surge.summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from surge.evaluate import verdict
from surge.plan import Plan
from surge.report_model import Check, Report, TargetReport
from surge.run_facts import RunFacts
from surge.stats import RESULT_VERSION, RunStats, aggregate
from surge.summary import AcrossTargets, build_single_report, judged, report_source
from surge.validity import PREFIX, is_validity_check


def build_ab_report(plan: Plan, stats: RunStats, facts: RunFacts) -> Report:
    legs = {name: _one_target(plan, name) for name in plan.targets}
    parts = stats.get("targets") or {}
    # Each target's figures and validity as a one-target run's; the run's setup, teardown,
    # baseline and notes belong to the whole, below.
    leg_facts = replace(
        facts,
        error=None,
        metrics=None,
        baseline=None,
        baseline_notes=None,
        flows=(),
        generator_notes=(),
        reevaluation=None,
    )
    target_reports: dict[str, TargetReport] = {}
    validity: dict[str, list[Check]] = {}
    for name, leg in legs.items():
        one = build_single_report(leg, parts.get(name) or _nothing(stats), leg_facts)
        validity[name] = [_on_target(c, name) for c in one["checks"] if is_validity_check(c)]
        target_reports[name] = _target_report(one)
    # The run judged across targets, then its own figures (every target's requests together), its
    # service metrics and cost, built once with that judgement.
    compared = judged(plan, report_source(plan, stats, facts.metrics), facts)
    checks = [*compared.checks, *(c for name in legs for c in validity[name])]
    across = AcrossTargets(plan, checks, compared.info, target_verdicts(target_reports, checks))
    return build_single_report(
        plan.model_copy(update={"targets": {}, "thresholds": [], "recovery": [], "baseline": None}),
        stats,
        facts,
        across=across,
    )


def cost_requests(plan: Plan, stats: RunStats) -> int | None:
    """The request count the Lambda cost per million requests divides by. An A/B run's Lambdas
    serve one target: when they all say which, that target's requests; else None, and the cost
    takes the services' own count (the API's requests, or the one Lambda's invocations)."""
    if not plan.targets:
        return aggregate(stats).requests
    served = {s.target for s in plan.services if s.type == "lambda"}
    parts = stats.get("targets") or {}
    if len(served) == 1 and (name := next(iter(served))) is not None and name in parts:
        return aggregate(parts[name]).requests
    return None


def target_verdicts(targets: Mapping[str, TargetReport], checks: Sequence[Check]) -> dict[str, TargetReport]:
    """Each target's verdict from its own checks: those naming it (thresholds, regression, validity)."""
    out: dict[str, TargetReport] = {}
    for name, report in targets.items():
        # A comparison is its left side's (target["new"]... < target["old"]... * 1.05 is new's).
        own = [c for c in checks if c["metric"].startswith(_prefix(name))]
        out[name] = {**report, "verdict": verdict(own)}
    return out


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
        failures=one["failures"],
        uncertainty=one["uncertainty"],
    )
    if "recovery" in one:
        report["recovery"] = one["recovery"]
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
