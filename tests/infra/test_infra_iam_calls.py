"""The DynamoDB calls the workflow's functions really make, checked against their roles' fine-grained
conditions as IAM evaluates them (moto enforces no IAM). Each function's calls are recorded while a
run goes through the real ASL, handlers and workers in the AWS-semantics harness: a run whose
abort-on-fail check fails mid-segment takes every write path of workers and Aggregate."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from iam_eval import allowed_request
from test_infra_iam import Scope

from surge.demo_target import DemoTarget
from tests.sfn_harness import sfn_workflow

pytestmark = [pytest.mark.infra, pytest.mark.slow]

_NAME = re.compile(r"(?<![:#\w])([A-Za-z_]\w*)(?![\w(])(?!\s*\()")  # a name, not a function
_KEYWORDS = {"SET", "ADD", "REMOVE", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN"}


def request_context(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """The DynamoDB condition keys of a request: the partition key, every attribute it names (keys,
    expressions), ReturnValues and Select as IAM sees them."""
    names = dict(params.get("ExpressionAttributeNames", {}))
    attributes = set(params.get("Key", {}))
    for field in (
        "UpdateExpression",
        "ConditionExpression",
        "ProjectionExpression",
        "KeyConditionExpression",
    ):
        expression = params.get(field, "")
        attributes |= {names[token] for token in re.findall(r"#\w+", expression)}
        attributes |= {
            n for n in _NAME.findall(re.sub(r"[#:]\w+", " ", expression)) if n.upper() not in _KEYWORDS
        }
    if operation == "BatchGetItem":
        # One request for several keys: each table's keys and projection, as IAM reads them.
        (request,) = params["RequestItems"].values()
        inner = request_context(
            "GetItem", {k: v for k, v in request.items() if k != "Keys"} | {"Key": request["Keys"][0]}
        )
        inner["dynamodb:LeadingKeys"] = sorted({key["pk"]["S"] for key in request["Keys"]})
        return inner
    if operation == "GetItem" and "ProjectionExpression" not in params:
        attributes.add("<every attribute>")  # a read of the whole item names no attribute list
    context: dict[str, Any] = {
        "dynamodb:LeadingKeys": [params["Key"]["pk"]["S"]] if "Key" in params else [],
        "dynamodb:Attributes": sorted(attributes),
    }
    if operation in ("UpdateItem", "PutItem", "DeleteItem"):
        context["dynamodb:ReturnValues"] = params.get("ReturnValues", "NONE")
    return context


def test_workers_and_aggregate_write_only_the_attributes_their_roles_allow(
    synth: Any, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.cloud import worker

    scope = Scope(synth)
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def recording_call_core(name: str, event: Any, context: Any) -> Any:
        from functions._runtime import Clients
        from surge.cloud import handlers

        clients = Clients.from_env(context)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((name, model.name, dict(params)))

        clients.dynamodb.meta.events.register("before-parameter-build.dynamodb", record)
        return getattr(handlers, name)(event, clients)

    monkeypatch.setattr(worker, "PROGRESS_EVERY_S", 0.5)
    monkeypatch.setattr(worker, "STOP_POLL_S", 0.5)
    demo_target.set_config(error_rate=1.0)
    plan = {
        "name": "iam-calls",
        "target": demo_target.url,
        "load": {"phases": [{"duration": "6s", "rate": 100}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "defaults": {"timeout": "1s"},
        "thresholds": [{"check": "http.error_rate < 5%", "abort_on_fail": True, "grace": "1s"}],
        "validity": {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"},
    }
    with sfn_workflow(monkeypatch) as harness:
        for state in ("worker", "aggregate"):
            monkeypatch.setattr(sys.modules[f"functions.{state}"], "call_core", recording_call_core)
        options = {"lead_seconds": 1, "segment_seconds": 6, "per_worker_rate": 50}
        done = harness.wait(harness.start("iam-calls", plan, options), 60)
    assert done["status"] == "FAILED" and "during segment 0" in done["cause"]
    seen = {(state, operation) for state, operation, _ in calls}
    assert {
        ("worker", "GetItem"),
        ("worker", "BatchGetItem"),  # a watcher summing the progress counters
        ("worker", "UpdateItem"),
        ("aggregate", "UpdateItem"),
    } <= seen
    # Progress goes to the counters' own partitions, never to the run record.
    progress = [
        p for s, op, p in calls if s == "worker" and op == "UpdateItem" and "ADD" in p["UpdateExpression"]
    ]
    assert progress and all(p["Key"]["pk"]["S"].startswith("RUN#iam-calls#PROGRESS#") for p in progress)
    denied = []
    for state, operation, params in calls:
        context = request_context(operation, params)
        if not allowed_request(
            scope.function_statements(state), f"dynamodb:{operation}", scope.table, context
        ):
            denied.append((state, operation, context))
    assert not denied, denied
    # The abort itself was one of them: a worker set the stop flag and its reason.
    assert any(
        state == "worker" and "stop_reason" in request_context(op, p)["dynamodb:Attributes"]
        for state, op, p in calls
    )


def test_the_conditions_refuse_what_a_worker_must_not_write(synth: Any) -> None:
    scope = Scope(synth)
    worker = scope.function_statements("worker")
    table = scope.table

    def update(*attributes: str, returns: str = "NONE") -> bool:
        context = {
            "dynamodb:LeadingKeys": ["RUN#r1"],
            "dynamodb:Attributes": ["pk", "sk", *attributes],
            "dynamodb:ReturnValues": returns,
        }
        return allowed_request(worker, "dynamodb:UpdateItem", table, context)

    assert update("requests", "errors", "updated_at")
    assert not update("verdict")  # a worker cannot flip a run's verdict
    assert not update("status")
    assert not update("requests", returns="ALL_NEW")  # nor read the whole record back
    whole = {"dynamodb:LeadingKeys": ["RUN#r1"], "dynamodb:Attributes": ["<every attribute>"]}
    assert not allowed_request(worker, "dynamodb:GetItem", table, whole)
    aggregate = scope.function_statements("aggregate")
    context = {
        "dynamodb:LeadingKeys": ["RUN#r1"],
        "dynamodb:Attributes": ["pk", "sk", "missing_shards_seg_3"],
        "dynamodb:ReturnValues": "NONE",
    }
    assert allowed_request(aggregate, "dynamodb:UpdateItem", table, context)
    context["dynamodb:Attributes"] = ["pk", "sk", "verdict"]
    assert not allowed_request(aggregate, "dynamodb:UpdateItem", table, context)
