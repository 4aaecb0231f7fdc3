"""Logs Insights (surge/metrics/logs.py): polling to completion, timeouts, errors, parsing `stats` rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from surge.metrics.logs import parse_stats_row, run_insights_query
from surge.metrics.presets import COLD_START_QUERY

FIELDS = ["cold", "invocations", "p50_init", "p99_init", "max_init"]

# Recorded GetQueryResults for the cold-start query over a 10-minute window.
COMPLETE: dict[str, Any] = {
    "results": [
        [
            {"field": "cold", "value": "12"},
            {"field": "invocations", "value": "1000"},
            {"field": "p50_init", "value": "351.2"},
            {"field": "p99_init", "value": "1802.71"},
            {"field": "max_init", "value": "2011.4"},
        ]
    ],
    "statistics": {"recordsMatched": 1000.0, "recordsScanned": 3021.0, "bytesScanned": 512331.0},
    "status": "Complete",
}
RUNNING: dict[str, Any] = {
    "results": [],
    "statistics": {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0},
    "status": "Running",
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


@pytest.fixture
def logs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "logs", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def run(client: Any, clock: Clock, timeout_s: float = 60.0) -> Any:
    return run_insights_query(
        client,
        log_group="/aws/lambda/orders-fn",
        query=COLD_START_QUERY,
        fields=FIELDS,
        start=1_800_000_000.4,
        end=1_800_000_600.2,
        sleep=clock.sleep,
        now=clock.now,
        timeout_s=timeout_s,
    )


def test_running_then_complete(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_response(
        "start_query",
        {"queryId": "q-1"},
        {
            "logGroupNames": ["/aws/lambda/orders-fn"],
            "startTime": 1_800_000_000,  # floor
            "endTime": 1_800_000_601,  # ceil: the whole window is covered
            "queryString": COLD_START_QUERY,
        },
    )
    stub.add_response("get_query_results", {**RUNNING, "status": "Scheduled"}, {"queryId": "q-1"})
    stub.add_response("get_query_results", RUNNING, {"queryId": "q-1"})
    stub.add_response("get_query_results", COMPLETE, {"queryId": "q-1"})
    clock = Clock()
    out = run(client, clock)
    assert out.values == {
        "cold": 12.0,
        "invocations": 1000.0,
        "p50_init": 351.2,
        "p99_init": 1802.71,
        "max_init": 2011.4,
    }
    assert out.notes == []
    assert clock.sleeps == [1.0, 1.0]


def test_timeout_stops_the_query_and_reports_no_data(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_response("start_query", {"queryId": "q-2"}, None)
    for _ in range(6):
        stub.add_response("get_query_results", RUNNING, {"queryId": "q-2"})
    stub.add_response("stop_query", {"success": True}, {"queryId": "q-2"})
    clock = Clock()
    out = run(client, clock, timeout_s=5.0)
    assert out.values == dict.fromkeys(FIELDS)
    assert out.notes == [
        "Logs Insights query on /aws/lambda/orders-fn did not finish within 5 s (still Running): no data"
    ]


def test_failed_query_is_no_data(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_response("start_query", {"queryId": "q-3"}, None)
    stub.add_response("get_query_results", {**RUNNING, "status": "Failed"}, None)
    out = run(client, Clock())
    assert out.values == dict.fromkeys(FIELDS)
    assert out.notes == ["Logs Insights query on /aws/lambda/orders-fn ended Failed"]


def test_missing_log_group(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_client_error("start_query", service_error_code="ResourceNotFoundException", http_status_code=400)
    out = run(client, Clock())
    assert out.values == dict.fromkeys(FIELDS)
    assert out.notes == [
        "log group /aws/lambda/orders-fn does not exist (wrong function name, or never invoked?)"
    ]


@pytest.mark.parametrize(
    ("operation", "action"),
    [("start_query", "logs:StartQuery"), ("get_query_results", "logs:GetQueryResults")],
)
def test_access_denied_names_the_iam_action(logs: tuple[Any, Stubber], operation: str, action: str) -> None:
    client, stub = logs
    if operation == "get_query_results":
        stub.add_response("start_query", {"queryId": "q-4"}, None)
    stub.add_client_error(operation, service_error_code="AccessDeniedException", http_status_code=400)
    out = run(client, Clock())
    assert out.notes == [
        f"Logs Insights on /aws/lambda/orders-fn: access denied: the role needs the IAM permission {action} (AccessDeniedException)"
    ]


def test_concurrency_limit_is_retried(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_client_error("start_query", service_error_code="LimitExceededException", http_status_code=400)
    stub.add_response("start_query", {"queryId": "q-5"}, None)
    stub.add_response("get_query_results", COMPLETE, None)
    clock = Clock()
    out = run(client, clock)
    assert out.values["cold"] == 12.0
    assert clock.sleeps == [1.0]  # one backoff, no poll wait (complete on the first read)


def test_no_matching_lines(logs: tuple[Any, Stubber]) -> None:
    client, stub = logs
    stub.add_response("start_query", {"queryId": "q-6"}, None)
    stub.add_response("get_query_results", {**COMPLETE, "results": []}, None)
    out = run(client, Clock())
    assert out.values == dict.fromkeys(FIELDS)
    assert out.notes == ["Logs Insights on /aws/lambda/orders-fn found no matching log lines in the window"]


def test_parse_stats_row_fields_missing_or_not_numbers() -> None:
    # No cold start in the window: Logs Insights leaves the percentile fields out.
    row = [
        [
            {"field": "cold", "value": "0"},
            {"field": "invocations", "value": "250"},
            {"field": "p99_init", "value": ""},
        ]
    ]
    assert parse_stats_row(row, FIELDS) == {
        "cold": 0.0,
        "invocations": 250.0,
        "p50_init": None,
        "p99_init": None,
        "max_init": None,
    }
    assert parse_stats_row([], ["cold"]) == {"cold": None}
    assert parse_stats_row([[{"field": "cold", "value": "NaN"}]], ["cold"]) == {"cold": None}


def test_unexpected_errors_do_not_raise() -> None:
    class Broken:
        def start_query(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "MalformedQueryException", "Message": "bad"}}, "StartQuery")

    out = run(Broken(), Clock())
    assert out.notes == [
        "Logs Insights on /aws/lambda/orders-fn: logs:StartQuery failed: MalformedQueryException: bad"
    ]
