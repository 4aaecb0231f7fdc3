"""Where a cloud run keeps things: S3 keys and DynamoDB keys. Pure; shared by the CLI and handlers."""

from __future__ import annotations

from datetime import UTC, datetime

RUNS_PREFIX = "runs/"
PLANS_PREFIX = "plans/"

# DynamoDB table of runs: one partition per run, the run record at sk=RUN; sparse GSIs give the
# history of a plan (by_plan) and the newest runs overall (recent).
TABLE_PK = "pk"
TABLE_SK = "sk"
RUN_PK_PREFIX = "RUN#"
RUN_RECORD_SK = "RUN"
GSI_BY_PLAN = "by_plan"
GSI_BY_PLAN_PK = "plan_pk"
GSI_BY_PLAN_SK = "plan_sk"
GSI_RECENT = "recent"
GSI_RECENT_PK = "recent_pk"
GSI_RECENT_SK = "recent_sk"
RECENT_PARTITION = "RUNS"

EVENT_SOURCE = "surge"
EVENT_DETAIL_TYPE = "Run Completed"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def plan_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}plan.json"


def segment_prefix(run_id: str, segment: int) -> str:
    return f"{run_prefix(run_id)}seg-{segment}/"


def items_key(run_id: str, segment: int) -> str:
    return f"{segment_prefix(run_id, segment)}items.json"


def shard_key(run_id: str, segment: int, shard: int) -> str:
    return f"{segment_prefix(run_id, segment)}shard-{shard}.json"


def aggregate_key(run_id: str, segment: int) -> str:
    return f"{segment_prefix(run_id, segment)}aggregate.json"


def metrics_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}metrics.json"


def report_key(run_id: str, name: str) -> str:
    return f"{run_prefix(run_id)}{name}"


def run_pk(run_id: str) -> str:
    return f"{RUN_PK_PREFIX}{run_id}"


def iso_seconds(epoch: float) -> str:
    """The timestamp form a Step Functions Wait state accepts: whole seconds, UTC, 'Z'."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"'{uri}' is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key
