"""AWS steps without AWS: plan validation, the allow-list, Lambda log tails, error classes, and the
call paths moto cannot show (log tails, throttling, failed queries, timeouts, concurrency limits)
driven through fake aiobotocore clients returning recorded responses."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions as bce
import pytest
from pydantic import ValidationError

from surge.engine.aws_steps import (
    AwsClientPool,
    AwsOutcome,
    AwsStepSpec,
    check_allowed,
    classify_cold_start,
    classify_error_code,
    classify_exception,
    compile_aws_step,
    decode_log_result,
    parse_allow_resources,
    parse_report,
    parse_size,
)

# -- recorded Lambda log tails --------------------------------------------------------------------

COLD_TAIL = (
    "START RequestId: 8f5a1c2e-7b7d-4e36-9a57-2b0f3d1e9c11 Version: $LATEST\n"
    "[INFO]\t2026-11-24T10:00:00.101Z\t8f5a1c2e-7b7d-4e36-9a57-2b0f3d1e9c11\torder accepted\n"
    "END RequestId: 8f5a1c2e-7b7d-4e36-9a57-2b0f3d1e9c11\n"
    "REPORT RequestId: 8f5a1c2e-7b7d-4e36-9a57-2b0f3d1e9c11\tDuration: 3.02 ms\tBilled Duration: 216 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 39 MB\tInit Duration: 212.34 ms\t\n"
)
WARM_TAIL = (
    "START RequestId: 0c7e2b8a-3f41-4b8e-8d0a-5d6f1e2a3b4c Version: $LATEST\n"
    "[INFO]\t2026-11-24T10:00:01.200Z\t0c7e2b8a\tconfig: Init Duration: 5 ms is the app's own text\n"
    "END RequestId: 0c7e2b8a-3f41-4b8e-8d0a-5d6f1e2a3b4c\n"
    "REPORT RequestId: 0c7e2b8a-3f41-4b8e-8d0a-5d6f1e2a3b4c\tDuration: 1.55 ms\tBilled Duration: 2 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 39 MB\t\n"
    "XRAY TraceId: 1-6743f1a0-5c1d2e3f4a5b6c7d8e9f0a1b\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\n"
)
SNAPSTART_TAIL = (
    "REPORT RequestId: 5b1d0f3e-0000-4000-8000-000000000001\tDuration: 10.25 ms\tBilled Duration: 455 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 130 MB\tRestore Duration: 440.26 ms\tBilled Restore Duration: 444 ms\n"
)
JSON_COLD_TAIL = (
    '{"time":"2026-11-24T10:00:00.000Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}}\n'
    '{"timestamp":"2026-11-24T10:00:00.050Z","level":"INFO","message":"hello","requestId":"r1"}\n'
    '{"time":"2026-11-24T10:00:00.100Z","type":"platform.report","record":{"requestId":"r1","metrics":'
    '{"durationMs":3.02,"billedDurationMs":216,"memorySizeMB":128,"maxMemoryUsedMB":39,"initDurationMs":212.34},'
    '"status":"success"}}\n'
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_cold_start_is_read_from_init_duration() -> None:
    assert classify_cold_start(COLD_TAIL) == ("cold", 212.34)
    assert classify_cold_start(WARM_TAIL) == ("warm", None)  # app text mentioning Init Duration is ignored
    assert classify_cold_start(SNAPSTART_TAIL) == ("cold", 440.26)
    assert classify_cold_start(JSON_COLD_TAIL) == ("cold", 212.34)
    assert classify_cold_start(JSON_COLD_TAIL.replace(',"initDurationMs":212.34', "")) == ("warm", None)
    assert classify_cold_start("START RequestId: x\n[INFO] half a log") == ("unknown", None)
    assert classify_cold_start("") == ("unknown", None)


def test_report_line_figures() -> None:
    assert parse_report(COLD_TAIL) == {
        "duration_ms": 3.02,
        "billed_ms": 216.0,
        "memory_mb": 128.0,
        "max_memory_mb": 39.0,
        "init_ms": 212.34,
    }
    assert parse_report(SNAPSTART_TAIL) == {
        "duration_ms": 10.25,
        "billed_ms": 455.0,
        "memory_mb": 1024.0,
        "max_memory_mb": 130.0,
        "restore_ms": 440.26,
        "billed_restore_ms": 444.0,
    }
    assert parse_report(JSON_COLD_TAIL) == parse_report(COLD_TAIL)
    assert decode_log_result(b64(COLD_TAIL)) == COLD_TAIL
    assert decode_log_result(None) == ""


# -- plan validation ------------------------------------------------------------------------------


def spec(**data: Any) -> AwsStepSpec:
    return AwsStepSpec.model_validate(data)


def problem(**data: Any) -> str:
    with pytest.raises(ValidationError) as err:
        AwsStepSpec.model_validate(data)
    return str(err.value)


def test_each_call_kind_validates_with_readable_fields() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:checkout"
    examples: list[dict[str, Any]] = [
        {
            "call": "lambda.invoke",
            "function": "orders",
            "payload": {"id": "{{ $uuid }}"},
            "name": "invoke orders",
        },
        {"call": "sqs.send", "queue": "jobs", "body": "{{ $uuid }}"},
        {"call": "sqs.send_batch", "queue": "jobs", "count": 10, "body": {"id": "{{ $uuid }}"}},
        {"call": "sqs.send_batch", "queue": "jobs", "entries": ["a", {"b": 1}]},
        {"call": "kinesis.put", "stream": "clicks", "data": {"u": 1}, "partition_key": "{{ $uuid }}"},
        {"call": "kinesis.put_batch", "stream": "clicks", "count": 500, "data": "x"},
        {"call": "dynamodb.put", "table": "orders", "item": {"id": "{{ $uuid }}"}},
        {"call": "dynamodb.get", "table": "orders", "key": {"id": "{{ id }}"}, "consistent": True},
        {
            "call": "dynamodb.query",
            "table": "orders",
            "key_condition": {"customer": "{{ cid }}"},
            "limit": 10,
        },
        {"call": "dynamodb.query", "table": "orders", "key_condition": "pk = :p", "values": {":p": "1"}},
        {"call": "s3.put", "bucket": "b", "key": "x/{{ $uuid }}", "size": "1MB"},
        {"call": "s3.get", "bucket": "b", "key": "x/1"},
        {"call": "stepfunctions.start", "state_machine": arn, "input": {}, "wait": True, "timeout": "60s"},
        {
            "call": "athena.query",
            "workgroup": "primary",
            "query": "SELECT 1",
            "database": "db",
            "poll": "500ms",
        },
    ]
    for data in examples:
        spec(**data)
    s = spec(**examples[-1], timeout="60s", concurrency=5)
    assert (s.wait_timeout, s.poll_interval, s.concurrency) == (60.0, 0.5, 5)


def test_plan_mistakes_get_one_clear_message() -> None:
    assert "unknown call 'lambda.invok'" in problem(call="lambda.invok", function="f")
    assert "lambda.invoke needs 'function'" in problem(call="lambda.invoke")
    msg = problem(call="lambda.invoke", function="f", queue="q")
    assert "'queue' does not apply to lambda.invoke (it takes: function, qualifier, payload)" in msg
    assert "may not be templated" in problem(call="lambda.invoke", function="fn-{{ env }}")
    assert "at most 10 entries" in problem(call="sqs.send_batch", queue="q", count=11, body="x")
    assert "'entries' (a list) or 'count'" in problem(call="sqs.send_batch", queue="q")
    assert "'size' (bytes to upload) or 'body'" in problem(call="s3.put", bucket="b", key="k")
    assert "the state machine's ARN" in problem(call="stepfunctions.start", state_machine="checkout")
    arn = "arn:aws:states:us-east-1:1:stateMachine:s"
    assert "goes with wait: true" in problem(call="stepfunctions.start", state_machine=arn, poll="1s")
    assert "shorter than 'timeout'" in problem(call="athena.query", query="q", poll="2s", timeout="1s")
    assert "needs 'values'" in problem(call="dynamodb.query", table="t", key_condition="pk = :p")
    assert "is not a duration" in problem(call="athena.query", query="q", timeout="soon")
    assert "not an AWS region" in problem(call="s3.get", bucket="b", key="k", region="Mars")
    assert "exactly one of 'equals'" in problem(call="s3.get", bucket="b", key="k", expect=[{"json": "$.a"}])
    assert "is not a JSONPath" in problem(
        call="s3.get", bucket="b", key="k", capture=[{"json": "$[", "as": "x"}]
    )
    assert "Extra inputs are not permitted" in problem(call="s3.get", bucket="b", key="k", bogus=1)
    assert "'payload'" in problem(call="lambda.invoke", function="f", payload="{{ oops")


def test_sizes() -> None:
    assert parse_size("1MB") == 1_000_000
    assert parse_size("1MiB") == 1024**2
    assert parse_size("512 kb") == 512_000
    assert parse_size(42) == 42
    for bad in ("1 TB", "-1", "lots", True, 2 * 1024**3):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_names_resources_and_variables() -> None:
    s = spec(call="lambda.invoke", function="orders", payload={"id": "{{ oid }}", "u": "{{ $uuid }}"})
    assert (s.display_name, s.resources(), s.variables()) == (
        "lambda.invoke orders",
        ["lambda:orders"],
        frozenset({"oid"}),
    )
    assert spec(call="lambda.invoke", function="orders", name="place order").display_name == "place order"
    fn_arn = "arn:aws:lambda:eu-west-1:123456789012:function:billing:prod"
    s = spec(call="lambda.invoke", function=fn_arn)
    assert (s.display_name, s.resources(), s.resource().region) == (
        "lambda.invoke billing",
        [fn_arn],
        "eu-west-1",
    )
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/jobs"
    s = spec(call="sqs.send", queue=url, body="x")
    assert (s.display_name, s.resources(), s.resource().region) == (
        "sqs.send jobs",
        ["sqs:jobs"],
        "eu-central-1",
    )
    s = spec(call="s3.put", bucket="b", key="in/{{ $uuid }}.bin", size=1)
    assert (s.display_name, s.resources()) == ("s3.put b", ["s3:b/in/{{ $uuid }}.bin"])
    s = spec(
        call="dynamodb.get",
        table="orders",
        key={"id": "{{ id }}"},
        expect=[{"json": "$.Item.x", "equals": "{{ want }}"}],
    )
    assert s.variables() == frozenset({"id", "want"})
    assert spec(call="athena.query", query="SELECT 1").resources() == ["athena:primary"]
    s = spec(call="kinesis.put", stream="arn:aws:kinesis:us-east-1:1:stream/clicks", data="x")
    assert s.display_name == "kinesis.put clicks"
    s = spec(call="stepfunctions.start", state_machine="arn:aws:states:us-east-1:1:stateMachine:checkout")
    assert s.display_name == "stepfunctions.start checkout"


# -- the allow-list -------------------------------------------------------------------------------


def test_a_resource_outside_the_allow_list_is_refused_naming_the_field_path() -> None:
    steps = [
        spec(call="lambda.invoke", function="orders"),
        spec(call="sqs.send", queue="jobs", body="x"),
        spec(call="lambda.invoke", function="billing"),
    ]
    where = [f"scenarios[0].flow[{i}].aws" for i in range(3)]
    problems = check_allowed(steps, ["lambda:orders", "sqs:jobs"], where)
    assert problems == [
        "scenarios[0].flow[2].aws: lambda function 'billing' is not in allow_resources; "
        "add 'lambda:billing' (or its ARN) to allow it"
    ]
    assert len(check_allowed(steps, [], where)) == 3
    assert check_allowed(steps, ["lambda:*", "sqs:jobs"], where) == []


def test_allow_entries_as_arns_names_and_globs() -> None:
    def allowed(step: AwsStepSpec, *allow: str) -> bool:
        return not check_allowed([step], list(allow), ["s"])

    fn = spec(call="lambda.invoke", function="orders:prod")
    assert allowed(fn, "lambda:orders")
    assert allowed(fn, "arn:aws:lambda:us-east-1:123456789012:function:orders")
    assert not allowed(fn, "lambda:order")
    fn_arn = spec(call="lambda.invoke", function="arn:aws:lambda:us-east-1:123456789012:function:orders:7")
    assert allowed(fn_arn, "arn:aws:lambda:us-east-1:123456789012:function:orders")
    assert allowed(fn_arn, "arn:aws:lambda:*:123456789012:function:*")
    assert not allowed(fn_arn, "arn:aws:lambda:eu-west-1:123456789012:function:orders")  # another region
    assert allowed(fn_arn, "lambda:orders")
    assert not allowed(fn, "sqs:orders")

    put = spec(call="s3.put", bucket="loads", key="in/{{ $uuid }}.bin", size=1)
    assert allowed(put, "s3:loads")
    assert allowed(put, "s3:loads/in/*")
    assert allowed(put, "arn:aws:s3:::loads/in/*")
    assert not allowed(put, "s3:loads/out/*")
    assert not allowed(put, "s3:loads/in/abc*")  # a templated key may render anything after in/
    assert not allowed(put, "s3:load")
    assert check_allowed([put], ["s3:other"], ["f"]) == [
        "f: S3 object 's3://loads/in/{{ $uuid }}.bin' is not in allow_resources; add 's3:loads/in/*' (or its ARN) "
        "to allow it"
    ]

    sm = spec(call="stepfunctions.start", state_machine="arn:aws:states:us-east-1:1:stateMachine:checkout")
    assert allowed(sm, "stepfunctions:checkout") and allowed(sm, "states:check*")
    assert allowed(spec(call="athena.query", query="q", workgroup="etl"), "athena:etl")
    assert allowed(
        spec(call="dynamodb.get", table="orders", key={"id": 1}), "arn:aws:dynamodb:*:*:table/orders"
    )
    assert allowed(spec(call="kinesis.put", stream="clicks", data="x"), "kinesis:clicks")
    assert allowed(spec(call="sqs.send", queue="arn:aws:sqs:us-east-1:1:jobs", body="x"), "sqs:jobs")


def test_malformed_allow_entries_are_problems_too() -> None:
    problems = check_allowed(
        [], ["lambda", "lamda:orders", "arn:aws:sns:us-east-1:1:topic", "sqs:", "arn:bad"], []
    )
    assert problems == [
        "allow_resources[0]: 'lambda' is neither an ARN nor SERVICE:NAME (lambda:NAME, sqs:NAME, kinesis:NAME, "
        "dynamodb:NAME, states:NAME, athena:NAME, s3:BUCKET[/KEY])",
        "allow_resources[1]: 'lamda:orders' is neither an ARN nor SERVICE:NAME (lambda:NAME, sqs:NAME, "
        "kinesis:NAME, dynamodb:NAME, states:NAME, athena:NAME, s3:BUCKET[/KEY])",
        "allow_resources[2]: 'arn:aws:sns:us-east-1:1:topic': no aws step calls the service 'sns'",
        "allow_resources[3]: 'sqs:' names no resource; use 'sqs:*' to allow every one",
        "allow_resources[4]: 'arn:bad' is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)",
    ]
    with pytest.raises(ValueError, match="allow_resources\\[0\\]"):
        parse_allow_resources(["nope"])
    assert [r.service for r in parse_allow_resources(["stepfunctions:x", "s3:b/p*"])] == ["states", "s3"]


# -- error classes --------------------------------------------------------------------------------


def client_error(code: str, status: int, op: str = "Invoke") -> bce.ClientError:
    return bce.ClientError(
        {"Error": {"Code": code, "Message": "recorded"}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        op,
    )


def test_error_classes() -> None:
    assert classify_error_code("TooManyRequestsException", 429) == "aws_throttled"
    assert classify_error_code("ProvisionedThroughputExceededException", 400) == "aws_throttled"
    assert classify_error_code("SlowDown", 503) == "aws_throttled"
    assert classify_error_code("ServiceException", 500) == "aws_server"
    assert classify_error_code("ResourceNotFoundException", 404) == "aws_client"
    assert classify_exception(client_error("ThrottlingException", 400))[:2] == (400, "aws_throttled")
    assert classify_exception(bce.ReadTimeoutError(endpoint_url="x"))[1] == "timeout"
    assert classify_exception(TimeoutError())[1] == "timeout"
    assert classify_exception(bce.EndpointConnectionError(endpoint_url="x"))[1] == "connect"
    assert classify_exception(bce.NoCredentialsError())[1] == "aws_config"
    assert classify_exception(bce.NoRegionError())[1] == "aws_config"
    assert classify_exception(RuntimeError())[1] == "other"


# -- call paths through fake clients ----------------------------------------------------------------


class FakeStream:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.data


def meta(status: int = 200, length: int = 0) -> dict[str, Any]:
    return {"HTTPStatusCode": status, "HTTPHeaders": {"content-length": str(length)}}


class FakeClient:
    """Methods named like the aiobotocore client's, answering from recorded responses."""

    def __init__(self, **handlers: Callable[..., Any]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, op: str) -> Callable[..., Any]:
        handler = self.handlers[op]

        async def method(**params: Any) -> Any:
            self.calls.append((op, params))
            result = handler(**params)
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, BaseException):
                raise result
            return result

        return method


