"""What .github/workflows/verify-in-aws.yml runs in a user's account, run here through the real
state machine (moto and the AWS-semantics harness), with the workflow's own commands and the
shipped smoke plan: the smoke run passes (exit 0) on two workers, the crash drill fails (exit 1)
naming the lost shard, both runs are listed and their reports download. Every AWS call the CLI makes
is recorded and must be allowed by the role the docs give the job (examples/verify/verify-role.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from surge.demo_target import DemoTarget
from tests.functional.test_workflow_real import _stack
from tests.infra.iam_eval import Statement, allowed
from tests.sfn_harness import REGION, Harness, sfn_workflow

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "examples" / "verify" / "smoke.yaml"
ROLE = ROOT / "examples" / "verify" / "verify-role.json"


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch) as harness:
        yield harness


class CallRecorder:
    """Every AWS API call made through boto3 sessions the CLI creates: (IAM prefix, operation)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, model: Any, params: Any, **_: Any) -> None:
        service = model.service_model
        # IAM's prefix where it differs from the API's signing name.
        prefix = {"stepfunctions": "states", "monitoring": "cloudwatch"}.get(
            service.signing_name, service.signing_name
        )
        self.calls.append((prefix, model.name, dict(params)))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    record = CallRecorder()
    real = boto3.session.Session

    class RecordingSession(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register("before-parameter-build", record)  # the API call's own parameters

    monkeypatch.setattr(boto3.session, "Session", RecordingSession)
    return record


def _smoke_copy(tmp_path: Path) -> Path:
    """The shipped smoke plan, 4 s instead of 60 s; and, as every harness plan, lenient on the
    generator: here workers are threads of the test process beside moto."""
    plan = yaml.safe_load(SMOKE.read_text())
    plan["load"]["phases"][0]["duration"] = "4s"
    plan["validity"] = {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"}
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_the_verify_workflow_passes_its_smoke_run_and_its_crash_drill_fails_as_it_should(
    workflow: Harness,
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    recorder: CallRecorder,
) -> None:
    from surge.cli import main

    _stack(workflow)
    smoke = _smoke_copy(tmp_path)
    common = ["--target", demo_target.url, "--region", REGION, "--lead-seconds", "3"]

    assert main(["run", str(smoke), "--cloud", "--wait", *common]) == 0, capsys.readouterr()
    out = capsys.readouterr()
    first = out.err.split("started cloud run ")[1].split()[0]
    items = workflow.read_json(f"runs/{first}/seg-0/items.json")
    assert len(items) == 2, "the smoke plan runs two workers (workers: 2)"
    assert demo_target.stats()["requests"] == 160  # 4 s at 40/s, every one in the report

    code = main(["run", str(smoke), "--cloud", "--wait", "--drill-crash-shard", "1", *common])
    out = capsys.readouterr()
    assert code == 1, out
    assert "validity: every worker reported" in out.out and "shard 1" in out.out

    assert main(["runs", "--cloud", "--limit", "2", "--region", REGION]) == 0
    listing = capsys.readouterr().out
    runs = [line.split()[0] for line in listing.splitlines()[1:] if line.strip()]
    assert len(runs) == 2 and first in runs, listing
    for run in runs:
        dest = tmp_path / "reports" / run
        assert main(["report", run, "--cloud", "--out", str(dest), "--region", REGION]) == 0
        assert (dest / "report.html").stat().st_size > 1000

    # The job's role allows every call the CLI made.
    assert recorder.calls and _refused(recorder) == []


def _refused(recorder: CallRecorder) -> list[str]:
    statements = _role_statements()
    return sorted(
        {
            f"{action} on {resource}"
            for prefix, operation, params in recorder.calls
            for action, resource in [_iam_request(prefix, operation, params)]
            if not allowed(statements, action, resource)
        }
    )


# What an API call is to IAM where the action is not the operation's name.
_ACTION_OF = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
DEPLOYED = {  # the names CloudFormation gives the stack's resources (stack "Surge")
    "bucket": "surge-storageresultsbucket1234-abcdefgh",
    "table": "Surge-StorageRunsTable1234-ABCDEFGH",
    "machine": "Surge-workflow",
}
ACCOUNT = "123456789012"


def _iam_request(prefix: str, operation: str, params: dict[str, Any]) -> tuple[str, str]:
    action = _ACTION_OF.get((prefix, operation), f"{prefix}:{operation}")
    arn = f"arn:aws:{prefix}:{REGION}:{ACCOUNT}"
    resource = {
        "s3": f"arn:aws:s3:::{DEPLOYED['bucket']}/runs/x/report.html",
        "dynamodb": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{DEPLOYED['table']}",
        "states": f"{arn}:execution:{DEPLOYED['machine']}:run-1",
        "cloudformation": f"{arn}:stack/Surge/abc",
        "lambda": "*",
        "cloudwatch": "*",  # metric reads name no resource
    }[prefix]
    if action == "s3:ListBucket":
        resource = f"arn:aws:s3:::{DEPLOYED['bucket']}"
    if action == "dynamodb:Query" and params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    if action == "states:StartExecution":
        resource = f"{arn}:stateMachine:{DEPLOYED['machine']}"
    return action, resource


def _role_statements() -> list[Statement]:
    """The role's policies with the template's parameters filled for stack Surge in this account."""
    template = json.loads(ROLE.read_text())
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    values = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    values |= {name: str(p["Default"]) for name, p in template["Parameters"].items() if "Default" in p}

    def sub(value: Any) -> str:
        if isinstance(value, dict) and "Fn::Sub" in value:
            text = str(value["Fn::Sub"])
            for key, filled in values.items():
                text = text.replace("${" + key + "}", filled)
            return text
        return str(value)

    statements = []
    for policy in role["Properties"]["Policies"]:
        for raw in policy["PolicyDocument"]["Statement"]:
            actions = raw["Action"] if isinstance(raw["Action"], list) else [raw["Action"]]
            resources = raw["Resource"] if isinstance(raw["Resource"], list) else [raw["Resource"]]
            statements.append(
                Statement(tuple(actions), tuple(sub(r) for r in resources), raw.get("Condition", {}))
            )
    return statements


def test_the_scale_drill_checks_read_a_real_run(
    workflow: Harness,
    demo_target: DemoTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    recorder: CallRecorder,
) -> None:
    """The optional scale drill (examples/verify/scale.yaml with --workers N), small here: its
    checks (python -m infra.verify_scale) read the run's start markers, report, execution history
    and the worker's throttles, and hold; and they refuse a run missing a worker."""
    from infra.verify_scale import main as verify_scale
    from surge.cli import main

    _stack(workflow)
    plan = yaml.safe_load((ROOT / "examples" / "verify" / "scale.yaml").read_text())
    plan["load"]["phases"][0]["duration"] = "3s"
    plan["validity"] = {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"}
    path = tmp_path / "scale.yaml"
    path.write_text(yaml.safe_dump(plan))
    argv = ["run", str(path), "--cloud", "--wait", "--workers", "6", "--target", demo_target.url]
    assert main([*argv, "--region", REGION, "--lead-seconds", "2"]) == 0, capsys.readouterr()
    run = capsys.readouterr().err.split("started cloud run ")[1].split()[0]

    assert verify_scale([run, "--workers", "6", "--region", REGION]) == 0
    out = capsys.readouterr().out
    assert "workers 6 (0 without a result)" in out and "0 late" in out and "Report" in out
    assert verify_scale([run, "--workers", "7", "--region", REGION]) == 1
    assert "6 workers ran, 7 asked" in capsys.readouterr().out
    assert verify_scale(["no-such-run", "--workers", "6", "--region", REGION]) == 2
    assert ("cloudwatch", "GetMetricStatistics") in {(p, o) for p, o, _ in recorder.calls}
    assert _refused(recorder) == []  # the job's role allows the drill's reads too
