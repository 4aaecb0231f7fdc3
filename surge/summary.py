"""From merged statistics to the report contract (report.json). Pure: no clocks, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from surge import __version__
from surge.baseline import Baseline, BaselineOutcome, OfferedLoad, apply_baseline, regression_metrics
from surge.evaluate import MetricSource, TargetSources, evaluate, verdict
from surge.metrics.collect import ServiceMetrics, ServiceMetricSource
from surge.pause import Pause
from surge.phases import measured_duration, phase_range, phase_windows
from surge.plan import Phase, Plan, phase_label
from surge.plan_steps import flow_steps
from surge.recovery import RecoveryResult, recovery_of
from surge.report_model import (
    REPORT_SCHEMA_VERSION,
    AppliedLoad,
    BaselineInfo,
    Check,
    EndpointReport,
    FailureGroup,
    Finding,
    GeneratorHealth,
    LatencySummary,
    PhaseReport,
    PlannedPhase,
    RecoveryReport,
    Report,
    RunEndInfo,
    ServiceSections,
    StageReport,
    TargetReport,
    Totals,
)
from surge.run_facts import RunFacts
from surge.run_scopes import RunScopes, ScopeTotals, read_scopes
from surge.stats import (
    STAGE_PREFIX,
    Aggregate,
    AtLeast,
    RunStats,
    Samples,
    is_stage,
)
from surge.thresholds import MetricRef, parse_metric
from surge.uncertainty import Batch, Interval, error_rate_interval, latency_interval, throughput_interval
from surge.validity import RunEnd, stop_reason, validity_checks


def latency_summary(agg: Aggregate, which: str = "latency") -> LatencySummary:
    """min/mean/percentiles/max in ms of the response time ("latency") or the service time; the
    keys that fell among timed-out requests are lower bounds, listed under ``at_least``."""
    values = {
        "min": agg.latency(which, "min", None),
        "mean": agg.latency(which, "mean", None),
        "p50": agg.latency(which, "p50", 50.0),
        "p90": agg.latency(which, "p90", 90.0),
        "p95": agg.latency(which, "p95", 95.0),
        "p99": agg.latency(which, "p99", 99.0),
        "p999": agg.latency(which, "p999", 99.9),
        "max": agg.latency(which, "max", None),
    }
    out = LatencySummary(
        min=_r(values["min"]),
        mean=_r(values["mean"]),
        p50=_r(values["p50"]),
        p90=_r(values["p90"]),
        p95=_r(values["p95"]),
        p99=_r(values["p99"]),
        p999=_r(values["p999"]),
        max=_r(values["max"]),
    )
    bounds = [k for k, v in values.items() if isinstance(v, AtLeast)]
    if bounds:
        out["at_least"] = bounds
    return out


def _r(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


@dataclass
class ScopeFigures:
    agg: Aggregate
    duration_s: float
    # The same figures cut into batches of consecutive intervals (their uncertainty); None when the
    # scope has no intervals to cut (live figures mid-run).
    batches: Callable[[], list[Batch]] | None = None


@dataclass
class AggregateSource:
    """Answers threshold metrics from aggregates: used live (abort-on-fail) and for the report."""

    scope: Callable[[str, str | None], ScopeFigures | None]
    _cache: dict[tuple[str, str | None], ScopeFigures | None] = field(default_factory=dict)
    _batches: dict[tuple[str, str | None], list[Batch]] = field(default_factory=dict)
    offered_by_plan: bool = False  # open model: the plan sets the rate

    def figures(self, namespace: str, key: str | None) -> ScopeFigures | None:
        """One scope's figures, read once however many metrics and report rows ask for them."""
        k = (namespace, key)
        if k not in self._cache:
            self._cache[k] = self.scope(namespace, key)
        return self._cache[k]

    def value(self, ref: MetricRef) -> float | None:
        if ref.namespace not in ("http", "endpoint", "phase", "stage"):
            return None
        sc = self.figures(ref.namespace, ref.key)
        if sc is None:
            return None
        agg = sc.agg
        if agg.requests == 0 and agg.iterations == 0:
            return None  # nothing was sent in this scope: no measurement can pass
        head = ref.path[0]
        if head in ("latency", "service_time"):
            return agg.latency(head, ref.path[1], ref.percentile)
        if head == "requests":
            return float(agg.requests)
        if head == "errors":
            return float(agg.error_count)
        if head == "error_rate":
            return agg.error_count / agg.requests if agg.requests else None
        if head == "throughput":
            return agg.requests / sc.duration_s if sc.duration_s > 0 else None
        if head == "dropped_iterations":
            return float(agg.dropped)
        if head == "iterations":
            return float(agg.iterations)
        return None

    def interval(self, ref: MetricRef) -> Interval | None:
        if ref.namespace not in ("http", "endpoint", "phase", "stage"):
            return None
        sc = self.figures(ref.namespace, ref.key)
        if sc is None or sc.batches is None or (sc.agg.requests == 0 and sc.agg.iterations == 0):
            return None
        k = (ref.namespace, ref.key)
        if k not in self._batches:
            self._batches[k] = sc.batches()
        batches = self._batches[k]
        head = ref.path[0]
        if head in ("latency", "service_time"):
            return latency_interval(sc.agg, batches, head, ref.path[1], ref.percentile)
        if head == "error_rate":
            return error_rate_interval(sc.agg, batches)
        if head == "throughput" and not self.offered_by_plan:
            return throughput_interval(sc.agg, batches, sc.duration_s)
        return None  # an open model's throughput is the plan's schedule, not a sample