class FakePool(AwsClientPool):
    def __init__(self, client: FakeClient) -> None:
        super().__init__(region="us-east-1")
        self.fake = client

    async def client(self, service: str, region: str | None = None) -> Any:
        return self.fake


def run_steps(
    client: FakeClient, data: dict[str, Any], n: int = 1, variables: dict[str, object] | None = None
) -> list[AwsOutcome]:
    step = compile_aws_step(AwsStepSpec.model_validate(data))

    async def main() -> list[AwsOutcome]:
        pool = FakePool(client)
        try:
            rng = random.Random(1)
            return list(
                await asyncio.gather(
                    *(step.call(pool, dict(variables or {}), rng, time.perf_counter) for _ in range(n))
                )
            )
        finally:
            await pool.close()

    return asyncio.run(main())


def lambda_response(
    tail: str | None, payload: bytes = b'{"ok":true}', function_error: str | None = None
) -> dict[str, Any]:
    resp: dict[str, Any] = {
        "ResponseMetadata": meta(200, len(payload)),
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": FakeStream(payload),
    }
    if tail is not None:
        resp["LogResult"] = b64(tail)
    if function_error:
        resp["FunctionError"] = function_error
    return resp


def test_lambda_invoke_classifies_cold_and_warm_from_the_log_tail() -> None:
    tails = iter([COLD_TAIL, WARM_TAIL])
    client = FakeClient(invoke=lambda **p: lambda_response(next(tails)))
    cold, warm = (
        run_steps(client, {"call": "lambda.invoke", "function": "orders", "payload": {"id": 1}})[0],
        run_steps(client, {"call": "lambda.invoke", "function": "orders"})[0],
    )
    assert (cold.variant, cold.error, cold.status, cold.nbytes) == ("cold", None, 200, 11)
    assert cold.extra["init_ms"] == 212.34 and cold.extra["billed_ms"] == 216.0
    assert (warm.variant, warm.error) == ("warm", None)
    assert "init_ms" not in warm.extra and warm.extra["duration_ms"] == 1.55
    op, params = client.calls[0]
    assert (op, params["LogType"], params["Payload"]) == ("invoke", "Tail", b'{"id":1}')
    assert "Payload" not in client.calls[1][1]
    assert cold.doc == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}  # no captures: payload not parsed


