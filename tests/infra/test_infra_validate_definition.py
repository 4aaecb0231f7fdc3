"""`python -m infra.validate_definition`, the verify workflow's step before `cdk deploy`: the filled
definition goes to AWS's ValidateStateMachineDefinition and any diagnostic fails the step. moto has
no such API: botocore's Stubber stands for AWS, checking the request's shape against the API model."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.validate_definition import main, rendered_definition
from surge.cloud.definition_rules import check_definition

pytestmark = [pytest.mark.infra]


class FakeSession:
    def __init__(self, answer: dict[str, Any] | None, region: str | None = "eu-west-1") -> None:
        self.region_name = region
        self.sfn = boto3.client(
            "stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.sts = boto3.client(
            "sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stubs = [Stubber(self.sfn), Stubber(self.sts)]
        self.stubs[1].add_response(
            "get_caller_identity",
            {
                "Account": "123456789012",
                "Arn": "arn:aws:sts::123456789012:assumed-role/verify/gh",
                "UserId": "AROA",
            },
        )
        if answer is not None:
            self.stubs[0].add_response(
                "validate_state_machine_definition",
                answer,
                {"definition": ANY, "type": "STANDARD", "severity": "WARNING"},
            )
        for stub in self.stubs:
            stub.activate()

    def client(self, service: str, region_name: str | None = None) -> Any:
        return {"stepfunctions": self.sfn, "sts": self.sts}[service]


def test_the_filled_definition_has_no_placeholder_left_and_conforms() -> None:
    text = rendered_definition("123456789012", "eu-west-1")
    definition = json.loads(text)
    assert "${" not in text and check_definition(definition) == []
    assert "arn:aws:lambda:eu-west-1:123456789012:function:surge-validate-worker" in text


def test_ok_without_diagnostics_passes(capsys: pytest.CaptureFixture[str]) -> None:
    session = FakeSession({"result": "OK", "diagnostics": []})
    assert main([], session=session) == 0
    assert "OK" in capsys.readouterr().out
    for stub in session.stubs:
        stub.assert_no_pending_responses()


def test_any_diagnostic_fails_the_step_and_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    answer = {
        "result": "FAIL",
        "diagnostics": [
            {
                "severity": "ERROR",
                "code": "DUPLICATE_LABEL_NAME",
                "message": "A label name appears more than once.",
                "location": "/States/RunSegments/Branches/1/States/RunShardsOdd/Label",
            }
        ],
    }
    assert main([], session=FakeSession(answer)) == 1
    out = capsys.readouterr().out
    assert "ERROR DUPLICATE_LABEL_NAME at /States/RunSegments/Branches/1/States/RunShardsOdd/Label" in out


def test_a_warning_fails_it_too(capsys: pytest.CaptureFixture[str]) -> None:
    answer = {
        "result": "OK",
        "diagnostics": [
            {"severity": "WARNING", "code": "NO_DOLLAR", "message": "No .$", "location": "/States/X"}
        ],
    }
    assert main([], session=FakeSession(answer)) == 1


def test_aws_unreachable_is_exit_2_naming_why(capsys: pytest.CaptureFixture[str]) -> None:
    session = FakeSession(None)  # no answer stubbed: the call raises
    assert main([], session=session) == 2
    assert "could not ask AWS" in capsys.readouterr().err