def stats_source(plan: Plan, stats: RunStats, figures: AggregateSource | None = None) -> MetricSource:
    """The load's figures as thresholds name them; an A/B run's target["x"]... from that target's.
    ``figures``: the run's scopes when the caller reads them too (one decode for both)."""
    if not plan.targets:
        return _load_source(plan, stats, figures)
    parts = stats.get("targets") or {}
    return TargetSources(
        _load_source(plan, stats),
        {name: _load_source(plan, part) for name, part in parts.items() if name in plan.targets},
    )


class _WithRecovery:
    """The load's figures, and the plan's recovery times (recovery["NAME"].time)."""

    def __init__(self, load: AggregateSource, plan: Plan, stats: RunStats) -> None:
        self.load, self.plan, self.stats = load, plan, stats
        self._times: dict[str, float | None] | None = None

    def interval(self, ref: MetricRef) -> Interval | None:
        return None if ref.namespace == "recovery" else self.load.interval(ref)

    def value(self, ref: MetricRef) -> float | None:
        if ref.namespace != "recovery":
            return self.load.value(ref)
        if self._times is None:
            self._times = {r.name: r.time_ms for r in recoveries(self.plan, self.stats)}
        return self._times.get(ref.key or "")


def recoveries(plan: Plan, stats: RunStats) -> list[RecoveryResult]:
    run_s = measured_duration(plan, stats)
    return [recovery_of(plan, spec, stats, run_s) for spec in plan.recovery]


def recovery_reports(plan: Plan, stats: RunStats) -> list[RecoveryReport]:
    out = []
    for spec, r in zip(plan.recovery, recoveries(plan, stats), strict=True):
        out.append(
            RecoveryReport(
                name=r.name,
                phase=r.phase,
                since=r.since,
                since_s=r.since_s,
                recovered_at_s=r.recovered_at_s,
                time_s=None if r.time_ms is None else round(r.time_ms / 1000, 3),
                at_least=isinstance(r.time_ms, AtLeast),
                levels=r.levels,
                p95_ms=None if spec.p95 is None else round(spec.p95 * 1000, 3),
                p99_ms=None if spec.p99 is None else round(spec.p99 * 1000, 3),
                error_rate=spec.error_rate,
                hold_s=spec.hold,
            )
        )
    return out


def _load_source(plan: Plan, stats: RunStats, figures: AggregateSource | None = None) -> MetricSource:
    load = figures if figures is not None else load_figures(plan, stats)
    return _WithRecovery(load, plan, stats) if plan.recovery else load


def phase_ranges(plan: Plan) -> list[tuple[float, float]]:
    """The plan seconds each phase's figures cover, in the plan's order (surge.phases.phase_range)."""
    return [phase_range(plan, a, b) for _, a, b in phase_windows(plan)]


