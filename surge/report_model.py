"""The shape of ``report.json``: the machine contract every renderer and the CLI read.

Keys listed in DESIGN.md are stable; new keys may be added, never renamed or removed.
All durations are milliseconds, rates are fractions (0.01 == 1 %), throughput is per second.
A key a schema version makes required is filled in an older stored report by its upgrade step
(surge.report_upgrade), so readers never ask whether it is there.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from surge.stats import FailureSample

# 2: every check says its kind; the run's end, baseline (None: none), failures, findings and
# intervals are always written, as are each endpoint's status codes and each phase's status.
REPORT_SCHEMA_VERSION = 2

Verdict = Literal["pass", "fail", "error"]
CheckStatus = Literal["pass", "fail", "no-data"]
CheckKind = Literal["threshold", "regression", "validity"]


class LatencySummary(TypedDict):
    min: float | None
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    # Keys whose value fell among timed-out requests: lower bounds ("at least"), never exact.
    at_least: NotRequired[list[str]]


class Check(TypedDict):
    name: str  # the threshold as the user wrote it, e.g. "http.latency.p95 < 500ms"
    metric: str  # normalized metric path, e.g. "http.latency.p95"
    op: str  # "<", "<=", ">", ">=", "==", "!="
    target: float  # in the metric's unit (ms, fraction, per second, count, USD)
    unit: str  # "ms" | "ratio" | "per_s" | "count" | "usd" | ""
    measured: float | None
    baseline: float | None  # the baseline's figure for this metric, in the same unit; None: none known
    # Percent change of measured against baseline: +12.5 means 12.5 % higher than the baseline,
    # -4 means 4 % lower; None when there is no baseline figure (or it is 0 and measured is not).
    delta_pct: float | None
    status: CheckStatus
    abort_on_fail: bool
    # "threshold" (the plan's), "regression" (the baseline's rule) or "validity" (every run's own:
    # workers reported, load delivered, generator kept up, something measured, the plan ran whole).
    kind: CheckKind
    at_least: NotRequired[bool]  # measured is a lower bound (it fell among timed-out requests)
    detail: NotRequired[str]  # why it failed and what to do (validity checks), or why it has no data
    # An A/B comparison's right side: the other targets' figures its target was computed from.
    against: NotRequired[dict[str, float]]
    # The measured value's 95 % interval from the run's own data ([lo, hi]; hi None: unbounded);
    # absent when the figure has none (counts, min/max, service metrics, older reports).
    interval: NotRequired[list[float | None]]
    # The target lies inside that interval: the run cannot tell which side the truth is on.
    uncertain: NotRequired[bool]
    # A regression check's noise: the smallest change (percent) this pair of runs could tell from
    # noise, and the noise the decision used (percent of the baseline, one standard error).
    detectable_pct: NotRequired[float | None]
    noise_pct: NotRequired[float | None]


class BaselineInfo(TypedDict):
    spec: str  # as the plan names it: "last-pass", a run id, or "file:<path>"
    source: Literal["run", "file"] | None  # None: the plan names a baseline, but none was found
    ref: str | None  # the run id, or the file's path
    label: str  # for readers, e.g. "run 20250101-120000-checkout-1a2b (last passing run)"
    # Every figure the baseline offered, by metric path, so a re-render compares to the same numbers.
    figures: dict[str, float]
    max_worse_pct: float | None  # the regression rule's limit; None when the plan has no rule
    notes: list[str]  # what could not be compared, and why
    # The baseline run's 95 % intervals, and the spread between the plan's earlier runs (one run's
    # standard deviation as a share of the mean) the regression rule used, with how many runs.
    intervals: NotRequired[dict[str, list[float | None]]]
    noise: NotRequired[dict[str, float]]
    noise_runs: NotRequired[int]
    plan_hash: NotRequired[str]  # a baseline run's plan version


class Totals(TypedDict):
    requests: int
    errors: int
    error_rate: float
    throughput_rps: float
    dropped_iterations: int
    iterations: int
    bytes_received: int
    bytes_sent: NotRequired[int]  # request bodies; absent in reports written before it was counted


class EndpointReport(TypedDict):
    requests: int
    errors: int
    error_rate: float
    throughput_rps: float
    errors_by_class: dict[str, int]
    latency_ms: LatencySummary
    service_time_ms: LatencySummary
    status_codes: dict[str, int]


class StageReport(TypedDict):
    """A timed part of a flow: a `stage:` span or a poll's wait (its `metric`)."""

    count: int  # completed
    failures: int  # did not complete: a failed step inside, or a poll that timed out
    failure_rate: float
    failures_by_class: dict[str, int]
    latency_ms: LatencySummary  # durations, failed ones included (a timed-out poll counts its timeout)
    # A `stage:` span that holds only a poll with a metric: that metric's name (the two time nearly the
    # same wait; renderers show them as one row).
    poll_metric: NotRequired[str]