def test_lambda_function_error_throttling_and_missing_function() -> None:
    error_payload = b'{"errorMessage":"boom","errorType":"ValueError"}'
    client = FakeClient(invoke=lambda **p: lambda_response(WARM_TAIL, error_payload, "Unhandled"))
    out = run_steps(client, {"call": "lambda.invoke", "function": "orders"})[0]
    assert (out.error, out.status, out.variant) == ("function_error", 200, "warm")
    assert isinstance(out.doc, dict) and out.doc["FunctionError"] == "Unhandled"
    assert out.doc["Payload"] == {"errorMessage": "boom", "errorType": "ValueError"}

    client = FakeClient(invoke=lambda **p: client_error("TooManyRequestsException", 429))
    out = run_steps(client, {"call": "lambda.invoke", "function": "orders"})[0]
    assert (out.error, out.status, out.variant) == ("aws_throttled", 429, None)
    assert out.doc == {"Error": {"Code": "TooManyRequestsException", "Message": "recorded"}}
    assert out.t_end > out.t_send

    client = FakeClient(invoke=lambda **p: client_error("ResourceNotFoundException", 404))
    out = run_steps(client, {"call": "lambda.invoke", "function": "gone"})[0]
    assert (out.error, out.status) == ("aws_client", 404)


def test_a_slow_call_times_out_and_a_missing_variable_is_a_template_error() -> None:
    async def slow(**p: Any) -> dict[str, Any]:
        await asyncio.sleep(2)
        return {}

    client = FakeClient(put_item=slow)
    out = run_steps(client, {"call": "dynamodb.put", "table": "t", "item": {"id": "1"}, "timeout": "100ms"})[
        0
    ]
    assert out.error == "timeout"
    assert 0.09 < out.t_end - out.t_send < 1.0

    out = run_steps(FakeClient(), {"call": "dynamodb.put", "table": "t", "item": {"id": "{{ nope }}"}})[0]
    assert (out.error, out.status) == ("template", 0)


