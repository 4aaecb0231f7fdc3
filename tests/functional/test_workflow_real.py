"""The deployed workflow, locally: statemachine/surge.asl.json in moto's interpreter, every Lambda
invoke routed to the real handlers and the real core, real workers sending load to the demo target."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from surge.cloud import handlers as core
from surge.cloud.records import RunRecords
from surge.demo_target import DemoTarget
from tests.sfn_harness import BUCKET, REGION, TABLE, Harness, sfn_workflow

pytestmark = pytest.mark.slow

OPTIONS = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch) as harness:
        yield harness


def plan_for(target: str, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "cloud-e2e",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "4s", "rate": 300}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "thresholds": ["http.error_rate < 1%", "http.latency.p95 < 1s"],
    }
    plan.update(overrides)
    return plan


def start(h: Harness, run_id: str, plan: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    payload = {"plan": plan, "options": options or OPTIONS}
    return str(
        h.sfn.start_execution(stateMachineArn=h.machine_arn, name=run_id, input=json.dumps(payload))[
            "executionArn"
        ]
    )


def wait(h: Harness, arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (d := h.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running"
        time.sleep(0.1)
    h._drain()
    return dict(d)


def test_segments_and_shards_report_what_the_target_counted(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    arn = start(workflow, "real-pass", plan_for(demo_target.url))
    done = wait(workflow, arn)
    assert done["status"] == "SUCCEEDED", done
    report = workflow.read_json("runs/real-pass/report.json")
    assert report["verdict"] == "pass"
    # 2 segments of 2 s, 2 shards each (300/s over 250/s per worker): merged exactly.
    assert report["generator"]["workers"] == 4
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 1200
    assert {w.event["segment"] for w in workflow.calls_to("worker")} == {0, 1}
    record = RunRecords(TABLE, workflow.dynamodb).get("real-pass")
    assert record is not None and record["verdict"] == "pass" and record["status"] == "COMPLETED"
    events = workflow.completed_events()
    assert [e["detail"]["verdict"] for e in events] == ["pass"]
    assert events[0]["detail"]["report_uri"] == f"s3://{BUCKET}/runs/real-pass/report.html"


def test_failing_threshold_fails_the_execution(workflow: Harness, demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=30.0)
    plan = plan_for(demo_target.url, thresholds=["http.latency.p95 < 5ms"])
    done = wait(workflow, start(workflow, "real-fail", plan))
    assert done["status"] == "FAILED"
    assert done["error"] == "surge.ChecksFailed"
    assert "http.latency.p95 < 5ms" in done["cause"]
    record = RunRecords(TABLE, workflow.dynamodb).get("real-fail")
    assert record is not None and record["verdict"] == "fail"


def test_crashed_worker_is_a_missing_shard(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = core.worker

    def crashing(event: Any, clients: Any) -> Any:
        if event["segment"] == 0 and event["shard"] == 1:
            raise RuntimeError("worker ran out of memory")
        return real(event, clients)

    monkeypatch.setattr(core, "worker", crashing)
    plan = plan_for(demo_target.url)
    done = wait(
        workflow, start(workflow, "real-crash", plan, {**OPTIONS, "tolerated_failure_percentage": 50.0})
    )
    assert done["status"] == "SUCCEEDED", done
    report = workflow.read_json("runs/real-crash/report.json")
    assert report["partial"] is True
    assert report["generator"]["workers_failed"] == 1
    assert any("1 shard result(s) missing" in n for n in report["generator"]["notes"])
    # What was measured is exactly what the target received from the surviving workers.
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 900


def test_stop_ends_the_run_within_seconds(workflow: Harness, demo_target: DemoTarget) -> None:
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "30s", "rate": 50}]})
    started = time.monotonic()
    arn = start(
        workflow, "real-stop", plan, {"lead_seconds": 1, "segment_seconds": 10, "per_worker_rate": 250}
    )
    time.sleep(4)
    RunRecords(TABLE, workflow.dynamodb).request_stop("real-stop", "stopped by the test")
    done = wait(workflow, arn)
    assert time.monotonic() - started < 15
    assert done["status"] in ("SUCCEEDED", "FAILED")
    report = workflow.read_json("runs/real-stop/report.json")
    assert report["partial"] is True
    assert report["aborted_by"] == "stopped by the test"
    assert 0 < report["totals"]["requests"] == demo_target.stats()["requests"] < 500


def test_bad_plan_fails_with_a_readable_cause(workflow: Harness) -> None:
    done = wait(workflow, start(workflow, "real-bad", {"name": "bad", "target": "ftp://x"}))
    assert done["status"] == "FAILED"
    assert "Prepare failed" in done["cause"] and "target" in done["cause"]
    record = RunRecords(TABLE, workflow.dynamodb).get("real-bad")
    assert record is not None and record["status"] == "ERROR"


def _stack(h: Harness) -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "BucketName": {"Value": BUCKET},
            "TableName": {"Value": TABLE},
            "StateMachineArn": {"Value": h.machine_arn},
            "Region": {"Value": REGION},
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="Surge", TemplateBody=json.dumps(template)
    )


def test_cli_cloud_commands(
    workflow: Harness, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    _stack(workflow)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(plan_for(demo_target.url, load={"phases": [{"duration": "3s", "rate": 40}]}))
    )
    code = main(["run", str(plan), "--cloud", "--wait", "--lead-seconds", "1", "--region", REGION])
    out = capsys.readouterr()
    assert code == 0, out
    assert "verdict PASS" in out.out
    run_id = out.err.split("started cloud run ")[1].split()[0]
    assert demo_target.stats()["requests"] == 120

    assert main(["runs", "--cloud", "--region", REGION]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["status", run_id, "--region", REGION]) == 0
    assert "SUCCEEDED" in capsys.readouterr().out
    dest = tmp_path / "dl"
    assert main(["report", run_id, "--cloud", "--out", str(dest), "--region", REGION]) == 0
    assert json.loads((dest / "report.json").read_text())["totals"]["requests"] == 120
    assert (dest / "report.html").stat().st_size > 1000

    # A stack that does not exist is a user error naming what to do.
    assert main(["runs", "--cloud", "--stack", "Nope", "--region", REGION]) == 2
    assert "cdk deploy" in capsys.readouterr().err


def test_cli_stop(
    workflow: Harness, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    _stack(workflow)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(plan_for(demo_target.url, load={"phases": [{"duration": "30s", "rate": 20}]}))
    )
    assert main(["run", str(plan), "--cloud", "--lead-seconds", "1", "--region", REGION]) == 0
    run_id = capsys.readouterr().err.split("started cloud run ")[1].split()[0]
    threading.Timer(3.0, lambda: main(["stop", run_id, "--region", REGION])).start()
    started = time.monotonic()
    code = main(["status", run_id, "--wait", "--region", REGION])
    assert time.monotonic() - started < 20
    out = capsys.readouterr().out
    assert "stop requested" in out
    assert code == 130, out  # stopped on request: partial, never a pass
    assert demo_target.stats()["requests"] < 300


def test_cloud_runs_use_last_pass_baseline_from_the_table(workflow: Harness, demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=2.0)
    # The median service time: robust to the scheduling hiccups of many threads in one test process.
    plan = plan_for(
        demo_target.url,
        load={"phases": [{"duration": "2s", "rate": 10}]},
        baseline="last-pass",
        regression={"max_worse_pct": 50, "metrics": ["http.service_time.p50"]},
        thresholds=["http.error_rate < 1%", "http.service_time.p50 < 1s"],
    )
    first = wait(workflow, start(workflow, "base-1", plan))
    assert first["status"] == "SUCCEEDED", first
    assert workflow.read_json("runs/base-1/report.json")["baseline"]["notes"]  # no earlier passing run

    demo_target.set_config(latency_ms=300.0)
    second = wait(workflow, start(workflow, "base-2", plan))
    checks = workflow.read_json("runs/base-2/report.json")["checks"]
    assert second["status"] == "FAILED", checks
    report = workflow.read_json("runs/base-2/report.json")
    assert "base-1" in report["baseline"]["label"]
    regressions = [
        c for c in report["checks"] if c["name"].startswith("regression:") and c["status"] == "fail"
    ]
    assert [c["metric"] for c in regressions] == ["http.service_time.p50"], report["checks"]


def test_collect_puts_service_metrics_in_the_cloud_report(
    workflow: Harness, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from tests.functional.test_service_metrics import PercentilesUnsupported

    real = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = real(self, *args, **kwargs)
        service = args[0] if args else kwargs.get("service_name")
        return PercentilesUnsupported(made) if service == "cloudwatch" else made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    boto3.client("cloudwatch", region_name=REGION).client.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Throttles",
                "Dimensions": [{"Name": "FunctionName", "Value": "orders"}],
                "Timestamp": datetime.fromtimestamp(time.time() + 2, UTC),
                "Value": 3,
                "Unit": "Count",
            }
        ],
    )
    plan = plan_for(
        demo_target.url,
        load={"phases": [{"duration": "3s", "rate": 20}]},
        services=[{"type": "lambda", "name": "orders", "function_name": "orders", "cold_starts": False}],
        thresholds=['lambda["orders"].throttles.sum == 0', "http.error_rate < 1%"],
    )
    done = wait(workflow, start(workflow, "svc", plan, {**OPTIONS, "metrics_delay_seconds": 0}))
    assert done["status"] == "FAILED" and 'lambda["orders"].throttles.sum == 0' in done["cause"]
    report = workflow.read_json("runs/svc/report.json")
    assert {c["name"]: c["measured"] for c in report["checks"]}['lambda["orders"].throttles.sum == 0'] == 3
    assert "orders" in json.dumps(report["service_metrics"])
    assert report["cost"]["run_components_usd"]["lambda_usd"] > 0, report["cost"]
    workflow.read_json("runs/svc/metrics.json")