class PhaseReport(TypedDict):
    # "ran", "partial" (cut short by a stop) or "not run" (a stop came first: its zeros mean nothing)
    status: Literal["ran", "partial", "not run"]
    name: str
    start_s: float  # offset from the run's start
    duration_s: float
    requests: int
    errors: int
    error_rate: float
    throughput_rps: float
    dropped_iterations: int
    latency_ms: LatencySummary
    service_time_ms: LatencySummary


class TimeseriesPoint(TypedDict):
    t: float  # seconds since the run's start (interval start)
    rps: float
    requests: int
    errors: int
    error_rate: float
    dropped: int
    in_flight: int
    p50: float | None
    p95: float | None
    p99: float | None
    service_p50: float | None
    service_p95: float | None
    service_p99: float | None
    errors_by_class: dict[str, int]
    users: NotRequired[int]  # closed model: peak active virtual users in the interval


class EndpointPoint(TypedDict):
    t: float  # seconds since the run's start (interval start)
    requests: int
    errors: int
    p95: float | None  # response time (corrected), ms


class GeneratorHealth(TypedDict):
    workers: int
    workers_failed: int
    max_loop_lag_ms: float
    cpu_pct: float  # peak CPU of the busiest worker, percent of one core
    saturated: bool
    notes: list[str]


class ReevaluationInfo(TypedDict):
    of_run: str  # the run re-evaluated
    plan: str  # the plan it was evaluated with: name
    plan_hash: str
    plan_path: str
    at: str  # ISO 8601 UTC
    original_verdict: str


class RunEndInfo(TypedDict):
    stopped_by: str | None  # "Ctrl-C", "SIGTERM", "aborted by check '...'", "surge stop", ...
    workers_lost: int  # results missing beyond the failed workers the results count (cloud shards)
    lost_reasons: list[str]


class FailureGroup(TypedDict):
    """The failures of one endpoint and error class: how many, and the first few as they happened."""

    endpoint: str
    error: str  # the class: http_4xx, expect, capture, timeout, ...
    count: int
    samples: list[FailureSample]


class FlowEndpoint(TypedDict):
    name: str
    requests: int
    errors: dict[str, int]
    status: dict[str, int]
    p95_ms: float | None


class FlowReport(TypedDict):
    """A setup or teardown flow, run once around the load: apart from the load's figures."""

    name: str  # "setup" | "teardown"
    ok: bool
    duration_s: float
    requests: int
    endpoints: list[FlowEndpoint]
    message: str | None  # why it failed
    target: NotRequired[str]  # an A/B run: the target it ran against (each target has its own)


class Finding(TypedDict):
    """Why the run failed, or what its data shows, with the numbers and what to do (surge.findings)."""

    kind: str  # slow-endpoints, latency-knee, slow-from-start, error-burst, validity, service, no-clear-cause, no-data
    title: str
    evidence: list[str]
    recommendation: NotRequired[str]
    check: NotRequired[str]  # the check it explains
    at_s: NotRequired[float]  # when, in seconds since the run's start


class PlannedPhase(TypedDict):
    name: str
    duration_s: float
    planned: str  # "10 -> 60 arrivals/s", "50 users"
    ran_s: float  # how long it ran (0: a stop came first)
    iterations: int  # as measured: iterations started in the phase
    throughput_rps: float  # as measured
    # The planned level at the phase's start and end (arrivals/s, or users): a linear ramp between.
    start_level: NotRequired[float]
    end_level: NotRequired[float]


class PlannedScenario(TypedDict):
    name: str
    weight: float
    share: float  # of the iterations, as the weights plan them


class AppliedLoad(TypedDict):
    """The load as planned beside as measured: what the figures are the answer to."""

    model: Literal["open", "closed"]
    arrival: str  # open model: "uniform" or "poisson"
    phases: list[PlannedPhase]
    scenarios: list[PlannedScenario]  # the planned mix
    think_time: str | None  # closed model: between a user's iterations
    max_in_flight: int | None
    polls: list[str]  # endpoints a poll repeats until its condition holds: their attempts are not errors


class RecoveryReport(TypedDict):
    """How long the service took to get back after a phase (the plan's `recovery`)."""

    name: str  # recovery["NAME"] in thresholds
    phase: str
    since: Literal["end", "start"]
    since_s: float  # the clock started here (seconds since the run's start)
    recovered_at_s: float | None  # back from here on; None: not within the run
    time_s: float | None  # recovered_at_s - since_s; when not recovered, the time watched (at_least)
    at_least: bool  # not recovered within the run: time_s is a lower bound
    levels: str  # what "back" meant: "p95 <= 100 ms, error rate <= 1% for 30 s"
    p95_ms: float | None  # the levels, as numbers (None: not a condition)
    p99_ms: float | None
    error_rate: float | None
    hold_s: float


class TargetReport(TypedDict):
    """One target of an A/B run: its figures as a one-target run's report gives them."""

    url: str
    verdict: Verdict  # its own checks: its thresholds (target["name"]...) and its validity
    totals: Totals
    latency_ms: LatencySummary
    service_time_ms: LatencySummary
    errors_by_class: dict[str, int]
    status_codes: dict[str, int]
    endpoints: dict[str, EndpointReport]
    stages: dict[str, StageReport]
    phases: list[PhaseReport]
    timeseries: list[TimeseriesPoint]
    generator: GeneratorHealth
    failures: list[FailureGroup]
    recovery: NotRequired[list[RecoveryReport]]
    uncertainty: dict[str, list[float | None]]


