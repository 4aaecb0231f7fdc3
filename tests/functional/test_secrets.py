"""Secrets by reference, end to end: `surge secret put`, then a plan that reads `{{ $secret.NAME }}`
and `{{ $ssm.NAME }}`, run locally (read with the user's credentials) and in the cloud (read by each
worker) — the target receives the values; no file the run writes holds them. moto stands in for
Secrets Manager and Parameter Store."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from surge.demo_target import DemoTarget
from tests.helpers import inbox_event_types
from tests.sfn_harness import BUCKET, REGION, Harness, sfn_workflow

pytestmark = pytest.mark.slow

TOKEN = "tok-secret-8812"
PARAM = "param-secret-7703"


def plan_for(target: str) -> dict[str, Any]:
    return {
        "name": "secrets",
        "target": target,
        "load": {"phases": [{"duration": "1s", "rate": 10}]},
        "workers": 1,
        "defaults": {"timeout": "1s"},
        "scenarios": [
            {
                "name": "ingest",
                "flow": [
                    {
                        "post": {
                            "url": "/v1/events",
                            "headers": {"Authorization": "Bearer {{ $secret.checkout/api-token }}"},
                            "json": {
                                "type": "{{ $secret.checkout/api-token }}-{{ $ssm.checkout/region-key }}"
                            },
                            "expect": [{"status": 202}],
                        }
                    }
                ],
            }
        ],
        "thresholds": ["http.error_rate < 1%"],
        "validity": {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"},
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def store(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user does once: `surge secret put` from stdin and from an environment variable."""
    from surge.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    assert main(["secret", "put", "checkout/api-token", "--region", REGION]) == 0
    monkeypatch.setenv("REGION_KEY", PARAM)
    assert (
        main(
            ["secret", "put", "checkout/region-key", "--ssm", "--from-env", "REGION_KEY", "--region", REGION]
        )
        == 0
    )


def test_a_local_run_reads_secrets_before_the_load_and_writes_none(
    aws: None,
    demo_target: DemoTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from surge.cli import main

    store(monkeypatch)
    assert (
        boto3.client("secretsmanager").get_secret_value(SecretId="surge/checkout/api-token")["SecretString"]
        == TOKEN
    )
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan_for(demo_target.url)))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(path)]) == 0  # validate reads nothing: the reference stands
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--region", REGION])
    out = capsys.readouterr()
    assert code == 0, out
    assert inbox_event_types(demo_target.url) == {f"{TOKEN}-{PARAM}": 10}
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN.encode() not in written and PARAM.encode() not in written
    assert TOKEN not in out.out + out.err

    # A reference to a secret nobody stored: exit 2 before any traffic, saying how to store it.
    before = demo_target.stats()["requests"]
    missing = plan_for(demo_target.url)
    missing["scenarios"][0]["flow"][0]["post"]["headers"] = {"X-Key": "{{ $secret.nope }}"}
    path.write_text(yaml.safe_dump(missing))
    assert main(["run", str(path), "--out", str(tmp_path / "out2"), "--region", REGION]) == 2
    err = capsys.readouterr().err
    assert "{{ $secret.nope }}: surge/nope does not exist; store it with `surge secret put nope`" in err
    assert demo_target.stats()["requests"] == before


def test_a_cloud_plan_that_reads_the_environment_is_refused_with_the_way_out(tmp_path: Path) -> None:
    from surge.errors import PlanError
    from surge.plan_load import load_plan

    path = tmp_path / "plan.yaml"
    plan = plan_for("http://127.0.0.1:1")
    plan["scenarios"][0]["flow"][0]["post"]["headers"] = {"Authorization": "Bearer {{ $env.API_TOKEN }}"}
    path.write_text(yaml.safe_dump(plan))
    load_plan(path, environ={"API_TOKEN": "x"})  # fine locally
    with pytest.raises(PlanError) as info:
        load_plan(path, environ={"API_TOKEN": "x"}, cloud=True)
    assert (
        "{{ $env.API_TOKEN }}: a cloud worker does not have this machine's environment; store the value "
        "with `surge secret put API_TOKEN` (value from stdin) and write {{ $secret.API_TOKEN }} instead"
    ) in str(info.value)


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch) as harness:
        yield harness


def test_cloud_workers_read_the_secrets_and_no_result_holds_them(
    workflow: Harness, demo_target: DemoTarget
) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="surge/checkout/api-token", SecretString=TOKEN
    )
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/surge/checkout/region-key", Value=PARAM, Type="SecureString"
    )
    options = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}
    done = workflow.wait(workflow.start("cloud-secrets", plan_for(demo_target.url), options), 60)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert inbox_event_types(demo_target.url) == {f"{TOKEN}-{PARAM}": 10}
    s3 = workflow.s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/cloud-secrets/")["Contents"]]
    stored = b"".join(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys)
    assert TOKEN.encode() not in stored and PARAM.encode() not in stored
    assert TOKEN not in json.dumps(workflow.run_record("cloud-secrets"), default=str)


def test_prepare_refuses_a_secret_that_does_not_exist(workflow: Harness, demo_target: DemoTarget) -> None:
    options = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}
    done = workflow.wait(workflow.start("cloud-no-secret", plan_for(demo_target.url), options), 60)
    assert done["status"] == "FAILED"
    assert "{{ $secret.checkout/api-token }}: secret surge/checkout/api-token does not exist" in done["cause"]
    assert demo_target.stats()["requests"] == 0 and not workflow.calls_to("worker")
