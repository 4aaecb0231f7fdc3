"""A local run that declares services: CloudWatch metrics (moto) for the run's window land in the
report, and their thresholds pass and fail as declared, next to the HTTP checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from surge.demo_target import DemoTarget
from tests.functional.test_service_metrics import PercentilesUnsupported

pytestmark = pytest.mark.slow
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        real = boto3.session.Session.client

        def client(self: Any, *args: Any, **kwargs: Any) -> Any:
            made = real(self, *args, **kwargs)
            service = args[0] if args else kwargs.get("service_name")
            return PercentilesUnsupported(made) if service == "cloudwatch" else made

        monkeypatch.setattr(boto3.session.Session, "client", client)
        yield


def put_lambda_metrics(when: float) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION).client  # the moto client under the wrapper
    dims = [{"Name": "FunctionName", "Value": "orders"}]
    at = datetime.fromtimestamp(when, UTC)
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 40, "Unit": "Count"},
            {"MetricName": "Errors", "Dimensions": dims, "Timestamp": at, "Value": 0, "Unit": "Count"},
            {
                "MetricName": "ConcurrentExecutions",
                "Dimensions": dims,
                "Timestamp": at,
                "Value": 12,
                "Unit": "Count",
            },
        ],
    )


def test_service_thresholds_pass_and_fail_in_a_local_run(
    aws: None, demo_target: DemoTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    plan = {
        "name": "with-services",
        "target": demo_target.url,
        "load": {"phases": [{"duration": "2s", "rate": 20}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "workers": 1,
        "services": [{"type": "lambda", "name": "orders", "function_name": "orders", "cold_starts": False}],
        "thresholds": [
            "http.error_rate < 1%",
            'lambda["orders"].errors.sum == 0',
            'lambda["orders"].concurrent_executions.max < 10',
            'lambda["orders"].duration.p95 < 500ms',
        ],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    put_lambda_metrics(time.time() + 1)  # inside the run's window
    code = main(
        [
            "run",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--metrics-delay",
            "0",
            "--history",
            str(tmp_path / "h.sqlite"),
        ]
    )
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    status = {c["name"]: (c["status"], c["measured"]) for c in report["checks"]}
    assert status["http.error_rate < 1%"][0] == "pass"
    assert status['lambda["orders"].errors.sum == 0'] == ("pass", 0)
    assert status['lambda["orders"].concurrent_executions.max < 10'] == ("fail", 12)
    assert status['lambda["orders"].duration.p95 < 500ms'][0] == "no-data"  # moto has no percentiles
    assert "orders" in json.dumps(report["service_metrics"])
    assert (tmp_path / "out" / "metrics.json").exists()
    assert "Service metrics" in (tmp_path / "out" / "report.md").read_text()


def test_without_credentials_the_run_says_so_before_the_load_and_waits_for_nothing(
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surge.cli import main

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    plan = {
        "name": "no-credentials",
        "target": demo_target.url,
        "load": {"phases": [{"duration": "1s", "rate": 10}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "workers": 1,
        "services": [{"type": "lambda", "name": "orders", "function_name": "orders"}],
        "thresholds": ["http.error_rate < 1%", 'lambda["orders"].errors.sum == 0'],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert main(["validate", str(path)]) == 0
    said = capsys.readouterr()
    assert "but no AWS credentials found" in said.err
    started = time.monotonic()
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--history", str(tmp_path / "h.sqlite")])
    out = capsys.readouterr()
    # The HTTP checks pass; the service's has no data, and a check without data cannot pass.
    assert code == 1, out.out + out.err
    assert out.err.index("but no AWS credentials found") < out.err.index("running 'no-credentials'")
    assert "waiting" not in out.err and time.monotonic() - started < 60  # not the 90 s CloudWatch delay
    assert "1 check(s) have no data: not collected: no AWS credentials found" in out.out
    assert "1 check(s) had no data, and a check without data cannot pass" in out.out
    assert "no clear cause" not in out.out and "Declare" not in out.out
