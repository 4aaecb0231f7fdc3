"""Names shared by the infrastructure, the workflow definition and the tests (no CDK import).

The S3 key layout and the table's key design are part of the contract with the core
(``surge.cloud.handlers``); docs/workflow.md describes them. IAM policies are written from the
same patterns, so a key that drifts from them is denied rather than silently allowed.
"""

from __future__ import annotations

from typing import Final

# Re-exported: the Lambda environment variable names belong to the handlers' contract, the
# runs table's key design to the core's store (surge.store.run_table).
from functions.contracts import ENV_ALLOW_HOOKS as ENV_ALLOW_HOOKS
from functions.contracts import ENV_ALLOWED_TARGETS as ENV_ALLOWED_TARGETS
from functions.contracts import ENV_BUCKET as ENV_BUCKET
from functions.contracts import ENV_EVENT_BUS as ENV_EVENT_BUS
from functions.contracts import ENV_SECRETS_PREFIX as ENV_SECRETS_PREFIX
from functions.contracts import ENV_STATE as ENV_STATE
from functions.contracts import ENV_TABLE as ENV_TABLE
from functions.contracts import ENV_WORKER_RESERVED as ENV_WORKER_RESERVED
from surge.store.run_table import GSI_BY_PLAN as GSI_BY_PLAN
from surge.store.run_table import GSI_BY_PLAN_PK as GSI_BY_PLAN_PK
from surge.store.run_table import GSI_BY_PLAN_SK as GSI_BY_PLAN_SK
from surge.store.run_table import GSI_RECENT as GSI_RECENT
from surge.store.run_table import GSI_RECENT_PK as GSI_RECENT_PK
from surge.store.run_table import GSI_RECENT_SK as GSI_RECENT_SK
from surge.store.run_table import RUN_PK_PREFIX as RUN_PK_PREFIX
from surge.store.run_table import RUN_RECORD_SK as RUN_RECORD_SK
from surge.store.run_table import TABLE_PK as TABLE_PK
from surge.store.run_table import TABLE_SK as TABLE_SK

# --- CDK context keys (cdk.json or `cdk synth -c KEY=VALUE`) ----------------------------------
CTX_SCHEDULES: Final = "surge:schedules"
CTX_STEP_RESOURCES: Final = "surge:stepResources"
CTX_WORKER_RESERVED: Final = "surge:workerReservedConcurrency"
"""Concurrency reserved for the worker function: runs never compete with the account's other
functions, and a run needing more is refused before it starts."""
CTX_LOG_GROUPS: Final = "surge:logGroups"
"""Log groups beyond /aws/lambda/* whose logs Collect may query (a plan's services' log_group)."""
DEFAULT_LOG_GROUPS: Final = ("/aws/lambda/*",)
"""What a plan's Lambda services read by default (spec.py: /aws/lambda/<function_name>)."""
"""ARNs a plan's aws: steps may call from the worker (Lambda functions, queues, tables, buckets...)."""
"""List of {name, plan_uri, cron[, timezone, enabled]} (or its JSON text): one schedule each."""
CTX_SKIP_PIP_INSTALL: Final = "surge:skipPipInstall"
"""True: bundle only the sources (no pip install of dependencies). For tests and quick synths."""
CTX_RESULTS_RETENTION_DAYS: Final = "surge:resultsRetentionDays"
CTX_REMOVE_DATA_ON_DESTROY: Final = "surge:removeDataOnDestroy"
CTX_ALLOWED_TARGETS: Final = "surge:allowedTargets"
"""Hosts the fleet may load, whoever starts a run: `api.example.com,*.staging.example.com` (or a
list); `*` allows any host. Unset: every run is refused, naming this setting."""
CTX_ALLOW_HOOKS: Final = "surge:allowHooks"
"""true: plans may run hooks (their Python runs inside the functions, with the functions' roles)."""
"""true: `cdk destroy` deletes the results buckets (emptied first) and the runs table (a sandbox)."""
ENV_SKIP_PIP_INSTALL: Final = "SURGE_SKIP_PIP_INSTALL"
"""Same as CTX_SKIP_PIP_INSTALL, for callers that cannot pass context (set to 1/true)."""

STACK_NAME: Final = "Surge"

# --- Definition substitutions: every ${Key} in statemachine/surge.asl.json ---------------------
SUB_PREPARE_ARN: Final = "PrepareFunctionArn"
SUB_WORKER_ARN: Final = "WorkerFunctionArn"
SUB_AGGREGATE_ARN: Final = "AggregateFunctionArn"
SUB_COLLECT_ARN: Final = "CollectFunctionArn"
SUB_REPORT_ARN: Final = "ReportFunctionArn"
SUB_BUCKET: Final = "BucketName"
SUB_TABLE: Final = "TableName"
SUB_EVENT_BUS: Final = "EventBusName"
SUBSTITUTION_KEYS: Final = (
    SUB_PREPARE_ARN,
    SUB_WORKER_ARN,
    SUB_AGGREGATE_ARN,
    SUB_COLLECT_ARN,
    SUB_REPORT_ARN,
    SUB_BUCKET,
    SUB_TABLE,
    SUB_EVENT_BUS,
)

