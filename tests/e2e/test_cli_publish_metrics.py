"""`surge run --publish-metrics`: a local run's headline metrics reach CloudWatch (moto) under the
names and dimensions cloud runs write as EMF, and missing credentials or region stop the run before
any traffic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from surge.demo_target import DemoTarget

REGION = "eu-west-1"


def write_plan(tmp_path: Path, target: str) -> Path:
    plan = {
        "name": "published",
        "target": target,
        "load": {"phases": [{"duration": "1s", "rate": 20}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "workers": 1,
        "thresholds": ["http.error_rate < 1%"],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials or region from this machine's environment, files or instance metadata."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def run(path: Path, tmp_path: Path, *extra: str) -> int:
    from surge.cli import main

    return main(
        ["run", str(path), "--out", str(tmp_path / "out"), "--history", str(tmp_path / "h.sqlite"), *extra]
    )


@pytest.mark.slow
def test_a_local_run_publishes_its_headline_metrics(
    aws: None, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(write_plan(tmp_path, demo_target.url), tmp_path, "--publish-metrics", "--region", REGION)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "datapoints published to CloudWatch" in out.out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    cw = boto3.client("cloudwatch", region_name=REGION)
    metrics = cw.list_metrics(Namespace="Surge")["Metrics"]
    dims = {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics}
    assert dims == {(("service", "surge"),), (("plan", "published"), ("service", "surge"))}
    names = {m["MetricName"] for m in metrics}
    assert {"Requests", "Errors", "ErrorRate", "ThroughputRps", "LatencyP95Ms", "ChecksFailed"} <= names
    now = datetime.now(UTC)
    stats = cw.get_metric_statistics(
        Namespace="Surge",
        MetricName="Requests",
        Dimensions=[{"Name": "service", "Value": "surge"}, {"Name": "plan", "Value": "published"}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(d["Sum"] for d in stats) == report["totals"]["requests"] > 0


def test_publishing_without_credentials_stops_before_any_traffic(
    no_aws_config: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The target is never contacted: nothing listens there, and the run must not get that far.
    code = run(write_plan(tmp_path, "http://127.0.0.1:9"), tmp_path, "--publish-metrics", "--region", REGION)
    err = capsys.readouterr().err
    assert code == 2
    assert "--publish-metrics: no AWS credentials found" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_publishing_without_a_region_stops_before_any_traffic(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(write_plan(tmp_path, "http://127.0.0.1:9"), tmp_path, "--publish-metrics")
    err = capsys.readouterr().err
    assert code == 2
    assert "--publish-metrics: no AWS region set: pass --region or set AWS_REGION" in err
    assert not (tmp_path / "out").exists()


def test_a_failed_publish_warns_and_keeps_the_verdict(
    aws: None,
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import surge.metrics.publish as publish

    def refuse(*_: object, **__: object) -> int:
        raise RuntimeError("AccessDenied: cloudwatch:PutMetricData")

    monkeypatch.setattr(publish, "publish_run_metrics", refuse)
    code = run(write_plan(tmp_path, demo_target.url), tmp_path, "--publish-metrics", "--region", REGION)
    out = capsys.readouterr()
    assert code == 0
    assert "warning: the run's metrics were not published to CloudWatch: AccessDenied" in out.err
    assert (tmp_path / "out" / "report.json").exists()
