"""What a cloud run needs of the account's Lambda concurrency (surge/cloud/planner.py)."""

from __future__ import annotations

import math

import boto3
import pytest
from botocore.stub import Stubber

from surge.cloud.execution_input import parse_options
from surge.cloud.planner import (
    DIRECT_MERGE_MAX_SHARDS,
    MAX_MERGE_TASKS,
    Concurrency,
    ConcurrencyError,
    check_concurrency,
    merge_slices,
    plan_segments,
    required_concurrency,
    shard_capacity,
)
from surge.plan import Plan
from surge.plan_load import parse_plan


def plan(rate: float, minutes: int, thresholds: list[str] | None = None, **extra: object) -> Plan:
    return parse_plan(
        {
            "name": "x",
            "target": "http://127.0.0.1:8080",
            "load": {"phases": [{"duration": f"{minutes}m", "rate": rate}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "limits": {"max_rate": 1e6},
            "thresholds": ["http.latency.p95 < 200ms"] if thresholds is None else thresholds,
            **extra,
        }
    )


def test_two_overlapping_segments_and_the_workflow_are_counted() -> None:
    cuts = plan_segments(plan(10_000, 20), parse_options({}))  # 2 segments of 10 min, 5 shards each
    assert [s.shards for s in cuts] == [5, 5]
    assert required_concurrency(cuts) == Concurrency(workers=5 + 5, workflow=4)
    assert required_concurrency(cuts).total == 14


def test_a_large_segment_is_merged_by_parallel_tasks_of_about_sqrt_shards() -> None:
    assert merge_slices(1) == [] and merge_slices(DIRECT_MERGE_MAX_SHARDS) == []
    for shards in (DIRECT_MERGE_MAX_SHARDS + 1, 100, 999, 1000):
        slices = merge_slices(shards)
        # Every shard in exactly one slice, in order, no slice empty.
        covered = [i for first, count in slices for i in range(first, first + count)]
        assert covered == list(range(shards))
        assert all(count > 0 for _, count in slices)
        assert len(slices) <= MAX_MERGE_TASKS
        # Two levels of about sqrt(n) each: neither the tasks nor Aggregate fold more than ~2 sqrt(n).
        assert max(count for _, count in slices) <= math.ceil(math.sqrt(shards))
        assert len(slices) <= 2 * math.ceil(math.sqrt(shards))
    assert merge_slices(1000) == [[i * 32, 32] for i in range(31)] + [[992, 8]]


def test_merge_tasks_count_beside_the_next_segments_workers() -> None:
    cuts = plan_segments(plan(100_000, 20), parse_options({}))  # 2 segments of 50 shards
    assert [s.shards for s in cuts] == [50, 50]
    assert required_concurrency(cuts) == Concurrency(workers=100, workflow=4 + len(merge_slices(50)))


def test_shards_are_sized_by_littles_law_when_requests_are_slow() -> None:
    options = parse_options({})
    # 200 ms requests: 900 in flight per worker sustain 4,500/s; the CPU's 2,000/s is the limit.
    capacity, how = shard_capacity(plan(10_000, 1), options)
    assert capacity == 2000 and how.startswith("2000/s per worker (CPU)")
    # 2 s requests (the slowest central latency the plan accepts): 900 / 2 s = 450/s per worker.
    slow = plan(9_000, 1, ["http.latency.p95 < 2s", "http.latency.p50 < 300ms", "http.latency.p99 < 8s"])
    capacity, how = shard_capacity(slow, options)
    assert capacity == 450 and "Little's law: 900 iterations in flight per worker / 2 s each" in how
    assert [s.shards for s in plan_segments(slow, options)] == [20]
    # Only a tail check: it is all there is to go by.
    assert shard_capacity(plan(900, 1, ["http.latency.p99 < 3s"]), options)[0] == 300
    # No latency threshold: a request is taken to last 1 s (within its timeout); think time counts.
    thinking = plan(
        900, 1, [], scenarios=[{"name": "s", "flow": [{"get": "/"}, {"think": "2s"}, {"get": "/b"}]}]
    )
    assert shard_capacity(thinking, options)[0] == 225  # 900 / (1 + 2 + 1) s
    # A per-run in-flight cap is the plan's choice: more shards could not raise it.
    capped = plan(10_000, 1, [], load={"phases": [{"duration": "1m", "rate": 10_000}], "max_in_flight": 500})
    assert shard_capacity(capped, options)[0] == 2000


def lambda_with(unreserved: int) -> tuple[object, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": unreserved}},
    )
    stub.activate()
    return client, stub


def test_a_run_the_account_cannot_hold_is_refused_with_the_figures() -> None:
    client, _ = lambda_with(50)
    with pytest.raises(ConcurrencyError) as err:
        check_concurrency(client, Concurrency(81, 4))
    assert "needs 85 concurrent Lambda executions" in str(err.value)
    assert "only 50 are unreserved" in str(err.value) and "account limit 1000" in str(err.value)


def test_enough_concurrency_passes_and_unreadable_settings_are_a_note() -> None:
    client, _ = lambda_with(900)
    assert check_concurrency(client, Concurrency(81, 4)) is None
    broken = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(broken)
    stub.add_client_error("get_account_settings", "AccessDeniedException", "denied")
    stub.activate()
    note = check_concurrency(broken, Concurrency(81, 4))
    assert note is not None and "not checked" in note


def test_with_reserved_concurrency_the_workers_are_checked_against_their_reserve() -> None:
    client, _ = lambda_with(10)  # the account's unreserved pool does not matter for the workers
    assert (
        check_concurrency(client, Concurrency(40, 4), reserved=40) is None
    )  # 40 workers + 4 workflow functions
    client, _ = lambda_with(10)
    with pytest.raises(ConcurrencyError, match=r"needs 41 concurrent workers .* has 40 reserved"):
        check_concurrency(client, Concurrency(41, 10), reserved=40)