def test_ok_false_expects_an_aws_error_and_checks_its_code() -> None:
    refused = FakeClient(put_item=lambda **p: client_error("ConditionalCheckFailedException", 400, "PutItem"))
    data = {
        "call": "dynamodb.put",
        "table": "t",
        "item": {"id": "1"},
        "expect": [{"ok": False}, {"json": "$.Error.Code", "equals": "ConditionalCheckFailedException"}],
    }
    assert run_steps(refused, data)[0].error is None
    accepted = FakeClient(put_item=lambda **p: {"ResponseMetadata": meta()})
    assert run_steps(accepted, data)[0].error == "expect"


def test_batches_with_failed_entries_are_errors() -> None:
    client = FakeClient(
        send_message_batch=lambda **p: {
            "ResponseMetadata": meta(),
            "Successful": [{"Id": "0", "MessageId": "m0"}],
            "Failed": [{"Id": "1", "Code": "InvalidParameterValue", "SenderFault": True}],
        }
    )
    pool_queue = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
    out = run_steps(client, {"call": "sqs.send_batch", "queue": pool_queue, "entries": ["a", "b"]})[0]
    assert out.error == "aws_client" and out.extra == {"sent": 1.0, "failed": 1.0}
    assert [e["Id"] for e in client.calls[0][1]["Entries"]] == ["0", "1"]

    client = FakeClient(
        put_records=lambda **p: {
            "ResponseMetadata": meta(),
            "FailedRecordCount": 1,
            "Records": [
                {"ShardId": "s", "SequenceNumber": "1"},
                {"ErrorCode": "ProvisionedThroughputExceededException"},
            ],
        }
    )
    out = run_steps(client, {"call": "kinesis.put_batch", "stream": "clicks", "count": 2, "data": "x"})[0]
    assert out.error == "aws_throttled" and out.extra == {"sent": 1.0, "failed": 1.0}


