"""cdk-nag acknowledgements, each with its reason, next to the resource it concerns.

cdk-nag 3 reads CDK's native ``Validations.of(scope).acknowledge(...)``: an acknowledgement on a
construct covers its children, and rules with several findings (IAM5 wildcards) need one
acknowledgement per finding, ``RuleId[Finding]``. Findings name resources by logical id
(``Resource::<ResultsBucket1234.Arn>/runs/*``); :func:`acknowledge_wildcards` derives them from
the statement itself, so an acknowledgement follows its resource when a logical id changes.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk.aws_iam import PolicyStatement
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge ``rule`` (or only the given findings of it) on ``scope`` and its children."""
    if len(reason.strip()) < 20:
        raise ValueError(f"{rule}: give a real reason for acknowledging it")
    ids = [f"{rule}[{finding}]" for finding in findings] if findings else [rule]
    for rule_id in ids:
        Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def wildcard_findings(scope: IConstruct, statement: PolicyStatement) -> list[str]:
    """The IAM5 finding ids (``Resource::...``) of this statement's wildcard resources."""
    stack = Stack.of(scope)
    resources = [notation(stack.resolve(resource)) for resource in statement.resources]
    return [f"Resource::{resource}" for resource in dict.fromkeys(resources) if "*" in resource]


def acknowledge_wildcards(role: IConstruct, statement: PolicyStatement, reason: str) -> None:
    """Acknowledge the IAM5 findings of exactly this statement's wildcard resources on ``role``.

    Only statements whose author wrote a reason are covered: a wildcard added anywhere else still
    fails the check.
    """
    findings = wildcard_findings(role, statement)
    if findings:
        acknowledge(role, "AwsSolutions-IAM5", reason, *findings)


def notation(value: object) -> str:
    """A resolved CloudFormation value in cdk-nag's finding notation (``<Id.Attr>``, ``<AWS::Region>``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            separator, parts = arg
            return str(separator).join(notation(part) for part in parts)
    raise ValueError(f"cannot express {value!r} in cdk-nag notation")
