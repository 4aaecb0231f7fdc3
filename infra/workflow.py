"""The state machine, loaded from statemachine/surge.asl.json and filled by DefinitionSubstitutions.

The definition stays a plain ASL file (validated by asl-validator, executed by moto in the tests);
this construct only names the resources it uses and grants exactly what its states call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.functions import Functions
from infra.names import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    KEY_SEGMENT_ITEMS,
    RUN_PK_PREFIX,
    SUB_AGGREGATE_ARN,
    SUB_BUCKET,
    SUB_COLLECT_ARN,
    SUB_EVENT_BUS,
    SUB_PREPARE_ARN,
    SUB_REPORT_ARN,
    SUB_TABLE,
    SUB_WORKER_ARN,
)
from surge.cloud.definition_rules import check_definition

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
SWEEP_EVERY_MINUTES = 5


def placeholders(definition_path: Path) -> set[str]:
    """The ``${Key}`` names a definition file expects, after checking it as AWS's
    CreateStateMachine would: a definition AWS would refuse fails the synth, not the deploy."""
    text = definition_path.read_text(encoding="utf-8")
    definition = json.loads(text)  # a broken file fails here, with its line, rather than at deploy
    violations = check_definition(definition)
    if violations:
        raise ValueError(
            f"{definition_path.name} breaks AWS's definition rules (docs/workflow.md):\n"
            + "\n".join(f"  - {v}" for v in violations)
        )
    return set(_PLACEHOLDER.findall(text))


class Workflow(Construct):
    """Standard state machine with full logging and X-Ray; its role may call only its states' targets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition_path: Path,
        functions: Functions,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        event_bus: events.IEventBus,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        substitutions: Mapping[str, str] = {
            SUB_PREPARE_ARN: functions.prepare.function_arn,
            SUB_WORKER_ARN: functions.worker.function_arn,
            SUB_AGGREGATE_ARN: functions.aggregate.function_arn,
            SUB_COLLECT_ARN: functions.collect.function_arn,
            SUB_REPORT_ARN: functions.report.function_arn,
            SUB_BUCKET: bucket.bucket_name,
            SUB_TABLE: table.table_name,
            SUB_EVENT_BUS: event_bus.event_bus_arn,
        }
        expected = placeholders(definition_path)
        if expected != set(substitutions):
            raise ValueError(
                f"{definition_path.name}: placeholders and substitutions differ; "
                f"unfilled {sorted(expected - set(substitutions))}, unused {sorted(set(substitutions) - expected)}"
            )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # The vendedlogs prefix keeps CloudWatch Logs' resource policy small as log groups grow.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-workflow",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        self._grant_targets(functions=functions, bucket=bucket, table=table, event_bus=event_bus)

        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            # A name of its own (<stack>-workflow): the console lists it readably, and the job role
            # of docs/verify-in-aws.md can be scoped to it before the stack exists.
            state_machine_name=f"{Stack.of(self).stack_name}-workflow",
            definition_body=sfn.DefinitionBody.from_file(str(definition_path)),
            definition_substitutions=dict(substitutions),
            state_machine_type=sfn.StateMachineType.STANDARD,  # workers run up to 15 minutes
            role=self.role,
            # Every event, but not its data: an inline plan (and a credential written in it) would
            # otherwise be copied into CloudWatch Logs; inputs and outputs stay in the execution's
            # history, readable by who may describe the execution.
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            tracing_enabled=True,
        )
        self._grant_distributed_map()
        self._watch_executions(functions)
        self._finish_runs_ended_outside(functions)
        nag.acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "CloudWatch Logs delivery (CreateLogDelivery, ...) and X-Ray APIs support no resource-level "
            "permissions; CDK adds these statements for logging and tracing with '*'.",
            "Resource::*",
        )

    def _finish_runs_ended_outside(self, functions: Functions) -> None:
        """A console StopExecution, the execution timeout, or a failure RecordError could not catch
        runs none of the workflow's states: the run's status change (EventBridge, from Step
        Functions itself) goes to the report function, which stops the workers, writes the partial
        report, closes the run record and sends Run Completed (surge.cloud.report.finalize)."""
        self.ended_outside_rule = events.Rule(
            self,
            "EndedOutside",
            description="surge: finish runs whose execution ended outside the workflow",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                    "status": ["ABORTED", "TIMED_OUT", "FAILED"],
                },
            ),
        )
        self.ended_outside_rule.add_target(targets.LambdaFunction(functions.report, retry_attempts=4))
        # EventBridge delivers those events best effort: a schedule finishes any run whose record
        # still says RUNNING while its execution has ended (surge.cloud.report.sweep).
        self.sweep_rule = events.Rule(
            self,
            "SweepEndedRuns",
            description="surge: finish runs whose execution ended without an event reaching surge",
            schedule=events.Schedule.rate(Duration.minutes(SWEEP_EVERY_MINUTES)),
        )
        self.sweep_rule.add_target(
            targets.LambdaFunction(
                functions.report,
                event=events.RuleTargetInput.from_object({"mode": "sweep"}),
                retry_attempts=2,
            )
        )

    def _watch_executions(self, functions: Functions) -> None:
        """Workers watch their execution (a stop from outside reaches the fleet within seconds) and
        the sweep reads it. A Policy of its own: it names the state machine, which depends on the
        functions, whose roles' default policies it must therefore not be part of."""
        machine = self.state_machine
        executions = Fn.join(
            "",
            [
                f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:",
                machine.state_machine_name,
                ":*",
            ],
        )
        statement = iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions])
        policy = iam.Policy(
            self,
            "WatchExecutionsPolicy",
            roles=[functions.by_state["worker"].role, functions.by_state["report"].role],
            statements=[statement],
        )
        nag.acknowledge_wildcards(
            policy,
            statement,
            "Executions are named after runs at run time; the statement is limited to DescribeExecution "
            "on executions of this state machine.",
        )

    def _grant_targets(
        self, *, functions: Functions, bucket: s3.IBucket, table: dynamodb.ITable, event_bus: events.IEventBus
    ) -> None:
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[fn.function_arn for fn in functions.all],
            )
        )
        # Distributed Map's ItemReader reads each segment's items.json.
        items = iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects(KEY_SEGMENT_ITEMS)]
        )
        self.role.add_to_principal_policy(items)
        nag.acknowledge_wildcards(
            self.role,
            items,
            "The Distributed Map reads runs/<run>/seg-<k>/items.json; the run id is only known at run time.",
        )
        # MarkRunErrored: last-resort status update of the run record when RecordError failed.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{RUN_PK_PREFIX}*"]}},
            )
        )
        # Run Completed events only: this source and detail-type, on this bus.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[event_bus.event_bus_arn],
                conditions={
                    "StringEquals": {"events:source": EVENT_SOURCE, "events:detail-type": EVENT_DETAIL_TYPE}
                },
            )
        )

    def _grant_distributed_map(self) -> None:
        """Child executions of the Distributed Map are executions of this state machine.

        A separate Policy (not the role's default one) because it names the state machine, which
        itself depends on the role's default policy: one policy would be a dependency cycle.
        """
        machine = self.state_machine
        prefix = f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:"
        # Child execution ARNs are <machine>/<map run label>:<name>; AWS documents both forms.
        executions = [Fn.join("", [prefix, machine.state_machine_name, suffix]) for suffix in ("/*", ":*")]
        start = iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine.state_machine_arn])
        observe = iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:StopExecution"], resources=executions
        )
        policy = iam.Policy(self, "DistributedMapPolicy", roles=[self.role], statements=[start, observe])
        nag.acknowledge_wildcards(
            policy,
            observe,
            "Distributed Map child executions are named by Step Functions at run time; the "
            "statement is limited to executions of this state machine.",
        )
