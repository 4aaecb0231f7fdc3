"""The state machine's execution input: what the CLI sends and what a console user pastes.

One model for both, so a wrong field is refused the same way wherever it comes from: the CLI before
it starts an execution (exit 2), Prepare when an execution was started by hand or by a schedule (the
execution fails with a cause naming the field). Bounds keep every worker inside Lambda's 15 minutes
and the segment list inside Step Functions' 256 KB state limit.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from surge.errors import PlanError
from surge.plan import Plan
from surge.plan_checks import pydantic_problems

# Iterations per second one Lambda worker is given at most: half of the slowest flow one worker
# sustained in bench/capacity.py (a two-request templated flow on aiohttp: 4,147/s; bench/RESULTS.md),
# so a worker never runs near saturation. A run may override it (options.per_worker_rate).
PER_WORKER_RATE = 2000.0
PER_WORKER_USERS = 200
DEFAULT_LEAD_S = 30
DEFAULT_SEGMENT_S = 600
DEFAULT_METRICS_DELAY_S = 90.0
LAMBDA_TIMEOUT_S = 900  # a Lambda invocation lives at most 15 minutes
# A worker stops this long before its Lambda timeout, to drain and upload its result.
WORKER_SAFETY_MARGIN_S = 25
# Each segment is ~400 bytes of state; Step Functions passes at most 256 KB between states.
MAX_SEGMENTS = 200
# The state machine's TimeoutSeconds (statemachine/surge.asl.json): a run that hangs is ended by
# Step Functions. A plan must leave room for the first lead, Collect's wait and Report.
EXECUTION_TIMEOUT_S = 10800
EXECUTION_MARGIN_S = 1800
DRILL_CRASH_AFTER_S = 2.0


class RunOptions(BaseModel):
    """``options`` of the execution input."""

    model_config = ConfigDict(extra="forbid")

    lead_seconds: int = Field(
        default=DEFAULT_LEAD_S, ge=1, le=120, description="time for workers' cold starts before a segment"
    )
    segment_seconds: float = Field(
        default=DEFAULT_SEGMENT_S, ge=1, le=DEFAULT_SEGMENT_S, description="longest segment of the plan"
    )
    per_worker_rate: float = Field(
        default=PER_WORKER_RATE,
        gt=0,
        le=50_000,
        description="iterations per second one worker is given at most",
    )
    metrics_delay_seconds: float = Field(
        default=DEFAULT_METRICS_DELAY_S, ge=0, le=600, description="wait for CloudWatch before Collect reads"
    )
    ssm_reads_per_second: float = Field(
        default=30.0,
        gt=0,
        le=10_000,
        description="Parameter Store calls per second a fleet's start may spend reading $ssm references "
        "(the account's default throughput is 40/s; raise it after enabling higher throughput)",
    )
    min_workers: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="each segment runs at least this many workers (default: the plan's workers when a "
        "number, else what the rate needs); surge run --cloud --workers N",
    )
    drill_crash_shard: int | None = Field(
        default=None,
        ge=0,
        description="a drill: this shard of the first segment fails DRILL_CRASH_AFTER_S into its load "
        "without writing a result, to see a lost worker handled in your own account",
    )

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: object) -> object:
        if isinstance(data, dict) and "tolerated_failure_percentage" in data:
            raise ValueError(
                "tolerated_failure_percentage is no option any more: every shard is awaited, and "
                "the plan's validity.max_workers_lost says how many may be lost"
            )
        return data

    @field_validator("segment_seconds", "per_worker_rate", "metrics_delay_seconds", "ssm_reads_per_second")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class ExecutionInput(BaseModel):
    """``{"plan": {...}}`` or ``{"plan_uri": "s3://..."}``, with optional ``options``."""

    model_config = ConfigDict(extra="forbid")

    plan: dict[str, Any] | None = None
    plan_uri: str | None = None
    options: RunOptions = Field(default_factory=RunOptions)

    @model_validator(mode="after")
    def _one_plan(self) -> ExecutionInput:
        if (self.plan is None) == (self.plan_uri is None):
            raise ValueError(
                'give one of "plan" (the plan as an object) or "plan_uri" ("s3://BUCKET/plans/x.yaml")'
            )
        return self


def parse_execution_input(data: object) -> ExecutionInput:
    """The execution input, checked; PlanError naming each wrong field otherwise."""
    if not isinstance(data, dict):
        raise PlanError(
            f'the execution input must be a JSON object such as {{"plan_uri": "s3://..."}}, '
            f"not {type(data).__name__}"
        )
    try:
        return ExecutionInput.model_validate(data)
    except ValidationError as err:
        raise PlanError("the execution input is invalid:", pydantic_problems(err, root="(input)")) from None


def parse_options(data: object) -> RunOptions:
    """Just the options (the CLI builds them from its flags)."""
    if data is None:
        return RunOptions()
    if not isinstance(data, dict):
        raise PlanError(f"options must be a JSON object, not {type(data).__name__}")
    try:
        return RunOptions.model_validate(data)
    except ValidationError as err:
        problems = [f"options.{p}" for p in pydantic_problems(err, root="")]
        raise PlanError("the execution input is invalid:", problems) from None


def check_fits(plan: Plan, options: RunOptions) -> None:
    """Bounds that need the plan: a worker's invocation (lead, segment, drain) fits Lambda's 15
    minutes, and the plan's segments fit the state limit."""
    drain = plan.defaults.timeout
    busy = options.lead_seconds + options.segment_seconds + drain + WORKER_SAFETY_MARGIN_S
    problems: list[str] = []
    if busy > LAMBDA_TIMEOUT_S:
        problems.append(
            f"options: lead_seconds ({options.lead_seconds}) + segment_seconds ({options.segment_seconds:g}) + "
            f"the plan's request timeout ({drain:g} s, the drain) + {WORKER_SAFETY_MARGIN_S} s must fit a "
            f"Lambda's {LAMBDA_TIMEOUT_S} s; lower segment_seconds or lead_seconds"
        )
    segments = math.ceil(plan.load.duration_s / options.segment_seconds - 1e-9)
    if segments > MAX_SEGMENTS:
        problems.append(
            f"options.segment_seconds: {options.segment_seconds:g} s cuts the plan's "
            f"{plan.load.duration_s:g} s into {segments} segments, more than {MAX_SEGMENTS}; raise it"
        )
    longest = EXECUTION_TIMEOUT_S - EXECUTION_MARGIN_S
    if plan.load.duration_s + options.lead_seconds > longest:
        problems.append(
            f"load: a cloud run's phases last at most {longest} s (the workflow's {EXECUTION_TIMEOUT_S} s "
            f"timeout, less {EXECUTION_MARGIN_S} s for starting, collecting and reporting); this plan's "
            f"last {plan.load.duration_s:g} s: split it into several runs"
        )
    if options.min_workers is not None and options.min_workers > plan.limits.max_workers:
        problems.append(
            f"options.min_workers: {options.min_workers} is more than the plan's limits.max_workers "
            f"({plan.limits.max_workers}); raise the limit or ask for fewer workers"
        )
    if problems:
        raise PlanError("the execution input does not fit the plan:", problems)
