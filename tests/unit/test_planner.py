"""What a cloud run needs of the account's Lambda concurrency (surge/cloud/planner.py)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from surge.cloud.execution_input import parse_options
from surge.cloud.planner import ConcurrencyError, check_concurrency, plan_segments, required_concurrency
from surge.plan import parse_plan


def plan(rate: float, minutes: int) -> object:
    return parse_plan(
        {
            "name": "x",
            "target": "http://127.0.0.1:8080",
            "load": {"phases": [{"duration": f"{minutes}m", "rate": rate}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "limits": {"max_rate": 1e6},
        }
    )


def test_two_overlapping_segments_and_the_workflow_are_counted() -> None:
    cuts = plan_segments(plan(10_000, 20), parse_options({}))  # 2 segments of 10 min, 5 shards each
    assert [s.shards for s in cuts] == [5, 5]
    assert required_concurrency(cuts) == 5 + 5 + 4


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
        check_concurrency(client, 85)
    assert "needs 85 concurrent Lambda executions" in str(err.value)
    assert "only 50 are unreserved" in str(err.value) and "account limit 1000" in str(err.value)


def test_enough_concurrency_passes_and_unreadable_settings_are_a_note() -> None:
    client, _ = lambda_with(900)
    assert check_concurrency(client, 85) is None
    broken = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(broken)
    stub.add_client_error("get_account_settings", "AccessDeniedException", "denied")
    stub.activate()
    note = check_concurrency(broken, 85)
    assert note is not None and "not checked" in note
