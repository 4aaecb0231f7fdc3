"""Checks against the account before CloudFormation starts, for settings a deploy would otherwise
fail on halfway: run by app.py at synth when credentials are at hand (`cdk deploy` has them).

Lambda refuses a reserved concurrency that leaves the account fewer than 100 unreserved executions
("Lambda function scaling", reserved concurrency: "Lambda requires at least 100 unreserved"), and
the stack's update then rolls back. Checked here first, with the figures and what to do.
"""

from __future__ import annotations

import sys
from typing import Any

MIN_UNRESERVED = 100


def reserved_concurrency_problem(reserved: int, *, lambda_client: Any, current: int = 0) -> str | None:
    """Why reserving ``reserved`` executions for the worker would fail; None when it fits.
    ``current``: what the deployed stack reserves for it now (given back by the update)."""
    settings = lambda_client.get_account_settings()["AccountLimit"]
    unreserved = int(settings["UnreservedConcurrentExecutions"]) + current
    most = unreserved - MIN_UNRESERVED
    if reserved <= most:
        return None
    return (
        f"surge:workerReservedConcurrency={reserved} would leave {unreserved - reserved} of the account's "
        f"{settings['ConcurrentExecutions']} Lambda executions unreserved; Lambda keeps at least "
        f"{MIN_UNRESERVED}, so at most {max(most, 0)} can be reserved here: lower the setting, or request "
        "a higher 'Concurrent executions' quota (Service Quotas, AWS Lambda) first"
    )


def current_reservation(cfn: Any, stack_name: str) -> int:
    """What the deployed stack reserves for its worker now (its output), 0 when none or no stack."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception:  # no stack yet
        return 0
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    value = outputs.get("WorkerReservedConcurrency", "")
    return int(value) if value.isdigit() else 0


def check_reserved_concurrency(reserved: int | None, stack_name: str, session: Any = None) -> None:
    """Raise ValueError when the reservation cannot be deployed; warn when it cannot be checked."""
    if reserved is None:
        return
    try:
        if session is None:
            import boto3

            session = boto3.session.Session()
        current = current_reservation(session.client("cloudformation"), stack_name)
        problem = reserved_concurrency_problem(
            reserved, lambda_client=session.client("lambda"), current=current
        )
    except Exception as exc:  # no credentials or region: a synth for tests, or offline
        print(
            f"surge: surge:workerReservedConcurrency={reserved} not checked against the account "
            f"({type(exc).__name__}); `surge doctor --cloud` checks it after the deploy",
            file=sys.stderr,
        )
        return
    if problem is not None:
        raise ValueError(problem)
