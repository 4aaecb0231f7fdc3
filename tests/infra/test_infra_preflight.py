"""The worker's reserved concurrency, checked against the account before a deploy (infra/preflight.py):
Lambda keeps at least 100 executions unreserved and refuses a reservation past that, which would
roll the deploy back halfway. moto answers GetAccountSettings; Stubber stands for an account with
other figures."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.preflight import check_reserved_concurrency, current_reservation, reserved_concurrency_problem

pytestmark = [pytest.mark.infra]


def lambda_with(total: int, unreserved: int) -> Any:
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": total, "UnreservedConcurrentExecutions": unreserved}},
    )
    stub.activate()
    return client


def test_a_reservation_leaving_100_unreserved_fits() -> None:
    assert reserved_concurrency_problem(900, lambda_client=lambda_with(1000, 1000)) is None


def test_one_more_is_refused_with_the_figures_and_what_to_do() -> None:
    problem = reserved_concurrency_problem(901, lambda_client=lambda_with(1000, 1000))
    assert problem is not None
    assert "leave 99 of the account's 1000" in problem and "at most 900" in problem and "quota" in problem


def test_a_new_account_with_10_executions_can_reserve_none() -> None:
    problem = reserved_concurrency_problem(5, lambda_client=lambda_with(10, 10))
    assert problem is not None and "at most 0" in problem


def test_a_redeploy_counts_the_stacks_own_reservation_as_given_back() -> None:
    # The stack reserves 300 now, so the account shows 700 unreserved: 900 still fits.
    assert reserved_concurrency_problem(900, lambda_client=lambda_with(1000, 700), current=300) is None
    assert reserved_concurrency_problem(901, lambda_client=lambda_with(1000, 700), current=300)


def test_the_current_reservation_is_read_from_the_deployed_stack() -> None:
    cfn = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(cfn)
    stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "Surge",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Outputs": [{"OutputKey": "WorkerReservedConcurrency", "OutputValue": "300"}],
                }
            ]
        },
    )
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id Nope does not exist")
    stub.activate()
    assert current_reservation(cfn, "Surge") == 300
    assert current_reservation(cfn, "Nope") == 0


def test_the_synth_fails_on_an_impossible_reservation_and_only_warns_when_it_cannot_ask(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Session:
        def __init__(self, lambda_client: Any) -> None:
            self.lambda_client = lambda_client

        def client(self, service: str) -> Any:
            if service == "cloudformation":
                raise RuntimeError("no stack lookups here")
            return self.lambda_client

    class Cfnless(Session):
        def client(self, service: str) -> Any:
            if service == "cloudformation":
                cfn = boto3.client(
                    "cloudformation",
                    region_name="eu-west-1",
                    aws_access_key_id="x",
                    aws_secret_access_key="x",
                )
                stub = Stubber(cfn)
                stub.add_client_error("describe_stacks", "ValidationError", "no stack")
                stub.activate()
                return cfn
            return self.lambda_client

    with pytest.raises(ValueError, match="at most 900"):
        check_reserved_concurrency(950, "Surge", session=Cfnless(lambda_with(1000, 1000)))
    check_reserved_concurrency(None, "Surge", session=None)  # nothing asked, nothing checked
    check_reserved_concurrency(50, "Surge", session=Session(None))  # cannot ask: a warning
    assert "not checked against the account" in capsys.readouterr().err
