"""AWS steps against moto in server mode: the aiobotocore clients talk HTTP to a local endpoint.

moto's settings here: Lambda without Docker (``lambda.use_docker: false``: an invocation echoes
its payload, has no log tail, and does not check that the function exists) and Step Functions
executing state machines (``stepfunctions.execute_state_machine: true``). Athena answers
SUCCEEDED with zeroed statistics. Behaviour moto cannot show (log tails, throttling, failed
queries, timeouts) is tested with fake clients in tests/unit/test_aws_steps_unit.py.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import random
import socket
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest
import requests
from moto.core import models as moto_models
from moto.server import ThreadedMotoServer

from surge.engine.aws_steps import AwsClientPool, AwsOutcome, AwsStepSpec, compile_aws_step

REGION = "us-east-1"
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        config: Any = moto_models.default_user_config  # type: ignore[attr-defined]  # restored afterwards
        saved = copy.deepcopy(config)
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        url = f"http://127.0.0.1:{port}"
        try:
            # Backends are process-wide: start from none left by another module's mock_aws.
            requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
            resp = requests.post(
                f"{url}/moto-api/config",
                json={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}},
                timeout=10,
            )
            resp.raise_for_status()
            yield url
        finally:
            server.stop()
            config.clear()
            config.update(saved)


def boto(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)  # type: ignore[call-overload]


def run(endpoint: str, body: Callable[[AwsClientPool], Awaitable[T]]) -> T:
    async def main() -> T:
        pool = AwsClientPool(region=REGION, endpoint_url=endpoint)
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def call(
    endpoint: str, spec: dict[str, Any], variables: dict[str, object] | None = None, times: int = 1
) -> list[AwsOutcome]:
    step = compile_aws_step(AwsStepSpec.model_validate(spec))

    async def body(pool: AwsClientPool) -> list[AwsOutcome]:
        rng = random.Random(3)
        return [await step.call(pool, dict(variables or {}), rng, time.perf_counter) for _ in range(times)]

    return run(endpoint, body)


def one(endpoint: str, spec: dict[str, Any], variables: dict[str, object] | None = None) -> AwsOutcome:
    return call(endpoint, spec, variables)[0]


def assert_timed(out: AwsOutcome) -> None:
    assert out.t_end - out.t_send > 0, out


def assert_ok(out: AwsOutcome) -> None:
    assert out.error is None, out
    assert out.status == 200, out
    assert_timed(out)


def assert_refused(out: AwsOutcome, status: int) -> None:
    assert out.error == "aws_client", out
    assert out.status == status, out
    assert out.captured is None
    assert_timed(out)


# -- Lambda ---------------------------------------------------------------------------------------


def _create_function(endpoint: str, name: str) -> None:
    role = boto(endpoint, "iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto(endpoint, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()},
    )


def test_lambda_invoke_times_the_call_and_captures_from_the_payload(endpoint: str) -> None:
    _create_function(endpoint, "orders")
    spec = {
        "call": "lambda.invoke",
        "function": "orders",
        "payload": {"id": "{{ order }}", "n": 3},
        "capture": [{"json": "$.Payload.id", "as": "got"}],
        "expect": [{"json": "$.Payload.n", "equals": 3}],
    }
    out = one(endpoint, spec, {"order": "o-17"})
    assert_ok(out)
    assert out.captured == {"got": "o-17"}
    assert out.nbytes == len(b'{"id":"o-17","n":3}')  # moto echoes the payload
    assert out.variant is None  # moto's Lambda without Docker returns no log tail
    assert isinstance(out.doc, dict) and out.doc["StatusCode"] == 200
    assert compile_aws_step(AwsStepSpec.model_validate(spec)).endpoint == "lambda.invoke orders"


def test_lambda_invoke_failing_expectation_is_an_expect_error(endpoint: str) -> None:
    _create_function(endpoint, "orders-expect")
    spec = {
        "call": "lambda.invoke",
        "function": "orders-expect",
        "payload": {"state": "NEW"},
        "expect": [{"json": "$.Payload.state", "equals": "PAID"}],
    }
    out = one(endpoint, spec)
    assert out.error == "expect"
    assert out.status == 200
    assert_timed(out)


# -- SQS ------------------------------------------------------------------------------------------


def test_sqs_send_captures_the_message_id_and_a_missing_queue_is_a_client_error(endpoint: str) -> None:
    url = boto(endpoint, "sqs").create_queue(QueueName="jobs")["QueueUrl"]
    out = one(
        endpoint,
        {
            "call": "sqs.send",
            "queue": "jobs",
            "body": "{{ $uuid }}",
            "capture": [{"json": "$.MessageId", "as": "mid"}],
        },
    )
    assert_ok(out)
    assert isinstance(out.captured, dict) and out.captured["mid"]
    got = boto(endpoint, "sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in got] == [out.captured["mid"]]
    # By URL, too (no lookup).
    assert_ok(one(endpoint, {"call": "sqs.send", "queue": url, "body": {"k": 1}}))
    assert_refused(one(endpoint, {"call": "sqs.send", "queue": "no-such-queue", "body": "x"}), 400)


def test_sqs_send_batch_sends_count_messages_rendered_one_by_one(endpoint: str) -> None:
    url = boto(endpoint, "sqs").create_queue(QueueName="batch")["QueueUrl"]
    out = one(
        endpoint,
        {
            "call": "sqs.send_batch",
            "queue": "batch",
            "count": 7,
            "body": {"id": "{{ $uuid }}", "run": "{{ run }}"},
        },
        {"run": "r1"},
    )
    assert_ok(out)
    assert out.extra["sent"] == 7 and out.extra["failed"] == 0
    bodies: list[dict[str, str]] = []
    sqs = boto(endpoint, "sqs")
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        bodies += [json.loads(m["Body"]) for m in msgs]
        if len(bodies) >= 7:
            break
    assert len(bodies) == 7
    assert {b["run"] for b in bodies} == {"r1"}
    assert len({b["id"] for b in bodies}) == 7  # each entry rendered on its own
    assert_ok(one(endpoint, {"call": "sqs.send_batch", "queue": url, "entries": ["a", "b"]}))
    assert_refused(one(endpoint, {"call": "sqs.send_batch", "queue": "nope", "entries": ["a"]}), 400)


# -- Kinesis --------------------------------------------------------------------------------------


def _records(endpoint: str, stream: str) -> list[bytes]:
    kinesis = boto(endpoint, "kinesis")
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return [r["Data"] for r in kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]]


def test_kinesis_put_and_put_batch_land_records_and_a_missing_stream_is_a_client_error(endpoint: str) -> None:
    boto(endpoint, "kinesis").create_stream(StreamName="clicks", ShardCount=1)
    out = one(
        endpoint,
        {
            "call": "kinesis.put",
            "stream": "clicks",
            "data": {"user": "{{ user }}"},
            "capture": [{"json": "$.ShardId", "as": "shard"}],
        },
        {"user": "u1"},
    )
    assert_ok(out)
    assert out.captured == {"shard": "shardId-000000000000"}
    batch = one(
        endpoint, {"call": "kinesis.put_batch", "stream": "clicks", "count": 5, "data": "{{ $uuid }}"}
    )
    assert_ok(batch)
    assert batch.extra == {"sent": 5.0, "failed": 0.0}
    data = _records(endpoint, "clicks")
    assert json.loads(data[0]) == {"user": "u1"}
    assert len(data) == 6
    assert_refused(one(endpoint, {"call": "kinesis.put", "stream": "no-stream", "data": "x"}), 400)


# -- DynamoDB -------------------------------------------------------------------------------------


def test_dynamodb_put_then_get_and_query_return_the_item(endpoint: str) -> None:
    boto(endpoint, "dynamodb").create_table(
        TableName="orders",
        KeySchema=[
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "order", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    variables: dict[str, object] = {"cid": "c-1", "oid": "o-9"}
    put = one(
        endpoint,
        {
            "call": "dynamodb.put",
            "table": "orders",
            "item": {"customer": "{{ cid }}", "order": "{{ oid }}", "total": 12.5, "lines": 3, "tags": ["a"]},
        },
        variables,
    )
    assert_ok(put)
    stored = boto(endpoint, "dynamodb").get_item(
        TableName="orders", Key={"customer": {"S": "c-1"}, "order": {"S": "o-9"}}
    )["Item"]
    assert stored["total"] == {"N": "12.5"} and stored["lines"] == {"N": "3"}

    get = one(
        endpoint,
        {
            "call": "dynamodb.get",
            "table": "orders",
            "key": {"customer": "{{ cid }}", "order": "{{ oid }}"},
            "capture": [{"json": "$.Item.total", "as": "total"}],
            "expect": [{"json": "$.Item.lines", "equals": 3}, {"json": "$.Item.tags", "contains": "a"}],
        },
        variables,
    )
    assert_ok(get)
    assert get.captured == {"total": 12.5}
    assert get.doc == {"Item": {"customer": "c-1", "order": "o-9", "total": 12.5, "lines": 3, "tags": ["a"]}}

    query = one(
        endpoint,
        {
            "call": "dynamodb.query",
            "table": "orders",
            "key_condition": {"customer": "{{ cid }}"},
            "capture": [{"json": "$.Count", "as": "n"}],
        },
        variables,
    )
    assert_ok(query)
    assert query.captured == {"n": 1}
    expr = one(
        endpoint,
        {
            "call": "dynamodb.query",
            "table": "orders",
            "key_condition": "customer = :c AND begins_with(#o, :p)",
            "names": {"#o": "order"},
            "values": {":c": "{{ cid }}", ":p": "o-"},
            "expect": [{"json": "$.Items[0].order", "equals": "{{ oid }}"}],
        },
        variables,
    )
    assert_ok(expr)
    missing = one(
        endpoint, {"call": "dynamodb.get", "table": "orders", "key": {"customer": "x", "order": "y"}}
    )
    assert_ok(missing)
    assert missing.doc == {}
    assert_refused(one(endpoint, {"call": "dynamodb.get", "table": "no-table", "key": {"id": "1"}}), 400)


# -- S3 -------------------------------------------------------------------------------------------


def test_s3_put_of_a_size_stores_that_many_bytes_and_get_reads_them(endpoint: str) -> None:
    s3 = boto(endpoint, "s3")
    s3.create_bucket(Bucket="loads")
    put = one(
        endpoint,
        {"call": "s3.put", "bucket": "loads", "key": "in/{{ name }}.bin", "size": "1MB"},
        {"name": "first"},
    )
    assert_ok(put)
    assert put.extra["bytes_sent"] == 1_000_000
    assert s3.head_object(Bucket="loads", Key="in/first.bin")["ContentLength"] == 1_000_000
    assert_ok(one(endpoint, {"call": "s3.put", "bucket": "loads", "key": "in/kib.bin", "size": "3KiB"}))
    assert s3.head_object(Bucket="loads", Key="in/kib.bin")["ContentLength"] == 3 * 1024

    get = one(endpoint, {"call": "s3.get", "bucket": "loads", "key": "in/first.bin"})
    assert_ok(get)
    assert get.nbytes == 1_000_000
    assert isinstance(get.doc, dict) and get.doc["ContentLength"] == 1_000_000 and "Body" not in get.doc

    doc_put = {"call": "s3.put", "bucket": "loads", "key": "doc.json", "body": {"a": 1}}
    assert_ok(one(endpoint, {**doc_put, "content_type": "application/json"}))
    doc_get = one(
        endpoint,
        {
            "call": "s3.get",
            "bucket": "loads",
            "key": "doc.json",
            "capture": [{"json": "$.Body.a", "as": "a"}],
        },
    )
    assert_ok(doc_get)
    assert doc_get.captured == {"a": 1}

    assert_refused(one(endpoint, {"call": "s3.put", "bucket": "no-bucket", "key": "k", "size": 10}), 404)
    assert_refused(one(endpoint, {"call": "s3.get", "bucket": "loads", "key": "missing"}), 404)


# -- Step Functions -------------------------------------------------------------------------------


def _state_machine(endpoint: str, name: str, states: dict[str, Any], start: str) -> str:
    role = boto(endpoint, "iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
    arn = boto(endpoint, "stepfunctions").create_state_machine(
        name=name,
        roleArn=role["Role"]["Arn"],
        definition=json.dumps({"StartAt": start, "States": states}),
    )["stateMachineArn"]
    return str(arn)


def test_stepfunctions_start_with_wait_reads_the_output(endpoint: str) -> None:
    arn = _state_machine(
        endpoint, "checkout", {"P": {"Type": "Pass", "Parameters": {"done.$": "$.order"}, "End": True}}, "P"
    )
    spec = {
        "call": "stepfunctions.start",
        "state_machine": arn,
        "input": {"order": "{{ oid }}"},
        "wait": True,
        "poll": "50ms",
        "timeout": "20s",
        "capture": [{"json": "$.output.done", "as": "done"}],
    }
    out = one(endpoint, spec, {"oid": "o-3"})
    assert_ok(out)
    assert out.captured == {"done": "o-3"}
    assert isinstance(out.doc, dict) and out.doc["status"] == "SUCCEEDED"
    assert out.extra["polls"] >= 1 and out.extra["execution_ms"] >= 0
    assert compile_aws_step(AwsStepSpec.model_validate(spec)).endpoint == "stepfunctions.start checkout"

    started = one(
        endpoint,
        {
            "call": "stepfunctions.start",
            "state_machine": arn,
            "capture": [{"json": "$.executionArn", "as": "x"}],
        },
    )
    assert_ok(started)
    assert isinstance(started.captured, dict) and ":execution:checkout:" in str(started.captured["x"])

    missing = arn.replace(":checkout", ":no-such-machine")
    assert_refused(one(endpoint, {"call": "stepfunctions.start", "state_machine": missing}), 400)


def test_stepfunctions_failed_execution_and_timeout(endpoint: str) -> None:
    failing = _state_machine(
        endpoint, "failing", {"F": {"Type": "Fail", "Error": "Boom", "Cause": "test"}}, "F"
    )
    out = one(
        endpoint, {"call": "stepfunctions.start", "state_machine": failing, "wait": True, "poll": "50ms"}
    )
    assert out.error == "query_failed"
    assert isinstance(out.doc, dict) and out.doc["status"] == "FAILED"
    assert_timed(out)

    slow = _state_machine(
        endpoint,
        "slow",
        {"W": {"Type": "Wait", "Seconds": 2, "Next": "P"}, "P": {"Type": "Pass", "End": True}},
        "W",
    )
    out = one(
        endpoint,
        {
            "call": "stepfunctions.start",
            "state_machine": slow,
            "wait": True,
            "poll": "50ms",
            "timeout": "400ms",
        },
    )
    assert out.error == "timeout"
    assert 0.35 < out.t_end - out.t_send < 1.5


# -- Athena ---------------------------------------------------------------------------------------


def test_athena_query_waits_for_success_and_reports_statistics(endpoint: str) -> None:
    spec = {
        "call": "athena.query",
        "query": "SELECT * FROM events WHERE day = '{{ day }}'",
        "database": "analytics",
        "workgroup": "primary",
        "poll": "20ms",
        "timeout": "10s",
        "concurrency": 2,
        "capture": [{"json": "$.Status.State", "as": "state"}],
    }
    out = one(endpoint, spec, {"day": "2026-11-01"})
    assert_ok(out)
    assert out.captured == {"state": "SUCCEEDED"}
    # moto's statistics are all zero; the parsing of real figures is tested on recorded responses.
    assert out.extra["bytes_scanned"] == 0.0 and out.extra["engine_ms"] == 0.0
    assert isinstance(out.doc, dict) and "Query" not in out.doc

    # moto's state manager moves a query QUEUED -> RUNNING -> SUCCEEDED one poll at a time.
    base = f"{endpoint}/moto-api/state-manager"
    transition: dict[str, Any] = {"progression": "manual", "times": 3}
    requests.post(
        f"{base}/set-transition",
        json={"model_name": "athena::execution", "transition": transition},
        timeout=5,
    )
    try:
        polled = one(endpoint, spec, {"day": "2026-11-02"})
    finally:
        requests.post(f"{base}/unset-transition", json={"model_name": "athena::execution"}, timeout=5)
    assert_ok(polled)
    assert polled.extra["polls"] >= 2

    missing = one(endpoint, {"call": "athena.query", "query": "SELECT 1", "workgroup": "no-such-workgroup"})
    assert_refused(missing, 400)


# -- the pool -------------------------------------------------------------------------------------


def test_pool_reuses_clients_and_an_unreachable_endpoint_is_a_connect_error(endpoint: str) -> None:
    async def body(pool: AwsClientPool) -> None:
        a = await pool.client("sqs")
        b = await pool.client("sqs")
        assert a is b
        assert await pool.client("sqs", "eu-west-1") is not a

    run(endpoint, body)

    dead = f"http://127.0.0.1:{_free_port()}"
    out = one(dead, {"call": "dynamodb.get", "table": "orders", "key": {"id": "1"}})
    assert out.error == "connect"
    assert out.status == 0
    assert_timed(out)


# -- through the worker: AWS calls as steps of a flow, recorded like requests --------------------


def test_a_flow_of_aws_steps_runs_in_the_worker(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from surge.finish import build_report
    from surge.run_facts import RunFacts
    from surge.stats import aggregate, merge_results
    from tests.helpers import make_plan, run_in_process

    monkeypatch.setenv("SURGE_AWS_ENDPOINT_URL", endpoint)
    boto(endpoint, "sqs").create_queue(QueueName="flow-jobs")
    boto(endpoint, "s3").create_bucket(Bucket="flow-bucket")
    boto(endpoint, "dynamodb").create_table(
        TableName="flow-orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    flow = [
        {"aws": {"call": "dynamodb.put", "table": "flow-orders", "item": {"id": "{{ $uuid }}", "n": 1}}},
        {"aws": {"call": "sqs.send", "queue": "flow-jobs", "body": "{{ $uuid }}", "name": "enqueue"}},
        {"aws": {"call": "s3.put", "bucket": "flow-bucket", "key": "o/{{ $uuid }}", "size": "2KB"}},
    ]
    plan = make_plan(
        "http://127.0.0.1:9",  # no HTTP in this flow; the target is only the plan's base URL
        load={"phases": [{"duration": "1s", "rate": 10}]},
        scenarios=[{"name": "aws", "flow": flow}],
        allow_resources=["dynamodb:flow-orders", "sqs:flow-jobs", "s3:flow-bucket*"],
        thresholds=['endpoint["enqueue"].p95 < 5s', "http.error_rate < 1%"],
    )
    stats = merge_results([run_in_process(plan, lead_s=2.0)])  # AWS clients are made in the lead
    assert aggregate(stats, endpoint="enqueue").requests == 10
    assert aggregate(stats).errors == {}
    report = build_report(plan, stats, RunFacts(run_id="aws"))
    # Every check passes but, on a busy machine, whether this one process kept its schedule: that
    # is the machine's, and the report says so in its own check.
    failed = [
        c
        for c in report["checks"]
        if c["status"] != "pass" and c["name"] != "validity: the generator kept up"
    ]
    assert not failed, [c.get("detail") for c in failed]
    assert set(report["endpoints"]) == {"dynamodb.put flow-orders", "enqueue", "s3.put flow-bucket"}
    assert (
        boto(endpoint, "sqs").get_queue_attributes(
            QueueUrl=boto(endpoint, "sqs").get_queue_url(QueueName="flow-jobs")["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "10"
    )


def test_a_resource_outside_the_allow_list_is_refused_before_any_call() -> None:
    from surge.errors import PlanError
    from tests.helpers import make_plan

    flow = [{"aws": {"call": "sqs.send", "queue": "billing", "body": "x"}}]
    with pytest.raises(PlanError) as info:
        make_plan(
            "http://127.0.0.1:9", scenarios=[{"name": "aws", "flow": flow}], allow_resources=["sqs:jobs"]
        )
    assert any("scenarios[0].flow[0].aws" in p and "billing" in p for p in info.value.problems)


def test_poll_until_an_aws_read_sees_the_item(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from surge.finish import build_report
    from surge.run_facts import RunFacts
    from surge.stats import merge_results
    from tests.helpers import make_plan, run_in_process

    monkeypatch.setenv("SURGE_AWS_ENDPOINT_URL", endpoint)
    ddb = boto(endpoint, "dynamodb")
    ddb.create_table(
        TableName="poll-orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    flow = [
        {"mark": "sent"},
        {
            "poll": {
                "aws": {"call": "dynamodb.get", "table": "poll-orders", "key": {"id": "o-1"}},
                "until": {"json": "$.Item.id", "equals": "o-1"},
                "every": "100ms",
                "timeout": "5s",
                "metric": "visible",
                "since": "sent",
            }
        },
    ]
    plan = make_plan(
        "http://127.0.0.1:9",
        load={"phases": [{"duration": "0.1s", "rate": 10}]},
        scenarios=[{"name": "poll", "flow": flow}],
        allow_resources=["dynamodb:poll-orders"],
    )
    # The item appears about 0.6 s after the run starts (the worker starts 3 s after launch: a
    # worker that starts its window late drops the run's one arrival, and on a busy machine making
    # its AWS clients took more than 1 s).
    threading.Timer(3.6, lambda: ddb.put_item(TableName="poll-orders", Item={"id": {"S": "o-1"}})).start()
    report = build_report(plan, merge_results([run_in_process(plan, lead_s=3.0)]), RunFacts(run_id="p"))
    visible = report["stages"]["visible"]
    assert (visible["count"], visible["failures"]) == (1, 0), report["stages"]
    # The wait covers the time the item was missing (timer start vs worker start varies under load).
    assert visible["latency_ms"]["min"] is not None and 150 <= visible["latency_ms"]["min"] <= 3000
    reads = report["endpoints"]["dynamodb.get poll-orders"]
    assert reads["requests"] >= 2 and reads["errors"] == 0  # not found yet is not an error


def test_a_failing_aws_step_is_sampled_with_the_services_error(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.finish import build_report
    from surge.run_facts import RunFacts
    from surge.stats import merge_results
    from tests.helpers import make_plan, run_in_process

    monkeypatch.setenv("SURGE_AWS_ENDPOINT_URL", endpoint)
    plan = make_plan(
        "http://127.0.0.1:9",
        load={"phases": [{"duration": "0.2s", "rate": 10}]},
        scenarios=[
            {
                "name": "get",
                "flow": [{"aws": {"call": "dynamodb.get", "table": "no-such-table", "key": {"id": "x"}}}],
            }
        ],
        allow_resources=["dynamodb:no-such-table"],
    )
    report = build_report(plan, merge_results([run_in_process(plan, lead_s=1.0)]), RunFacts(run_id="a"))
    (group,) = report["failures"]
    assert group["error"] == "aws_client" and group["count"] == 2
    assert (group["samples"][0]["detail"] or "").startswith("ResourceNotFoundException")
