"""The workflow's control flow, executed by moto's Step Functions interpreter.

``statemachine/surge.asl.json`` runs as written, with its DefinitionSubstitutions filled with fake
ARNs. Every Lambda invoke goes to the real thin handlers in ``functions/``; they call a fake core
(``surge.cloud.handlers``) that honours ``functions/contracts.py`` against moto S3 and DynamoDB the
way the real core will: Prepare writes the plan and shard items, workers sleep until ``start_at``,
poll the run's stop flag and write their own results, Aggregate lists S3 for them.

Timing: segments last 1-2 s with a 1 s lead. moto's Wait state has whole-second resolution (it
truncates), which the assertions allow for. Everything is in UTC (moto compares Wait timestamps
with the local clock, so the fixture pins TZ=UTC).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.sfn_harness import (
    BUCKET,
    DEFINITION,
    Harness,
    _import,
    epoch,
    iso,
    render_definition,
    sfn_workflow,
)


# --- the fake core -------------------------------------------------------------------------------
@dataclass
class Seen:
    """What the fake Aggregate found in S3 for one segment."""

    at: float
    run_id: str
    segment: int
    reported: list[int]
    missing: list[int]
    shards_error: Any


@dataclass
class FakeCore:
    """``surge.cloud.handlers`` as the core will provide it, driven by ``plan["control"]``."""

    prepared: dict[str, dict[str, Any]] = field(default_factory=dict)
    aggregated: list[Seen] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def _plan(clients: Any, run_id: str) -> dict[str, Any]:
        body = clients.s3.get_object(Bucket=clients.bucket, Key=f"runs/{run_id}/plan.json")["Body"].read()
        return dict(json.loads(body))

    @staticmethod
    def _put_json(clients: Any, key: str, value: Any) -> None:
        clients.s3.put_object(Bucket=clients.bucket, Key=key, Body=json.dumps(value).encode())

    @staticmethod
    def _run_key(run_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "RUN"}}

    def prepare(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        plan = event["input"]["plan"]
        ctl = plan["control"]
        if "invalid" in ctl:
            raise ValueError(ctl["invalid"])
        run_id = event["run_id"]
        lead, length = ctl["lead_seconds"], ctl["segment_seconds"]
        first_start = math.floor(time.time()) + lead + 1
        plan_key = f"runs/{run_id}/plan.json"
        self._put_json(clients, plan_key, plan)
        segments = []
        for k in range(ctl["segments"]):
            start, end = first_start + k * length, first_start + (k + 1) * length
            items_key = f"runs/{run_id}/seg-{k}/items.json"
            items = [
                {
                    "run_id": run_id,
                    "plan_key": plan_key,
                    "segment": k,
                    "segment_count": ctl["segments"],
                    "shard": i,
                    "shard_count": ctl["shards"],
                    "seed": 1000 * k + i,
                    "start_at": iso(start),
                    "end_at": iso(end),
                    "result_key": f"runs/{run_id}/seg-{k}/shard-{i}.json",
                }
                for i in range(ctl["shards"])
            ]
            self._put_json(clients, items_key, items)
            segments.append(
                {
                    "index": k,
                    "items_key": items_key,
                    "shard_count": ctl["shards"],
                    "start_at": iso(start),
                    "end_at": iso(end),
                    "launch_at": iso(start - lead),
                }
            )
        clients.dynamodb.put_item(
            TableName=clients.table,
            Item={**self._run_key(run_id), "status": {"S": "RUNNING"}, "stop_requested": {"BOOL": False}},
        )
        result = {
            "run_id": run_id,
            "plan_name": plan["name"],
            "plan_key": plan_key,
            "segment_count": len(segments),
            "segments": segments,
        }
        self.prepared[run_id] = result
        return result

    def worker(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        ctl = self._plan(clients, event["run_id"])["control"]
        if [event["segment"], event["shard"]] in ctl.get("crash", []):
            raise RuntimeError(f"worker crashed in segment {event['segment']} shard {event['shard']}")
        time.sleep(max(0.0, epoch(event["start_at"]) - time.time()))  # sleep off the "cold start"
        stopped, requests = False, 0
        while time.time() < epoch(event["end_at"]):
            item = clients.dynamodb.get_item(TableName=clients.table, Key=self._run_key(event["run_id"]))
            if item["Item"]["stop_requested"]["BOOL"]:
                stopped = True
                break
            requests += 1
            time.sleep(0.05)
        result = {"shard": event["shard"], "requests": requests, "stopped": stopped, "ended_at": time.time()}
        self._put_json(clients, event["result_key"], result)
        return {
            "run_id": event["run_id"],
            "segment": event["segment"],
            "shard": event["shard"],
            "status": "stopped" if stopped else "ok",
            "result_key": event["result_key"],
        }

    def aggregate(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        run_id, segment = event["run_id"], event["segment"]
        prefix = f"runs/{run_id}/seg-{segment['index']}/shard-"
        listing = clients.s3.list_objects_v2(Bucket=clients.bucket, Prefix=prefix).get("Contents", [])
        reported = sorted(int(obj["Key"][len(prefix) :].split(".")[0]) for obj in listing)
        missing = [i for i in range(segment["shard_count"]) if i not in reported]
        self.aggregated.append(
            Seen(time.time(), run_id, segment["index"], reported, missing, event["shards_error"])
        )
        abort = self._plan(clients, run_id)["control"].get("abort_after_segment") == segment["index"]
        if abort:  # abort-on-fail: later workers see the flag and end at once
            clients.dynamodb.update_item(
                TableName=clients.table,
                Key=self._run_key(run_id),
                UpdateExpression="SET stop_requested = :t",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        return {
            "segment": segment["index"],
            "shards_expected": segment["shard_count"],
            "shards_reported": len(reported),
            "missing_shards": missing,
            "abort": abort,
            "abort_reason": f"abort-on-fail: p95 612 ms > 500 ms in segment {segment['index']}"
            if abort
            else None,
        }

    def collect(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        if self._plan(clients, event["run_id"])["control"].get("collect_fails"):
            raise RuntimeError("GetMetricData: Rate exceeded")
        key = f"runs/{event['run_id']}/metrics.json"
        self._put_json(clients, key, {"service_metrics": {}})
        return {"metrics_key": key, "warnings": []}

    def report(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        run_id = event["run_id"]
        verdict = self._plan(clients, run_id)["control"]["verdict"]
        self.reports.append(event)
        key = f"runs/{run_id}/report.json"
        self._put_json(clients, key, {"run_id": run_id, "verdict": verdict})
        return {
            "run_id": run_id,
            "plan": event["run"]["plan_name"],
            "verdict": verdict,
            "cause": None if verdict == "pass" else "1 of 2 checks failed: p95 612 ms > 500 ms",
            "report_uri": f"s3://{clients.bucket}/{key}",
            "already_reported": False,
        }

    def record_error(self, event: dict[str, Any], clients: Any) -> dict[str, Any]:
        state = event["state"]
        ctl = (state.get("plan") or {}).get("control", {})
        if ctl.get("record_error_fails"):
            raise RuntimeError("report renderer unavailable")
        error = event["error"]
        try:
            message = json.loads(error["Cause"])["errorMessage"]
        except (ValueError, KeyError, TypeError):
            message = error["Cause"]
        cause = f"{event['failed_state']} failed: {error['Error']}: {message}"
        clients.dynamodb.put_item(
            TableName=clients.table,
            Item={**self._run_key(event["run_id"]), "status": {"S": "ERROR"}, "cause": {"S": cause}},
        )
        run = state.get("run") or {}
        return {
            "run_id": event["run_id"],
            "plan": run.get("plan_name"),
            "verdict": "error",
            "cause": cause,
            "report_uri": None,
            "already_reported": False,
        }


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch, FakeCore()) as harness:
        yield harness


def control(**overrides: Any) -> dict[str, Any]:
    """Knobs the fake core reads from the plan: shape, timing and what should go wrong."""
    return {
        "segments": 1,
        "shards": 2,
        "segment_seconds": 1,
        "lead_seconds": 1,
        "verdict": "pass",
        **overrides,
    }


# --- tests ----------------------------------------------------------------------------------------
def test_definition_placeholders_match_the_stack_substitutions() -> None:
    names = _import("infra.names")
    text = DEFINITION.read_text(encoding="utf-8")
    for key in names.SUBSTITUTION_KEYS:
        assert "${" + key + "}" in text, f"{key} is substituted by the stack but unused"
    render_definition()  # and nothing is left unfilled


@pytest.mark.slow
def test_segments_run_in_order_with_overlap_and_pass(workflow: Harness) -> None:
    # A 2 s lead: moto's Wait truncates launch_at to whole seconds, so with 1 s the next segment's
    # workers could start right at the current one's end on a busy machine (0.14 s late once in CI).
    result = workflow.run("run-pass", control(segments=3, shards=2, segment_seconds=2, lead_seconds=2))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {
        "run_id": "run-pass",
        "plan": "checkout",
        "verdict": "pass",
        "cause": None,
        "report_uri": f"s3://{BUCKET}/runs/run-pass/report.json",
        "already_reported": False,
    }
    segments = workflow.core.prepared["run-pass"]["segments"]
    workers = workflow.calls_to("worker")
    for segment in segments:
        # Each segment's workers get exactly the items Prepare wrote, one invoke per item.
        items = workflow.read_json(segment["items_key"])
        invoked = sorted(
            (c.event for c in workers if c.event["segment"] == segment["index"]), key=lambda e: e["shard"]
        )
        assert invoked == items
        first_invoke = min(c.at for c in workers if c.event["segment"] == segment["index"])
        # Not before launch_at (moto's Wait truncates to whole seconds, hence the 1 s).
        assert first_invoke >= epoch(segment["launch_at"]) - 1.1

    # Aggregates run once per segment, in order, each after its segment's load ended.
    aggregates = workflow.calls_to("aggregate")
    assert [c.event["segment"]["index"] for c in aggregates] == [0, 1, 2]
    for call, segment in zip(aggregates, segments, strict=True):
        assert call.at >= epoch(segment["end_at"]) - 0.05
        assert call.event["segment"] == segment
    assert [(s.segment, s.reported, s.missing) for s in workflow.core.aggregated] == [
        (0, [0, 1], []),
        (1, [0, 1], []),
        (2, [0, 1], []),
    ]

    # No gap in load: the next segment's workers were started before the current ones ended.
    for previous, current in itertools.pairwise(segments):
        started = [c.at for c in workers if c.event["segment"] == current["index"]]
        assert max(started) < epoch(previous["end_at"]), f"segment {current['index']} launched late"

    collect, report = workflow.calls_to("collect"), workflow.calls_to("report")
    assert len(collect) == len(report) == 1
    assert aggregates[-1].at <= collect[0].at <= report[0].at
    assert report[0].event["mode"] == "report"
    assert report[0].event["aborted"] is None and report[0].event["collect_error"] is None
    assert report[0].event["collect"] == {"metrics_key": "runs/run-pass/metrics.json", "warnings": []}

    (event,) = workflow.completed_events()
    assert event["source"] == "surge" and event["detail-type"] == "Run Completed"
    announced = {k: v for k, v in result.output.items() if k != "already_reported"}  # the workflow's own flag
    assert event["detail"] == {**announced, "execution_arn": event["detail"]["execution_arn"]}
    assert event["detail"]["execution_arn"].endswith(":run-pass")


@pytest.mark.slow
def test_crashed_worker_is_a_missing_shard_and_does_not_fail_the_run(workflow: Harness) -> None:
    result = workflow.run("run-crash", control(shards=3, crash=[[0, 1]], collect_fails=True))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert len(workflow.calls_to("worker")) == 3  # the crashed shard is not retried into the next second
    (seen,) = workflow.core.aggregated
    assert (seen.reported, seen.missing, seen.shards_error) == ([0, 2], [1], None)
    aggregate_result = next(
        json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]
        for e in result.history
        if e["type"] == "TaskSucceeded" and '"missing_shards"' in e["taskSucceededEventDetails"]["output"]
    )
    assert aggregate_result["missing_shards"] == [1]
    # A failed Collect is passed on to Report, not fatal.
    (report,) = workflow.core.reports
    assert report["collect"] is None
    assert report["collect_error"]["Error"] == "RuntimeError"
    assert "Rate exceeded" in report["collect_error"]["Cause"]


@pytest.mark.slow
def test_abort_from_aggregate_stops_later_segments(workflow: Harness) -> None:
    result = workflow.run(
        "run-abort", control(segments=3, shards=2, segment_seconds=2, abort_after_segment=0, verdict="fail")
    )

    assert result.status == "FAILED"
    assert result.error == "surge.ChecksFailed"
    assert result.entered("AbortRunEven")  # segment 0 is the even branch's
    segments = workflow.core.prepared["run-abort"]["segments"]
    workers = workflow.calls_to("worker")
    assert {c.event["segment"] for c in workers} <= {0, 1}, "segment 2 must never start"
    assert [s.segment for s in workflow.core.aggregated] == [0]
    # Segment 1 was already in flight (overlap); its workers saw the stop flag and ended at once.
    in_flight = [c for c in workers if c.event["segment"] == 1]
    assert len(in_flight) == 2
    for call in in_flight:
        shard_result = workflow.read_json(call.event["result_key"])
        assert shard_result["stopped"] is True
        assert shard_result["ended_at"] < epoch(segments[1]["end_at"]) - 0.5
    assert workflow.run_record("run-abort")["stop_requested"] == {"BOOL": True}
    # Collect and Report still run, told why the run stopped early.
    (report,) = workflow.core.reports
    assert report["aborted"] == {
        "Error": "surge.Aborted",
        "Cause": "abort-on-fail: p95 612 ms > 500 ms in segment 0",
    }
    assert workflow.calls_to("collect")[0].event["aborted"] == report["aborted"]


@pytest.mark.slow
def test_failed_checks_fail_the_execution_with_a_readable_cause(workflow: Harness) -> None:
    result = workflow.run("run-fail", control(shards=1, verdict="fail"))

    assert result.status == "FAILED"
    assert result.error == "surge.ChecksFailed"
    assert result.cause == "1 of 2 checks failed: p95 612 ms > 500 ms"
    assert result.entered("ChecksFailed")
    (event,) = workflow.completed_events()
    assert event["detail"]["verdict"] == "fail"
    assert event["detail"]["report_uri"] == f"s3://{BUCKET}/runs/run-fail/report.json"


def test_prepare_error_is_recorded_and_fails_with_a_readable_cause(workflow: Harness) -> None:
    result = workflow.run("run-bad-plan", control(invalid="plan.yaml: phases[0].rate must be > 0"))

    assert result.status == "FAILED"
    assert result.error == "surge.RunError"
    assert result.cause == "Prepare failed: ValueError: plan.yaml: phases[0].rate must be > 0"
    assert result.entered("PrepareFailed") and result.entered("RecordError")
    assert not result.entered("MarkRunErrored")
    assert [c.state for c in workflow.calls] == ["prepare", "report"]
    (record_error,) = workflow.calls_to("report")
    assert record_error.event["mode"] == "error"
    assert record_error.event["failed_state"] == "Prepare"
    assert record_error.event["error"]["Error"] == "ValueError"
    assert workflow.run_record("run-bad-plan")["status"] == {"S": "ERROR"}
    (event,) = workflow.completed_events()
    assert event["detail"]["verdict"] == "error"
    assert event["detail"]["cause"] == result.cause


def test_failing_record_error_still_marks_the_run_and_fails(workflow: Harness) -> None:
    result = workflow.run("run-no-report", control(invalid="bad plan", record_error_fails=True))

    assert result.status == "FAILED"
    assert result.error == "surge.RunError"
    assert result.cause is not None
    assert result.cause.startswith("Prepare failed with ValueError: ")
    assert "bad plan" in result.cause
    assert result.entered("MarkRunErrored") and result.entered("FallbackOutcome")
    # Written by the workflow itself (dynamodb:updateItem on the substituted table), not a handler.
    record = workflow.run_record("run-no-report")
    assert record["status"] == {"S": "ERROR"}
    assert record["error_name"] == {"S": "ValueError"}
    (event,) = workflow.completed_events()
    assert event["detail"]["verdict"] == "error"
