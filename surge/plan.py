"""The test plan: its typed models (pydantic v2): the load, the targets, the checks, the baseline
and the rest of a plan around its scenarios (whose steps are surge.plan_steps)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from surge.metrics.bind import bind_thresholds
from surge.metrics.spec import CostSpec, Services
from surge.pause import Pause
from surge.plan_fields import Bytes, PauseSpec, PlanModel, Seconds
from surge.plan_steps import FilePart, Request, Scenario, Step, flow_steps, header_values
from surge.schedule import PhaseShape, shapes
from surge.thresholds import (
    TARGET_NAMESPACES,
    Threshold,
    ThresholdError,
    parse_metric,
    parse_threshold,
)
from surge.units import (
    SHARE_SCHEMA,
    parse_share,
)

# The most of a response body a request holds for its checks and captures; a body nothing reads
# is counted as it streams and never held. A plan may change it (defaults.max_body, max_body).
DEFAULT_MAX_BODY = 10 << 20


class Phase(PlanModel):
    name: str | None = None
    """shown in the report and usable in checks: phase["spike"].http.latency.p95"""
    duration: Seconds = Field(gt=0)
    """how long the phase lasts"""
    rate: float | None = Field(default=None, ge=0, description="scenario iterations per second (open model)")
    users: int | None = Field(default=None, ge=0, description="concurrent virtual users (closed model)")
    ramp_to: float | None = Field(default=None, ge=0)
    """the rate (or users) reached at the phase's end, from `rate` (or `users`) at its start: a linear ramp"""

    @model_validator(mode="after")
    def _one_model(self) -> Phase:
        if (self.rate is None) == (self.users is None):
            raise ValueError("a phase sets either 'rate' (arrivals per second) or 'users' (virtual users)")
        return self

    @property
    def model(self) -> Literal["open", "closed"]:
        return "open" if self.rate is not None else "closed"

    @property
    def start_level(self) -> float:
        return float(self.rate if self.rate is not None else self.users or 0)

    @property
    def end_level(self) -> float:
        return self.ramp_to if self.ramp_to is not None else self.start_level


class Recovery(PlanModel):
    """How long the service takes to recover after a phase (typically a spike): from the phase's end
    (or start) until every interval's p95 (or p99) and error rate are back at or under these levels
    and stay there for `hold`. Checked as recovery["NAME"].time < 2m; drawn on the latency chart."""

    name: str | None = Field(default=None, pattern=r"^[\w.\- ]+$")
    """what thresholds call it: recovery["after-spike"]; default after-<phase>"""
    after: str = Field(min_length=1)
    """the phase it follows, by name"""
    since: Literal["end", "start"] = "end"
    """count from the phase's end (the load came down) or its start"""
    p95: Seconds | None = None
    """back when each interval's p95 response time is at most this"""
    p99: Seconds | None = None
    """back when each interval's p99 response time is at most this"""
    error_rate: Share | None = None
    """back when each interval's error rate is at most this"""
    hold: Seconds = Field(default=10.0, gt=0)
    """and stays back this long"""

    @model_validator(mode="after")
    def _some_level(self) -> Recovery:
        if self.p95 is None and self.p99 is None and self.error_rate is None:
            raise ValueError("say what recovered means: p95, p99 and/or error_rate")
        return self

    @property
    def key(self) -> str:
        return self.name or f"after-{self.after}"


class Limits(PlanModel):
    """Safety caps: a plan must raise them explicitly to go beyond."""

    max_rate: float = Field(default=5000, gt=0)
    """refuse plans above this many iterations per second (a guard against typos)"""
    max_users: int = Field(default=5000, gt=0)
    """refuse plans above this many virtual users"""
    max_duration: Seconds = Field(default=7200, gt=0)
    """refuse plans longer than this"""
    max_workers: int = Field(default=200, gt=0, le=1000)
    """the most worker processes (local) or Lambda shards per segment (cloud), at most 1000: the
    largest fleet the cloud workflow is built and drilled for"""


