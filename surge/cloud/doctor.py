"""`surge doctor --cloud`: is the deployed stack the one this CLI expects, and can this caller use it?

Each check is a :class:`Diagnosis`: what was checked, whether it holds (None: it could not be
checked, and why), and what to do when it does not. Clients are injected; the definition
comparison (:func:`state_shape`) is pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surge.cloud.client import StackInfo, describe_stack
from surge.cloud.execution_input import RunOptions
from surge.cloud.planner import CONTROL_FUNCTIONS, merge_slices, plan_segments, required_concurrency
from surge.cloud.workflow_limits import MAX_HISTORY_EVENTS, history_events, limit_problems
from surge.errors import UserError
from surge.metrics.aws import error_code
from surge.plan import Plan

# What `surge run --cloud`, `surge stop` and `surge report --cloud` call (docs/workflow.md).
CALLER_ACTIONS = (
    ("states:StartExecution", "state_machine"),
    ("states:StopExecution", "execution"),
    ("states:DescribeExecution", "execution"),
    ("s3:PutObject", "run_object"),
    ("s3:GetObject", "run_object"),
    ("dynamodb:GetItem", "table"),
    ("dynamodb:UpdateItem", "table"),
    ("lambda:GetAccountSettings", "*"),
)


@dataclass(frozen=True)
class Diagnosis:
    check: str
    ok: bool | None  # None: could not be checked
    detail: str
    fix: str | None = None


def state_shape(definition: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every state of a definition, nested ones included, as (path, Type): what a deployed
    definition shares with the template it came from (ARNs and names are substituted)."""
    shape: list[tuple[str, str]] = []
    for name, state in sorted(definition.get("States", {}).items()):
        path = f"{prefix}{name}"
        shape.append((path, str(state.get("Type"))))
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), Mapping):
                shape += state_shape(state[key], f"{path}/")
        for i, branch in enumerate(state.get("Branches", []) or []):
            shape += state_shape(branch, f"{path}[{i}]/")
    return shape


def local_definition() -> dict[str, Any] | None:
    """The state machine template this CLI was built with, when it runs from a checkout."""
    path = Path(__file__).resolve().parents[2] / "statemachine" / "surge.asl.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _code(exc: Exception) -> str:
    return error_code(exc) or type(exc).__name__


def diagnose(
    clients: Mapping[str, Any],
    *,
    stack: str,
    cli_version: str,
    template: Mapping[str, Any] | None,
    plan: Plan | None = None,
    options: RunOptions | None = None,
) -> Iterator[Diagnosis]:
    """The checks in the order a user fixes them: credentials, stack, version, definition,
    concurrency, the caller's permissions. ``clients``: boto3 clients by service name."""
    try:
        caller = clients["sts"].get_caller_identity()["Arn"]
    except Exception as exc:
        yield Diagnosis(
            "credentials",
            False,
            f"no usable AWS credentials ({_code(exc)})",
            "set AWS_PROFILE or run `aws sso login`",
        )
        return
    yield Diagnosis("credentials", True, caller)
    try:
        info = describe_stack(clients["cloudformation"], stack)
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in clients["cloudformation"]
            .describe_stacks(StackName=stack)["Stacks"][0]
            .get("Outputs", [])
        }
    except UserError as exc:
        yield Diagnosis("stack", False, str(exc), "deploy it: `npx cdk deploy` (or pass --stack/--region)")
        return
    yield Diagnosis("stack", True, f"{stack} in {info.region}: bucket {info.bucket}, table {info.table}")
    yield _version(outputs, cli_version)
    yield _definition(clients["stepfunctions"], info, template)
    yield _concurrency(clients["lambda"], info)
    yield _permissions(clients, info, caller)
    if plan is not None:
        yield from plan_findings(plan, options or RunOptions(), info, clients["lambda"])


