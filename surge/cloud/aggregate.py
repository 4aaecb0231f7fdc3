"""Aggregate: merge one segment's shard results from S3, report the missing ones, decide abort-on-fail.
The ASL state ``Aggregate``; handler functions/aggregate.py."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from surge.cloud import layout
from surge.cloud.state_io import (
    Clients,
    exists,
    get_json,
    list_keys,
    load_plan,
    put_json,
    run_records,
)
from surge.evaluate import abort_reason
from surge.stats import RunStats, WorkerResult, merge_results
from surge.stats import aggregate as aggregate_stats
from surge.summary import stats_source

_SHARD = re.compile(r"shard-(\d+)\.json$")


def _segment_stats(clients: Clients, run_id: str, segment: int) -> tuple[RunStats | None, list[int]]:
    found: dict[int, str] = {}
    for key in list_keys(clients, layout.segment_prefix(run_id, segment)):
        m = _SHARD.search(key)
        if m:
            found[int(m.group(1))] = key
    # One shard's result parsed at a time: merge_results consumes an iterator in small batches, so
    # the aggregator's memory does not grow with the number of workers.
    results: Iterator[WorkerResult] = (get_json(clients, found[i]) for i in sorted(found))
    return (merge_results(results) if found else None), sorted(found)


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
    stats, reported = _segment_stats(clients, run_id, k)
    missing = sorted(set(range(expected)) - set(reported))
    if stats is not None:
        put_json(clients, layout.aggregate_key(run_id, k), stats)
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
        plan = load_plan(clients, layout.plan_key(run_id))
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
        "shards_reported": len(reported),
        "missing_shards": missing,
        "abort": reason is not None,
        "abort_reason": reason,
    }
