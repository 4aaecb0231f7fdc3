"""Run statemachine/surge.asl.json in moto's Step Functions interpreter, Lambda invokes routed
to the real thin handlers in functions/ (and through them to ``surge.cloud.handlers``).

Timing: moto's Wait state has whole-second resolution (it truncates) and compares timestamps with
the local clock, so ``sfn_workflow`` pins TZ=UTC.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import threading
import time
import traceback
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "statemachine" / "surge.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "surge-results-test"
TABLE = "surge-runs-test"
STATES = ("prepare", "worker", "aggregate", "collect", "report")
EXECUTION_TIMEOUT_S = 30.0


def _import(module: str) -> Any:
    # functions/ and infra/ live at the repository root, beside (not inside) the installed packages.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(module)


def function_name(state: str) -> str:
    return f"surge-{state}"


def substitutions() -> dict[str, str]:
    names = _import("infra.names")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    return {
        names.SUB_PREPARE_ARN: arn + function_name("prepare"),
        names.SUB_WORKER_ARN: arn + function_name("worker"),
        names.SUB_AGGREGATE_ARN: arn + function_name("aggregate"),
        names.SUB_COLLECT_ARN: arn + function_name("collect"),
        names.SUB_REPORT_ARN: arn + function_name("report"),
        names.SUB_BUCKET: BUCKET,
        names.SUB_TABLE: TABLE,
        names.SUB_EVENT_BUS: f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
    }


def render_definition() -> str:
    """The ASL with ${Key} placeholders filled, as CloudFormation does with DefinitionSubstitutions."""
    text = DEFINITION.read_text(encoding="utf-8")
    for key, value in substitutions().items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, "a placeholder has no substitution"
    return text


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(timestamp: str) -> float:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


# --- routing Lambda invokes to the handlers ---------------------------------------------------------
@dataclass(frozen=True)
class Call:
    at: float
    state: str
    event: dict[str, Any]


@dataclass
class Result:
    status: str
    error: str | None
    cause: str | None
    output: Any
    history: list[dict[str, Any]]

    def entered(self, state_name: str) -> bool:
        return any(e.get("stateEnteredEventDetails", {}).get("name") == state_name for e in self.history)


class Harness:
    def __init__(self, core: Any, handlers: dict[str, Callable[..., Any]]) -> None:
        self.core = core
        self.handlers = handlers
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.role_arn = ""
        self.machine_arn = ""
        self.queue_url = ""

    # Replaces moto's LambdaSimpleBackend.invoke (as a bound method, so moto's backend is not passed).
    def invoke(self, name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        state = name.split(":")[6] if name.startswith("arn:") else name
        event = json.loads(body) if body else {}
        with self._lock:
            self.calls.append(Call(time.time(), state.removeprefix("surge-"), event))
            self._in_flight += 1
        try:
            result = self.handlers[state](event, None)
        except Exception as exc:  # Lambda's unhandled-error contract
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps({**error, "stackTrace": traceback.format_exc().splitlines()}).encode()
        finally:
            with self._lock:
                self._in_flight -= 1
        return json.dumps(result).encode()

    def calls_to(self, state: str) -> list[Call]:
        return [call for call in self.calls if call.state == state]

    def run(self, run_id: str, control: dict[str, Any]) -> Result:
        execution = self.sfn.start_execution(
            stateMachineArn=self.machine_arn,
            name=run_id,  # the run id is the execution name ($$.Execution.Name)
            input=json.dumps({"plan": {"name": "checkout", "control": control}}),
        )["executionArn"]
        deadline = time.monotonic() + EXECUTION_TIMEOUT_S
        while (described := self.sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{run_id} still running after {EXECUTION_TIMEOUT_S} s"
            time.sleep(0.05)
        self._drain()
        history = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        output = described.get("output")
        return Result(
            status=described["status"],
            error=described.get("error"),
            cause=described.get("cause"),
            output=json.loads(output) if output else None,
            history=cast(list[dict[str, Any]], history),
        )

    def _drain(self, timeout: float = 10.0) -> None:
        # An aborted map's other iteration may still be finishing in moto's threads: let it end
        # before assertions (and before the next test's mock starts).
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.05)

    def completed_events(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in messages]

    def run_record(self, run_id: str) -> dict[str, Any]:
        item = self.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "RUN"}})
        return dict(item.get("Item", {}))

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _enable_jsonata() -> None:
    # Not used by the definition (JSONPath only); plugged in so a future JSONata state still runs.
    with contextlib.suppress(ImportError):
        import jsonata  # type: ignore[import-untyped,unused-ignore]
        from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

        moto_jsonata._eval_jsonata = lambda expression: jsonata.Jsonata(expression).evaluate(None)


@contextlib.contextmanager
def sfn_workflow(monkeypatch: pytest.MonkeyPatch, core: Any = None) -> Iterator[Harness]:
    """A provisioned moto account running the workflow. ``core``: an object whose methods replace
    ``surge.cloud.handlers`` (a fake core); None runs the real core."""
    monkeypatch.setenv("TZ", "UTC")  # moto compares Wait timestamps with naive local time
    time.tzset()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SURGE_BUCKET": BUCKET,
        "SURGE_TABLE": TABLE,
    }.items():
        monkeypatch.setenv(key, value)
    if core is not None:
        fake_cloud = types.ModuleType("surge.cloud")
        fake_handlers = types.ModuleType("surge.cloud.handlers")
        for name in ("prepare", "worker", "aggregate", "collect", "report", "record_error", "finalize"):
            if hasattr(core, name):
                setattr(fake_handlers, name, getattr(core, name))
        fake_cloud.handlers = fake_handlers  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "surge.cloud", fake_cloud)
        monkeypatch.setitem(sys.modules, "surge.cloud.handlers", fake_handlers)

    handlers = {function_name(state): _import(f"functions.{state}").handler for state in STATES}
    _enable_jsonata()
    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    try:
        with mock_aws(config=config):
            harness = Harness(core, handlers)
            with mock.patch.object(LambdaSimpleBackend, "invoke", harness.invoke):
                _provision(harness)
                yield harness
                harness._drain()
    finally:
        monkeypatch.undo()
        time.tzset()


def _provision(h: Harness) -> None:
    h.s3.create_bucket(Bucket=BUCKET)
    h.dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "plan_pk", "plan_sk", "recent_pk", "recent_sk")
        ],
        # The same indexes as infra/storage.py: history by plan and the newest runs.
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{prefix}_pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, prefix in (("by_plan", "plan"), ("recent", "recent"))
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    iam = boto3.client("iam", region_name=REGION)
    h.role_arn = iam.create_role(RoleName="surge-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=REGION)
    for state in STATES:
        lambda_client.create_function(
            FunctionName=function_name(state),
            Runtime="python3.12",
            Role=h.role_arn,
            Handler="placeholder.handler",
            Code={"ZipFile": _zip()},
        )
    # Run Completed events go to a queue through the rule users would write.
    h.queue_url = h.sqs.create_queue(QueueName="run-completed")["QueueUrl"]
    queue_arn = h.sqs.get_queue_attributes(QueueUrl=h.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(
        Name="run-completed", EventPattern=json.dumps({"source": ["surge"], "detail-type": ["Run Completed"]})
    )
    events.put_targets(Rule="run-completed", Targets=[{"Id": "queue", "Arn": queue_arn}])
    h.machine_arn = h.sfn.create_state_machine(
        name="surge", definition=render_definition(), roleArn=h.role_arn
    )["stateMachineArn"]