def athena_execution(state: str, scanned: int = 0, engine_ms: int = 0) -> dict[str, Any]:
    return {
        "ResponseMetadata": meta(200, 900),
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "Query": "SELECT secret FROM t",
            "Status": {"State": state},
            "Statistics": {
                "EngineExecutionTimeInMillis": engine_ms,
                "DataScannedInBytes": scanned,
                "TotalExecutionTimeInMillis": engine_ms + 80,
                "QueryQueueTimeInMillis": 40,
            },
            "WorkGroup": "primary",
        },
    }


def test_athena_polls_until_done_and_reports_bytes_scanned_and_engine_time() -> None:
    states = iter(["QUEUED", "RUNNING", "SUCCEEDED"])
    client = FakeClient(
        start_query_execution=lambda **p: {"ResponseMetadata": meta(200, 60), "QueryExecutionId": "q-1"},
        get_query_execution=lambda **p: athena_execution(next(states), 10_485_760, 1234),
    )
    data = {"call": "athena.query", "query": "SELECT 1", "database": "db", "poll": "10ms"}
    out = run_steps(client, data)[0]
    assert out.error is None and out.status == 200
    assert out.extra == {
        "polls": 3.0,
        "bytes_scanned": 10_485_760.0,
        "engine_ms": 1234.0,
        "total_ms": 1314.0,
        "queue_ms": 40.0,
    }
    assert out.nbytes == 60 + 3 * 900
    assert isinstance(out.doc, dict) and "Query" not in out.doc  # the query text is not kept
    assert client.calls[0] == (
        "start_query_execution",
        {"QueryString": "SELECT 1", "WorkGroup": "primary", "QueryExecutionContext": {"Database": "db"}},
    )

    client = FakeClient(
        start_query_execution=lambda **p: {"ResponseMetadata": meta(), "QueryExecutionId": "q-1"},
        get_query_execution=lambda **p: athena_execution("FAILED"),
    )
    assert run_steps(client, data)[0].error == "query_failed"


