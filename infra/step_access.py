"""What the worker may call for a plan's `aws:` steps: IAM statements from the ARNs the deployer
names in context `surge:stepResources`. Pure (no constructs), so the mapping is tested alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The actions each step kind needs (surge/engine/aws/steps.py), by the ARN's service.
ACTIONS: dict[str, tuple[str, ...]] = {
    "lambda": ("lambda:InvokeFunction",),
    "sqs": ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"),
    "kinesis": ("kinesis:PutRecord", "kinesis:PutRecords"),
    "dynamodb": ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"),
    "s3": ("s3:PutObject", "s3:GetObject"),
    "states": ("states:StartExecution", "states:DescribeExecution"),
    "athena": ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"),
}


@dataclass(frozen=True)
class StepGrant:
    service: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    has_wildcard: bool


def step_grants(arns: Sequence[str]) -> list[StepGrant]:
    """One grant per service; resources widened only where the call needs it (objects in a bucket,
    a table's indexes, a state machine's executions)."""
    by_service: dict[str, list[str]] = {}
    for arn in arns:
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            raise ValueError(f"surge:stepResources: '{arn}' is not an ARN")
        service = parts[2]
        if service not in ACTIONS:
            raise ValueError(
                f"surge:stepResources: '{arn}' is a {service} resource; aws: steps call only "
                + ", ".join(sorted(ACTIONS))
            )
        resources = by_service.setdefault(service, [])
        resources.append(arn)
        if service == "s3" and "/" not in parts[5]:
            resources.append(f"{arn}/*")
        elif service == "dynamodb":
            resources.append(f"{arn}/index/*")
        elif service == "states" and ":stateMachine:" in arn:
            resources.append(arn.replace(":stateMachine:", ":execution:") + ":*")
    return [
        StepGrant(service, ACTIONS[service], tuple(res), any("*" in r for r in res))
        for service, res in sorted(by_service.items())
    ]
