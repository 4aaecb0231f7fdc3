"""Optional EventBridge Scheduler schedules that start the workflow with a stored plan."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import ScheduleSpec


class Schedules(Construct):
    """One schedule per :class:`ScheduleSpec`, each with its own role allowed only to start the workflow."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        schedules: Sequence[ScheduleSpec],
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for spec in schedules:
            role = iam.Role(
                self,
                f"{spec.name}Role",
                assumed_by=iam.ServicePrincipal(
                    "scheduler.amazonaws.com",
                    # Confused-deputy guard: only schedules of this account may use the role.
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                ),
                description=f"surge schedule {spec.name}: start the workflow",
            )
            state_machine.grant_start_execution(role)
            # A key in the stack's own bucket: its name is filled in here, so one deploy does it.
            plan_uri = spec.plan_uri or Fn.join("", ["s3://", bucket.bucket_name, "/", spec.plan])
            self.schedules[spec.name] = scheduler.CfnSchedule(
                self,
                spec.name,
                description=f"surge: run {spec.plan_uri or spec.plan} on cron({spec.cron}) {spec.timezone}",
                schedule_expression=spec.expression,
                schedule_expression_timezone=spec.timezone,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                state="ENABLED" if spec.enabled else "DISABLED",
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=state_machine.state_machine_arn,
                    role_arn=role.role_arn,
                    input=Stack.of(self).to_json_string({"plan_uri": plan_uri}),
                    # A missed nightly run is retried briefly, not hours later over the next one.
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
                    ),
                ),
            )