def test_athena_timeout_cancels_the_query() -> None:
    client = FakeClient(
        start_query_execution=lambda **p: {"ResponseMetadata": meta(), "QueryExecutionId": "q-9"},
        get_query_execution=lambda **p: athena_execution("RUNNING"),
        stop_query_execution=lambda **p: {"ResponseMetadata": meta()},
    )
    out = run_steps(
        client, {"call": "athena.query", "query": "SELECT 1", "poll": "20ms", "timeout": "150ms"}
    )[0]
    assert out.error == "timeout"
    assert 0.14 < out.t_end - out.t_send < 1.0
    assert ("stop_query_execution", {"QueryExecutionId": "q-9"}) in client.calls


def test_athena_concurrency_limits_queries_in_flight_per_worker() -> None:
    running = 0
    most = 0
    polls: dict[str, int] = {}

    def start(**p: Any) -> dict[str, Any]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        qid = f"q{len(polls)}"
        polls[qid] = 0
        return {"ResponseMetadata": meta(), "QueryExecutionId": qid}

    def get(QueryExecutionId: str) -> dict[str, Any]:
        nonlocal running
        polls[QueryExecutionId] += 1
        if polls[QueryExecutionId] < 3:
            return athena_execution("RUNNING")
        running -= 1
        return athena_execution("SUCCEEDED")

    client = FakeClient(start_query_execution=start, get_query_execution=get)
    data = {"call": "athena.query", "query": "SELECT 1", "poll": "10ms", "concurrency": 2}
    outs = run_steps(client, data, n=6)
    assert [o.error for o in outs] == [None] * 6
    assert most == 2
    # t_send is taken once a slot is free: waiting for one is not the query's latency.
    assert all(o.t_end - o.t_send < 0.2 for o in outs)


