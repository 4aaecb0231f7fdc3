"""Least privilege, asserted as "can / cannot" questions against each role's policies."""

from __future__ import annotations

from typing import Any

import pytest
from iam_eval import actions_of, allowed, statements_of_role
from infra_support import logical_id, resources_of_type

pytestmark = [pytest.mark.infra]

FORBIDDEN_EVERYWHERE = (
    "dynamodb:DeleteTable",
    "dynamodb:CreateTable",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteItem",
    "dynamodb:Scan",
    "s3:DeleteObject",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "iam:PassRole",
)


class Scope:
    """Resource strings in the evaluator's notation for the synthesized stack."""

    def __init__(self, synth: Any) -> None:
        stack = synth.stack
        self.raw = synth.raw
        self.bucket = f"<{logical_id(stack.storage.bucket)}.Arn>"
        self.logs_bucket = f"<{logical_id(stack.storage.logs_bucket)}.Arn>"
        self.table = f"<{logical_id(stack.storage.table)}.Arn>"
        self.machine = f"<{logical_id(stack.workflow.state_machine)}>"
        self.functions = stack.functions

    def obj(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def function_statements(self, state: str) -> Any:
        return statements_of_role(self.raw, logical_id(self.functions.by_state[state].role))


@pytest.fixture(scope="module")
def scope(synth: Any) -> Scope:
    return Scope(synth)


def test_worker_writes_only_its_shard_results_and_reads_only_plan_and_items(scope: Scope) -> None:
    worker = scope.function_statements("worker")
    assert allowed(worker, "s3:PutObject", scope.obj("runs/r1/seg-0/shard-3.json"))
    assert allowed(worker, "s3:GetObject", scope.obj("runs/r1/plan.json"))
    assert allowed(worker, "s3:GetObject", scope.obj("runs/r1/seg-0/items.json"))
    assert allowed(worker, "s3:GetObject", scope.obj("runs/r1/inputs/data/users.csv"))  # the run's CSV
    assert allowed(worker, "s3:GetObject", scope.obj("runs/r1/inputs/files/0-photo.jpg"))  # multipart files
    # ...and nothing else in the bucket: not other shards' results, reports, plans or listings.
    assert not allowed(worker, "s3:GetObject", scope.obj("runs/r1/seg-0/shard-1.json"))
    assert not allowed(worker, "s3:GetObject", scope.obj("runs/other/seg-2/shard-0.json"))
    assert not allowed(worker, "s3:GetObject", scope.obj("runs/r1/report.json"))
    assert not allowed(worker, "s3:GetObject", scope.obj("plans/checkout.yaml"))
    assert not allowed(worker, "s3:GetObject", scope.obj("plans/users.csv"))  # only the run's copy
    assert not allowed(worker, "s3:GetObject", scope.obj("runs/r1/inputs/baseline/ecs.json"))
    assert not allowed(worker, "s3:PutObject", scope.obj("runs/r1/inputs/data/users.csv"))
    assert not allowed(worker, "s3:PutObject", scope.obj("runs/r1/report.html"))
    assert not allowed(worker, "s3:PutObject", scope.obj("runs/r1/seg-0/items.json"))
    assert not allowed(worker, "s3:PutObject", scope.obj("runs/r1/plan.json"))
    assert not allowed(
        worker, "s3:PutObject", scope.obj("runs/r1/seg-0/partial-0.json")
    )  # Aggregate trusts it
    # Listing only with a shard-key prefix (a retried worker checks for its own result).
    (listing,) = allowed(worker, "s3:ListBucket", scope.bucket)
    assert listing.conditions == {"StringLike": {"s3:prefix": ["runs/*/seg-*/shard-*"]}}
    assert not allowed(worker, "s3:GetObject", f"{scope.logs_bucket}/results/x")


def test_worker_table_access_is_items_of_runs_only(scope: Scope) -> None:
    worker = scope.function_statements("worker")
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem"):
        (statement,) = allowed(worker, action, scope.table)
        assert statement.conditions["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["RUN#*"]
        # Fine-grained: the progress counters and the stop flag only (test_infra_iam_calls.py
        # checks the calls the worker really makes against these conditions).
        assert statement.conditions["ForAllValues:StringLike"]["dynamodb:Attributes"] == [
            "pk",
            "sk",
            "requests",
            "errors",
            "workers_running",
            "updated_at",
            "stop_requested",
            "stop_reason",
        ]
    for action in ("dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteTable", "dynamodb:DeleteItem"):
        assert not allowed(worker, action, scope.table), action
    assert not allowed(worker, "dynamodb:Query", f"{scope.table}/index/by_plan")


def test_worker_reads_only_surge_prefixed_secrets(scope: Scope) -> None:
    worker = scope.function_statements("worker")
    secret = "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
    parameter = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/"
    assert allowed(worker, "secretsmanager:GetSecretValue", secret + "surge/api-token-AbCdEf")
    assert not allowed(worker, "secretsmanager:GetSecretValue", secret + "prod/db-password-AbCdEf")
    assert allowed(worker, "ssm:GetParameter", parameter + "surge/api-token")
    assert not allowed(worker, "ssm:GetParameter", parameter + "prod/db-password")


def test_prepare_reads_plans_and_writes_run_inputs_only(scope: Scope) -> None:
    prepare = scope.function_statements("prepare")
    assert allowed(prepare, "s3:GetObject", scope.obj("plans/nightly/checkout.yaml"))
    # Data and baseline files: beside the plan under plans/, or uploaded by the CLI for the run;
    # Prepare copies them under the run (CopyObject: Get on the source, Put on the copy).
    assert allowed(prepare, "s3:GetObject", scope.obj("plans/nightly/users.csv"))
    assert allowed(prepare, "s3:GetObject", scope.obj("runs/r1/inputs/data/users.csv"))
    assert allowed(prepare, "s3:GetObject", scope.obj("runs/r1/inputs/baseline/ecs.json"))
    assert allowed(prepare, "s3:PutObject", scope.obj("runs/r1/inputs/data/users.csv"))
    assert allowed(prepare, "s3:PutObject", scope.obj("runs/r1/inputs/baseline/ecs.json"))
    assert not allowed(prepare, "s3:GetObject", scope.obj("runs/r1/report.json"))
    assert not allowed(prepare, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/users.csv")
    assert not allowed(prepare, "s3:PutObject", scope.obj("plans/users.csv"))
    assert allowed(prepare, "s3:PutObject", scope.obj("runs/r1/seg-3/items.json"))
    assert allowed(prepare, "s3:PutObject", scope.obj("runs/r1/plan.json"))
    assert not allowed(prepare, "s3:PutObject", scope.obj("runs/r1/seg-0/shard-0.json"))
    assert not allowed(prepare, "s3:GetObject", scope.obj("runs/r1/seg-0/shard-0.json"))
    assert allowed(prepare, "dynamodb:PutItem", scope.table)
    secret = "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:surge/token"
    assert allowed(prepare, "secretsmanager:DescribeSecret", secret)
    # Values too: Prepare runs the plan's setup flow (workers and Report's teardown read them as well).
    assert allowed(prepare, "secretsmanager:GetSecretValue", secret)
    assert not allowed(prepare, "secretsmanager:GetSecretValue", secret.replace("surge/", "prod/"))
    assert allowed(prepare, "s3:PutObject", scope.obj("runs/r1/setup.json"))


def test_aggregate_lists_runs_reads_shard_results_and_writes_aggregates(scope: Scope) -> None:
    aggregate = scope.function_statements("aggregate")
    (listing,) = allowed(aggregate, "s3:ListBucket", scope.bucket)
    assert listing.conditions == {"StringLike": {"s3:prefix": ["runs/*"]}}
    assert allowed(aggregate, "s3:GetObject", scope.obj("runs/r1/seg-2/shard-7.json"))
    assert allowed(aggregate, "s3:PutObject", scope.obj("runs/r1/seg-2/aggregate.json"))
    assert allowed(aggregate, "s3:GetObject", scope.obj("runs/r1/seg-1/aggregate.json"))
    # Its merge tasks (MergeSlice) write the partials Aggregate folds.
    assert allowed(aggregate, "s3:PutObject", scope.obj("runs/r1/seg-2/partial-32.json"))
    assert allowed(aggregate, "s3:GetObject", scope.obj("runs/r1/seg-2/partial-32.json"))
    assert not allowed(aggregate, "s3:GetObject", scope.obj("runs/r1/report.json"))
    assert not allowed(aggregate, "s3:PutObject", scope.obj("runs/r1/seg-2/shard-7.json"))
    assert not allowed(aggregate, "s3:PutObject", scope.obj("runs/r1/report.html"))
    assert allowed(aggregate, "dynamodb:UpdateItem", scope.table)  # sets the stop flag


def test_collect_reads_metrics_apis_and_writes_metrics_only(scope: Scope) -> None:
    collect = scope.function_statements("collect")
    assert allowed(collect, "cloudwatch:GetMetricData", "*")
    assert allowed(collect, "ce:GetCostAndUsage", "*")
    assert allowed(
        collect,
        "logs:StartQuery",
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/lambda/api",
    )
    # Only the tested functions' log groups (and those the deployer lists in surge:logGroups):
    # not the logs of every other workload in the account.
    assert allowed(
        collect,
        "logs:StartQuery",
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/ecs/orders",
    )
    for group in ("/aws/rds/instance/main/postgresql", "/ecs/payments", "/aws/lambda-insights"):
        arn = f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{group}"
        assert not allowed(collect, "logs:StartQuery", arn), group
    assert allowed(collect, "s3:PutObject", scope.obj("runs/r1/metrics.json"))
    assert not allowed(collect, "s3:PutObject", scope.obj("runs/r1/report.html"))
    assert not allowed(collect, "cloudwatch:PutMetricAlarm", "*")


def test_report_reads_runs_and_writes_reports_only(scope: Scope) -> None:
    report = scope.function_statements("report")
    assert allowed(report, "s3:GetObject", scope.obj("runs/baseline-run/report.json"))
    assert allowed(report, "s3:GetObject", scope.obj("runs/r1/inputs/baseline/ecs.json"))  # baseline file
    assert allowed(report, "s3:PutObject", scope.obj("runs/r1/report.html"))
    assert allowed(report, "s3:PutObject", scope.obj("runs/r1/junit.xml"))
    assert allowed(report, "s3:PutObject", scope.obj("runs/r1/results.json"))
    assert allowed(report, "dynamodb:PutItem", scope.table)  # RecordError after a failed Prepare
    assert not allowed(report, "s3:PutObject", scope.obj("runs/r1/seg-0/shard-0.json"))
    assert not allowed(report, "s3:GetObject", scope.obj("plans/checkout.yaml"))
    assert allowed(report, "dynamodb:Query", f"{scope.table}/index/by_plan")
    # Run Completed for runs finished outside the workflow: surge's source and detail-type only.
    bus = "arn:<AWS::Partition>:events:eu-west-1:123456789012:event-bus/default"
    (put_events,) = allowed(report, "events:PutEvents", bus)
    assert put_events.conditions == {
        "StringEquals": {"events:source": "surge", "events:detail-type": "Run Completed"}
    }


@pytest.mark.parametrize("state", ["worker", "report"])
def test_watchers_may_describe_only_this_workflows_executions(synth: Any, scope: Scope, state: str) -> None:
    """Workers watch their execution (a stop from outside reaches the fleet); the sweep reads it."""
    statements = scope.function_statements(state)
    name = f"<{logical_id(synth.stack.workflow.state_machine)}.Name>"
    execution = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}:run-1"
    assert allowed(statements, "states:DescribeExecution", execution)
    other = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:payments:run-1"
    assert not allowed(statements, "states:DescribeExecution", other)
    assert not allowed(statements, "states:StopExecution", execution)
    assert not allowed(statements, "states:StartExecution", scope.machine)


@pytest.mark.parametrize("state", ["prepare", "worker", "aggregate", "collect", "report"])
def test_function_roles_are_separate_lambda_only_and_without_managed_policies(
    scope: Scope, state: str
) -> None:
    role_id = logical_id(scope.functions.by_state[state].role)
    role = scope.raw["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    statements = scope.function_statements(state)
    log_group = f"<{logical_id(scope.functions.by_state[state].log_group)}.Arn>"
    assert allowed(statements, "logs:PutLogEvents", log_group)
    assert not allowed(statements, "lambda:InvokeFunction", "*")


def test_no_role_may_change_or_delete_data_stores(scope: Scope) -> None:
    role_ids = [rid for rid, r in scope.raw["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert len(role_ids) == 8
    for role_id in role_ids:
        statements = statements_of_role(scope.raw, role_id)
        actions = actions_of(statements)
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), (role_id, actions)
        for action in FORBIDDEN_EVERYWHERE:
            assert not allowed(statements, action, scope.table), (role_id, action)
            assert not allowed(statements, action, scope.obj("runs/r1/seg-0/shard-0.json")), (role_id, action)


def test_state_machine_role_calls_only_its_states_targets(synth: Any, scope: Scope) -> None:
    workflow = synth.stack.workflow
    statements = statements_of_role(scope.raw, logical_id(workflow.role))
    invoke = [s for s in statements if "lambda:InvokeFunction" in s.actions]
    assert len(invoke) == 1
    assert sorted(invoke[0].resources) == sorted(f"<{logical_id(fn)}.Arn>" for fn in scope.functions.all)
    # ItemReader: only the segments' item lists.
    assert allowed(statements, "s3:GetObject", scope.obj("runs/r1/seg-0/items.json"))
    assert not allowed(statements, "s3:GetObject", scope.obj("runs/r1/seg-0/shard-0.json"))
    assert not allowed(statements, "s3:PutObject", scope.obj("runs/r1/seg-0/items.json"))
    # MarkRunErrored.
    (update,) = allowed(statements, "dynamodb:UpdateItem", scope.table)
    assert update.conditions == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RUN#*"]}}
    # Run Completed events only.
    bus = "arn:<AWS::Partition>:events:eu-west-1:123456789012:event-bus/default"
    (put_events,) = allowed(statements, "events:PutEvents", bus)
    assert put_events.conditions == {
        "StringEquals": {"events:source": "surge", "events:detail-type": "Run Completed"}
    }
    # Distributed Map children: start this state machine, watch/stop its executions.
    assert allowed(statements, "states:StartExecution", scope.machine)
    name = f"<{logical_id(workflow.state_machine)}.Name>"
    execution = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}/Shards:abc"
    assert allowed(statements, "states:StopExecution", execution)
    assert not allowed(statements, "states:StartExecution", "*")


def test_schedule_roles_may_only_start_the_workflow(synth: Any, scope: Scope) -> None:
    for schedule in resources_of_type(scope.raw, "AWS::Scheduler::Schedule"):
        role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
        statements = statements_of_role(scope.raw, role_id)
        assert actions_of(statements) == {"states:StartExecution"}
        assert [s.resources for s in statements] == [(scope.machine,)]


def test_worker_may_call_only_the_step_resources_the_deployer_named(synth: Any, scope: Scope) -> None:
    worker = scope.function_statements("worker")
    fn = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    assert allowed(worker, "lambda:InvokeFunction", fn)
    assert not allowed(
        worker, "lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:billing"
    )
    assert not allowed(worker, "lambda:UpdateFunctionCode", fn)
    assert allowed(worker, "s3:PutObject", "arn:aws:s3:::uploads-bucket/in/x")
    assert not allowed(worker, "s3:PutObject", "arn:aws:s3:::other-bucket/in/x")
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
    assert allowed(worker, "dynamodb:Query", table + "/index/by_customer")
    assert not allowed(worker, "dynamodb:DeleteItem", table)
    # A stack deployed without step resources grants none.
    bare = statements_of_role(synth.raw_bare, logical_id(synth.bare.functions.by_state["worker"].role))
    assert not allowed(bare, "lambda:InvokeFunction", fn)


def test_step_grants_map_arns_to_the_calls_steps_make() -> None:
    from infra.step_access import step_grants

    grants = {g.service: g for g in step_grants(["arn:aws:states:eu-west-1:1:stateMachine:checkout"])}
    assert grants["states"].actions == ("states:StartExecution", "states:DescribeExecution")
    assert "arn:aws:states:eu-west-1:1:execution:checkout:*" in grants["states"].resources
    with pytest.raises(ValueError, match="iam"):
        step_grants(["arn:aws:iam::1:role/admin"])
    with pytest.raises(ValueError, match="not an ARN"):
        step_grants(["orders"])