def _version(outputs: Mapping[str, str], cli_version: str) -> Diagnosis:
    deployed = outputs.get("SurgeVersion")
    if deployed is None:
        return Diagnosis(
            "version",
            False,
            "the stack names no surge version (deployed before 0.1.0's doctor)",
            "redeploy: `npx cdk deploy`",
        )
    if deployed != cli_version:
        return Diagnosis(
            "version",
            False,
            f"the stack runs surge {deployed}, this CLI is {cli_version}",
            "redeploy from this checkout: `npx cdk deploy`",
        )
    return Diagnosis("version", True, f"surge {deployed} on both sides")


def _definition(sfn: Any, info: StackInfo, template: Mapping[str, Any] | None) -> Diagnosis:
    try:
        deployed = json.loads(
            sfn.describe_state_machine(stateMachineArn=info.state_machine_arn)["definition"]
        )
    except Exception as exc:
        return Diagnosis(
            "definition",
            None,
            f"could not read the state machine ({_code(exc)})",
            "allow states:DescribeStateMachine",
        )
    if template is None:
        return Diagnosis("definition", None, "no local template to compare with (not run from a checkout)")
    mine, theirs = set(state_shape(template)), set(state_shape(deployed))
    if mine != theirs:
        missing = ", ".join(sorted(p for p, _ in mine - theirs)[:5]) or "none"
        extra = ", ".join(sorted(p for p, _ in theirs - mine)[:5]) or "none"
        return Diagnosis(
            "definition",
            False,
            f"the deployed workflow differs from this CLI's: missing {missing}; not in this CLI's: {extra}",
            "redeploy from this checkout: `npx cdk deploy`",
        )
    return Diagnosis("definition", True, f"{len(mine)} states, as in this CLI's template")


def _concurrency(lambda_client: Any, info: StackInfo) -> Diagnosis:
    try:
        limit = lambda_client.get_account_settings()["AccountLimit"]
    except Exception as exc:
        return Diagnosis(
            "concurrency",
            None,
            f"could not read the account's Lambda settings ({_code(exc)})",
            "allow lambda:GetAccountSettings",
        )
    unreserved = int(limit.get("UnreservedConcurrentExecutions", 0))
    total = limit.get("ConcurrentExecutions", "?")
    if info.worker_reserved is not None:
        detail = f"{info.worker_reserved} reserved for the workers; {unreserved} unreserved of {total} for the workflow"
        ok = unreserved >= CONTROL_FUNCTIONS
    else:
        # The smallest run: one segment of one shard, the next one's launch, and the workflow.
        detail = f"{unreserved} unreserved of {total}: runs of up to {max((unreserved - CONTROL_FUNCTIONS) // 2, 0)} workers per segment"
        ok = unreserved >= CONTROL_FUNCTIONS + 2
    fix = None if ok else "request a higher Lambda concurrency quota (Service Quotas)"
    return Diagnosis("concurrency", ok, detail, fix)


# Lambda adds at most this many execution environments to a function every 10 seconds ("Lambda
# function scaling"): a segment's workers all start within ceil(workers / 1000) x 10 s.
LAMBDA_SCALING_STEP = 1000
LAMBDA_SCALING_PERIOD_S = 10