def load_figures(plan: Plan, stats: RunStats, scopes: RunScopes | None = None) -> AggregateSource:
    """The run's scopes (the whole run, each endpoint, stage and phase), read in one pass over the
    intervals (surge.run_scopes) when first asked; ``scopes``: that pass, when the caller made it."""
    run_s = measured_duration(plan, stats)
    windows = phase_windows(plan)
    at = {name: i for i, (name, _, _) in reversed(list(enumerate(windows)))}  # a name's first phase
    read: list[RunScopes] = [scopes] if scopes is not None else []

    def scoped(duration_s: float, read: ScopeTotals | None) -> ScopeFigures:
        if read is None:  # a scope the run never recorded (an endpoint no request reached)
            return ScopeFigures(Aggregate(), duration_s, list)
        return ScopeFigures(read.total, duration_s, lambda: read.batches)

    def scope(namespace: str, key: str | None) -> ScopeFigures | None:
        if not read:
            read.append(read_scopes(stats, phase_ranges(plan)))
        one = read[0]
        if namespace == "http":
            return scoped(run_s, one.run)
        if namespace == "endpoint":
            return scoped(run_s, one.endpoints.get(key or ""))
        if namespace == "stage" and key is not None:
            return scoped(run_s, one.endpoints.get(STAGE_PREFIX + key))
        if namespace == "phase" and key in at:
            _, a, b = windows[at[key]]
            ran = max(min(b, run_s) - a, 0.0)
            if ran <= 0:
                return None
            return scoped(ran, one.phases[at[key]])
        return None

    return AggregateSource(scope, offered_by_plan=plan.load.model == "open")


def stage_order(plan: Plan, recorded: set[str]) -> list[str]:
    """Stages in the order the flows declare them (a waterfall reads top to bottom)."""
    order: list[str] = []
    for sc in plan.scenarios:
        for _, st in flow_steps(sc.flow):
            name = st.stage if st.stage is not None else st.poll.metric if st.poll is not None else None
            if name is not None and name not in order and STAGE_PREFIX + name in recorded:
                order.append(name)
    return order


def poll_only_stages(plan: Plan) -> dict[str, str]:
    """`stage:` spans whose only step (marks aside) is a poll with a metric: stage -> metric."""
    out: dict[str, str] = {}
    for sc in plan.scenarios:
        flow = sc.flow
        for i, step in enumerate(flow):
            if step.stage is None:
                continue
            span = []
            for later in flow[i + 1 :]:
                if later.stage is not None:
                    break
                if later.mark is None:
                    span.append(later)
            if len(span) == 1 and span[0].poll is not None and span[0].poll.metric is not None:
                out[step.stage] = span[0].poll.metric
    return out


def _stage_report(agg: Aggregate) -> StageReport:
    failures = agg.error_count
    return StageReport(
        count=agg.requests - failures,
        failures=failures,
        failure_rate=round(failures / agg.requests, 6) if agg.requests else 0.0,
        failures_by_class=dict(sorted(agg.errors.items())),
        latency_ms=latency_summary(agg),
    )


def _endpoint_report(agg: Aggregate, duration_s: float) -> EndpointReport:
    errors = agg.error_count
    return EndpointReport(
        requests=agg.requests,
        errors=errors,
        error_rate=round(errors / agg.requests, 6) if agg.requests else 0.0,
        throughput_rps=round(agg.requests / duration_s, 3) if duration_s else 0.0,
        errors_by_class=dict(sorted(agg.errors.items())),
        latency_ms=latency_summary(agg),
        service_time_ms=latency_summary(agg, "service_time"),
        status_codes=dict(sorted(agg.status.items())),
    )


def poll_endpoints(plan: Plan) -> list[str]:
    """Endpoints a poll repeats until its condition holds (their 404s until then are not errors)."""
    names: list[str] = []
    for _, flow in [*((sc.name, sc.flow) for sc in plan.scenarios), *plan.extra_flows()]:
        for _, step in flow_steps(flow):
            if step.poll is not None and step.poll.request is not None:
                names.append(step.poll.request.display_name)
    return list(dict.fromkeys(names))