def _share(v: object) -> float:
    return parse_share(v)


Share = Annotated[float, BeforeValidator(_share), WithJsonSchema(SHARE_SCHEMA)]


def _workers_lost(v: object) -> object:
    # A count of workers, or a share of them ("10%").
    return parse_share(v) if isinstance(v, str) else v


class Validity(PlanModel):
    """What makes a run a valid test, checked in every run besides the plan's thresholds. The
    defaults are strict; a plan may loosen one, and the report shows it as changed."""

    max_workers_lost: Annotated[
        int | float,
        BeforeValidator(_workers_lost),
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, SHARE_SCHEMA]}),
    ] = Field(
        default=0,
        ge=0,
        description="workers (local processes or cloud shards) whose result may be missing: "
        "a count, or a share of the workers such as 10%",
    )
    max_dropped: Share = Field(
        default=0.01, description="share of the planned iterations that may be dropped (open model)"
    )
    max_late: Share = Field(
        default=0.01,
        description="share of the arrivals that may start more than max_loop_lag after their time",
    )
    max_cpu: Share = Field(default=0.9, description="busiest worker's CPU over the load, share of a core")
    max_loop_lag: Seconds = Field(default=0.025, gt=0, description="p99 of a worker's event-loop lag")

    @field_validator("max_workers_lost")
    @classmethod
    def _whole_count(cls, v: int | float) -> int | float:
        if isinstance(v, float) and v > 1:
            raise ValueError("a count of workers is a whole number; a share is written like 10%")
        if isinstance(v, float) and v >= 1:
            # A plan may loosen a validity check, never switch it off: with every worker lost a
            # run measured nothing.
            raise ValueError("100% of the workers lost would pass a run that measured nothing; at most 99%")
        return v

    def changed(self) -> dict[str, object]:
        """The settings the plan changed from the defaults, as written in the plan's units."""
        default = Validity()
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if getattr(self, name) != getattr(default, name)
        }


DEFAULT_IN_FLIGHT_PER_WORKER = 1000
# Beyond this no fleet can schedule arrivals (1000 Lambda workers at 10k/s each): a plan asking for
# more is a typo or a unit mix-up, refused before it can tie a generator up walking its schedule.
SCHEDULABLE_RATE = 1e7
# A Lambda worker may hold 1,024 open files; the runtime, boto3's pools and the logs need some.
MAX_CONNECTIONS_PER_WORKER = 900


