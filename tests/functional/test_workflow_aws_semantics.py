"""Drills of the cloud path under AWS's semantics, not moto's (tests/sfn_harness.py emulates them):
a Distributed Map fails as soon as its failures exceed its tolerance while its Lambda invocations keep
running; a Lambda past its timeout is killed; throttling answers TooManyRequestsException; an
execution stopped from the console runs no state, and Step Functions' status-change event is what
finishes it. The real ASL, handlers and workers, against the demo target: every drill ends with a
report counting exactly what the target counted, and the missing part named."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from surge.cloud import handlers as core
from surge.cloud import layout
from surge.cloud.client import CloudRuns, StackInfo
from surge.cloud.records import RunRecords
from surge.demo_target import DemoTarget
from tests.sfn_harness import BUCKET, MAP_RUNS_FAILED_EARLY, REGION, TABLE, Harness, sfn_workflow

pytestmark = pytest.mark.slow

# A 3 s lead: worker threads starting beside moto on a busy machine (two CPU hogs on two cores)
# took up to 2.9 s after launch, and a late worker drops its first arrivals (as it should).
OPTIONS = {"lead_seconds": 3, "segment_seconds": 2, "per_worker_rate": 250}


def plan_for(target: str, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "aws-semantics",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 300}]},  # 1 segment x 2 shards
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "defaults": {"timeout": "1s"},  # the drain a reader waits for after a segment's end
        "thresholds": ["http.error_rate < 1%"],
        # Workers run as threads of the test process, beside moto and the target.
        "validity": {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"},
    }
    plan.update(overrides)
    return plan


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch) as harness:
        yield harness


def start(h: Harness, run_id: str, plan: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    return h.start(run_id, plan, options or OPTIONS)


def wait(h: Harness, arn: str, timeout: float = 90) -> dict[str, Any]:
    return h.wait(arn, timeout)


def mark_started(event: dict[str, Any]) -> None:
    """What a real worker does first (then it crashes, or hangs)."""
    import boto3

    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET,
        Key=layout.started_key(str(event["run_id"]), int(event["segment"]), int(event["shard"])),
        Body=b"{}",
    )


def test_a_crashed_worker_with_default_options_loses_only_itself(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = core.worker

    def crashing(event: Any, clients: Any) -> Any:
        if event["segment"] == 0 and event["shard"] == 1:
            mark_started(event)
            raise RuntimeError("worker ran out of memory")
        return real(event, clients)

    monkeypatch.setattr(core, "worker", crashing)
    done = wait(workflow, start(workflow, "aws-crash", plan_for(demo_target.url)))
    assert not MAP_RUNS_FAILED_EARLY, "the map must tolerate its workers' failures"
    assert done["status"] == "FAILED" and "validity: every worker reported" in done["cause"]
    assert "segment 0: shard 1 started but wrote no result" in done["cause"]
    report = workflow.read_json("runs/aws-crash/report.json")
    assert report["generator"]["workers"] == 2 and report["generator"]["workers_failed"] == 1
    # Everything the other worker sent is in the report.
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 300


def test_with_a_failure_tolerance_the_map_fails_early_and_still_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch, demo_target: DemoTarget
) -> None:
    """The design this replaced (tolerance 0): AWS fails the map at the first failure while the
    other workers still send load. Aggregate now awaits their results in S3 all the same."""

    def tolerate_nothing(definition: str) -> str:
        edited = definition.replace(
            '"ToleratedFailurePercentage": 100.0,', '"ToleratedFailurePercentage": 0.0,'
        )
        assert edited != definition
        # ... and its workers' failures reach the map (no Catch in the item processor).
        doc = json.loads(edited)
        for i, b in enumerate(("Even", "Odd")):
            processor = doc["States"]["RunSegments"]["Branches"][i]["States"][f"RunShards{b}"][
                "ItemProcessor"
            ]
            del processor["States"][f"Worker{b}"]["Catch"], processor["States"][f"WorkerLost{b}"]
        return json.dumps(doc)

    with sfn_workflow(monkeypatch, edit_definition=tolerate_nothing) as workflow:
        real = core.worker

        def crashing(event: Any, clients: Any) -> Any:
            if event["segment"] == 0 and event["shard"] == 0:
                raise RuntimeError("boom")
            return real(event, clients)

        monkeypatch.setattr(core, "worker", crashing)
        done = wait(workflow, start(workflow, "aws-tolerance", plan_for(demo_target.url)))
        assert MAP_RUNS_FAILED_EARLY, "AWS's rule: the map run failed at its first failure"
        assert done["status"] == "FAILED"
        report = workflow.read_json("runs/aws-tolerance/report.json")
        assert report["totals"]["requests"] == demo_target.stats()["requests"] == 300
        assert any("shard 0 never started" in n for n in report["generator"]["notes"])


def test_a_throttle_storm_is_retried_and_counted(workflow: Harness, demo_target: DemoTarget) -> None:
    workflow.throttle["worker"] = 3  # the first three invocations: TooManyRequestsException
    done = wait(workflow, start(workflow, "aws-throttle", plan_for(demo_target.url)))
    assert len(workflow.throttled) == 3
    report = workflow.read_json("runs/aws-throttle/report.json")
    assert report["generator"]["workers"] == 2 and report["generator"]["workers_failed"] == 0
    assert report["totals"]["requests"] == demo_target.stats()["requests"]
    # A retried worker starts late: what it could not send in time is dropped and explained, never
    # sent in a burst.
    if report["totals"]["dropped_iterations"]:
        assert done["status"] == "FAILED"
        assert "started up to" in done["cause"] and "Lambda throttling" in done["cause"]


def test_a_shard_throttled_for_good_is_named_as_never_started(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    workflow.refuse = lambda state, event: state == "worker" and event["segment"] == 0 and event["shard"] == 0
    done = wait(workflow, start(workflow, "aws-refused", plan_for(demo_target.url)))
    assert done["status"] == "FAILED"
    assert "segment 0: shard 0 never started (Lambda throttling" in done["cause"]
    report = workflow.read_json("runs/aws-refused/report.json")
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 300


def test_a_worker_killed_at_its_timeout_is_a_missing_shard(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = core.worker
    release = threading.Event()

    def hanging(event: Any, clients: Any) -> Any:
        if event["segment"] == 0 and event["shard"] == 0:
            mark_started(event)
            release.wait(60)  # stuck: only Lambda's timeout ends it
            return None
        return real(event, clients)

    monkeypatch.setattr(core, "worker", hanging)
    workflow.timeout_for = lambda state, event: (
        4.0 if state == "worker" and event["segment"] == 0 and event["shard"] == 0 else None
    )
    try:
        done = wait(workflow, start(workflow, "aws-timeout", plan_for(demo_target.url)))
    finally:
        release.set()
    assert len(workflow.killed) == 1
    assert done["status"] == "FAILED"
    assert (
        "segment 0: shard 0 started but wrote no result (crashed, or killed at Lambda's timeout)"
        in done["cause"]
    )
    report = workflow.read_json("runs/aws-timeout/report.json")
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 300


def test_an_abort_counts_the_segment_in_flight_and_not_the_ones_never_launched(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    demo_target.set_config(error_rate=1.0)
    plan = plan_for(
        demo_target.url,
        load={"phases": [{"duration": "8s", "rate": 300}]},  # 4 segments of 2 s, 2 shards each
        thresholds=[{"check": "http.error_rate < 5%", "abort_on_fail": True}],
    )
    done = wait(workflow, start(workflow, "aws-abort", plan))
    assert done["status"] == "FAILED"
    report = workflow.read_json("runs/aws-abort/report.json")
    assert report["partial"] is True
    # Segment 1 was launched before segment 0 ended (its lead): its workers saw the stop flag and
    # wrote what they sent; segments 2 and 3 never launched and lost nobody. (A shard of segment 1
    # the stopped map never started, on a busy machine, sent nothing and is lost by nobody either.)
    assert report["generator"]["workers_failed"] == 0
    invoked = {(call.event["segment"], call.event["shard"]) for call in workflow.calls_to("worker")}
    assert report["generator"]["workers"] == len(invoked)
    # Every request the target counted is in the report; one that timed out (a busy machine's target
    # can be too slow to read it before the client gave up) may never have reached the target's count.
    sent, timed_out = report["totals"]["requests"], report["errors_by_class"].get("timeout", 0)
    assert sent - timed_out <= demo_target.stats()["requests"] <= sent
    assert validity(report, "the whole plan ran")["status"] == "fail"


def test_an_abort_check_breached_mid_segment_stops_the_run_within_seconds(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.cloud import worker

    monkeypatch.setattr(worker, "PROGRESS_EVERY_S", 0.5)  # 5 s in Lambda; shorter runs, same path
    monkeypatch.setattr(worker, "STOP_POLL_S", 0.5)
    demo_target.set_config(error_rate=1.0)
    plan = plan_for(
        demo_target.url,
        load={"phases": [{"duration": "10s", "rate": 100}]},  # one 10 s segment, 1,000 planned
        thresholds=[{"check": "http.error_rate < 5%", "abort_on_fail": True, "grace": "1s"}],
    )
    done = wait(workflow, start(workflow, "aws-live-abort", plan, {**OPTIONS, "segment_seconds": 10}))
    assert done["status"] == "FAILED"
    assert "threshold 'http.error_rate < 5%' failed during segment 0" in done["cause"]
    report = workflow.read_json("runs/aws-live-abort/report.json")
    sent = demo_target.stats()["requests"]
    assert report["totals"]["requests"] == sent
    assert sent < 400, f"{sent} of 1,000 planned: the breach did not stop the segment early"
    assert validity(report, "the whole plan ran")["status"] == "fail"


def test_the_crash_drill_loses_one_worker_as_a_crash_would(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    # What docs/verify-in-aws.md runs in a real account: options.drill_crash_shard.
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "4s", "rate": 100}]})
    done = wait(
        workflow,
        start(
            workflow,
            "aws-drill",
            plan,
            {**OPTIONS, "segment_seconds": 4, "drill_crash_shard": 1, "per_worker_rate": 50},
        ),
    )
    assert done["status"] == "FAILED"
    assert "validity: every worker reported" in done["cause"] and "shard 1" in done["cause"]
    report = workflow.read_json("runs/aws-drill/report.json")
    assert validity(report, "every worker reported")["status"] == "fail"
    # Shard 0 is counted in full; the crashed shard's requests reached the target but are in no figure.
    assert report["totals"]["requests"] == 200 < demo_target.stats()["requests"]


def validity(report: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in report["checks"] if c["name"] == f"validity: {name}"]
    return check


def test_surge_stop_in_the_first_second_sends_nothing(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = core.prepare
    stopped = threading.Event()

    def slow_prepare(event: Any, clients: Any) -> Any:
        stopped.wait(10)  # `surge stop` comes before Prepare has written the run record
        return real(event, clients)

    monkeypatch.setattr(core, "prepare", slow_prepare)
    arn = start(workflow, "aws-early-stop", plan_for(demo_target.url))
    runs = CloudRuns(
        StackInfo(BUCKET, TABLE, workflow.machine_arn, REGION),
        s3=workflow.s3,
        sfn=workflow.sfn,
        dynamodb=workflow.dynamodb,
    )
    runs.stop("aws-early-stop")  # no record yet: refused before; the flag is set all the same
    stopped.set()
    done = wait(workflow, arn)
    assert demo_target.stats()["requests"] == 0
    assert not workflow.calls_to("worker")
    assert done["status"] == "FAILED"
    assert "stopped before the load started" in done["cause"]
    record = RunRecords(TABLE, workflow.dynamodb).get("aws-early-stop")
    assert record is not None and record["status"] != "RUNNING"


def test_a_console_stop_execution_is_finished_from_its_status_change_event(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "20s", "rate": 50}]})
    start(
        workflow, "aws-console-stop", plan, {"lead_seconds": 1, "segment_seconds": 10, "per_worker_rate": 250}
    )
    deadline = time.monotonic() + 30
    while demo_target.stats()["requests"] < 100:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    workflow.stop_execution("aws-console-stop")  # from here on the workflow runs no state
    # Step Functions emits the status change; the stack's rule delivers it to the report function.
    outcome = workflow.status_change("aws-console-stop", "ABORTED")
    workflow._drain(30)
    assert outcome is not None and outcome["verdict"] == "fail"
    after = demo_target.stats()["requests"]
    time.sleep(3)
    assert demo_target.stats()["requests"] == after, "workers went on after the run was finished"
    report = workflow.read_json("runs/aws-console-stop/report.json")
    assert report["partial"] is True and "ABORTED" in report["end"]["stopped_by"]
    assert report["totals"]["requests"] == demo_target.stats()["requests"]
    record = RunRecords(TABLE, workflow.dynamodb).get("aws-console-stop")
    assert record is not None and record["status"] == "COMPLETED" and record["partial"] is True
    events = workflow.completed_events()
    assert [e["detail"]["run_id"] for e in events] == ["aws-console-stop"]
    # Delivered twice (EventBridge is at-least-once): the second finds the run finished.
    assert workflow.status_change("aws-console-stop", "ABORTED") is None


# --- a segment merged as a tree (MergeShards, then Aggregate) ----------------------------------------


def _canonical(stats: dict[str, Any]) -> dict[str, Any]:
    """A merged result with each encoded histogram as its counts: equal merges compare equal."""
    from surge.stats import decode

    out = json.loads(json.dumps(stats))
    for interval in out["intervals"].values():
        for ep in interval["endpoints"].values():
            for name in ("rt", "st", "rt_timeouts", "st_timeouts"):
                if ep.get(name):
                    h = decode(ep[name])
                    ep[name] = [h.get_total_count(), h.get_min_value(), h.get_max_value(), list(h.counts)]
    return out


def _flat_merge(h: Harness, run_id: str, segment: int) -> dict[str, Any]:
    from surge.stats import merge_results

    prefix = layout.segment_prefix(run_id, segment)
    keys = sorted(
        (o["Key"] for o in h.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]),
        key=lambda k: int(k.rsplit("shard-", 1)[-1].split(".")[0]) if "/shard-" in k else -1,
    )
    results = [
        h.read_json(k) for k in keys if k.rsplit("/", 1)[-1].startswith("shard-") and "started" not in k
    ]
    return dict(merge_results(results))


def test_a_large_segment_is_merged_by_several_tasks_exactly_as_one_merge(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.cloud import planner

    monkeypatch.setattr(planner, "DIRECT_MERGE_MAX_SHARDS", 1)  # 5 shards: tasks of [0, 3) and [3, 5)
    # Ten worker threads share this process with moto: a light rate, and no error check to trip
    # on a request that times out on a busy machine (the merge's exactness is what is tested).
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "4s", "rate": 250}]}, thresholds=[])
    # A 3 s lead: five worker threads starting beside moto on a busy CI machine once took 1.1 s past
    # a 1 s lead and dropped their first arrivals (validity then failed the run, not the merge).
    done = wait(
        workflow, start(workflow, "tree", plan, {**OPTIONS, "per_worker_rate": 50, "lead_seconds": 3})
    )
    assert done["status"] == "SUCCEEDED", done
    merges = [c.event for c in workflow.calls_to("aggregate") if c.event.get("mode") == "merge"]
    assert sorted((e["segment"]["index"], e["slice"]) for e in merges) == [
        (0, [0, 3]),
        (0, [3, 2]),
        (1, [0, 3]),
        (1, [3, 2]),
    ]
    for k in (0, 1):
        partials = [workflow.read_json(layout.partial_key("tree", k, first)) for first in (0, 3)]
        assert [p["shards"] for p in partials] == [[0, 1, 2], [3, 4]]
        aggregate = workflow.read_json(layout.aggregate_key("tree", k))
        assert _canonical(aggregate) == _canonical(_flat_merge(workflow, "tree", k))
    report = workflow.read_json("runs/tree/report.json")
    assert report["generator"]["workers"] == 10
    assert report["totals"]["requests"] == 1000  # every arrival, from every shard, once
    # The execution's history has the events Prepare's quota check counts (surge.cloud.workflow_limits).
    from surge.cloud.workflow_limits import history_events

    events = workflow.history(done["executionArn"])
    retried = sum(1 for e in events if e["type"] == "TaskFailed")
    assert retried == 0 and len(events) == history_events([2, 2]), sorted({e["type"] for e in events})
    # What the target counted: all of them, but for requests that timed out before reaching it.
    assert 0 <= 1000 - demo_target.stats()["requests"] <= report["totals"]["errors"]


def test_a_lost_merge_task_and_a_crashed_worker_cost_nothing_of_the_result(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.cloud import planner

    monkeypatch.setattr(planner, "DIRECT_MERGE_MAX_SHARDS", 1)
    real_worker, real_merge = core.worker, core.merge_slice

    def crashing(event: Any, clients: Any) -> Any:
        if event["shard"] == 1:
            mark_started(event)
            raise RuntimeError("worker ran out of memory")
        return real_worker(event, clients)

    def merge_fails_on_the_second_slice(event: Any, clients: Any) -> Any:
        if event["slice"][0] == 3:
            raise MemoryError("merge task ran out of memory")
        return real_merge(event, clients)

    monkeypatch.setattr(core, "worker", crashing)
    monkeypatch.setattr(core, "merge_slice", merge_fails_on_the_second_slice)
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "2s", "rate": 250}]}, thresholds=[])
    done = wait(workflow, start(workflow, "tree-lost", plan, {**OPTIONS, "per_worker_rate": 50}))
    assert done["status"] == "FAILED" and "segment 0: shard 1 started but wrote no result" in done["cause"]
    # The first task's partial covers what exists of its slice; Aggregate merged shards 3 and 4 itself.
    assert workflow.read_json(layout.partial_key("tree-lost", 0, 0))["shards"] == [0, 2]
    assert not workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix=layout.partial_key("tree-lost", 0, 3)).get(
        "Contents"
    )
    aggregate = workflow.read_json(layout.aggregate_key("tree-lost", 0))
    assert _canonical(aggregate) == _canonical(_flat_merge(workflow, "tree-lost", 0))
    report = workflow.read_json("runs/tree-lost/report.json")
    assert report["generator"]["workers"] == 5 and report["generator"]["workers_failed"] == 1
    assert report["totals"]["requests"] == 400  # the four workers that reported (the lost one sent nothing)
    assert 0 <= 400 - demo_target.stats()["requests"] <= report["totals"]["errors"]


def test_a_failed_segments_step_stops_every_worker_within_seconds(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Aggregate of segment 0 fails: RunSegments fails and RecordError ends the run. The next
    segment's workers were launched (its lead) and, in AWS, run on whatever the workflow does:
    the run's end must stop them through the stop flag, not leave them loading to their end."""
    from surge.cloud import worker

    monkeypatch.setattr(worker, "STOP_POLL_S", 0.5)  # 3 s in Lambda; the same path, a shorter wait
    real = core.aggregate

    def failing(event: Any, clients: Any) -> Any:
        if event["segment"]["index"] == 0:
            raise RuntimeError("aggregate ran out of memory")
        return real(event, clients)

    monkeypatch.setattr(core, "aggregate", failing)
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "16s", "rate": 50}]}, thresholds=[])
    options = {**OPTIONS, "segment_seconds": 4, "lead_seconds": 2, "per_worker_rate": 25}
    done = wait(workflow, start(workflow, "aws-segments-failed", plan, options))
    assert done["status"] == "FAILED" and "RunSegments failed" in done["cause"], done
    ended = time.monotonic()
    record = RunRecords(TABLE, workflow.dynamodb).get("aws-segments-failed")
    assert record is not None and record["status"] == "ERROR" and record["stop_requested"] is True
    # Segment 1's workers heard the flag: nothing more reaches the target once the run has ended.
    workflow._drain(15)
    settled = demo_target.stats()["requests"]
    time.sleep(2)
    assert demo_target.stats()["requests"] == settled, "workers went on loading after the run ended"
    assert time.monotonic() - ended < 15
    # 16 s were planned at 50/s (800): the run stopped well before its end.
    assert settled < 600, settled
    # The partial report counts what the launched segments' workers sent (segment 0's and 1's).
    report = workflow.read_json("runs/aws-segments-failed/report.json")
    assert report["partial"] is True
    assert report["totals"]["requests"] == settled


