"""The workflow's state functions with moto S3/DynamoDB/EventBridge and real workers on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._runtime import Clients
from surge.cloud import handlers, layout
from surge.cloud.records import RunRecords
from surge.demo_target import DemoTarget

REGION = "us-east-1"
BUCKET = "surge-test-bucket"
TABLE = "surge-runs"


def create_table(ddb: Any) -> None:
    strings = ["pk", "sk", "plan_pk", "plan_sk", "recent_pk", "recent_sk"]
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in strings],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": f"{prefix}_pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, prefix in (("by_plan", "plan"), ("recent", "recent"))
        ],
    )


@pytest.fixture
def clients() -> Iterator[Clients]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        events = boto3.client("events", region_name=REGION)
        yield Clients(bucket=BUCKET, table=TABLE, overrides={"s3": s3, "dynamodb": ddb, "events": events})


def plan_for(target: str, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "cloud-test",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "4s", "rate": 300}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        # Workers, target and moto share one test process: latency here says little, counts say all.
        "thresholds": ["http.error_rate < 1%", "http.latency.p95 < 10s"],
    }
    plan.update(overrides)
    return plan


def run_segment(clients: Clients, spec: dict[str, Any], crash: set[int] | None = None) -> None:
    items = json.loads(clients.s3.get_object(Bucket=BUCKET, Key=spec["items_key"])["Body"].read())
    errors: list[BaseException] = []

    def run(item: dict[str, Any]) -> None:
        if crash and item["shard"] in crash:
            return  # a worker that died without writing its result
        try:
            handlers.worker(item, clients)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def run_workflow(
    clients: Clients,
    plan: dict[str, Any],
    crash: set[int] | None = None,
    collect_error: dict[str, str] | None = None,
) -> dict[str, Any]:
    options = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}
    prep = handlers.prepare(
        {"run_id": "r1", "execution_arn": "arn:x", "input": {"plan": plan, "options": options}}, clients
    )
    aborted = None
    for spec in prep["segments"]:
        run_segment(clients, spec, crash if spec["index"] == 0 else None)
        agg = handlers.aggregate(
            {"run_id": "r1", "segment_count": prep["segment_count"], "segment": spec, "shards_error": None},
            clients,
        )
        if agg["abort"]:
            aborted = {"Error": "surge.Aborted", "Cause": agg["abort_reason"]}
            break
    event = {"mode": "report", "run_id": "r1", "execution_arn": "arn:x", "run": prep, "aborted": aborted}
    return handlers.report({**event, "collect": None, "collect_error": collect_error}, clients)


@pytest.mark.slow
def test_segments_and_shards_merge_to_what_the_target_counted(
    clients: Clients, demo_target: DemoTarget
) -> None:
    outcome = run_workflow(clients, plan_for(demo_target.url))
    assert outcome["verdict"] == "pass", outcome
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["mode"] == "cloud"
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 1200
    assert report["generator"]["workers"] == 4  # 2 segments x 2 shards (300/s over 250/s per worker)
    record = RunRecords(TABLE, clients.dynamodb).get("r1")
    assert record is not None
    assert record["verdict"] == "pass" and record["status"] == "COMPLETED"
    assert record["requests"] == 1200  # progress published by the workers
    assert outcome["report_uri"] == f"s3://{BUCKET}/runs/r1/report.html"
    for name in ("report.md", "junit.xml", "results.json"):
        clients.s3.head_object(Bucket=BUCKET, Key=f"runs/r1/{name}")


@pytest.mark.slow
def test_missing_shard_is_reported_and_failed_check_fails(clients: Clients, demo_target: DemoTarget) -> None:
    plan = plan_for(demo_target.url, thresholds=["http.requests >= 1200"])
    outcome = run_workflow(clients, plan, crash={1})
    assert outcome["verdict"] == "fail"
    assert "http.requests >= 1200" in outcome["cause"]
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["partial"] is True
    assert any("1 shard result(s) missing" in n for n in report["generator"]["notes"])
    assert report["totals"]["requests"] == demo_target.stats()["requests"]


@pytest.mark.slow
def test_abort_on_fail_stops_later_segments(clients: Clients, demo_target: DemoTarget) -> None:
    demo_target.set_config(error_rate=1.0)
    plan = plan_for(
        demo_target.url,
        thresholds=[{"check": "http.error_rate < 5%", "abort_on_fail": True}],
        load={"phases": [{"duration": "6s", "rate": 50}]},
    )
    outcome = run_workflow(clients, plan)
    assert outcome["verdict"] == "fail"
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["partial"] is True
    assert report["aborted_by"] and "http.error_rate < 5%" in report["aborted_by"]
    assert demo_target.stats()["requests"] == 100  # only the first 2-second segment ran


def test_bad_plan_fails_prepare_with_field_paths(clients: Clients) -> None:
    from surge.errors import PlanError

    with pytest.raises(PlanError) as info:
        handlers.prepare({"run_id": "r2", "input": {"plan": {"name": "x", "target": "ftp://nope"}}}, clients)
    text = str(info.value)
    assert "target:" in text and "load: required field is missing" in text


def test_record_error_marks_the_run_with_a_readable_cause(clients: Clients) -> None:
    cause = json.dumps({"errorType": "PlanError", "errorMessage": "the plan is invalid: target: bad"})
    event = {
        "mode": "error",
        "run_id": "r3",
        "execution_arn": "arn:x",
        "failed_state": "Prepare",
        "error": {"Error": "PlanError", "Cause": cause},
        "state": {},
    }
    outcome = handlers.record_error(event, clients)
    assert outcome["verdict"] == "error"
    assert outcome["cause"] == "Prepare failed: the plan is invalid: target: bad"
    record = RunRecords(TABLE, clients.dynamodb).get("r3")
    assert record is not None and record["status"] == "ERROR"


def test_stop_flag_is_seen_by_aggregate(clients: Clients) -> None:
    records = RunRecords(TABLE, clients.dynamodb)
    records.create("r4", "p", "h", layout.iso_seconds(0))
    records.request_stop("r4", "stopped by alice")
    spec = {"index": 0, "shard_count": 1}
    clients.s3.put_object(Bucket=BUCKET, Key=layout.plan_key("r4"), Body=b"{}")
    agg = handlers.aggregate(
        {"run_id": "r4", "segment_count": 1, "segment": spec, "shards_error": None}, clients
    )
    assert agg["abort"] is True and agg["abort_reason"] == "stopped by alice"
    assert agg["missing_shards"] == [0]


def test_a_failed_collect_is_said_in_the_report(clients: Clients, demo_target: DemoTarget) -> None:
    cause = json.dumps({"errorType": "ClientError", "errorMessage": "GetMetricData: Rate exceeded"})
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "1s", "rate": 20}]})
    run_workflow(clients, plan, collect_error={"Error": "ClientError", "Cause": cause})
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["service_metrics"]["notes"] == ["not collected: GetMetricData: Rate exceeded"]
    html = clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.html")["Body"].read().decode()
    assert "GetMetricData: Rate exceeded" in html