class Load(PlanModel):
    phases: list[Phase] = Field(min_length=1)
    """the load over time, one phase after another"""
    arrival: Literal["uniform", "poisson"] = "uniform"
    """open model: arrivals evenly spaced, or a Poisson process (random gaps at the same mean rate)"""
    max_in_flight: int | None = Field(
        default=None,
        gt=0,
        description="iterations in flight per run beyond which arrivals are dropped "
        f"(default: {DEFAULT_IN_FLIGHT_PER_WORKER} per worker)",
    )
    connections: int | None = Field(
        default=None, gt=0, description="open connections per run (default: one per iteration in flight)"
    )
    warm_connections: bool = Field(
        default=True,
        description="open connections to the plan's hosts before the load starts, so the first "
        "second measures the service rather than handshakes; false measures cold connections",
    )

    def shapes(self) -> list[PhaseShape]:
        """The phases laid end to end as the scheduler reads them: the one curve of the planned
        level (arrivals per second, or users) that the engine, the planner and the report ask."""
        return shapes([(p.duration, p.start_level, p.end_level) for p in self.phases])

    def per_worker_limits(self, workers: int) -> tuple[int, int]:
        """(iterations in flight, connections) for one of ``workers``: a per-run total the plan
        sets is shared out; the defaults are per worker, so they grow with the fleet."""
        in_flight = (
            max(1, self.max_in_flight // workers)
            if self.max_in_flight is not None
            else DEFAULT_IN_FLIGHT_PER_WORKER
        )
        connections = max(1, self.connections // workers) if self.connections is not None else in_flight
        # Stay under Lambda's descriptor limit whatever the plan says.
        return in_flight, min(connections, MAX_CONNECTIONS_PER_WORKER)

    think_time: PauseSpec = Field(
        default=Pause(0.0, 0.0),
        description="closed model: pause between a user's iterations (2s, 1s..3s, {mean: 2s, stddev: 500ms})",
    )
    pace: PauseSpec | None = Field(
        default=None, description="closed model: intended time between a user's iterations (fixed or varied)"
    )

    @model_validator(mode="after")
    def _same_model(self) -> Load:
        models = {p.model for p in self.phases}
        if len(models) > 1:
            raise ValueError(
                "all phases must use 'rate' (open model) or all 'users' (closed model), not both"
            )
        if all(p.start_level == 0 and p.end_level == 0 for p in self.phases):
            # A run that sends nothing measures nothing: it cannot pass, so it is refused before.
            what = "rate" if self.model == "open" else "users"
            raise ValueError(
                f"every phase has {what} 0: the plan sends no load; give a phase a {what} above 0"
            )
        return self

    @property
    def model(self) -> Literal["open", "closed"]:
        return self.phases[0].model

    @property
    def duration_s(self) -> float:
        return sum(p.duration for p in self.phases)


class DataFile(PlanModel):
    file: str
    """a CSV file; each row's columns are variables for one iteration (relative: beside the plan; s3:// in cloud runs)"""
    order: Literal["sequential", "random"] = "sequential"
    """rows in file order (each worker takes its share) or drawn at random"""


class Defaults(PlanModel):
    headers: Annotated[dict[str, str], AfterValidator(header_values)] = Field(default_factory=dict)
    """headers every request sends"""
    timeout: Seconds = Field(default=30.0, gt=0)
    """a request's timeout"""
    connect_timeout: Seconds = Field(default=10.0, gt=0)
    """the longest a connection may take to open"""
    max_body: Bytes = Field(
        default=DEFAULT_MAX_BODY,
        description="the most of a response body a request holds for its checks and captures "
        "(bodies nothing reads are counted, never held); more fails the check as too_large",
    )


class ThresholdSpec(PlanModel):
    check: str
    """a check: METRIC OP VALUE, e.g. http.latency.p95 < 300ms"""
    abort_on_fail: bool = False
    """stop the run as soon as the check fails (after `grace`)"""
    grace: Seconds = 0.0
    """how long into the run before an abort may happen"""


LAST_PASS = "last-pass"
_BASELINE_HELP = "use 'last-pass', a run id (see `surge runs`), or {file: figures.json}"


class MappedFigure(PlanModel):
    """Where a baseline file's field goes: the metric, and the unit the file gives it in."""

    metric: Annotated[str, AfterValidator(lambda v: _metric_path(v))]
    """the metric path, as thresholds name it: http.latency.p95, cost.monthly_usd"""
    unit: Literal["ms", "s", "us", "%", "/s", "usd"] | None = None
    """the field's unit when it is not the metric's own (ms, fraction, per second, USD): % for a
    percentage (0.5 means 0.5 %), s for seconds"""


MappedField = Annotated[
    Annotated[str, AfterValidator(lambda v: _metric_path(v)), Tag("<metric>")]
    | Annotated[MappedFigure, Tag("<figure>")],
    # Tagged, so a bad entry reports its own problem, not one per shape it might have had.
    Discriminator(lambda v: "<metric>" if isinstance(v, str) else "<figure>"),
]


class BaselineFile(PlanModel):
    """Figures from another system (e.g. the platform being replaced): surge's own figures keyed by
    metric path, another tool's result file, or any JSON with a `map`."""

    file: str = Field(min_length=1)
    """a results.json of an earlier run, an Artillery report, a k6 summary export, a Locust
    stats CSV or a JSON of figures (relative: beside the plan; s3:// in cloud runs)"""
    format: Literal["auto", "surge", "artillery", "k6", "locust"] = "auto"
    """what wrote the file; auto tells by its content"""
    map: dict[str, MappedField] | None = None
    """field path in the file -> metric (or {metric, unit}); only mapped fields are read:
    {responseTime.p95: http.latency.p95, errorRate: {metric: http.error_rate, unit: "%"}}"""

    @model_validator(mode="after")
    def _map_reads_json(self) -> BaselineFile:
        if self.map is not None and self.format not in ("auto", "surge"):
            raise ValueError(f"map reads a JSON of figures; a {self.format} file is read without one")
        if self.map is not None and not self.map:
            raise ValueError("map is empty; name at least one field and its metric")
        return self

    def mapping(self) -> dict[str, tuple[str, str | None]] | None:
        """{field path: (metric, unit)}, or None without a map."""
        if self.map is None:
            return None
        return {
            path: (m.metric, m.unit) if isinstance(m, MappedFigure) else (m, None)
            for path, m in self.map.items()
        }


def _baseline_spec(v: object) -> object:
    if isinstance(v, str):
        v = v.strip()
        if v.lower().endswith(".json"):
            # The likeliest slip: a file named where a run id is expected.
            raise ValueError(f"'{v}' looks like a file; write baseline: {{file: {v}}}")
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"'{v}' is not a baseline; {_BASELINE_HELP}")
    elif v is not None and not isinstance(v, dict | BaselineFile):
        raise ValueError(f"{v!r} is not a baseline; {_BASELINE_HELP}")
    return v


def _baseline_kind(v: object) -> str:
    # Tagging the union makes a bad {file: ...} report only its own problems, not "not a string".
    return "<run>" if isinstance(v, str) else "<file>"


BaselineSpec = Annotated[
    Annotated[str, Tag("<run>")] | Annotated[BaselineFile, Tag("<file>")],
    Discriminator(_baseline_kind),
]


def _metric_path(v: str) -> str:
    try:
        return parse_metric(v).canonical
    except ThresholdError as exc:
        raise ValueError(str(exc)) from None


class Regression(PlanModel):
    """Fail a check's metric when it is worse than the baseline by more than max_worse_pct."""

    max_worse_pct: float = Field(ge=0, description="percent worse than the baseline that still passes")
    noise: Literal["aware", "ignore"] = Field(
        default="aware",
        description="aware: fail only on a change beyond max_worse_pct and beyond the noise (both runs' "
        "95% intervals and the spread between earlier runs of the plan); ignore: the figures alone decide",
    )
    metrics: list[Annotated[str, AfterValidator(_metric_path)]] | None = Field(
        default=None,
        min_length=1,
        description="only these metrics (default: the checks' metrics and the headline ones)",
    )

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(dict.fromkeys(v))


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# What a plan's checks and verdict are made of, not the load it sends (Plan.load_hash leaves them out).
JUDGEMENT_FIELDS = ("baseline", "regression", "thresholds", "within_uncertainty", "validity", "description")

OPTIONAL_SECTIONS = (
    "allow_hosts",
    "recovery",
    "defaults",
    "variables",
    "data",
    "thresholds",
    "limits",
    "description",
    "baseline",
    "regression",
    "services",
    "cost",
    "allow_resources",
    "validity",
)


TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w.\-]*$", max_length=40)]