def plan_findings(
    plan: Plan, options: RunOptions, info: StackInfo, lambda_client: Any
) -> Iterator[Diagnosis]:
    """What a run of ``plan`` needs of the account and the deployment, against what they have:
    Lambda concurrency (two overlapping segments and the workflow), Lambda's scaling rate within
    the lead time, the execution's history and state quotas, and the hosts and hooks it may use."""
    cuts = plan_segments(plan, options)
    needed = required_concurrency(cuts)
    tasks = [len(merge_slices(c.shards)) for c in cuts]
    events = history_events(tasks)
    yield Diagnosis(
        "plan",
        True,
        f"{plan.name}: {len(cuts)} segment(s), up to {max(c.shards for c in cuts)} workers each; at its peak "
        f"{needed.workers} workers and {needed.workflow} workflow functions at once; about {events:,} "
        "history events",
    )
    try:
        limit = lambda_client.get_account_settings()["AccountLimit"]
    except Exception as exc:
        yield Diagnosis(
            "plan concurrency", None, f"could not read the account's Lambda settings ({_code(exc)})"
        )
    else:
        total = int(limit.get("ConcurrentExecutions", 0))
        unreserved = int(limit.get("UnreservedConcurrentExecutions", 0))
        if info.worker_reserved is not None:
            ok = needed.workers <= info.worker_reserved and needed.workflow <= unreserved
            have = f"{info.worker_reserved} reserved for the workers, {unreserved} unreserved"
        else:
            ok = needed.total <= unreserved
            have = f"{unreserved} unreserved of {total}"
        yield Diagnosis(
            "plan concurrency",
            ok,
            f"needs {needed.total} concurrent Lambda executions; the account has {have}",
            None
            if ok
            else f"request a 'Concurrent executions' quota of at least {needed.total + 100} (Service Quotas, "
            "AWS Lambda; new accounts start far lower), or lower the plan's rate",
        )
    biggest = max(c.shards for c in cuts)
    ramp = -(-biggest // LAMBDA_SCALING_STEP) * LAMBDA_SCALING_PERIOD_S
    yield Diagnosis(
        "plan scaling",
        ramp < options.lead_seconds,
        f"Lambda starts at most {LAMBDA_SCALING_STEP} workers per {LAMBDA_SCALING_PERIOD_S} s: {biggest} in "
        f"about {ramp} s, within the {options.lead_seconds} s lead"
        if ramp < options.lead_seconds
        else f"{biggest} workers take about {ramp} s to start, more than the {options.lead_seconds} s lead",
        None if ramp < options.lead_seconds else f"run with --lead-seconds {ramp + 10}",
    )
    problems = limit_problems(tasks, {"segments": []})
    yield Diagnosis(
        "plan history",
        not problems,
        problems[0]
        if problems
        else f"{events:,} events of Step Functions' {MAX_HISTORY_EVENTS:,} per execution",
    )
    if info.deployment is None:
        yield Diagnosis(
            "plan targets", None, "the stack does not say which hosts it allows (deployed before 0.2)"
        )
    else:
        refused = info.deployment.problems(plan)
        yield Diagnosis(
            "plan targets",
            not refused,
            "; ".join(refused)
            if refused
            else f"{', '.join(sorted(plan.allowed_hosts))} allowed by the deployment",
        )


def _assumed_role_arn(iam: Any, caller: str) -> str:
    """The role behind an assumed-role session (simulation needs the role's ARN with its path)."""
    if ":assumed-role/" not in caller:
        return caller
    name = caller.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def _permissions(clients: Mapping[str, Any], info: StackInfo, caller: str) -> Diagnosis:
    iam = clients["iam"]
    account_region = info.state_machine_arn.split(":")[3:5]
    execution = info.state_machine_arn.replace(":stateMachine:", ":execution:") + ":doctor"
    resources = {
        "state_machine": info.state_machine_arn,
        "execution": execution,
        "run_object": f"arn:aws:s3:::{info.bucket}/runs/doctor/plan.yaml",
        "table": f"arn:aws:dynamodb:{account_region[0]}:{account_region[1]}:table/{info.table}",
        "*": "*",
    }
    try:
        principal = _assumed_role_arn(iam, caller)
        denied = []
        for action, resource in CALLER_ACTIONS:
            result = iam.simulate_principal_policy(
                PolicySourceArn=principal, ActionNames=[action], ResourceArns=[resources[resource]]
            )["EvaluationResults"][0]
            if result["EvalDecision"] != "allowed":
                denied.append(action)
    except Exception as exc:
        return Diagnosis(
            "permissions",
            None,
            f"could not simulate this caller's policies ({_code(exc)})",
            "allow iam:SimulatePrincipalPolicy to check, or just try `surge run --cloud`",
        )
    if denied:
        return Diagnosis(
            "permissions",
            False,
            f"{principal} may not: {', '.join(denied)}",
            "add them to the caller's policy (docs/verify-in-aws.md lists what surge calls)",
        )
    return Diagnosis(
        "permissions", True, f"{principal} may start, follow and stop runs and read their reports"
    )
