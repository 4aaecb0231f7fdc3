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
import logging
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

from surge.cloud import emf_log

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


# --- AWS's semantics where moto's differ ------------------------------------------------------------
#
# moto runs a Distributed Map to the end whatever fails; AWS fails the map run as soon as failed or
# timed-out items exceed ToleratedFailurePercentage (default 0), and the workflow goes on while the
# Lambda invocations already made keep running ("Map Run failure threshold", Step Functions
# Developer Guide). The harness's map does what AWS does.


def _aws_map_run(self: Any, env: Any, eval_input: Any) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import (
        DEFAULT_MAX_CONCURRENCY_VALUE,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    input_items: list[Any] = env.stack.pop()
    job_pool = JobPool(job_program=self._get_iteration_program(), job_inputs=input_items)
    record = eval_input.map_run_record
    max_concurrency = record.max_concurrency
    workers = len(input_items) if max_concurrency == DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
    for _ in range(workers):
        self._launch_worker(env=env, eval_input=eval_input, job_pool=job_pool)
    total = max(len(input_items), 1)
    percentage = float(record.tolerated_failure_percentage or 0.0)
    count = record.tolerated_failure_count
    execution = env.states.context_object.context_object_data["Execution"]["Name"]
    while not job_pool._termination_event.wait(0.05):
        if not env.is_running() or execution in STOPPED_EXECUTIONS:
            # The execution was stopped (StopExecution): AWS ends it at once and stops the map's
            # child executions; the Lambda invocations they made run on. (moto's stop does not
            # reach a Distributed Map's environment: the harness's stop_execution marks it.)
            env.stack.append([])
            return
        failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
        # Either limit that is set fails the run once exceeded; with neither set, the limit is 0.
        exceeded = []
        if count:
            exceeded.append(failed > count)
        if percentage or not count:
            exceeded.append(failed * 100.0 / total > percentage)
        if failed and any(exceeded):
            MAP_RUNS_FAILED_EARLY.append(failed)
            error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
            cause = f"{failed} of {total} items failed: above the map's tolerated failures"
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=error),
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.to_name(), cause=cause)
                    ),
                )
            )
    worker_exception = job_pool.get_worker_exception()
    if worker_exception is not None:
        raise worker_exception
    outputs = [closed.job_output for closed in job_pool.get_closed_jobs()]
    # AWS holds the map's output (every child's output, and a failed child's error and cause) to
    # 256 KiB before ResultPath applies; past it the state fails with States.DataLimitExceeded,
    # which no Catch can handle.
    size = len(json.dumps(outputs, default=str))
    failed_now = record.item_counter.failed.get() + record.item_counter.timed_out.get()
    if failed_now and ACTIVE:
        segment = input_items[0].get("segment") if input_items and isinstance(input_items[0], dict) else None
        size += sum(ACTIVE[0].worker_error_bytes.get((execution, segment), []))
    if size > MAX_PAYLOAD_BYTES and ACTIVE and ACTIVE[0].quotas is not None:
        ACTIVE[0].quotas.violations.append(f"map output of {size} bytes (States.DataLimitExceeded)")
    env.stack.append(outputs)


MAP_RUNS_FAILED_EARLY: list[int] = []  # failed-item counts at which a map run failed (AWS's rule)
MAX_PAYLOAD_BYTES = 256 * 1024  # a state's input or output, and so a Map's whole output
# The harness in use, for the map emulation above (set while sfn_workflow runs).
ACTIVE: list[Any] = []
STOPPED_EXECUTIONS: set[str] = set()  # names of executions stopped with Harness.stop_execution