def test_a_console_stop_whose_event_never_comes_stops_the_fleet_and_is_swept(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EventBridge delivers the status change best effort. Without it: the segment's watchers see
    the execution ended and set the stop flag (the fleet stops within seconds), and the stack's
    schedule sweeps the run (partial report, record closed, one Run Completed). A redrive of the
    execution afterwards renders no second report and sends no second event."""
    from surge.cloud import worker

    monkeypatch.setattr(worker, "STOP_POLL_S", 0.5)  # 3 s and 5 s in Lambda; the same path
    monkeypatch.setattr(worker, "EXECUTION_POLL_S", 0.5)
    workflow.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "20s", "rate": 50}]})
    start(workflow, "aws-lost-event", plan, {"lead_seconds": 1, "segment_seconds": 10, "per_worker_rate": 25})
    deadline = time.monotonic() + 30
    while demo_target.stats()["requests"] < 100:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    workflow.stop_execution("aws-lost-event")  # and no status-change event is delivered
    stopped = time.monotonic()
    workflow._drain(15)
    settled = demo_target.stats()["requests"]
    assert time.monotonic() - stopped < 10, "the workers did not see the execution end"
    time.sleep(2)
    assert demo_target.stats()["requests"] == settled < 900
    record = RunRecords(TABLE, workflow.dynamodb).get("aws-lost-event")
    assert record is not None and record["stop_requested"] is True and "ABORTED" in str(record["stop_reason"])
    assert record["status"] == "RUNNING"  # nobody finished it yet: the sweep does

    report_fn = workflow.handlers["surge-report"]
    report_fn({"mode": "sweep"}, None)
    record = RunRecords(TABLE, workflow.dynamodb).get("aws-lost-event")
    assert record is not None and record["status"] == "COMPLETED" and record["finished_by"] == "outside"
    report = workflow.read_json("runs/aws-lost-event/report.json")
    assert report["partial"] is True and report["totals"]["requests"] == settled
    assert [e["detail"]["run_id"] for e in workflow.completed_events()] == ["aws-lost-event"]
    report_fn({"mode": "sweep"}, None)  # the next sweep finds nothing to do

    # Redriven from the console: the segments run again (their workers see the stop flag at once),
    # Report finds the run finished and returns its outcome: no second report, no second event.
    done = wait(workflow, workflow.redrive("aws-lost-event"))
    assert done["status"] == "FAILED" and "validity" in done["cause"]
    versions = workflow.s3.list_object_versions(Bucket=BUCKET, Prefix="runs/aws-lost-event/report.json")
    assert len(versions["Versions"]) == 1
    assert workflow.completed_events() == []
    assert demo_target.stats()["requests"] == settled


def test_a_credential_in_an_inline_plan_reaches_no_log_line(
    workflow: Harness,
    demo_target: DemoTarget,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A console user pastes a plan with a token written in it, and one read from Secrets Manager;
    requests fail (401), so failure samples carry the request. Nothing any function prints or logs
    holds either value: the state machine logs no execution data (tests/infra), the handlers never
    log events, the worker's live metrics carry figures only, and reports mask credentials."""
    import logging

    import boto3

    caplog.set_level(logging.INFO)  # the functions' level in Lambda (botocore logs bodies at DEBUG only)
    literal, stored = "sk-live-LITERAL-7f3a9c", "sk-live-STORED-91be4d"
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="surge/api-token", SecretString=stored
    )
    plan = plan_for(
        demo_target.url,
        scenarios=[
            {
                "name": "account",
                "flow": [
                    {"get": {"url": "/api/account", "headers": {"Authorization": f"Bearer {literal}"}}},
                    {"get": {"url": "/api/account", "headers": {"X-Api-Key": "{{ $secret.api-token }}"}}},
                ],
            }
        ],
        load={"phases": [{"duration": "2s", "rate": 20}]},
    )
    done = wait(workflow, start(workflow, "aws-secret-logs", plan))
    assert done["status"] == "FAILED"  # every request 401s: the run fails, its samples are kept
    report = workflow.read_json("runs/aws-secret-logs/report.json")
    assert report["totals"]["errors"] > 0 and report["failures"]
    captured = capsys.readouterr()
    ours = [r for r in caplog.records if not r.name.startswith("moto")]  # moto stands for AWS itself
    # The functions' metric lines (EMF: what CloudWatch reads from their logs) are kept by the harness.
    lines = [captured.out, captured.err, *(r.getMessage() for r in ours), *workflow.emf_lines]
    assert any('"LiveRequests"' in line for line in lines), "the workers' log lines were captured"
    for value in (literal, stored):
        assert not any(value in line for line in lines), value
    # And no object the run wrote, but the plan copy the literal came in with, holds them.
    keys = [
        o["Key"]
        for o in workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/aws-secret-logs/")["Contents"]
    ]
    for key in keys:
        body = workflow.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode(errors="replace")
        assert stored not in body, key
        if not key.endswith(("/plan.json",)):
            assert literal not in body, key
