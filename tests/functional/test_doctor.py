"""`surge doctor --cloud` against a stack in moto: the real state machine definition (deployed by
the harness), the stack's outputs, the account's Lambda settings. moto cannot simulate IAM
policies, so that check reports it could not be made; a stub shows its verdicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from surge import __version__
from surge.cloud.client import StackInfo
from surge.cloud.doctor import _concurrency, _permissions, state_shape
from tests.sfn_harness import BUCKET, REGION, TABLE, Harness, sfn_workflow

pytestmark = pytest.mark.slow


def stack(h: Harness, version: str = __version__, **extra: str) -> None:
    outputs = {
        "BucketName": {"Value": BUCKET},
        "TableName": {"Value": TABLE},
        "StateMachineArn": {"Value": h.machine_arn},
        "Region": {"Value": REGION},
        "SurgeVersion": {"Value": version},
        **{key: {"Value": value} for key, value in extra.items()},
    }
    template = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="Surge", TemplateBody=json.dumps(template)
    )


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with sfn_workflow(monkeypatch) as harness:
        yield harness


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from surge.cli import main

    code = main(["doctor", "--cloud", "--region", REGION])
    return code, capsys.readouterr().out


def test_a_matching_stack_passes_and_what_cannot_be_checked_says_so(
    workflow: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    stack(workflow)
    code, out = doctor(capsys)
    assert code == 0, out
    assert "ok   stack: Surge in us-east-1" in out
    assert f"ok   version: surge {__version__} on both sides" in out
    assert "ok   definition:" in out and "states, as in this CLI's template" in out
    assert "concurrency:" in out and "FAIL concurrency" not in out  # moto's Lambda: see the stub test
    assert "??   permissions: could not simulate" in out  # moto has no policy simulator


def test_an_old_stack_is_named_with_the_fix(workflow: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    stack(workflow, version="0.0.9")
    code, out = doctor(capsys)
    assert code == 2
    assert f"FAIL version: the stack runs surge 0.0.9, this CLI is {__version__}" in out
    assert "-> redeploy from this checkout: `npx cdk deploy`" in out


def test_no_stack_says_to_deploy(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with sfn_workflow(monkeypatch):
        code, out = doctor(capsys)
    assert code == 2 and "FAIL stack:" in out and "npx cdk deploy" in out


def test_a_deployed_definition_that_differs_is_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with sfn_workflow(
        monkeypatch, edit_definition=lambda d: d.replace('"CheckAbortEven"', '"CheckAbortOld"')
    ) as h:
        stack(h)
        code, out = doctor(capsys)
    assert code == 2 and "FAIL definition: the deployed workflow differs" in out and "CheckAbort" in out


def test_state_shape_sees_nested_states() -> None:
    definition = {"States": {"M": {"Type": "Map", "ItemProcessor": {"States": {"W": {"Type": "Task"}}}}}}
    assert state_shape(definition) == [("M", "Map"), ("M/W", "Task")]


class FakeIam:
    def __init__(self, denied: set[str]) -> None:
        self.denied = denied

    def get_role(self, RoleName: str) -> Any:
        return {"Role": {"Arn": f"arn:aws:iam::123456789012:role/ci/{RoleName}"}}

    def simulate_principal_policy(
        self, PolicySourceArn: str, ActionNames: list[str], ResourceArns: list[str]
    ) -> Any:
        assert PolicySourceArn == "arn:aws:iam::123456789012:role/ci/deployer"
        decision = "implicitDeny" if ActionNames[0] in self.denied else "allowed"
        return {"EvaluationResults": [{"EvalDecision": decision}]}


class FakeLambda:
    def __init__(self, unreserved: int) -> None:
        self.unreserved = unreserved

    def get_account_settings(self) -> Any:
        return {
            "AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": self.unreserved}
        }


def test_the_accounts_concurrency_is_read_as_runs_would_use_it() -> None:
    info = StackInfo(BUCKET, TABLE, "arn:aws:states:eu-west-1:123456789012:stateMachine:surge", "eu-west-1")
    roomy = _concurrency(FakeLambda(404), info)
    assert (
        roomy.ok is True and "404 unreserved of 1000: runs of up to 200 workers per segment" in roomy.detail
    )
    assert _concurrency(FakeLambda(3), info).ok is False
    reserved = _concurrency(
        FakeLambda(50), StackInfo(BUCKET, TABLE, info.state_machine_arn, "eu-west-1", 300)
    )
    assert reserved.ok is True and "300 reserved for the workers" in reserved.detail


def test_the_callers_permissions_are_simulated_for_what_surge_calls() -> None:
    info = StackInfo(BUCKET, TABLE, "arn:aws:states:eu-west-1:123456789012:stateMachine:surge", "eu-west-1")
    caller = "arn:aws:sts::123456789012:assumed-role/deployer/gha"
    ok = _permissions({"iam": FakeIam(set())}, info, caller)
    assert ok.ok is True
    denied = _permissions({"iam": FakeIam({"states:StopExecution"})}, info, caller)
    assert denied.ok is False and "may not: states:StopExecution" in denied.detail


def test_a_plan_is_checked_against_the_accounts_quotas_and_the_deployments_hosts(
    workflow: Harness, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """`surge doctor --cloud --plan P`: what a run of P needs (two overlapping segments' workers and
    the workflow's functions; Lambda's 1,000-per-10-s scaling within the lead; the history quota)
    against what the account has (moto's Lambda: 1,000 executions), and the deployment's hosts."""
    import yaml

    from surge.cli import main

    stack(workflow, AllowedTargets="api.example.com", HooksAllowed="false")
    plan = {
        "name": "big",
        "target": "https://api.example.com",
        "load": {"phases": [{"duration": "20m", "rate": 100}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
        "limits": {"max_workers": 1000},
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(plan))
    code = main(["doctor", "--cloud", "--region", REGION, "--plan", str(path), "--workers", "600"])
    out = capsys.readouterr().out
    assert "ok   plan: big: 2 segment(s), up to 600 workers each; at its peak 1200 workers" in out
    assert "ok   plan scaling: Lambda starts at most 1000 workers per 10 s: 600 in about 10 s" in out
    assert "ok   plan history:" in out
    assert "ok   plan targets: api.example.com allowed by the deployment" in out
    assert "??   plan concurrency: could not read" in out  # moto has no GetAccountSettings: below

    plan["target"] = "https://elsewhere.example.net"
    path.write_text(yaml.safe_dump(plan))
    code = main(["doctor", "--cloud", "--region", REGION, "--plan", str(path), "--lead-seconds", "5"])
    out = capsys.readouterr().out
    assert code == 2
    assert "FAIL plan targets: target: elsewhere.example.net is not among the hosts" in out


def test_a_plans_concurrency_against_an_accounts_quota() -> None:
    from botocore.stub import Stubber

    from surge.cloud.doctor import plan_findings
    from surge.cloud.execution_input import RunOptions
    from surge.plan_load import plan_model

    def account(total: int, unreserved: int) -> Any:
        client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(client)
        limit = {"ConcurrentExecutions": total, "UnreservedConcurrentExecutions": unreserved}
        stub.add_response("get_account_settings", {"AccountLimit": limit})
        stub.activate()
        return client

    plan = plan_model(
        {
            "name": "big",
            "target": "https://api.example.com",
            "load": {"phases": [{"duration": "20m", "rate": 100}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "limits": {"max_workers": 1000},
        }
    )
    info = StackInfo(BUCKET, TABLE, "arn:aws:states:us-east-1:1:stateMachine:Surge-workflow", REGION)
    options = RunOptions(min_workers=600)
    found = {f.check: f for f in plan_findings(plan, options, info, account(1000, 1000))}
    assert found["plan concurrency"].ok is False
    assert found["plan concurrency"].detail == (
        "needs 1228 concurrent Lambda executions; the account has 1000 unreserved of 1000"
    )
    assert "at least 1328" in str(found["plan concurrency"].fix)
    # A new account (10 executions) runs the plan at its own size (one worker a segment), not 600.
    small = {f.check: f for f in plan_findings(plan, RunOptions(), info, account(10, 10))}
    assert small["plan concurrency"].ok is True
    assert small["plan concurrency"].detail.startswith("needs 6 concurrent")
    assert {f.check: f for f in plan_findings(plan, options, info, account(10, 10))}[
        "plan concurrency"
    ].ok is False
    assert {f.check: f for f in plan_findings(plan, options, info, account(3000, 3000))}[
        "plan concurrency"
    ].ok
    info_reserved = StackInfo(BUCKET, TABLE, info.state_machine_arn, REGION, worker_reserved=1200)
    reserved = {f.check: f for f in plan_findings(plan, options, info_reserved, account(3000, 1800))}
    assert reserved["plan concurrency"].ok is True