class ServicePoint(TypedDict):
    t: float  # seconds since the run's start, like the load's timeseries
    value: float


class ServiceEntry(TypedDict):
    """One declared service's figures over the run's window (CloudWatch's, or its logs')."""

    type: str  # lambda, dynamodb, apigateway, ...
    name: str
    resource: str
    region: str | None
    period_s: int | None  # the series' period
    # Keys carry a unit suffix (duration.p95_ms, cpu.max_ratio): the renderers read units from them.
    values: dict[str, float | None]
    series: dict[str, list[ServicePoint]]
    notes: list[str]
    target: NotRequired[str]  # an A/B run: the target the service serves, as the plan declares it


class ServiceWindow(TypedDict):
    start: str  # ISO 8601 UTC
    end: str
    duration_s: float


class ServiceMetricsSection(TypedDict, total=False):
    """Empty when the plan declares no services (and nothing was noted about them)."""

    window: ServiceWindow
    collected: bool  # False: not read at all (the notes say why)
    notes: list[str]
    services: dict[str, ServiceEntry]  # by threshold key: lambda["orders-api"]


class CostPeriod(TypedDict):
    start: str
    end: str


class CostSection(TypedDict, total=False):
    """What the target costs: Cost Explorer's figures for a tag (``cost:`` in the plan), the Lambda
    target's cost over the run's window and per million requests, and the run's own cost."""

    tag: str  # key=value
    metric: str
    period: CostPeriod
    lookback_days: int
    lookback_usd: float | None
    monthly_usd: float | None
    by_service_monthly_usd: dict[str, float]
    estimated: bool
    target_window_usd: float | None
    target_requests: float | None
    per_million_requests_usd: float | None
    target_components_usd: dict[str, float]
    run_usd: float
    run_components_usd: dict[str, float]
    baseline_monthly_usd: float  # cost.baseline_monthly_usd in the plan, and how the month compares
    delta_vs_baseline_usd: float
    delta_vs_baseline_pct: float | None
    within_baseline: bool
    notes: list[str]


class ServiceSections(TypedDict):
    """A run's service_metrics and cost sections, as collected."""

    service_metrics: ServiceMetricsSection
    cost: CostSection


class Report(TypedDict):
    schema_version: int
    surge_version: str
    interval_s: float  # length of each timeseries point
    run_id: str
    plan: str
    plan_hash: str
    verdict: Verdict
    partial: bool  # stopped early (Ctrl-C, stop, abort_on_fail) — figures cover what ran
    aborted_by: str | None  # the check that aborted the run, if any
    error: str | None
    started_at: str  # ISO 8601 UTC
    ended_at: str
    duration_s: float
    target: str
    mode: Literal["local", "cloud"]
    model: Literal["open", "closed"]
    checks: list[Check]
    totals: Totals
    latency_ms: LatencySummary  # coordinated-omission corrected response time
    service_time_ms: LatencySummary  # send -> last byte
    errors_by_class: dict[str, int]
    status_codes: dict[str, int]
    endpoints: dict[str, EndpointReport]
    stages: dict[str, StageReport]  # in flow order
    phases: list[PhaseReport]
    timeseries: list[TimeseriesPoint]
    service_metrics: ServiceMetricsSection
    cost: CostSection
    generator: GeneratorHealth
    baseline: BaselineInfo | None  # None when the plan names no baseline
    end: RunEndInfo  # how the run ended
    # A re-evaluation of a stored run with a plan (``surge report RUN --plan X``), not the run's report.
    reevaluation: NotRequired[ReevaluationInfo]
    # The plan's setup and teardown flows, when it has them (absent otherwise).
    flows: NotRequired[list[FlowReport]]
    # What failed and how, most frequent first.
    failures: list[FailureGroup]
    # An A/B run (a plan with targets:): each target's figures, in the plan's order; the run's own
    # figures above are all targets' requests together. Absent for a run of one target.
    targets: NotRequired[dict[str, TargetReport]]
    # What the run's own data says about why it failed and what to do.
    findings: list[Finding]
    # The plan's recovery entries, measured (absent when it has none).
    recovery: NotRequired[list[RecoveryReport]]
    applied_load: NotRequired[AppliedLoad]  # absent in reports written before it existed
    # The busiest endpoints' p95 per interval (at most ENDPOINT_SERIES of them): which one broke when.
    endpoint_timeseries: NotRequired[dict[str, list[EndpointPoint]]]
    target_load: NotRequired[Literal["each", "split"]]
    # The headline figures' 95 % intervals from the run's own data, by metric path ([lo, hi]; hi
    # None: unbounded above); empty in a report written before intervals existed. See surge.uncertainty.
    uncertainty: dict[str, list[float | None]]
    # The load's own hash (the plan without its checks, baseline and rule): runs that share it
    # measure the same thing (absent in reports written before it existed).
    load_hash: NotRequired[str]
