"""Where a cloud run keeps its files: S3 keys and URIs. Pure; shared by the CLI and handlers.

The runs table's keys are in :mod:`surge.store.run_table`."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import Literal

RUNS_PREFIX = "runs/"
PLANS_PREFIX = "plans/"

EVENT_SOURCE = "surge"
EVENT_DETAIL_TYPE = "Run Completed"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def plan_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}plan.json"


InputKind = Literal["data", "baseline", "files"]  # files: multipart bodies' file parts
"""A plan's files a cloud run reads: ``data.file`` (CSV rows) and ``baseline.file`` (figures)."""


def setup_key(run_id: str) -> str:
    """The setup flow's outcome: ``{"variables": {...}, "flow": FlowReport}`` (Prepare writes it)."""
    return f"{run_prefix(run_id)}setup.json"


def run_key(run_id: str) -> str:
    """Prepare's result (segments and shards): what Report and a finish from outside read."""
    return f"{run_prefix(run_id)}run.json"


def inputs_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}inputs/"


def input_key(run_id: str, kind: InputKind, name: str) -> str:
    """Where a run keeps its copy of a plan's file: uploaded by the CLI, or copied by Prepare. One
    folder per kind, so a data and a baseline file of the same name never collide."""
    return f"{inputs_prefix(run_id)}{kind}/{name}"


def segment_prefix(run_id: str, segment: int) -> str:
    return f"{run_prefix(run_id)}seg-{segment}/"


def items_key(run_id: str, segment: int) -> str:
    return f"{segment_prefix(run_id, segment)}items.json"


def shard_key(run_id: str, segment: int, shard: int) -> str:
    return f"{segment_prefix(run_id, segment)}shard-{shard}.json"


def started_key(run_id: str, segment: int, shard: int) -> str:
    """Written by a worker when it starts: a launched segment is told from one never launched, and
    a crashed worker from one never invoked."""
    return f"{segment_prefix(run_id, segment)}shard-{shard}.started.json"


def partial_key(run_id: str, segment: int, first_shard: int) -> str:
    """A merge task's fold of a slice of the segment's shard results, named by its first shard."""
    return f"{segment_prefix(run_id, segment)}partial-{first_shard}.json"


def aggregate_key(run_id: str, segment: int) -> str:
    return f"{segment_prefix(run_id, segment)}aggregate.json"


def aggregate_shards_key(run_id: str, segment: int) -> str:
    """Which shards' results the segment's aggregate holds (``{"merged": [...]}``)."""
    return f"{segment_prefix(run_id, segment)}aggregate.shards.json"


def metrics_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}metrics.json"


def report_key(run_id: str, name: str) -> str:
    return f"{run_prefix(run_id)}{name}"


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


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def object_name(key: str) -> str:
    """The file name of an object key (its last part)."""
    return key.rsplit("/", 1)[-1]


def resolve_file_uri(ref: str, plan_uri: str | None) -> str:
    """The s3:// URI of a file a plan names (``data.file``, ``baseline.file``) in a cloud run.

    An s3:// URI is taken as it is; any other name is a path relative to the plan's own S3
    "directory" (``users.csv`` in ``s3://b/plans/x.yaml`` is ``s3://b/plans/users.csv``), as a
    local run reads it relative to the plan's folder. A plan given inline (no ``plan_uri``) has no
    directory. Raises ValueError naming the problem (the caller adds the field).
    """
    if ref.startswith("s3://"):
        bucket, key = parse_s3_uri(ref)
        if not bucket or not key or key.endswith("/") or object_name(key) in (".", ".."):
            raise ValueError(f"'{ref}' is not an s3://bucket/key URI of a file")
        return ref
    if plan_uri is None:
        raise ValueError(
            f"'{ref}' is a path relative to the plan, but the plan was given inline, not by "
            "plan_uri; name the file's s3:// URI"
        )
    bucket, plan_key = parse_s3_uri(plan_uri)
    folder = posixpath.dirname(plan_key)
    if posixpath.isabs(ref) or ref[1:3] in (":\\", ":/"):
        raise ValueError(
            f"'{ref}' is a local path; name an s3:// URI or a path relative to the plan "
            f"({s3_uri(bucket, folder + '/' if folder else '')})"
        )
    key = posixpath.normpath(posixpath.join(folder, ref))
    if key == "." or key == ".." or key.startswith("../") or ref.endswith("/"):
        raise ValueError(f"'{ref}' relative to the plan ({plan_uri}) is not a file in its bucket")
    return s3_uri(bucket, key)
