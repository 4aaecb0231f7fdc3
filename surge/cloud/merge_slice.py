"""MergeSlice: fold one slice of a segment's shard results into a partial result in S3.

The task of the ASL's MergeShards maps (``MergeSliceEven``/``MergeSliceOdd``); handler
functions/aggregate.py with ``mode: "merge"``. A segment of many shards is merged as a tree:
these tasks run side by side, each over about sqrt(shards) results, and Aggregate folds their
partials (surge/cloud/segment_results.py says why that cannot change what the merge finds).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from surge.cloud import layout
from surge.cloud.segment_results import (
    PARTIAL_VERSION,
    PartialResult,
    await_segment,
    merge_shards,
    result_deadline,
)
from surge.cloud.state_io import Clients, put_json, read_run_plan


def merge_slice(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    seg = event["segment"]
    k, expected = int(seg["index"]), int(seg["shard_count"])
    first, count = (int(x) for x in event["slice"])
    shards = range(max(first, 0), min(first + count, expected))
    plan = read_run_plan(clients, layout.plan_key(run_id))
    # The same wait as Aggregate's: a result that a running worker can still write is waited for.
    deadline = result_deadline(
        str(seg["end_at"]), plan.defaults.timeout, time.time(), clients.remaining_time_ms() / 1000
    )
    files = await_segment(clients, run_id, k, expected, deadline=deadline, map_ran=True, shards=shards)
    merged = [i for i in shards if i in files.results]
    stats = merge_shards(clients, files, merged)
    key: str | None = None
    if stats is not None:
        key = layout.partial_key(run_id, k, first)
        put_json(clients, key, PartialResult(version=PARTIAL_VERSION, segment=k, shards=merged, stats=stats))
    return {"segment": k, "first_shard": first, "shards_merged": len(merged), "partial_key": key}