class LambdaContext:
    """What Lambda gives a handler: its remaining time before the function's timeout."""

    def __init__(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


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
        # AWS's Lambda behaviours, set by a test: function timeouts (the invocation is answered
        # with Sandbox.Timedout and its handler abandoned, as Lambda kills it), and throttling (the
        # next N invocations of a function answered TooManyRequestsException).
        self.timeouts: dict[str, float] = {}
        self.throttle: dict[str, int] = {}
        # Finer: a test's own rule, by function and event (a timeout, or "throttled for good").
        self.timeout_for: Callable[[str, dict[str, Any]], float | None] = lambda state, event: None
        self.refuse: Callable[[str, dict[str, Any]], bool] = lambda state, event: False
        self.throttled: list[Call] = []
        self.killed: list[Call] = []
        # AWS's quotas (tests/aws_quotas.py), when the harness was made with them: the account's
        # Lambda concurrency, the Distributed Map's child-start rate, the 256 KiB state payload.
        self.quotas: Any = None
        self.lambda_concurrency: int | None = None
        self.child_starts_per_s: float | None = None
        self._next_child_start = 0.0
        self.worker_error_bytes: dict[tuple[Any, Any], list[int]] = {}
        self.peak_in_flight = 0
        self.largest_payload = 0  # bytes: the largest event a function got or result it gave
        # What the functions wrote to their logs as metrics (EMF lines): kept here, as CloudWatch
        # would keep them, rather than flooding a failed test's output.
        self.emf_lines: list[str] = []
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.role_arn = ""
        self.machine_arn = ""
        self.redrive_arn = ""
        self.queue_url = ""

    # Replaces moto's LambdaSimpleBackend.invoke (as a bound method, so moto's backend is not passed).
    def invoke(self, name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        from moto.core.exceptions import JsonRESTError

        state = name.split(":")[6] if name.startswith("arn:") else name
        short = state.removeprefix("surge-")
        event = json.loads(body) if body else {}
        if event.get("run_id") in STOPPED_EXECUTIONS or event.get("run_id.$") in STOPPED_EXECUTIONS:
            # A stopped execution runs no further state: nothing it would invoke now is invoked.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ExecutionStopped", "errorMessage": "stopped"}).encode()
        if short == "worker" and self.child_starts_per_s:
            # A Distributed Map starts its child executions at a bounded rate (the harness's
            # setting: AWS documents none).
            with self._lock:
                slot = max(self._next_child_start, time.monotonic())
                self._next_child_start = slot + 1.0 / self.child_starts_per_s
            time.sleep(max(0.0, slot - time.monotonic()))
        self.largest_payload = max(self.largest_payload, len(body or b""))
        if self.quotas is not None and len(body or b"") > MAX_PAYLOAD_BYTES:
            self.quotas.violations.append(f"{short} input of {len(body)} bytes over 256 KiB")
        with self._lock:
            over_concurrency = (
                self.lambda_concurrency is not None and self._in_flight >= self.lambda_concurrency
            )
            if self.throttle.get(short, 0) > 0 or self.refuse(short, event) or over_concurrency:
                self.throttle[short] = max(self.throttle.get(short, 0) - 1, 0)
                self.throttled.append(Call(time.time(), short, event))
                if over_concurrency and self.quotas is not None:
                    self.quotas.refused["lambda concurrency"] += 1
                raise JsonRESTError("TooManyRequestsException", "Rate Exceeded.")
            self.calls.append(Call(time.time(), short, event))
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        timeout = self.timeout_for(short, event) or self.timeouts.get(short)
        if timeout is None:
            try:
                return self._call(state, event, None, response_headers)
            finally:
                with self._lock:
                    self._in_flight -= 1
        # A function with a timeout: its handler runs on its own thread; past the timeout the
        # invocation fails as Lambda's does, and the handler is abandoned (Lambda kills it).
        answer: list[bytes] = []
        headers_out: dict[str, str] = {}
        context = LambdaContext(timeout)
        killed = threading.Event()

        def run() -> None:
            try:
                answer.append(self._call(state, event, context, headers_out))
            finally:
                with self._lock:
                    if not killed.is_set():  # a killed invocation was counted out already
                        self._in_flight -= 1

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        with self._lock:
            alive = thread.is_alive()
            if alive:
                killed.set()
                self._in_flight -= 1  # killed: nothing waits for it any more
                self.killed.append(Call(time.time(), short, event))
        if alive:
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout:.2f} seconds",
            }
            return json.dumps(error).encode()
        response_headers.update(headers_out)
        return answer[0]

    def _call(self, state: str, event: dict[str, Any], context: Any, response_headers: Any) -> bytes:
        try:
            result = self.handlers[state](event, context)
        except Exception as exc:  # Lambda's unhandled-error contract
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            answer = json.dumps({**error, "stackTrace": traceback.format_exc().splitlines()}).encode()
            if state.endswith("worker"):
                with self._lock:
                    where = (event.get("run_id"), event.get("segment"))
                    self.worker_error_bytes.setdefault(where, []).append(len(answer))
            return answer
        answer = json.dumps(result).encode()
        self.largest_payload = max(self.largest_payload, len(answer))
        if self.quotas is not None and len(answer) > MAX_PAYLOAD_BYTES:
            self.quotas.violations.append(f"{state} output of {len(answer)} bytes over 256 KiB")
        return answer

    def stop_execution(self, run_id: str, cause: str = "stopped from the console") -> None:
        """StopExecution as AWS runs it: the execution ends ABORTED at once and runs no further
        state (no Report, no RecordError); the Lambda invocations already made run on."""
        STOPPED_EXECUTIONS.add(run_id)
        execution = self.machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
        self.sfn.stop_execution(executionArn=execution, cause=cause)

    def redrive(self, run_id: str, from_state: str = "RunSegments") -> str:
        """RedriveExecution as AWS runs it, emulated (moto has no redrive): the execution goes on
        from the state it ended in, with the state that state had (for RunSegments: Prepare's
        result), under the same run id. Every state after it runs again."""
        STOPPED_EXECUTIONS.discard(run_id)
        if not self.redrive_arn:
            definition = json.loads(render_definition())
            definition["StartAt"] = from_state
            for name in ("Prepare", "PrepareFailed"):  # Prepare succeeded: a redrive never runs it again
                del definition["States"][name]
            self.redrive_arn = self.sfn.create_state_machine(
                name="surge-redriven", definition=json.dumps(definition), roleArn=self.role_arn
            )["stateMachineArn"]
        run = self.read_json(f"runs/{run_id}/run.json")
        state = {"run": run, "aborted": None, "collect": None, "collect_error": None}
        return str(
            self.sfn.start_execution(stateMachineArn=self.redrive_arn, name=run_id, input=json.dumps(state))[
                "executionArn"
            ]
        )

    def status_change(self, run_id: str, status: str) -> Any:
        """What EventBridge delivers to the stack's rule when an execution ends outside the
        workflow ("Step Functions Execution Status Change"): moto sends no such event."""
        execution = self.machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
        event = {
            "version": "0",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": execution,
                "stateMachineArn": self.machine_arn,
                "name": run_id,
                "status": status,
            },
        }
        return self.handlers[function_name("report")](event, None)

    def start(self, run_id: str, plan: dict[str, Any], options: dict[str, Any]) -> str:
        """Start an execution of a real plan named after the run (what `surge run --cloud` does)."""
        payload = {"plan": plan, "options": options}
        execution = self.sfn.start_execution(
            stateMachineArn=self.machine_arn, name=run_id, input=json.dumps(payload)
        )
        return str(execution["executionArn"])

    def wait(self, arn: str, timeout: float = 60) -> dict[str, Any]:
        """The execution's description once it is no longer RUNNING (its workers drained)."""
        deadline = time.monotonic() + timeout
        while (d := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still running"
            time.sleep(0.1)
        self._drain()
        return dict(d)

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Every event of an execution's history, all pages."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

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


# moto's own warnings of what it does not emulate (docs/workflow.md says what AWS does instead):
# said once here rather than in every failed test's log.
MOTO_KNOWN_GAPS = ("moto.stepfunctions.parser.asl.parse.preprocessor",)


@contextlib.contextmanager
def _quiet(loggers: tuple[str, ...]) -> Iterator[None]:
    found = [logging.getLogger(name) for name in loggers]
    before = [log.level for log in found]
    for log in found:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(found, before, strict=True):
            log.setLevel(level)


@contextlib.contextmanager
def sfn_workflow(
    monkeypatch: pytest.MonkeyPatch,
    core: Any = None,
    edit_definition: Callable[[str], str] | None = None,
    quotas: Any = None,
) -> Iterator[Harness]:
    """A provisioned moto account running the workflow. ``core``: an object whose methods replace
    ``surge.cloud.handlers`` (a fake core); None runs the real core. ``edit_definition`` changes
    the ASL before it is deployed (to show what another design would do). ``quotas``: a
    tests.aws_quotas.QuotaModel enforcing AWS's request rates on every AWS call."""
    monkeypatch.setenv("TZ", "UTC")  # moto compares Wait timestamps with naive local time
    time.tzset()
    # Workers here are threads of this process: their uploads take milliseconds, not Lambda's
    # seconds. A shorter grace keeps every missing-shard drill seconds shorter; the waits'
    # logic is the same.
    from surge.cloud import segment_results

    monkeypatch.setattr(segment_results, "UPLOAD_GRACE_S", 1.5)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SURGE_BUCKET": BUCKET,
        "SURGE_TABLE": TABLE,
        # What the deployer allowed (surge:allowedTargets, surge:allowHooks): the loopback targets.
        "SURGE_ALLOWED_TARGETS": "127.0.0.1,localhost",
        "SURGE_ALLOW_HOOKS": "true",
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
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )

    MAP_RUNS_FAILED_EARLY.clear()
    STOPPED_EXECUTIONS.clear()
    from moto.core.base_backend import BackendDict

    from tests.aws_atomic import atomic_item_writes
    from tests.aws_quotas import enforced

    create_backend = BackendDict._create_account_specific_backend

    def existing_backend_fast(self: Any, account_id: str) -> None:
        # moto takes one global lock several times per request to find (or make) the account's
        # backend; with a fleet's thousands of threads that lock becomes a convoy that slows every
        # call tenfold. Once the backend exists, a dict lookup (atomic) is all it takes.
        if account_id in self and self in BackendDict._instances:
            return
        create_backend(self, account_id)

    try:
        with mock_aws(config=config):
            harness = Harness(core, handlers)
            harness.quotas = quotas
            ACTIVE[:] = [harness]
            with (
                mock.patch.object(LambdaSimpleBackend, "invoke", harness.invoke),
                mock.patch.object(DistributedIterationComponent, "_map_run", _aws_map_run),
                mock.patch.object(BackendDict, "_create_account_specific_backend", existing_backend_fast),
                enforced(quotas),
                atomic_item_writes(),
                emf_log.collect_into(harness.emf_lines.append),
                _quiet(MOTO_KNOWN_GAPS),
            ):
                _provision(harness, edit_definition)
                yield harness
                harness._drain()
    finally:
        ACTIVE.clear()
        monkeypatch.undo()
        time.tzset()


def _provision(h: Harness, edit_definition: Callable[[str], str] | None = None) -> None:
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
        name="surge",
        definition=edit_definition(render_definition()) if edit_definition else render_definition(),
        roleArn=h.role_arn,
    )["stateMachineArn"]
