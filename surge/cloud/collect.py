"""Collect: the target's own CloudWatch metrics, Logs Insights figures and cost for the run's window.
The ASL state ``Collect``; handler functions/collect.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from surge.cloud import layout
from surge.cloud.state_io import (
    Clients,
    put_json,
    read_run_plan,
    run_options,
    run_records,
)
from surge.cloud.worker import PROGRESS_EVERY_S, STOP_POLL_S
from surge.metrics import RunUsage, SessionClients, collect_services, lambda_gb_seconds

WORKER_MEMORY_MB = 1769  # infra/functions.py: one full vCPU
METRICS_DELAY_S = 90.0  # CloudWatch needs about a minute to ingest the run's last datapoints


def run_usage(
    run: Mapping[str, Any], ended_at: float, progress_flush_s: float = PROGRESS_EVERY_S
) -> RunUsage:
    """What the run itself consumed, counted from its segments and shards (for its own cost)."""
    gb_s = 0.0
    workers = transitions = dynamo_writes = 0
    dynamo_reads = 0.0
    for seg in run["segments"]:
        shards = int(seg["shard_count"])
        start = layout.parse_iso(str(seg["launch_at"]))
        end = min(layout.parse_iso(str(seg["end_at"])), ended_at)
        busy = max(end - start, 0.0) + 2.0  # sleeping off the lead counts; so does the drain
        gb_s += shards * lambda_gb_seconds(busy, WORKER_MEMORY_MB)
        workers += shards
        transitions += 6 + 2 * shards  # wait, map, aggregate, choice; each item's start and end
        dynamo_writes += shards * (3 + int(busy / progress_flush_s))
        dynamo_reads += shards * busy / STOP_POLL_S  # the stop flag, strongly consistent
    segments = len(run["segments"])
    return RunUsage(
        lambda_gb_s=gb_s,
        lambda_requests=workers + 2 * segments + 3,
        sfn_transitions=transitions + 10,
        s3_put_requests=2 * segments + workers + 8,
        s3_get_requests=3 * workers + 2 * segments + 4,
        dynamodb_write_units=float(dynamo_writes + segments + 4),
        dynamodb_read_units=dynamo_reads + workers,
    )


def collect(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    """The target's own metrics and the cost, for the run's window; the Report step reads them."""
    run_id = str(event["run_id"])
    run = event["run"]
    plan = read_run_plan(clients, str(run["plan_key"]))
    if not plan.services and plan.cost is None:
        return {"metrics_key": None, "warnings": []}
    options = run_options(clients, run_id)
    start = layout.parse_iso(str(run["segments"][0]["start_at"]))
    end = min(time.time(), layout.parse_iso(str(run["segments"][-1]["end_at"])))
    record = run_records(clients).with_progress(run_id) or {}
    # The record counts the whole run: an A/B run's Lambdas serve one target, whose own count
    # (its API's requests or its Lambda's invocations) is the cost's denominator instead.
    requests = record.get("requests") if not plan.targets else None
    delay, shortened = ingestion_delay(
        float(options.get("metrics_delay_seconds", METRICS_DELAY_S)), clients.remaining_time_ms() / 1000
    )
    metrics = collect_services(
        plan.services,
        plan.cost,
        (start, end),
        SessionClients(_boto_session()),
        requests=int(requests) if isinstance(requests, int | float) else None,
        run_usage=run_usage(run, end),
        ingestion_delay_s=delay,
    )
    key = layout.metrics_key(run_id)
    put_json(clients, key, metrics.to_json())
    return {"metrics_key": key, "warnings": [*shortened, *metrics.notes]}


# What Collect does after its wait: CloudWatch queries, Logs Insights (up to a minute), Cost
# Explorer. Its wait for CloudWatch's ingestion leaves this much of its Lambda time.
COLLECT_WORK_S = 120.0


def ingestion_delay(asked_s: float, remaining_s: float) -> tuple[float, list[str]]:
    """The wait for CloudWatch, within Collect's own time (a 600 s wait in a 300 s Lambda would
    time it out: no service metrics at all), and a warning when it had to be shortened."""
    most = max(0.0, remaining_s - COLLECT_WORK_S)
    if asked_s <= most:
        return asked_s, []
    return most, [
        f"waited {most:.0f} s for CloudWatch instead of options.metrics_delay_seconds={asked_s:g}: Collect "
        f"has {remaining_s:.0f} s in all and needs {COLLECT_WORK_S:.0f} s for its queries; the last "
        "minute's datapoints may be missing"
    ]


def _boto_session() -> Any:
    import boto3

    return boto3.Session()