def _base_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{v}' is not an http(s) URL; e.g. http://127.0.0.1:8080")
    try:
        parts.port  # noqa: B018 - reading it checks it: a port past 65535 is refused here, not mid-run
    except ValueError:
        raise ValueError(f"'{v}' has no valid port (1-65535); e.g. http://127.0.0.1:8080") from None
    return v.rstrip("/")


def per_target(thresholds: list[Threshold], targets: Sequence[str]) -> list[Threshold]:
    """An A/B plan's checks: one on a request metric that names no target holds for every target
    (a check per target); checks naming a target, comparisons, services and cost stay as written."""
    out: list[Threshold] = []
    for th in thresholds:
        if th.metric.target is not None or th.metric.namespace not in TARGET_NAMESPACES:
            out.append(th)
            continue
        for name in targets:
            metric = th.metric.on_target(name)
            out.append(replace(th, metric=metric, expr=f"target[{json.dumps(name)}].{th.expr}"))
    return out


def _k6_thresholds(v: object) -> object:
    from surge.k6_thresholds import expand_k6

    return expand_k6(v)


def _threshold_spec(v: object) -> object:
    return {"check": v} if isinstance(v, str) else v


class Plan(PlanModel):
    name: str = Field(min_length=1, pattern=r"^[\w.\- ]+$")
    """the plan's name: runs of one name form a history"""
    description: str | None = None
    """shown in the report"""
    target: str
    """the base URL requests are relative to; required unless the plan names `targets` (A/B)"""
    targets: dict[TargetName, str] = Field(default_factory=dict)
    """A/B in one run: two or more named base URLs that get the same load, reported side by side
    and compared in checks (target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05);
    see docs/migrating.md"""
    target_load: Literal["each", "split"] = "each"
    """A/B: each target gets the whole arrival schedule (each), or the schedule's arrivals and
    users are shared out among the targets (split)"""
    allow_hosts: list[str] = Field(default_factory=list)
    """more hosts full URLs (and redirects) may reach besides the target's"""
    defaults: Defaults = Field(default_factory=Defaults)
    """what every request gets unless it says otherwise"""
    load: Load
    """how much load, and how it changes over time"""
    scenarios: list[Scenario] = Field(min_length=1)
    """what a virtual user does; one is picked per iteration by weight"""
    cookies: bool = Field(
        default=True,
        description="a cookie jar per virtual user (closed model) or per iteration (open model): "
        "Set-Cookie answers are sent back as browsers, Artillery and Locust do; false sends none",
    )
    variables: dict[str, Any] = Field(default_factory=dict)
    """values every iteration can read as {{ name }}, rendered once per worker in order"""
    data: DataFile | None = None
    """a CSV file of per-iteration values"""
    thresholds: Annotated[
        list[Annotated[ThresholdSpec, BeforeValidator(_threshold_spec)]], BeforeValidator(_k6_thresholds)
    ] = Field(default_factory=list)
    """the checks that decide pass or fail (k6's syntax too: http_req_duration: ['p(95)<500'])"""
    within_uncertainty: Literal["measured", "pass", "fail"] = "measured"
    """a check whose target lies inside its figure's 95% interval: the measured value decides
    (measured), it passes (pass: fail only what is surely over), or it fails (fail: pass only what
    is surely within); the report marks it either way"""
    workers: int | Literal["auto"] = "auto"
    """workers that share the load: local worker processes (auto: one per core); in the cloud, at
    least this many Lambda workers per segment (more when the rate needs them)"""
    interval: Seconds = Field(default=1.0, gt=0)
    """the time resolution of the report's series"""
    seed: int | None = None
    """makes random choices (scenario picks, think times, $randint) reproducible"""
    recovery: list[Recovery] = Field(default_factory=list)
    """how long the service takes to get back after a phase (a spike): recovery["NAME"].time"""
    limits: Limits = Field(default_factory=Limits)
    """guards against plans bigger than intended"""
    baseline: Annotated[BaselineSpec | None, BeforeValidator(_baseline_spec)] = None
    """a run to compare with: last-pass, a run id, or {file: ...}"""
    regression: Regression | None = None
    """fail when a metric is this much worse than the baseline"""
    services: Services = Field(default_factory=list)
    """the target's AWS resources whose CloudWatch metrics join the report (docs/service-metrics.md)"""
    allow_resources: list[str] = Field(
        default_factory=list, description="AWS resources aws: steps may call (names, ARNs, globs)"
    )
    cost: CostSpec | None = None
    """estimate the run's cost from tags (docs/service-metrics.md)"""
    validity: Validity = Field(default_factory=Validity)
    """what makes a run a valid test (README, "What a PASS guarantees")"""
    redact: list[str] = Field(
        default_factory=list,
        description="more header, JSON field or variable names whose values are masked in every output "
        "(credential headers such as Authorization and $env values always are)",
    )
    hooks: str | None = None
    """a Python file of your functions (relative: beside the plan): called in templates
    ({{ sign(body) }}) and as a request's before/after hooks; shipped with cloud runs"""
    setup: list[Step] | None = Field(default=None, min_length=1)
    """steps run once before the load (log in once, seed data); what they capture every iteration
    can read; a failing setup stops the run before any load (exit 2). Its requests are reported
    apart and count in no load figure or check"""
    teardown: list[Step] | None = Field(default=None, min_length=1)
    """steps run once after the load, even after a stop or an abort (delete what the test made);
    they read setup's variables; reported apart, never in the load's figures"""
    on_start: list[Step] | None = Field(default=None, min_length=1)
    """steps each virtual user runs once before its first iteration (closed model: log in per user);
    what they capture that user's iterations read; retried at the user's next cycle if they fail.
    Their requests are part of the load, under their own endpoint names"""

    def extra_flows(self) -> list[tuple[str, list[Step]]]:
        """The flows besides the scenarios' (setup, teardown, on_start), with their field names."""
        named = (("setup", self.setup), ("teardown", self.teardown), ("on_start", self.on_start))
        return [(name, flow) for name, flow in named if flow is not None]

    @model_validator(mode="after")
    def _on_start_needs_users(self) -> Plan:
        if self.on_start is not None and self.load.model == "open":
            raise ValueError(
                "on_start runs once per virtual user, in the closed model (phases with users); in the "
                "open model every iteration is a new user: put those steps at the start of the flow"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        # A YAML section left with only comments ("variables:") is null: read it as empty.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in OPTIONAL_SECTIONS)}
        return data

    @model_validator(mode="before")
    @classmethod
    def _target_of_targets(cls, data: object) -> object:
        # An A/B plan's `target` is its first target's: every code path that reads the one target
        # (reachability, hosts, a plan without targets) sees one of the plan's own.
        targets = data.get("targets") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(targets, dict) and targets and data.get("target") is None:
            return {**data, "target": next(iter(targets.values()))}
        return data

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _base_url(v)

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) == 1:
            raise ValueError("an A/B run compares two or more targets; with one, write `target: URL`")
        urls = {name: _base_url(url) for name, url in v.items()}
        seen: dict[str, str] = {}
        for name, url in urls.items():
            if url in seen:
                raise ValueError(
                    f"'{name}' and '{seen[url]}' are the same URL ({url}); an A/B run compares two systems"
                )
            seen[url] = name
        return urls

    @model_validator(mode="after")
    def _ab_plan(self) -> Plan:
        if not self.targets:
            if self.target_load != "each":
                raise ValueError("target_load shares the load among targets: name them under targets:")
            if any(service.target is not None for service in self.services):
                raise ValueError(
                    "a service's target names one of an A/B run's targets: this plan has one target"
                )
            return self
        if self.target not in self.targets.values():
            raise ValueError(
                f"target {self.target} is not one of targets ({', '.join(self.targets.values())}): an A/B "
                "plan names its targets under targets: only (to change one, --target NAME=URL)"
            )
        for i, service in enumerate(self.services):
            if service.target is not None and service.target not in self.targets:
                raise ValueError(
                    f"services[{i}].target: no target named '{service.target}'; the plan has: {', '.join(self.targets)}"
                )
        if self.target_load == "split" and isinstance(self.workers, int) and self.workers < len(self.targets):
            raise ValueError(
                f"workers: split among {len(self.targets)} targets needs at least {len(self.targets)}"
            )
        return self

    @model_validator(mode="after")
    def _recovery_phases(self) -> Plan:
        names = [phase_label(p, i) for i, p in enumerate(self.load.phases)]
        seen: set[str] = set()
        for i, spec in enumerate(self.recovery):
            if spec.after not in names:
                raise ValueError(
                    f"recovery[{i}].after: no phase named '{spec.after}'; the plan has: {', '.join(names)}"
                )
            if spec.key in seen:
                raise ValueError(f"recovery[{i}]: a second recovery named '{spec.key}'; give it a name")
            seen.add(spec.key)
        return self

    @model_validator(mode="after")
    def _limits(self) -> Plan:
        lim = self.limits
        for i, p in enumerate(self.load.phases):
            peak = max(p.start_level, p.end_level)
            if p.model == "open" and peak > lim.max_rate:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g}/s, above limits.max_rate ({lim.max_rate:g}); "
                    "raise limits.max_rate to allow it"
                )
            if p.model == "closed" and peak > lim.max_users:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g} users, above limits.max_users ({lim.max_users}); "
                    "raise limits.max_users to allow it"
                )
            if p.model == "open" and peak > SCHEDULABLE_RATE:
                raise ValueError(
                    f"load.phases[{i}] asks for {peak:g}/s: no generator fleet schedules more than "
                    f"{SCHEDULABLE_RATE:g} arrivals per second, whatever limits.max_rate allows"
                )
        if self.load.duration_s > lim.max_duration:
            raise ValueError(
                f"the phases last {self.load.duration_s:g}s, above limits.max_duration "
                f"({lim.max_duration:g}s); raise limits.max_duration to allow it"
            )
        if isinstance(self.workers, int) and not 1 <= self.workers <= lim.max_workers:
            raise ValueError(f"workers must be between 1 and limits.max_workers ({lim.max_workers})")
        return self

    @field_validator("regression")
    @classmethod
    def _regression_needs_baseline(cls, v: Regression | None, info: ValidationInfo) -> Regression | None:
        # "baseline" is missing from info.data only when it failed its own validation: one error is enough.
        if v is not None and "baseline" in info.data and info.data["baseline"] is None:
            raise ValueError(f"compares against a baseline: add 'baseline' ({_BASELINE_HELP})")
        return v

    # -- derived -------------------------------------------------------------------------------
    @property
    def target_host(self) -> str:
        return urlsplit(self.target).hostname or ""

    @property
    def allowed_hosts(self) -> frozenset[str]:
        # Entries may be written host:port; hosts are what is compared.
        hosts = (urlsplit(f"//{h}").hostname or h for h in self.allow_hosts)
        targets = (urlsplit(url).hostname or "" for url in self.targets.values())
        return frozenset({self.target_host, *targets, *(h.lower() for h in hosts)})

    def for_target(self, name: str) -> Plan:
        """One target's part of an A/B plan: the same plan with that target alone (its checks are
        the A/B plan's to judge, across targets)."""
        return self.model_copy(update={"target": self.targets[name], "targets": {}, "target_load": "each"})

    def parsed_thresholds(self) -> list[Threshold]:
        parsed = [
            parse_threshold(t.check, abort_on_fail=t.abort_on_fail, grace_s=t.grace) for t in self.thresholds
        ]
        if self.targets:
            parsed = per_target(parsed, list(self.targets))
        # Service thresholds may compare with declared values (`pool * 0.9`): bind them here.
        return bind_thresholds(parsed, self.services, self.cost) if self.services or self.cost else parsed

    @property
    def baseline_spec(self) -> str | None:
        """The baseline as one string: "last-pass", a run id, or "file:<path as written>"."""
        if isinstance(self.baseline, BaselineFile):
            return f"file:{self.baseline.file}"
        return self.baseline

    def plan_hash(self) -> str:
        """Identifies the plan as written: its files count by name, not by where they were read
        from (a cloud run reads its own per-run copies, which would make every hash different)."""
        data = self._hashable()
        if not self.validity.changed():
            del data["validity"]  # plans written before validity settings existed hash as they did
        canonical = json.dumps(data, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def _hashable(self) -> dict[str, Any]:
        """The plan's fields with its files named by file name, not by where they were read."""
        data = self.model_dump(mode="json", by_alias=True)
        for name in ("data", "baseline"):
            ref = data.get(name)
            if isinstance(ref, dict) and isinstance(ref.get("file"), str):
                ref["file"] = _file_name(ref["file"])
        if isinstance(data.get("hooks"), str):
            data["hooks"] = _file_name(data["hooks"])
        return data

    def load_hash(self) -> str:
        """Identifies the load the plan sends: its hash without its checks, baseline and regression
        rule. Runs with the same load hash measure the same thing, so their spread is the noise a
        regression rule allows for, whatever was changed in the checks between them."""
        data = self._hashable()
        for name in JUDGEMENT_FIELDS:
            data.pop(name, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def with_target(self, target: str) -> Plan:
        data = self.model_dump(mode="json", by_alias=True)
        data["target"] = target
        return Plan.model_validate(data)


# -- what a plan names ---------------------------------------------------------------------------


S3_SCHEME = "s3://"


def is_s3_uri(ref: str) -> bool:
    """A data or baseline file named as an S3 object: read by cloud runs only."""
    return ref.startswith(S3_SCHEME)


def hooks_path(plan: Plan, base_dir: Path) -> Path | None:
    if plan.hooks is None:
        return None
    return Path(plan.hooks) if os.path.isabs(plan.hooks) else base_dir / plan.hooks


def file_part_path(part: FilePart, base_dir: Path) -> Path:
    return Path(part.path) if os.path.isabs(part.path) else base_dir / part.path


def plan_requests(plan: Plan) -> Iterator[tuple[str, Request]]:
    """Every HTTP request of the plan (steps' and polls'), with its field path."""
    flows = [(f"scenarios[{s}].flow", sc.flow) for s, sc in enumerate(plan.scenarios)]
    flows += [(name, flow) for name, flow in plan.extra_flows()]
    for at, flow in flows:
        for where, step in flow_steps(flow, at):
            if step.request is not None:
                yield f"{where}.request", step.request
            elif step.poll is not None and step.poll.request is not None:
                yield f"{where}.poll.request", step.poll.request


def file_parts(plan: Plan) -> Iterator[tuple[str, FilePart]]:
    """Every file of a multipart body in the plan, with its field path, in plan order."""
    for at, req in plan_requests(plan):
        for name, part in (req.multipart or {}).items():
            if isinstance(part, FilePart):
                yield f"{at}.multipart.{name}", part


def endpoint_names(plan: Plan) -> set[str]:
    names = set()
    for flow in [sc.flow for sc in plan.scenarios] + ([plan.on_start] if plan.on_start else []):
        for _, st in flow_steps(flow):
            if st.request is not None:
                names.add(st.request.display_name)
            if st.poll is not None:
                names.add(st.poll.display_name)
            if st.aws is not None:
                names.add(st.aws.display_name)
                if st.aws.call == "lambda.invoke":  # recorded apart by cold and warm start
                    names |= {f"{st.aws.display_name} [cold]", f"{st.aws.display_name} [warm]"}
    return names


def stage_names(plan: Plan) -> set[str]:
    """Stage metrics: `stage:` spans and the waits of polls (their `metric`)."""
    names = set()
    for sc in plan.scenarios:
        for _, st in flow_steps(sc.flow):
            if st.stage is not None:
                names.add(st.stage)
            if st.poll is not None and st.poll.metric is not None:
                names.add(st.poll.metric)
    return names


def phase_names(plan: Plan) -> list[str]:
    return [phase_label(p, i) for i, p in enumerate(plan.load.phases)]


def phase_label(phase: Phase, index: int) -> str:
    return phase.name or f"phase {index + 1}"