def test_stepfunctions_wait_times_out_while_the_execution_runs() -> None:
    client = FakeClient(
        start_execution=lambda **p: {"ResponseMetadata": meta(), "executionArn": "arn:x"},
        describe_execution=lambda **p: {"ResponseMetadata": meta(), "status": "RUNNING"},
    )
    arn = "arn:aws:states:us-east-1:1:stateMachine:s"
    out = run_steps(
        client,
        {
            "call": "stepfunctions.start",
            "state_machine": arn,
            "wait": True,
            "poll": "20ms",
            "timeout": "150ms",
        },
    )[0]
    assert out.error == "timeout"
    assert 0.14 < out.t_end - out.t_send < 1.0
    assert out.extra["polls"] >= 3
    assert json_input(client) == "{}"


def json_input(client: FakeClient) -> str:
    return str(client.calls[0][1]["input"])


def test_no_region_anywhere_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never reach for an instance role here
    step = compile_aws_step(spec(call="dynamodb.get", table="t", key={"id": "1"}))

    async def main() -> AwsOutcome:
        pool = AwsClientPool()
        try:
            return await step.call(pool, {}, random.Random(0), time.perf_counter)
        finally:
            await pool.close()
            with pytest.raises(RuntimeError, match="closed"):
                await pool.client("dynamodb", "us-east-1")

    out = asyncio.run(main())
    assert (out.error, out.status) == ("aws_config", 0)


def test_default_timeouts() -> None:
    s = spec(call="lambda.invoke", function="f")
    assert (s.call_timeout, s.waits) == (60.0, False)
    s = spec(call="lambda.invoke", function="f", timeout="5m")
    assert s.call_timeout == 300.0
    s = spec(call="athena.query", query="q")
    assert (s.waits, s.wait_timeout, s.poll_interval) == (True, 300.0, 0.5)


def test_a_dumped_step_reads_back_the_same() -> None:
    arn = "arn:aws:states:us-east-1:1:stateMachine:s"
    for data in (
        {"call": "lambda.invoke", "function": "f", "capture": [{"json": "$.Payload.a", "as": "a"}]},
        {"call": "stepfunctions.start", "state_machine": arn, "wait": True, "poll": "1s"},
        {"call": "s3.put", "bucket": "b", "key": "k", "size": "2KB", "expect": [{"ok": True}]},
    ):
        s = spec(**data)
        for by_alias in (True, False):
            again = AwsStepSpec.model_validate(s.model_dump(mode="json", by_alias=by_alias))
            assert again == s
