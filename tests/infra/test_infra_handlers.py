"""The thin handlers: event shape checks and the call into ``surge.cloud.handlers`` (faked here)."""

from __future__ import annotations

import sys
import types
from typing import Any, cast

import pytest

from functions import _runtime, aggregate, collect, prepare, report, worker
from functions.contracts import ENV_BUCKET, ENV_TABLE


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], Any]]:
    calls: list[tuple[str, dict[str, Any], Any]] = []
    handlers = types.ModuleType("surge.cloud.handlers")
    for name in ("prepare", "worker", "aggregate", "collect", "report", "record_error"):

        def fake(event: dict[str, Any], clients: Any, _name: str = name) -> dict[str, Any]:
            calls.append((_name, event, clients))
            return {"called": _name}

        setattr(handlers, name, fake)
    cloud = types.ModuleType("surge.cloud")
    cloud.handlers = handlers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "surge.cloud", cloud)
    monkeypatch.setitem(sys.modules, "surge.cloud.handlers", handlers)
    monkeypatch.setenv(ENV_BUCKET, "bucket-1")
    monkeypatch.setenv(ENV_TABLE, "table-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    return calls


EVENTS: dict[str, dict[str, Any]] = {
    "prepare": {"run_id": "r1", "execution_arn": "arn", "started_at": "t", "input": {"plan_uri": "s3://b/k"}},
    "worker": {
        "run_id": "r1",
        "plan_key": "runs/r1/plan.json",
        "segment": 0,
        "segment_count": 1,
        "shard": 0,
        "shard_count": 1,
        "seed": 1,
        "start_at": "2030-01-01T00:00:00Z",
        "end_at": "2030-01-01T00:10:00Z",
        "result_key": "runs/r1/seg-0/shard-0.json",
    },
    "aggregate": {"run_id": "r1", "segment_count": 1, "segment": {}, "shards_error": None},
    "collect": {"run_id": "r1", "run": {}, "aborted": None},
}
MODULES = {"prepare": prepare, "worker": worker, "aggregate": aggregate, "collect": collect}


@pytest.mark.parametrize("state", sorted(MODULES))
def test_handler_calls_the_core_with_event_and_clients(core: list[Any], state: str) -> None:
    result = MODULES[state].handler(EVENTS[state], None)
    assert result == {"called": state}
    ((name, event, clients),) = core
    assert (name, event) == (state, EVENTS[state])
    assert (clients.bucket, clients.table, clients.region) == ("bucket-1", "table-1", "eu-west-1")


@pytest.mark.parametrize("state", sorted(MODULES))
def test_handler_names_the_missing_field(core: list[Any], state: str) -> None:
    event = dict(EVENTS[state])
    event.pop("run_id")
    with pytest.raises(_runtime.ContractError, match=f"{state}: event is missing run_id"):
        MODULES[state].handler(event, None)
    assert core == []


def test_report_handler_dispatches_on_mode(core: list[Any]) -> None:
    base: dict[str, Any] = {"run_id": "r1", "execution_arn": "arn"}
    report.handler(
        cast(
            Any,
            {**base, "mode": "report", "run": {}, "aborted": None, "collect": None, "collect_error": None},
        ),
        None,
    )
    error_event: Any = {
        **base,
        "mode": "error",
        "failed_state": "Prepare",
        "error": {"Error": "E", "Cause": "c"},
        "state": {},
    }
    report.handler(error_event, None)
    assert [name for name, _, _ in core] == ["report", "record_error"]
    with pytest.raises(_runtime.ContractError, match="mode must be"):
        report.handler(cast(Any, {**base, "mode": "other"}), None)


def test_clients_are_lazy_overridable_and_know_the_deadline() -> None:
    fake_s3 = object()

    class Context:
        aws_request_id = "req"

        def get_remaining_time_in_millis(self) -> int:
            return 1234

    clients = _runtime.Clients(bucket="b", table="t", overrides={"s3": fake_s3})
    assert clients.s3 is fake_s3
    assert clients.remaining_time_ms() == 86_400_000
    clients = _runtime.Clients(
        bucket="b", table="t", remaining_time_ms=Context().get_remaining_time_in_millis
    )
    assert clients.remaining_time_ms() == 1234


def test_clients_from_env_requires_bucket_and_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BUCKET, raising=False)
    monkeypatch.setenv(ENV_TABLE, "t")
    with pytest.raises(RuntimeError, match=ENV_BUCKET):
        _runtime.Clients.from_env()