# --- Run Completed event ------------------------------------------------------------------------
EVENT_SOURCE: Final = "surge"
EVENT_DETAIL_TYPE: Final = "Run Completed"

# --- S3 key layout (object-key patterns as IAM resource suffixes) ------------------------------
PLANS_PREFIX: Final = "plans/"
"""Plans uploaded by the CLI or referenced by schedules: s3://<bucket>/plans/..."""
RUNS_PREFIX: Final = "runs/"
KEY_SETUP: Final = "runs/*/setup.json"
"""The setup flow's outcome (Prepare writes it; workers read its variables, Report its section)."""
KEY_RUN: Final = "runs/*/run.json"
"""Prepare's result (segments and shards), kept for a run finished from outside the workflow."""
KEY_PLAN: Final = "runs/*/plan.json"
"""The validated plan Prepare stores for the run (workers read it)."""
KEY_RUN_INPUTS: Final = "runs/*/inputs/*"
"""A run's copies of the plan's data and baseline files: uploaded there by the CLI, or copied
there by Prepare from plans/, so workers and Report never read plans/ (surge.cloud.layout.input_key)."""
KEY_RUN_DATA: Final = "runs/*/inputs/data/*"
"""The run's CSV data file: what workers read of the inputs."""
KEY_RUN_FILES: Final = "runs/*/inputs/files/*"
"""The files of the plan's multipart bodies: workers read them too."""
KEY_SEGMENT_ITEMS: Final = "runs/*/seg-*/items.json"
"""JSON array of shard items, one per worker; the Distributed Map's ItemReader source."""
KEY_SHARD_RESULT: Final = "runs/*/seg-*/shard-*"
"""A worker's own result (idempotent key, written by the worker itself)."""
KEY_SEGMENT_PARTIAL: Final = "runs/*/seg-*/partial-*"
"""A merge task's fold of a slice of the segment's shard results (MergeSlice; Aggregate reads it)."""
KEY_SEGMENT_AGGREGATE: Final = "runs/*/seg-*/aggregate*"
KEY_METRICS: Final = "runs/*/metrics*"
KEY_REPORT: Final = "runs/*/report*"
KEY_RESULTS: Final = "runs/*/results.json"
"""The merged run statistics Report stores beside the report (a baseline for later runs)."""
KEY_JUNIT: Final = "runs/*/junit.xml"

# --- DynamoDB table `runs` --------------------------------------------------------------------
# The key design is the core's (surge.store.run_table): every item of a run lives under a partition
# key that starts RUN#<run_id> (the run record sk=RUN, progress counters RUN#<run_id>#PROGRESS#k).
TABLE_TTL: Final = "expires_at"
# The run-record attributes a role may write (IAM dynamodb:Attributes; the keys must be listed too).
# A worker: its progress counters, and the stop flag with its reason (abort-on-fail mid-segment).
WORKER_RECORD_ATTRIBUTES: Final = (
    "requests",
    "errors",
    "workers_running",
    "updated_at",
    "stop_requested",
    "stop_reason",
)
# Aggregate: a segment's progress and missing shards, and the stop flag when it aborts the run.
AGGREGATE_RECORD_ATTRIBUTES: Final = (
    "segments_done",
    "last_segment_p95_ms",
    "missing_shards_seg_*",
    "stop_requested",
    "stop_reason",
)

# --- Lambda environment variables: defined once, next to the handlers that read them -----------
SECRETS_PREFIX: Final = "surge/"
"""Secrets Manager secrets and SSM parameters a plan may reference must be named under this."""

# --- Metrics (EMF, emitted by the core through Powertools Metrics) -----------------------------
METRICS_NAMESPACE: Final = "Surge"
SERVICE_NAME: Final = "surge"
METRIC_REQUESTS: Final = "Requests"
METRIC_ERRORS: Final = "Errors"
METRIC_DROPPED: Final = "DroppedIterations"
METRIC_LATENCY_P95: Final = "LatencyP95Ms"
METRIC_WORKERS_FAILED: Final = "WorkersFailed"
# Per interval from every worker while a run goes on (surge.cloud.emf): the dashboard's live view.
METRIC_LIVE_REQUESTS: Final = "LiveRequests"
METRIC_LIVE_ERRORS: Final = "LiveErrors"
METRIC_LIVE_DROPPED: Final = "LiveDroppedIterations"
METRIC_LIVE_P95: Final = "LiveLatencyP95Ms"
