"""CloudWatch collector (surge/metrics/cloudwatch.py): periods, request building, batching,
pagination, throttling, and parsing of recorded GetMetricData responses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import TypeAdapter

from surge.metrics.aws import MetricsError
from surge.metrics.cloudwatch import (
    RequestGroup,
    Series,
    Window,
    build_group,
    choose_period,
    collect_metric_data,
    get_metric_data,
    pack,
    parse_pages,
    rewrite_expression,
)
from surge.metrics.presets import ServiceQueries, service_queries
from surge.metrics.spec import Services

DAY = 86400.0
NOW = 1_800_000_000.0  # a fixed clock: 2027-01-15T08:00:00Z


def dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def queries_for(*specs: dict[str, Any]) -> list[ServiceQueries]:
    return [service_queries(s) for s in TypeAdapter(Services).validate_python(list(specs))]


LAMBDA = {"type": "lambda", "name": "orders", "function_name": "orders-fn", "cold_starts": False}


# -- periods ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_s", "span_s", "high_res", "period"),
    [
        (600, 600, False, 60),  # a 10-minute run just ended: one-minute data
        (600, 600, True, 1),  # high resolution asked, and kept for 3 hours
        (3600, 3600, True, 5),  # 3600 points at 1 s is too many: 5 s keeps it under 1440
        (4 * 3600, 600, True, 60),  # high-resolution data is gone after 3 hours
        (14 * DAY, 600, False, 60),
        (20 * DAY, 600, False, 300),  # older than 15 days: 5-minute data only
        (100 * DAY, 600, False, 3600),  # older than 63 days: hourly
        (2 * DAY, 2 * DAY, False, 120),  # a 2-day soak at 60 s would be 2880 points
        (500 * DAY, 600, False, 3600),
    ],
)
def test_choose_period(age_s: float, span_s: float, high_res: bool, period: int) -> None:
    start = NOW - age_s
    assert choose_period(start, start + span_s, NOW, high_resolution=high_res) == period


def test_window_aligns_start_and_covers_the_run_with_one_period() -> None:
    start = NOW - 700 + 17  # the run started 17 s past a minute
    w = Window.for_run(start, start + 600, NOW)
    assert w.period == 60
    assert w.start == NOW - 700 - (NOW - 700) % 60 and w.start <= start
    assert w.whole % 60 == 0 and w.start + w.whole >= start + 600
    assert w.end == w.start + w.whole == w.start + 660
    hi = Window.for_run(start, start + 600, NOW, high_resolution=True)
    assert (hi.period, hi.start) == (1, float(int(start)))
    assert hi.whole == 600  # 1-s periods need no minute alignment: 600 s covers the run exactly


# -- request building -----------------------------------------------------------------------------


def test_build_group_ids_labels_and_window_queries() -> None:
    (sq,) = queries_for(LAMBDA)
    w = Window(NOW - 600, NOW, 60, 600)
    g = build_group(3, sq, w)
    by_id = {q["Id"]: q for q in g.queries}
    # series queries: s<service>q<n>; one whole-window query s<service>w<n> per percentile
    assert [q["Id"] for q in g.queries] == [
        "s3q0", "s3q1", "s3q2", "s3q3", "s3w3", "s3q4", "s3w4", "s3q5", "s3w5", "s3q6", "s3q7", "s3q8",
    ]  # fmt: skip
    assert by_id["s3q4"] == {
        "Id": "s3q4",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": "orders-fn"}],
            },
            "Period": 60,
            "Stat": "p95",
        },
        "Label": "orders duration.p95",
        "ReturnData": True,
    }
    assert by_id["s3w4"]["MetricStat"]["Period"] == 600 and by_id["s3w4"]["MetricStat"]["Stat"] == "p95"
    assert "Unit" not in by_id["s3q4"]["MetricStat"]  # presets never filter on unit
    assert g.refs["s3w4"].role == "window" and g.refs["s3w4"].path == "duration.p95"
    assert g.refs["s3q0"].path == "invocations.sum" and g.refs["s3q0"].service == 3


def test_no_window_queries_when_one_period_already_covers_the_window() -> None:
    (sq,) = queries_for(LAMBDA)
    g = build_group(0, sq, Window(NOW - 60, NOW, 60, 60))
    assert all("w" not in q["Id"][1:] for q in g.queries)


def test_custom_queries_send_their_unit_and_rewrite_expressions() -> None:
    (sq,) = queries_for(
        {
            "type": "custom",
            "name": "app",
            "queries": [
                {"id": "hits", "namespace": "App", "metric": "Hits", "stat": "Sum", "unit": "Count"},
                {"id": "misses", "namespace": "App", "metric": "Misses", "stat": "Sum"},
            ],
            "expressions": [
                {"id": "rate", "expression": "100 * hits / (hits + misses)", "unit": "Percent"},
                {"id": "all", "expression": "SUM(SEARCH('{App} MetricName=\"hits\"', 'Sum', 60))"},
            ],
        }
    )
    g = build_group(1, sq, Window(NOW - 600, NOW, 60, 600))
    by_id = {q["Id"]: q for q in g.queries}
    assert by_id["s1q0"]["MetricStat"]["Unit"] == "Count"
    assert "Unit" not in by_id["s1q1"]["MetricStat"]
    assert by_id["s1e0"] == {
        "Id": "s1e0",
        "Expression": "100 * s1q0 / (s1q0 + s1q1)",
        "Label": "app rate",
        "ReturnData": True,
    }
    # ids inside quoted SEARCH strings stay as written
    assert by_id["s1e1"]["Expression"] == "SUM(SEARCH('{App} MetricName=\"hits\"', 'Sum', 60))"


def test_rewrite_expression_only_touches_known_ids() -> None:
    ids = {"a": "s0q0", "b": "s0q1"}
    assert rewrite_expression("a + b + ab + METRICS()", ids) == "s0q0 + s0q1 + ab + METRICS()"
    assert rewrite_expression("FILL(a, 0) / 'a'", ids) == "FILL(s0q0, 0) / 'a'"


def _group(n: int, tag: int) -> RequestGroup:
    return RequestGroup([{"Id": f"g{tag}x{i}"} for i in range(n)], {})


def test_pack_keeps_groups_whole_and_calls_under_500() -> None:
    batches = pack([_group(200, 0), _group(200, 1), _group(200, 2), _group(500, 3), _group(1, 4)])
    assert [[len(g.queries) for g in b] for b in batches] == [[200, 200], [200], [500], [1]]
    assert all(sum(len(g.queries) for g in b) <= 500 for b in batches)
    with pytest.raises(MetricsError, match="501 queries"):
        pack([_group(501, 0)])


# -- parsing recorded responses ----------------------------------------------------------------------

T0 = 1_799_999_400.0  # 10 minutes before NOW, on a minute boundary

# Recorded from GetMetricData (ScanBy=TimestampAscending): percentile statistics come back as plain
# values; a long series continues on the next page with StatusCode PartialData.
RECORDED_PAGE_1: dict[str, Any] = {
    "MetricDataResults": [
        {
            "Id": "s0q4",
            "Label": "orders duration.p95",
            "Timestamps": [dt(T0), dt(T0 + 60)],
            "Values": [212.5, 198.25],
            "StatusCode": "PartialData",
        },
        {
            "Id": "s0q0",
            "Label": "orders invocations.sum",
            "Timestamps": [dt(T0)],
            "Values": [1200.0],
            "StatusCode": "Complete",
        },
        {
            "Id": "s0q1",
            "Label": "orders errors.sum",
            "Timestamps": [],
            "Values": [],
            "StatusCode": "Complete",
        },
    ],
    "NextToken": "page-2",
    "Messages": [],
}
RECORDED_PAGE_2: dict[str, Any] = {
    "MetricDataResults": [
        {
            "Id": "s0q4",
            "Label": "orders duration.p95",
            "Timestamps": [dt(T0 + 120)],
            "Values": [305.75],
            "StatusCode": "Complete",
        },
        {
            "Id": "s0w4",
            "Label": "orders duration.p95 (window)",
            "Timestamps": [dt(T0)],
            "Values": [251.0],
            "StatusCode": "Complete",
        },
    ],
    "Messages": [{"Code": "MaxMetricsExceeded", "Value": "The maximum number of metrics was exceeded."}],
}


def test_parse_pages_merges_a_series_across_pages() -> None:
    series, notes = parse_pages([RECORDED_PAGE_1, RECORDED_PAGE_2])
    assert series["s0q4"].points == [(T0, 212.5), (T0 + 60, 198.25), (T0 + 120, 305.75)]
    assert series["s0q4"].status == "Complete"
    assert series["s0w4"].values == [251.0]
    assert series["s0q1"].points == []
    assert notes == ["CloudWatch: MaxMetricsExceeded: The maximum number of metrics was exceeded."]


def test_parse_pages_keeps_status_and_messages_of_a_failed_query() -> None:
    page = {
        "MetricDataResults": [
            {
                "Id": "s0q0",
                "Timestamps": [],
                "Values": [],
                "StatusCode": "InternalError",
                "Messages": [{"Code": "InternalError", "Value": "Internal service error"}],
            }
        ]
    }
    series, _ = parse_pages([page])
    assert series["s0q0"].status == "InternalError"
    assert series["s0q0"].messages == ["InternalError: Internal service error"]


def test_parse_pages_sorts_and_dedupes_timestamps() -> None:
    page = {
        "MetricDataResults": [
            {
                "Id": "a",
                "Timestamps": [dt(T0 + 60), dt(T0), dt(T0 + 60)],
                "Values": [2.0, 1.0, 3.0],
                "StatusCode": "Complete",
            }
        ]
    }
    assert parse_pages([page])[0]["a"].points == [(T0, 1.0), (T0 + 60, 3.0)]


# -- calls through a Stubber'd boto3 client ----------------------------------------------------------


@pytest.fixture
def cloudwatch() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_follows_next_token(cloudwatch: tuple[Any, Stubber]) -> None:
    client, stub = cloudwatch
    w = Window(T0, NOW, 60, 600)
    queries = [
        {
            "Id": "s0q4",
            "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "p95"},
        }
    ]
    base = {
        "MetricDataQueries": queries,
        "StartTime": dt(T0),
        "EndTime": dt(NOW),
        "ScanBy": "TimestampAscending",
    }
    stub.add_response("get_metric_data", RECORDED_PAGE_1, base)
    stub.add_response("get_metric_data", RECORDED_PAGE_2, {**base, "NextToken": "page-2"})
    series, _ = get_metric_data(client, queries, w, sleep=lambda s: None)
    assert series["s0q4"].values == [212.5, 198.25, 305.75]


def test_retries_throttling_with_backoff(cloudwatch: tuple[Any, Stubber]) -> None:
    client, stub = cloudwatch
    for _ in range(3):
        stub.add_client_error(
            "get_metric_data",
            service_error_code="Throttling",
            service_message="Rate exceeded",
            http_status_code=400,
        )
    stub.add_response("get_metric_data", RECORDED_PAGE_2, None)
    waits: list[float] = []
    series, _ = get_metric_data(client, [], Window(T0, NOW, 60, 600), sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    assert series["s0w4"].values == [251.0]


def test_gives_up_after_repeated_throttling(cloudwatch: tuple[Any, Stubber]) -> None:
    client, stub = cloudwatch
    (sq,) = queries_for(LAMBDA)
    for _ in range(6):
        stub.add_client_error("get_metric_data", service_error_code="Throttling", http_status_code=400)
    waits: list[float] = []
    out = collect_metric_data(client, [(0, sq)], Window(T0, NOW, 60, 600), sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert out.failed == {0} and out.series == {}
    assert out.notes == ["cloudwatch:GetMetricData was throttled and kept failing after retries (Throttling)"]


def test_access_denied_names_the_iam_action(cloudwatch: tuple[Any, Stubber]) -> None:
    client, stub = cloudwatch
    (sq,) = queries_for(LAMBDA)
    stub.add_client_error(
        "get_metric_data",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudwatch:GetMetricData",
        http_status_code=403,
    )
    out = collect_metric_data(client, [(0, sq)], Window(T0, NOW, 60, 600), sleep=lambda s: None)
    assert out.notes == [
        "access denied: the role needs the IAM permission cloudwatch:GetMetricData (AccessDenied)"
    ]
    assert out.failed == {0}


class RecordingClient:
    """A fake CloudWatch client: answers every query with one point and records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        results = [
            {
                "Id": q["Id"],
                "Timestamps": [kwargs["StartTime"]],
                "Values": [float(i)],
                "StatusCode": "Complete",
            }
            for i, q in enumerate(kwargs["MetricDataQueries"])
        ]
        return {"MetricDataResults": results}


def test_many_services_are_split_into_calls_of_at_most_500() -> None:
    many = [
        {"type": "dynamodb", "name": f"t{i}", "table": f"table-{i}"} for i in range(20)
    ]  # 20 tables x (26 + 10 window) queries = 720
    sqs = queries_for(*many)
    client = RecordingClient()
    out = collect_metric_data(client, list(enumerate(sqs)), Window(T0, NOW, 60, 600), sleep=lambda s: None)
    sizes = [len(c["MetricDataQueries"]) for c in client.calls]
    assert sizes == [468, 252]
    assert all(
        len({q["Id"] for q in c["MetricDataQueries"]}) == len(c["MetricDataQueries"]) for c in client.calls
    )
    assert len(out.series) == 20 * 26 and len(out.whole) == 20 * 10
    assert out.failed == set()
    assert isinstance(out.series[(19, "consumed_rcu.sum")], Series)
