"""Aggregate: merge one segment's shard results from S3, report the missing ones, decide abort-on-fail.
The ASL state ``Aggregate``; handler functions/aggregate.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from surge.cloud import layout
from surge.cloud.segment_results import await_segment, merge_segment, result_deadline
from surge.cloud.state_io import (
    Clients,
    exists,
    get_json,
    put_json,
    read_run_plan,
    run_records,
)
from surge.evaluate import abort_reason
from surge.stats import RunStats, merge_results
from surge.stats import aggregate as aggregate_stats
from surge.summary import stats_source

# What Aggregate keeps of its Lambda time after merging: store the aggregate, update the record,
# judge abort-on-fail over the segments so far.
MERGE_MARGIN_S = 45.0


def _merged_so_far(clients: Clients, run_id: str, upto: int) -> RunStats | None:
    parts: list[RunStats] = []
    for k in range(upto + 1):
        key = layout.aggregate_key(run_id, k)
        if exists(clients, key):
            parts.append(get_json(clients, key))
    return merge_results(parts) if parts else None


def aggregate(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    seg = event["segment"]
    k, expected = int(seg["index"]), int(seg["shard_count"])
    plan = read_run_plan(clients, layout.plan_key(run_id))
    # The map waits for every worker (it tolerates every failure); still, results are read from S3
    # and awaited until the latest a running worker could write one, never taken from the map.
    deadline = result_deadline(
        str(seg["end_at"]), plan.defaults.timeout, time.time(), clients.remaining_time_ms() / 1000
    )
    files = await_segment(clients, run_id, k, expected, deadline=deadline, map_ran=True)
    # The merge stops reading results in time to answer (only a fleet whose merge tasks all failed
    # comes near): what it left out counts as missing, never as merged.
    stop_by = time.time() + clients.remaining_time_ms() / 1000 - MERGE_MARGIN_S
    stats = merge_segment(clients, files, deadline=stop_by)
    missing = files.missing
    if stats is not None:
        put_json(clients, layout.aggregate_key(run_id, k), stats)
        put_json(clients, layout.aggregate_shards_key(run_id, k), {"merged": sorted(files.merged or ())})
    records = run_records(clients)
    record = records.get(run_id) or {}
    progress: dict[str, object] = {"segments_done": k + 1}
    if missing:
        progress[f"missing_shards_seg_{k}"] = missing
    if stats is not None:
        p95 = aggregate_stats(stats).latency("latency", "p95", 95.0)
        progress["last_segment_p95_ms"] = None if p95 is None else float(p95)
    records.update(run_id, **progress)
    reason: str | None = None
    if record.get("stop_requested"):
        reason = str(record.get("stop_reason") or "stopped on request")
    else:
        thresholds = [t for t in plan.parsed_thresholds() if t.abort_on_fail]
        merged = _merged_so_far(clients, run_id, k) if thresholds else None
        if merged is not None:
            elapsed = merged["ended_at"] - merged["t0"]
            breached = abort_reason(thresholds, stats_source(plan, merged), elapsed)
            if breached is not None:
                reason = f"aborted: threshold '{breached}' failed after segment {k}"
                records.request_stop(run_id, reason)
    return {
        "segment": k,
        "shards_expected": expected,
        "shards_reported": len(files.merged or ()),
        "missing_shards": missing,
        "abort": reason is not None,
        "abort_reason": reason,
    }