def _planned(phase: Phase) -> str:
    unit = "users" if phase.model == "closed" else "arrivals/s"
    if phase.end_level != phase.start_level:
        return f"{phase.start_level:g} → {phase.end_level:g} {unit}"
    return f"{phase.start_level:g} {unit}"


def applied_load(plan: Plan, stats: RunStats, run_s: float, phase_aggs: Sequence[Aggregate]) -> AppliedLoad:
    """``phase_aggs``: each phase's aggregate, in the plan's order (the report's phase table has them)."""
    phases: list[PlannedPhase] = []
    for (name, a, b), phase, agg in zip(phase_windows(plan), plan.load.phases, phase_aggs, strict=True):
        ran = max(min(b, run_s) - a, 0.0)
        phases.append(
            PlannedPhase(
                name=name,
                duration_s=phase.duration,
                planned=_planned(phase),
                ran_s=round(ran, 3),
                iterations=agg.iterations,
                throughput_rps=round(agg.requests / ran, 3) if ran > 0 else 0.0,
                start_level=phase.start_level,
                end_level=phase.end_level,
            )
        )
    total = sum(sc.weight for sc in plan.scenarios)
    think = plan.load.think_time
    return AppliedLoad(
        model=plan.load.model,
        arrival=plan.load.arrival,
        phases=phases,
        scenarios=[
            {"name": sc.name, "weight": sc.weight, "share": round(sc.weight / total, 4)}
            for sc in plan.scenarios
        ],
        think_time=None
        if plan.load.model == "open" or (think.is_fixed and think.low == 0)
        else describe_pause(think),
        max_in_flight=plan.load.max_in_flight,
        polls=poll_endpoints(plan),
    )


def describe_pause(pause: Pause) -> str:
    if pause.stddev is not None:
        return f"{pause.low:g} s ± {pause.stddev:g} s (normal)"
    if pause.is_fixed:
        return f"{pause.low:g} s"
    return f"{pause.low:g}..{pause.high:g} s (uniform)"


def generator_notes(stats: RunStats, end: RunEnd) -> list[str]:
    """What the figures and the run's end say about the generator (the notes a report rebuilds)."""
    notes = [n for h in stats["health"] for n in h["notes"]]
    if stats["workers_failed"]:
        notes.extend(f"worker failed: {e}" for e in stats["errors"])
    notes.extend(end.lost_reasons)
    return notes


