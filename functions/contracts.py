"""The event contract between statemachine/surge.asl.json and the Lambda handlers.

Each ``<State>Event`` is exactly what the workflow sends to a handler and each ``<State>Result``
is what the handler must return. The workflow selects result fields by name (``ResultSelector``),
so every key of a result TypedDict is required: use ``None`` where the doc says "or None", never
omit the key. Extra keys are allowed and ignored by the workflow. docs/workflow.md explains each
field and the S3/DynamoDB layout; keep the two in step.

Timestamps are ISO 8601 UTC with second resolution, ``YYYY-MM-DDTHH:MM:SSZ``: the only form a
Step Functions Wait state (``TimestampPath``) accepts.

This module is pure (no AWS, no third-party imports) so that the infrastructure, the tests and
the core can all import it.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

# --- Lambda environment ------------------------------------------------------------------------
ENV_BUCKET: Final = "SURGE_BUCKET"
"""Name of the bucket holding plans/ and runs/."""
ENV_TABLE: Final = "SURGE_TABLE"
"""Name of the DynamoDB table of runs."""
ENV_STATE: Final = "SURGE_STATE"
"""The workflow state this function serves (prepare, worker, aggregate, collect, report)."""
ENV_SECRETS_PREFIX: Final = "SURGE_SECRETS_PREFIX"
ENV_WORKER_RESERVED: Final = "SURGE_WORKER_RESERVED_CONCURRENCY"
"""Set when the stack reserves concurrency for the worker: Prepare checks a run against it."""
ENV_ALLOWED_TARGETS: Final = "SURGE_ALLOWED_TARGETS"
"""Hosts the fleet may load (surge:allowedTargets): comma-separated hosts, *.domains, networks."""
ENV_ALLOW_HOOKS: Final = "SURGE_ALLOW_HOOKS"
"""``true`` when the deployment lets plans run hooks (surge:allowHooks)."""
ENV_EVENT_BUS: Final = "SURGE_EVENT_BUS"
"""The event bus Run Completed goes to when a run is finished outside the workflow (Report)."""
"""Secrets Manager / SSM Parameter Store names a plan may reference start with this."""

Verdict = Literal["pass", "fail", "error"]
Timestamp = str
"""``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""


class ErrorInfo(TypedDict):
    """What a Catch stores at its ResultPath: the error name and its cause (often Lambda's JSON)."""

    Error: str
    Cause: str


# --- Execution input (CLI, console, schedule) -------------------------------------------------
class RunOptions(TypedDict, total=False):
    """Optional overrides of plan settings for one run (the CLI's flags). Validated by
    ``surge.cloud.execution_input.RunOptions`` (bounds, unknown fields refused)."""

    lead_seconds: int
    """Time between invoking a segment's workers and its start_at (cold starts). Default 30."""
    segment_seconds: int
    """Longest segment. Default 600: a worker must finish well inside Lambda's 900 s."""
    per_worker_rate: float
    """Iterations per second one worker is given at most (the planner's capacity). Default 2000."""
    metrics_delay_seconds: float
    """How long Collect waits for CloudWatch to ingest the run's last datapoints. Default 90."""
    min_workers: int
    """Each segment runs at least this many workers. Default: the plan's workers, when a number."""
    drill_crash_shard: int
    """A drill (docs/verify-in-aws.md): this shard of the first segment fails without a result."""


class ExecutionInput(TypedDict, total=False):
    """The state machine's input: exactly one of ``plan`` / ``plan_uri``."""

    plan: dict[str, Any]
    """The plan itself (as parsed YAML/JSON)."""
    plan_uri: str
    """``s3://<bucket>/plans/...``: a plan stored in the stack's bucket."""
    options: RunOptions


# --- Prepare --------------------------------------------------------------------------------------
class PrepareEvent(TypedDict):
    run_id: str
    """The execution name: the CLI names executions after the run; the console/Scheduler use a UUID."""
    execution_arn: str
    started_at: str
    """The execution's start time as Step Functions reports it (ISO 8601, fractional seconds)."""
    input: ExecutionInput


class SegmentSpec(TypedDict):
    """One time slice of the plan, run by ``shard_count`` workers in parallel."""

    index: int
    items_key: str
    """``runs/<run>/seg-<k>/items.json``: JSON array of :class:`ShardItem`, one per worker."""
    shard_count: int
    """Number of items in ``items_key``; also the Distributed Map's MaxConcurrency."""
    start_at: Timestamp
    """When load starts: every worker sleeps until then."""
    end_at: Timestamp
    """When load ends; equals the next segment's ``start_at`` (no gap)."""
    launch_at: Timestamp
    """``start_at`` minus the lead time: when the workflow invokes this segment's workers."""
    merge_slices: list[list[int]]
    """``[first shard, count]`` of each merge task (the MergeShards map's items); empty when the
    segment is small enough for Aggregate to merge alone (surge.cloud.planner.merge_slices)."""


class _PrepareResultOptional(TypedDict, total=False):
    sizing: str
    """How the shards were sized (CPU or Little's law), for the report."""
    stopped_before_start: bool
    """`surge stop` came before Prepare: no segment is launched."""


class PrepareResult(_PrepareResultOptional):
    run_id: str
    plan_name: str
    plan_key: str
    """``runs/<run>/plan.json``: the validated plan, secrets still as references."""
    segment_count: int
    segments: list[SegmentSpec]


