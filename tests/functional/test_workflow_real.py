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

from surge.cloud.records import RunRecords
from surge.demo_target import DemoTarget
from tests.helpers import inbox_event_types
from tests.sfn_harness import BUCKET, REGION, TABLE, Harness, sfn_workflow

pytestmark = pytest.mark.slow

# A 3 s lead: worker threads starting beside moto on a busy machine (two CPU hogs on two cores)
# took up to 2.9 s after launch, and a late worker drops its first arrivals (as it should).
OPTIONS = {"lead_seconds": 3, "segment_seconds": 2, "per_worker_rate": 250}


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
        # Workers run as threads of the test process, beside moto and the target: their loops lag
        # and start arrivals late here as Lambda workers (one per process) would not.
        "validity": {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"},
        "thresholds": ["http.error_rate < 1%", "http.latency.p95 < 1s"],
    }
    plan.update(overrides)
    return plan


def start(h: Harness, run_id: str, plan: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    return h.start(run_id, plan, options or OPTIONS)


def wait(h: Harness, arn: str, timeout: float = 60) -> dict[str, Any]:
    return h.wait(arn, timeout)


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


def _stack(h: Harness, allowed_targets: str = "127.0.0.1,localhost", name: str = "Surge") -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "BucketName": {"Value": BUCKET},
            "TableName": {"Value": TABLE},
            "StateMachineArn": {"Value": h.machine_arn},
            "Region": {"Value": REGION},
            "AllowedTargets": {"Value": allowed_targets},
            "WorkerFunctionName": {"Value": "surge-worker"},
            "HooksAllowed": {"Value": "true"},
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def test_cli_refuses_a_target_the_deployment_does_not_allow_before_starting_anything(
    workflow: Harness, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    _stack(workflow, allowed_targets="api.example.com", name="Elsewhere")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(plan_for(demo_target.url)))
    code = main(["run", str(plan), "--cloud", "--stack", "Elsewhere", "--region", REGION])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "127.0.0.1 is not among the hosts" in err and "surge:allowedTargets" in err
    assert workflow.sfn.list_executions(stateMachineArn=workflow.machine_arn)["executions"] == []


def test_cli_cloud_commands(
    workflow: Harness, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    _stack(workflow)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(plan_for(demo_target.url, load={"phases": [{"duration": "3s", "rate": 40}]}))
    )
    code = main(["run", str(plan), "--cloud", "--wait", "--lead-seconds", "3", "--region", REGION])
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
    assert main(["run", str(plan), "--cloud", "--lead-seconds", "3", "--region", REGION]) == 0
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
    from datetime import datetime, timedelta

    from tests.functional.test_service_metrics import PercentilesUnsupported

    windows: list[tuple[datetime, datetime]] = []

    class ThrottledDuringTheRun(PercentilesUnsupported):
        """Puts 3 throttles inside the window Collect asks for: a datapoint stamped from the test's
        clock missed the run's window whenever the harness was slow to start it (CI, two processes)."""

        def get_metric_data(self, **kw: Any) -> dict[str, Any]:
            if not windows:
                windows.append((kw["StartTime"], kw["EndTime"]))
                self.client.put_metric_data(
                    Namespace="AWS/Lambda",
                    MetricData=[
                        {
                            "MetricName": "Throttles",
                            "Dimensions": [{"Name": "FunctionName", "Value": "orders"}],
                            "Timestamp": kw["StartTime"] + (kw["EndTime"] - kw["StartTime"]) / 2,
                            "Value": 3,
                            "Unit": "Count",
                        }
                    ],
                )
            return super().get_metric_data(**kw)

    real = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = real(self, *args, **kwargs)
        service = args[0] if args else kwargs.get("service_name")
        return ThrottledDuringTheRun(made) if service == "cloudwatch" else made

    monkeypatch.setattr(boto3.session.Session, "client", client)
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
    asked_from, asked_to = windows[0]
    assert asked_from <= datetime.fromisoformat(report["started_at"]) + timedelta(seconds=1), windows
    assert asked_to >= datetime.fromisoformat(report["ended_at"]) - timedelta(seconds=1), windows
    assert "orders" in json.dumps(report["service_metrics"])
    assert report["cost"]["run_components_usd"]["lambda_usd"] > 0, report["cost"]
    workflow.read_json("runs/svc/metrics.json")


# -- data and baseline files --------------------------------------------------------------------------

USERS_CSV = "user\nalice\nbob\ncarol\n"


def files_plan(folder: Path, target: str, **overrides: Any) -> Path:
    """plan.yaml with users.csv and ecs-baseline.json beside it, named relative to the plan."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users.csv").write_text(USERS_CSV)
    (folder / "ecs-baseline.json").write_text(json.dumps({"http.latency.p95": "10s", "http.error_rate": 0}))
    flow = [{"post": {"url": "/v1/events", "json": {"type": "{{ user }}"}, "expect": [{"status": 202}]}}]
    plan = plan_for(
        target,
        load={"phases": [{"duration": "3s", "rate": 40}]},
        scenarios=[{"name": "ingest", "flow": flow}],
        data={"file": "users.csv"},
        baseline={"file": "ecs-baseline.json"},
        regression={"max_worse_pct": 5, "metrics": ["http.latency.p95"]},
        **overrides,
    )
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_cli_cloud_run_uploads_the_plans_data_and_baseline_files(
    workflow: Harness,
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surge.cli import main

    _stack(workflow)
    plan = files_plan(tmp_path / "perf", demo_target.url)
    monkeypatch.chdir(tmp_path)  # the files are found beside the plan, not in the working directory
    code = main(["run", "perf/plan.yaml", "--cloud", "--wait", "--lead-seconds", "3", "--region", REGION])
    out = capsys.readouterr()
    assert code == 0, out
    run_id = out.err.split("started cloud run ")[1].split()[0]
    assert demo_target.stats()["requests"] == 120
    types = inbox_event_types(demo_target.url)
    assert set(types) == {"alice", "bob", "carol"} and sum(types.values()) == 120

    # Uploaded under the run, and the plan sent names them by URI (Prepare used them in place).
    inputs = f"runs/{run_id}/inputs"
    s3 = workflow.s3
    assert s3.get_object(Bucket=BUCKET, Key=f"{inputs}/data/users.csv")["Body"].read().decode() == USERS_CSV
    sent = workflow.read_json(f"plans/{run_id}.json")
    assert sent["data"]["file"] == f"s3://{BUCKET}/{inputs}/data/users.csv"
    assert sent["baseline"]["file"] == f"s3://{BUCKET}/{inputs}/baseline/ecs-baseline.json"
    assert workflow.read_json(f"runs/{run_id}/plan.json")["data"] == sent["data"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=inputs)["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"{inputs}/baseline/ecs-baseline.json",
        f"{inputs}/data/users.csv",
    ]

    report = workflow.read_json(f"runs/{run_id}/report.json")
    assert report["baseline"]["label"] == "file ecs-baseline.json"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["regression: http.latency.p95 within 5% of baseline"]["baseline"] == 10000.0
    assert plan.exists()


def test_cli_cloud_run_ships_multipart_files_and_the_hooks_file_with_the_run(
    workflow: Harness,
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surge.cli import main

    _stack(workflow)
    folder = tmp_path / "perf"
    (folder / "fixtures").mkdir(parents=True)
    image = folder / "fixtures" / "test-image.jpg"
    image.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 8)
    (folder / "my_hooks.py").write_text(
        "def tag(request, variables):\n    request['headers']['X-Tag'] = 'from-hook'\n\n"
        "def shout(text):\n    return str(text).upper()\n"
    )
    upload = {
        "post": {
            "url": "/api/gallery/img-001/image",
            "multipart": {
                "title": "castle",
                "image": {"path": "fixtures/test-image.jpg", "content_type": "image/jpeg"},
            },
            "expect": [
                {"json": "$.bytes", "equals": image.stat().st_size},
                {"json": "$.parts[1].filename", "equals": "test-image.jpg"},
            ],
        }
    }
    hooked = {
        "get": {
            "url": "/_surge/echo?w={{ shout(word) }}",
            "before": "tag",
            "expect": [
                {"json": "$.headers.X-Tag", "equals": "from-hook"},
                {"json": "$.query.w[0]", "equals": "LEGO"},
            ],
        }
    }
    plan = plan_for(
        demo_target.url,
        hooks="my_hooks.py",
        variables={"word": "lego"},
        load={"phases": [{"duration": "2s", "rate": 10}]},
        scenarios=[{"name": "upload", "flow": [upload, hooked]}],
        thresholds=["http.error_rate < 1%"],
    )
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))  # the parts in order
    monkeypatch.chdir(tmp_path)
    code = main(["run", "perf/plan.yaml", "--cloud", "--wait", "--lead-seconds", "3", "--region", REGION])
    out = capsys.readouterr()
    assert code == 0, out
    run_id = out.err.split("started cloud run ")[1].split()[0]
    # Every upload carried the file and every hooked request the hook's header (checked by expect).
    assert demo_target.stats()["by_route"]["POST /api/gallery/{id}/image"] == 20
    report = workflow.read_json(f"runs/{run_id}/report.json")
    assert report["totals"]["requests"] == 40 and report["totals"]["errors"] == 0
    key = f"runs/{run_id}/inputs/files/0-test-image.jpg"
    assert workflow.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == image.read_bytes()
    sent = workflow.read_json(f"plans/{run_id}.json")
    part = sent["scenarios"][0]["flow"][0]["request"]["multipart"]["image"]
    assert part["path"] == f"s3://{BUCKET}/{key}" and part["filename"] == "test-image.jpg"
    assert sent["hooks"] == f"s3://{BUCKET}/runs/{run_id}/inputs/files/hooks-my_hooks.py"


def test_cli_cloud_run_refuses_files_it_cannot_read_before_starting(
    workflow: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    _stack(workflow)
    plan = files_plan(tmp_path, "http://127.0.0.1:9")
    args = ["run", str(plan), "--cloud", "--lead-seconds", "3", "--region", REGION]
    (tmp_path / "ecs-baseline.json").unlink()
    assert main(args) == 2
    missing = tmp_path / "ecs-baseline.json"
    assert capsys.readouterr().err == (
        f"surge: baseline file {missing}: cannot read it (No such file or directory)\n"
    )
    (tmp_path / "ecs-baseline.json").write_text('{"http.error_rate": 4}')
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"surge: baseline file {missing} has invalid figures:\n"
        '  - http.error_rate: 4 is not a fraction; write 0.004 or "0.4%" for 0.4 %\n'
    )
    (tmp_path / "users.csv").unlink()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "surge: the plan is invalid:\n"
        f"  - data.file: cannot read {tmp_path / 'users.csv'}: No such file or directory\n"
        "  - scenarios[0].flow[0].request.json: {{ user }} is not defined; define it in 'variables', as "
        "a data file column, or capture it in an earlier step of this scenario\n"
    )
    assert workflow.sfn.list_executions(stateMachineArn=workflow.machine_arn)["executions"] == []


def test_s3_files_in_a_local_run_are_a_plan_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from surge.cli import main

    plan = tmp_path / "plan.yaml"
    flow = [{"post": {"url": "/v1/events", "json": {"type": "{{ user }}"}}}]
    data = plan_for(
        "http://127.0.0.1:9",
        scenarios=[{"name": "ingest", "flow": flow}],
        data={"file": f"s3://{BUCKET}/plans/users.csv"},
        baseline={"file": f"s3://{BUCKET}/plans/ecs-baseline.json"},
    )
    plan.write_text(yaml.safe_dump(data))
    assert main(["run", str(plan), "--history", str(tmp_path / "h.sqlite")]) == 2
    assert capsys.readouterr().err == (
        "surge: the plan is invalid:\n"
        f"  - data.file: s3://{BUCKET}/plans/users.csv is read by cloud runs only; use a local file\n"
        f"  - baseline.file: s3://{BUCKET}/plans/ecs-baseline.json is read by cloud runs only; use a local file\n"
    )
    assert main(["validate", str(plan)]) == 2
    capsys.readouterr()
    assert main(["validate", str(plan), "--cloud"]) == 0
    assert (
        f"baseline: s3://{BUCKET}/plans/ecs-baseline.json (read by the cloud run" in capsys.readouterr().out
    )


def test_a_plan_in_s3_whose_data_file_is_missing_fails_with_its_uri(workflow: Harness) -> None:
    plan = plan_for("http://127.0.0.1:9", data={"file": "users.csv"})
    workflow.s3.put_object(
        Bucket=BUCKET, Key="plans/nightly/checkout.yaml", Body=yaml.safe_dump(plan).encode()
    )
    payload = {"plan_uri": f"s3://{BUCKET}/plans/nightly/checkout.yaml", "options": OPTIONS}
    arn = workflow.sfn.start_execution(
        stateMachineArn=workflow.machine_arn, name="no-data", input=json.dumps(payload)
    )["executionArn"]
    done = wait(workflow, arn)
    assert done["status"] == "FAILED"
    cause = (
        "Prepare failed: the plan is invalid:\n"
        f"  - data.file: cannot read s3://{BUCKET}/plans/nightly/users.csv: no such object"
    )
    assert cause in done["cause"]
    record = RunRecords(TABLE, workflow.dynamodb).get("no-data")
    assert record is not None and record["status"] == "ERROR" and record["cause"] == cause
    assert not workflow.calls_to("worker")


def test_setup_runs_in_prepare_and_teardown_in_report(workflow: Harness, demo_target: DemoTarget) -> None:
    seed = {
        "post": {"url": "/v1/events", "json": {"type": "seed"}, "capture": [{"json": "$.id", "as": "seedId"}]}
    }
    plan = plan_for(
        demo_target.url,
        setup=[seed],
        teardown=[{"post": {"url": "/v1/inbox/{{ seedId }}/ack", "name": "ack seed"}}],
        scenarios=[
            {"name": "read", "flow": [{"get": {"url": "/v1/inbox/{{ seedId }}", "name": "read seed"}}]}
        ],
        load={"phases": [{"duration": "2s", "rate": 20}]},
    )
    done = wait(workflow, start(workflow, "cloud-setup", plan))
    assert done["status"] == "SUCCEEDED", done
    by_route = demo_target.stats()["by_route"]
    assert by_route["POST /v1/events"] == 1 and by_route["POST /v1/inbox/{id}/ack"] == 1
    report = workflow.read_json("runs/cloud-setup/report.json")
    assert report["totals"]["requests"] == by_route["GET /v1/inbox/{id}"] == 40  # every worker read it
    assert [(f["name"], f["ok"]) for f in report["flows"]] == [("setup", True), ("teardown", True)]


def test_an_ab_cloud_run_sets_up_and_tears_down_each_target_and_its_workers_read_their_own(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    from surge.demo_target import DemoConfig, running_demo_target

    seed = {
        "post": {"url": "/v1/events", "json": {"type": "seed"}, "capture": [{"json": "$.id", "as": "seedId"}]}
    }
    read = {"get": {"url": "/v1/inbox/{{ seedId }}", "name": "read seed", "expect": [{"status": 200}]}}
    with running_demo_target(DemoConfig(latency_ms=1.0)) as other:
        plan = plan_for(
            "",
            targets={"a": demo_target.url, "b": other.url},
            setup=[seed],
            teardown=[{"post": {"url": "/v1/inbox/{{ seedId }}/ack", "name": "ack seed"}}],
            scenarios=[{"name": "read", "flow": [read]}],
            load={"phases": [{"duration": "2s", "rate": 20}]},
        )
        del plan["target"]
        done = wait(workflow, start(workflow, "cloud-ab-setup", plan))
        routes = {"a": demo_target.stats()["by_route"], "b": other.stats()["by_route"]}
    assert done["status"] == "SUCCEEDED", done
    report = workflow.read_json("runs/cloud-ab-setup/report.json")
    for name, by_route in routes.items():
        # One setup and one teardown per target; every read found its own target's seed (the other
        # target's id would answer 404, an expectation failure).
        assert by_route["POST /v1/events"] == 1 and by_route["POST /v1/inbox/{id}/ack"] == 1
        assert report["targets"][name]["totals"]["requests"] == by_route["GET /v1/inbox/{id}"] == 40
        assert report["targets"][name]["totals"]["errors"] == 0
    assert [(f["name"], f.get("target"), f["ok"]) for f in report["flows"]] == [
        ("setup", "a", True),
        ("setup", "b", True),
        ("teardown", "a", True),
        ("teardown", "b", True),
    ]


def test_a_failing_cloud_setup_fails_the_run_before_any_worker(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    plan = plan_for(demo_target.url, setup=[{"get": {"url": "/api/mocs/nope", "expect": [{"status": 200}]}}])
    done = wait(workflow, start(workflow, "cloud-setup-fails", plan))
    assert done["status"] == "FAILED"
    assert "setup failed at GET /api/mocs/nope: http_4xx x1 (status 404); no load was sent" in done["cause"]
    assert not workflow.calls_to("worker")


def test_an_ab_run_sends_each_target_its_load_in_shards_and_reports_them_side_by_side(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    from surge.demo_target import DemoConfig, running_demo_target

    with running_demo_target(DemoConfig(latency_ms=150.0, seed=3)) as slow:
        plan = plan_for(
            "",
            targets={"old": demo_target.url, "new": slow.url},
            load={"phases": [{"name": "steady", "duration": "4s", "rate": 100}]},
            thresholds=[
                "http.error_rate < 1%",
                'target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05',
            ],
        )
        del plan["target"]
        options = {**OPTIONS, "per_worker_rate": 60}
        done = wait(workflow, start(workflow, "real-ab", plan, options))
        counted = {"old": demo_target.stats()["requests"], "new": slow.stats()["requests"]}
    assert done["status"] == "FAILED" and done["error"] == "surge.ChecksFailed", done
    report = workflow.read_json("runs/real-ab/report.json")
    # 2 segments x 2 shards of the schedule (100/s over 60/s per worker), for each of the 2 targets:
    # 8 workers, each its target's.
    assert report["generator"]["workers"] == 8
    workers = workflow.calls_to("worker")
    assert len(workers) == 8 and {w.event["shard_count"] for w in workers} == {4}
    targets = report["targets"]
    assert list(targets) == ["old", "new"]
    # Every target got the whole schedule, and its figures are what it counted.
    assert targets["old"]["totals"]["requests"] == counted["old"] == 400
    assert targets["new"]["totals"]["requests"] == counted["new"] == 400
    assert report["totals"]["requests"] == 800
    assert targets["new"]["latency_ms"]["p50"] >= 150 > targets["old"]["latency_ms"]["p50"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks['target["old"].http.error_rate < 1%']["status"] == "pass"
    assert checks['target["new"].http.error_rate < 1%']["status"] == "pass"
    comparison = checks['target["new"].http.latency.p95 < target["old"].http.latency.p95 * 1.05']
    assert comparison["status"] == "fail"
    assert comparison["against"] == {'target["old"].http.latency.p95': targets["old"]["latency_ms"]["p95"]}
    assert comparison["measured"] == targets["new"]["latency_ms"]["p95"]
    assert 'validity: target["new"] every worker reported' in checks