def _generator(stats: RunStats, end: RunEnd, extra: Sequence[str] = ()) -> GeneratorHealth:
    hs = stats["health"]
    notes = [*generator_notes(stats, end), *extra]
    return GeneratorHealth(
        workers=stats["workers"] + end.workers_lost,
        workers_failed=stats["workers_failed"] + end.workers_lost,
        max_loop_lag_ms=max((h["max_loop_lag_ms"] for h in hs), default=0.0),
        cpu_pct=max((h["cpu_pct"] for h in hs), default=0.0),
        saturated=any(h["saturated"] for h in hs),
        notes=notes,
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def compare_to_baseline(
    plan: Plan,
    source: MetricSource,
    checks: list[Check],
    baseline: Baseline | None,
    notes: Sequence[str] | None,
) -> BaselineOutcome:
    """The checks with the plan's baseline and regression rule applied (see surge.baseline).

    ``notes`` is None when nobody looked the baseline up (a caller that does not resolve
    baselines); the report then says so rather than silently comparing to nothing.
    """
    spec = plan.baseline_spec
    if spec is None:
        return BaselineOutcome(checks, None)
    if baseline is None and notes is None:
        notes = [f"the plan names baseline {spec}, but it was not looked up for this run"]
    targets = list(plan.targets)
    wanted = regression_metrics(checks, plan.regression, targets) if baseline else []
    offered: dict[str | None, OfferedLoad] = {}
    if baseline is not None and not _same_plan(plan, baseline):
        lanes: list[str | None] = [*targets] or [None]
        for target in lanes:
            found = offered_load(plan, source, target)
            if found is not None:
                offered[target] = found
                wanted += [_on(target, f'phase["{name}"].throughput') for name in found.offered]
    measured = {m: source.value(parse_metric(m)) for m in wanted}
    return apply_baseline(
        checks,
        spec=spec,
        baseline=baseline,
        regression=plan.regression,
        measured=measured,
        notes=notes or (),
        targets=targets,
        intervals={m: source.interval(parse_metric(m)) for m in wanted},
        offered=offered or None,
    )


def _same_plan(plan: Plan, baseline: Baseline) -> bool:
    return baseline.source == "run" and baseline.plan_hash == plan.plan_hash()


def _on(target: str | None, metric: str) -> str:
    return metric if target is None else f'target["{target}"].{metric}'


def offered_load(plan: Plan, source: MetricSource, target: str | None = None) -> OfferedLoad | None:
    """An open-model run's constant-rate phases: the requests/s each offered (arrivals/s times the
    requests an iteration made there) and delivered; in an A/B run, to ``target`` (every target
    gets the plan's load). None for the closed model."""
    if plan.load.model != "open":
        return None
    offered: dict[str, float] = {}
    delivered: dict[str, float | None] = {}
    for i, phase in enumerate(plan.load.phases):
        if phase.rate is None or (phase.ramp_to is not None and phase.ramp_to != phase.rate):
            continue
        name = phase_label(phase, i)
        requests = source.value(parse_metric(_on(target, f'phase["{name}"].requests')))
        iterations = source.value(parse_metric(_on(target, f'phase["{name}"].iterations')))
        if not requests or not iterations:
            continue
        offered[name] = phase.rate * requests / iterations
        delivered[name] = source.value(parse_metric(_on(target, f'phase["{name}"].throughput')))
    return OfferedLoad(offered, delivered)


# The figures whose intervals every report carries (besides each check's own).
UNCERTAINTY_HEADLINE = (
    "http.latency.p50",
    "http.latency.p90",
    "http.latency.p95",
    "http.latency.p99",
    "http.latency.mean",
    "http.error_rate",
    "http.throughput",
)


# Each endpoint's and phase's figures whose intervals the report carries (their tables show them).
UNCERTAINTY_SCOPED = ("p95", "p99")


def report_uncertainty(
    source: MetricSource, endpoints: Iterable[str] = (), phases: Iterable[str] = ()
) -> dict[str, list[float | None]]:
    """The 95 % intervals a report carries, by metric path: the headline figures, and each
    endpoint's and phase's p95 and p99."""
    refs = [parse_metric(metric) for metric in UNCERTAINTY_HEADLINE]
    for scope, names in (("endpoint", endpoints), ("phase", phases)):
        refs += [
            MetricRef(scope, name, ("latency", key), "ms") for name in names for key in UNCERTAINTY_SCOPED
        ]
    out: dict[str, list[float | None]] = {}
    for ref in refs:
        found = source.interval(ref)
        if found is not None:
            out[ref.canonical] = found.as_list()
    return out


def report_source(
    plan: Plan, stats: RunStats, metrics: ServiceMetrics | None = None, figures: AggregateSource | None = None
) -> MetricSource:
    """Every threshold's answer: load metrics from the histograms, service metrics and cost from
    what was collected (no-data when nothing was)."""
    load = stats_source(plan, stats, figures)
    return ServiceMetricSource(metrics, fallback=load) if metrics is not None else load


def judged(plan: Plan, source: MetricSource, facts: RunFacts) -> BaselineOutcome:
    """The plan's thresholds judged on ``source``, and its baseline's regression rule applied."""
    checks = evaluate(plan.parsed_thresholds(), source, plan.within_uncertainty)
    return compare_to_baseline(plan, source, checks, facts.baseline, facts.baseline_notes)


def _figures_of(figures: AggregateSource, namespace: str, key: str | None) -> Aggregate:
    found = figures.figures(namespace, key)
    return found.agg if found is not None else Aggregate()  # a phase that did not run: nothing


@dataclass(frozen=True)
class AcrossTargets:
    """An A/B run's whole, as surge.summary_ab judges it: the A/B plan, its checks (judged across
    targets, with each target's validity), their baseline, and each target's figures."""

    plan: Plan
    checks: list[Check]
    baseline: BaselineInfo | None
    targets: dict[str, TargetReport]


def build_single_report(
    plan: Plan, stats: RunStats, facts: RunFacts, *, across: AcrossTargets | None = None
) -> Report:
    """The report of a one-target run; with ``across``, the report of an A/B run's whole (``plan``
    then reads every target's requests together, and ``across`` says how the run is judged)."""
    end = facts.end
    partial, error = facts.partial, facts.error
    if end is None:
        end = RunEnd(
            stopped_by=stop_reason(aborted_by=facts.aborted_by, early=partial or stats["stopped_early"])
        )
    partial = partial or end.stopped_by is not None or end.workers_lost > 0
    run_s = measured_duration(plan, stats)
    scopes = read_scopes(stats, phase_ranges(plan))
    figures = load_figures(plan, stats, scopes)  # one pass: each row, check and interval reads it
    total = _figures_of(figures, "http", None)
    metrics = facts.metrics
    source = report_source(plan, stats, metrics, figures)
    if across is None:
        compared = judged(plan, source, facts)
        # The plan's checks, its baseline's, then the test's own: a run must earn its PASS.
        checks = [*compared.checks, *validity_checks(plan, stats, end, total)]
        baseline = compared.info
    else:
        checks, baseline = across.checks, across.baseline
    judged_plan = plan if across is None else across.plan
    if stats["workers_failed"] and stats["workers_failed"] == stats["workers"] and error is None:
        error = "every worker failed: " + "; ".join(stats["errors"][:3])
    endpoints = {}
    stages: dict[str, StageReport] = {}
    names = {n for d in stats["intervals"].values() for n in d["endpoints"]}
    for name in sorted(n for n in names if not is_stage(n)):
        endpoints[name] = _endpoint_report(_figures_of(figures, "endpoint", name), run_s)
    for name in stage_order(plan, names):
        stages[name] = _stage_report(_figures_of(figures, "stage", name))
    for stage, metric in poll_only_stages(plan).items():
        if stage in stages and metric in stages:
            stages[stage]["poll_metric"] = metric
    phases: list[PhaseReport] = []
    # Each phase's figures, read once: the phase table and the applied load both show them.
    phase_aggs = [_figures_of(figures, "phase", name) for name, _, _ in phase_windows(plan)]
    for (name, a, b), agg in zip(phase_windows(plan), phase_aggs, strict=True):
        ran = max(min(b, run_s) - a, 0.0)
        phases.append(
            PhaseReport(
                status="not run" if ran <= 0 else "partial" if ran < b - a - 1e-6 else "ran",
                name=name,
                start_s=a,
                duration_s=round(ran, 3),
                requests=agg.requests,
                errors=agg.error_count,
                error_rate=round(agg.error_count / agg.requests, 6) if agg.requests else 0.0,
                throughput_rps=round(agg.requests / ran, 3) if ran > 0 else 0.0,
                dropped_iterations=agg.dropped,
                latency_ms=latency_summary(agg),
                service_time_ms=latency_summary(agg, "service_time"),
            )
        )
    service = (
        metrics.to_report_dict() if metrics is not None else ServiceSections(service_metrics={}, cost={})
    )
    if across is not None:
        _label_services(service, across.plan)
    errors = total.error_count
    totals = Totals(
        requests=total.requests,
        errors=errors,
        error_rate=round(errors / total.requests, 6) if total.requests else 0.0,
        throughput_rps=round(total.requests / run_s, 3) if run_s else 0.0,
        dropped_iterations=total.dropped,
        iterations=total.iterations,
        bytes_received=total.bytes,
        bytes_sent=total.bytes_sent,
    )
    report = Report(
        schema_version=REPORT_SCHEMA_VERSION,
        surge_version=__version__,
        interval_s=stats["interval_s"],
        run_id=facts.run_id,
        plan=plan.name,
        plan_hash=judged_plan.plan_hash(),
        verdict=verdict(checks, error),
        partial=partial or stats["stopped_early"],
        aborted_by=facts.aborted_by,
        error=error,
        started_at=_iso(stats["t0"]),
        ended_at=_iso(stats["ended_at"]),
        duration_s=round(run_s, 3),
        target=plan.target if across is None else _targets_label(across.plan),
        mode=facts.mode,
        model=plan.load.model,
        checks=checks,
        totals=totals,
        latency_ms=latency_summary(total),
        service_time_ms=latency_summary(total, "service_time"),
        errors_by_class=dict(sorted(total.errors.items())),
        status_codes=dict(sorted(total.status.items())),
        endpoints=endpoints,
        stages=stages,
        phases=phases,
        timeseries=scopes.timeseries,
        service_metrics=service["service_metrics"],
        cost=service["cost"],
        generator=_generator(stats, end, facts.generator_notes),
        baseline=baseline,
        end=RunEndInfo(
            stopped_by=end.stopped_by, workers_lost=end.workers_lost, lost_reasons=list(end.lost_reasons)
        ),
        failures=failure_groups(stats.get("samples") or {}, endpoints, stages),
        findings=[],  # read from the report itself, below
        uncertainty={},
    )
    report["applied_load"] = applied_load(plan, stats, run_s, phase_aggs)
    # The checks' own source: its aggregates and batches are already read.
    report["uncertainty"] = report_uncertainty(
        source, endpoints, [p["name"] for p in phases if p["status"] != "not run"]
    )
    report["load_hash"] = judged_plan.load_hash()
    if across is not None:
        report["targets"] = across.targets
        report["target_load"] = across.plan.target_load
    if scopes.endpoint_series:
        report["endpoint_timeseries"] = scopes.endpoint_series
    if plan.recovery:
        report["recovery"] = recovery_reports(plan, stats)
    if facts.flows:
        report["flows"] = list(facts.flows)
    if facts.reevaluation is not None:
        report["reevaluation"] = facts.reevaluation
    report["findings"] = run_findings(judged_plan, stats, report)
    return report


def _label_services(service: ServiceSections, plan: Plan) -> None:
    """Each collected service of an A/B run says which target it serves, where the plan declares it."""
    entries = service["service_metrics"].get("services", {})
    for spec in plan.services:
        entry = entries.get(f'{spec.type}["{spec.name}"]')
        if spec.target is not None and entry is not None:
            entry["target"] = spec.target


def _targets_label(plan: Plan) -> str:
    return " vs ".join(f"{name} {url}" for name, url in plan.targets.items())


def run_findings(plan: Plan, stats: RunStats, report: Report) -> list[Finding]:
    """What the run's data says about its checks (surge.findings): per target in an A/B run."""
    from surge.findings import FindingScope, find

    targets = report.get("targets")
    parts = stats.get("targets") or {}
    scopes = (
        [FindingScope(name, parts[name], t["timeseries"]) for name, t in targets.items() if name in parts]
        if targets
        else [FindingScope(None, stats, report["timeseries"])]
    )
    return find(
        plan,
        scopes,
        report["checks"],
        service_metrics=report["service_metrics"],
        failures=report["failures"],
        verdict=report["verdict"],
        cost=report["cost"],
    )


def failure_groups(
    samples: Samples,
    endpoints: Mapping[str, EndpointReport],
    stages: Mapping[str, StageReport] | None = None,
) -> list[FailureGroup]:
    """Failures by endpoint (or stage) and error class, most frequent first, each with its first
    samples; counted from the endpoint's or stage's own figures."""
    groups = []
    for endpoint, by_class in samples.items():
        for error, kept in by_class.items():
            if not kept:
                continue
            count = len(kept)
            if endpoint in endpoints:
                count = int(endpoints[endpoint]["errors_by_class"].get(error, count))
            elif is_stage(endpoint) and stages and (stage := stages.get(endpoint.removeprefix(STAGE_PREFIX))):
                count = int(stage["failures_by_class"].get(error, count))
            shown = f"stage {endpoint.removeprefix(STAGE_PREFIX)}" if is_stage(endpoint) else endpoint
            groups.append(FailureGroup(endpoint=shown, error=error, count=count, samples=list(kept)))
    return sorted(groups, key=lambda g: (-g["count"], g["endpoint"], g["error"]))