# --- Worker (one Distributed Map item) ------------------------------------------------------------
class _ShardItemOptional(TypedDict, total=False):
    # A base class rather than NotRequired[]: under `from __future__ import annotations` Python
    # 3.11 does not see NotRequired in string annotations, and __required_keys__ would be wrong.
    t0: float
    """Plan time zero (epoch seconds, sub-second precision) when Prepare gives more than start_at."""
    window: list[float]
    """``[start_s, end_s]`` of this segment in plan time."""
    drill_crash_after_s: float
    """options.drill_crash_shard: this shard stops that long into its load and fails, unwritten."""
    progress_counter: int
    """Which of the run's progress counter items this worker adds to (never the run record)."""
    progress_counters: int
    """How many counters the run has: a watcher sums them all to judge abort-on-fail checks."""
    secrets_delay_s: float
    """When the plan reads $ssm references: how long after its invocation this worker reads them,
    so the fleet's reads stay within Parameter Store's rate (options.ssm_reads_per_second)."""
    execution_arn: str
    """The execution the worker belongs to. The first shards of each segment watch it: an execution
    ended from outside (a console stop, its timeout) stops the fleet without waiting for events."""


class ShardItem(_ShardItemOptional):
    """One element of a segment's items.json, passed unchanged as the worker's event."""

    run_id: str
    plan_key: str
    segment: int
    segment_count: int
    shard: int
    shard_count: int
    """The worker runs 1/shard_count of the segment's arrival rate."""
    seed: int
    start_at: Timestamp
    end_at: Timestamp
    result_key: str
    """``runs/<run>/seg-<k>/shard-<i>.json``: where the worker writes its result (idempotent)."""


WorkerEvent = ShardItem


class WorkerResult(TypedDict):
    """Informational only: the workflow discards it (``OutputPath: null``); results live in S3."""

    run_id: str
    segment: int
    shard: int
    status: Literal["ok", "stopped", "duplicate"]
    """``stopped``: the run's stop flag was set and the worker ended early (result still written);
    ``duplicate``: another invocation of this shard had started (at-least-once delivery): this one
    sent nothing."""
    result_key: str


# --- MergeSlice (the MergeShards map's task, after each large segment) -------------------------------
class MergeSliceEvent(TypedDict):
    mode: Literal["merge"]
    run_id: str
    segment: SegmentSpec
    slice: list[int]
    """``[first shard, count]``: the shard results this task folds into one partial."""


class MergeSliceResult(TypedDict):
    """Informational (the map's output is discarded): the partial lives in S3."""

    segment: int
    first_shard: int
    shards_merged: int
    """Results of the slice found in S3 and merged; the others are missing (Aggregate names them)."""
    partial_key: str | None
    """``runs/<run>/seg-<k>/partial-<first>.json``; None when no shard of the slice wrote a result."""


# --- Aggregate (after each segment) ---------------------------------------------------------------
class AggregateEvent(TypedDict):
    run_id: str
    segment_count: int
    segment: SegmentSpec
    shards_error: ErrorInfo | None
    """Set when the map exceeded its tolerated failures (States.ExceedToleratedFailureThreshold)."""


class AggregateResult(TypedDict):
    segment: int
    shards_expected: int
    shards_reported: int
    """Shard results found in S3 (listing ``runs/<run>/seg-<k>/``), never the map's output."""
    missing_shards: list[int]
    abort: bool
    """True: the run's stop flag is set (abort-on-fail); the workflow stops later segments."""
    abort_reason: str | None
    """A sentence a person can read; required when ``abort`` is true (it becomes the Cause)."""


# --- Collect (service-side metrics and cost) ------------------------------------------------------
class CollectEvent(TypedDict):
    run_id: str
    run: PrepareResult
    aborted: ErrorInfo | None
    """``{"Error": "surge.Aborted", "Cause": <abort_reason>}`` when a segment aborted the run."""


class CollectResult(TypedDict):
    metrics_key: str | None
    """``runs/<run>/metrics.json``, or None when the plan asks for no service metrics."""
    warnings: list[str]


# --- Report and RecordError (same function, ``mode`` tells which) --------------------------------
class ReportEvent(TypedDict):
    mode: Literal["report"]
    run_id: str
    execution_arn: str
    run: PrepareResult
    aborted: ErrorInfo | None
    collect: CollectResult | None
    collect_error: ErrorInfo | None
    """Collect failed: report without service metrics and say so."""


FailedState = Literal["Prepare", "RunSegments", "Report"]


class RecordErrorEvent(TypedDict):
    mode: Literal["error"]
    run_id: str
    execution_arn: str
    failed_state: FailedState
    error: ErrorInfo
    state: dict[str, Any]
    """The whole workflow state at the failure: ``run`` (PrepareResult) is there unless Prepare failed."""


class Outcome(TypedDict):
    """Result of Report and of RecordError; becomes the Run Completed event and the final status."""

    run_id: str
    plan: str | None
    verdict: Verdict
    cause: str | None
    """Readable; required unless verdict is "pass". For "fail": the failed checks, e.g.
    ``"2 of 5 checks failed: p95 612 ms > 500 ms; error_rate 2.1 % > 1 %"``. For "error": where
    and why the run broke, e.g. ``"Prepare failed: plan.yaml: phases[0].rate must be > 0"``."""
    report_uri: str | None
    """``s3://<bucket>/runs/<run>/report.html`` or None when nothing could be rendered."""
    already_reported: bool
    """The run was finished and announced before (from outside the workflow: a console stop or a
    timeout, then a redrive of the execution): the workflow sends no second Run Completed."""


ReportResult = Outcome
RecordErrorResult = Outcome


class RunCompletedDetail(TypedDict):
    """Detail of the EventBridge event (source ``surge``, detail-type ``Run Completed``)."""

    run_id: str
    plan: str | None
    verdict: Verdict
    cause: str | None
    report_uri: str | None
    execution_arn: str
