"""The workflow's Lambda functions, each with its own role holding only what its state needs.

Object-key patterns come from :mod:`infra.names` (the layout in docs/workflow.md): a worker may
write ``runs/*/seg-*/shard-*`` and read the plan, items and the run's data file, nothing else in the bucket; no
function may change the table itself (no Create/Delete/UpdateTable, no DeleteItem).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.bundling import ARCHITECTURE, RUNTIME
from infra.names import (
    AGGREGATE_RECORD_ATTRIBUTES,
    DEFAULT_LOG_GROUPS,
    ENV_ALLOW_HOOKS,
    ENV_ALLOWED_TARGETS,
    ENV_BUCKET,
    ENV_EVENT_BUS,
    ENV_SECRETS_PREFIX,
    ENV_STATE,
    ENV_TABLE,
    ENV_WORKER_RESERVED,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    KEY_JUNIT,
    KEY_METRICS,
    KEY_PLAN,
    KEY_REPORT,
    KEY_RESULTS,
    KEY_RUN,
    KEY_RUN_DATA,
    KEY_RUN_FILES,
    KEY_RUN_INPUTS,
    KEY_SEGMENT_AGGREGATE,
    KEY_SEGMENT_ITEMS,
    KEY_SEGMENT_PARTIAL,
    KEY_SETUP,
    KEY_SHARD_RESULT,
    METRICS_NAMESPACE,
    PLANS_PREFIX,
    RUN_PK_PREFIX,
    RUNS_PREFIX,
    SECRETS_PREFIX,
    SERVICE_NAME,
    TABLE_PK,
    TABLE_SK,
    WORKER_RECORD_ATTRIBUTES,
)
from infra.step_access import step_grants

WORKER_MEMORY_MB = 1769
"""Lambda allots one full vCPU at 1769 MB: the load generator is CPU-bound."""
WORKER_TIMEOUT = Duration.minutes(15)
"""Lambda's maximum; segments are cut well inside it (default 10 minutes plus the lead time)."""


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    state: str
    description: str
    memory_mb: int
    timeout: Duration


SPECS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        state="prepare",
        description="surge Prepare: validate the plan, cut segments and shards, write items, record the run",
        memory_mb=512,
        timeout=Duration.minutes(5),
    ),
    FunctionSpec(
        state="worker",
        description="surge Worker: generate one shard's load for one segment and write its result",
        memory_mb=WORKER_MEMORY_MB,
        timeout=WORKER_TIMEOUT,
    ),
    FunctionSpec(
        state="aggregate",
        description="surge Aggregate and MergeSlice: merge a segment's shard results, report missing shards, abort-on-fail",
        memory_mb=2048,
        timeout=Duration.minutes(5),
    ),
    FunctionSpec(
        state="collect",
        description="surge Collect: service metrics (CloudWatch, Logs Insights) and cost for the run",
        memory_mb=512,
        timeout=Duration.minutes(5),
    ),
    FunctionSpec(
        state="report",
        description="surge Report/RecordError: evaluate checks, render and store the report",
        memory_mb=1024,
        timeout=Duration.minutes(5),
    ),
)


class SurgeFunction(Construct):
    """One state's function with its own role and log group (no managed policies, no shared role)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: lambda_.Code,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"surge {spec.state} function",
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"functions.{spec.state}.handler",
            code=code,
            role=self.role,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            description=spec.description,
            environment={**environment, ENV_STATE: spec.state},
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        nag.acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.12 on purpose: the bundled manylinux wheels are built for cp312 and "
            "the core is tested on it; moving to a newer runtime is a reviewed change.",
        )
        # 'Resource::*' is one finding per role whatever the statements behind it: its reasons are
        # collected and acknowledged once, by finalize().
        self._star_reasons = [
            "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions; the "
            "statement CDK adds for active tracing can only use '*'."
        ]

    def allow(self, statement: iam.PolicyStatement, *, wildcard_reason: str | None = None) -> None:
        """Add ``statement`` to this function's role; a wildcard resource needs a stated reason."""
        self.role.add_to_principal_policy(statement)
        if wildcard_reason is None:
            return
        findings = nag.wildcard_findings(self.role, statement)
        if "Resource::*" in findings:
            self._star_reasons.append(wildcard_reason)
        scoped = [finding for finding in findings if finding != "Resource::*"]
        if scoped:
            nag.acknowledge(self.role, "AwsSolutions-IAM5", wildcard_reason, *scoped)

    def finalize(self) -> None:
        nag.acknowledge(self.role, "AwsSolutions-IAM5", " ".join(self._star_reasons), "Resource::*")


STEP_REASON = (
    "aws: steps write objects with generated keys, query a table's indexes and read the executions they "
    "start: limited to the buckets, tables and state machines the deployer named in surge:stepResources."
)
RUN_KEYS_REASON = (
    "Object keys carry the run id, unknown at deploy time: the statement is limited to the results "
    "bucket and to the key pattern of what this state reads or writes (docs/workflow.md, S3 layout)."
)


class Functions(Construct):
    """prepare, worker, aggregate, collect, report: one :class:`SurgeFunction` each."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        event_bus: events.IEventBus,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        step_resources: Sequence[str] = (),
        log_groups: Sequence[str] = (),
        worker_reserved_concurrency: int | None = None,
        allowed_targets: Sequence[str] = (),
        allow_hooks: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self._table = table
        self._event_bus = event_bus
        self._step_resources = tuple(step_resources)
        self._log_groups = (*DEFAULT_LOG_GROUPS, *log_groups)
        environment = {
            ENV_BUCKET: bucket.bucket_name,
            ENV_TABLE: table.table_name,
            ENV_SECRETS_PREFIX: SECRETS_PREFIX,
            ENV_EVENT_BUS: event_bus.event_bus_name,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            # What the deployer allows every run (surge.cloud.deployment): checked by Prepare, each
            # worker and each setup/teardown flow.
            ENV_ALLOWED_TARGETS: ",".join(allowed_targets),
            ENV_ALLOW_HOOKS: "true" if allow_hooks else "false",
        }
        if worker_reserved_concurrency is not None:
            environment[ENV_WORKER_RESERVED] = str(worker_reserved_concurrency)
        self.by_state: dict[str, SurgeFunction] = {
            spec.state: SurgeFunction(
                self,
                spec.state.capitalize(),
                spec=spec,
                code=code,
                environment=environment,
                log_retention=log_retention,
            )
            for spec in SPECS
        }
        if worker_reserved_concurrency is not None:
            # The workers' own reserve: a run never takes concurrency from the account's other
            # functions, and they never starve a run of it.
            worker_fn = self.by_state["worker"].function.node.default_child
            assert isinstance(worker_fn, lambda_.CfnFunction)
            worker_fn.reserved_concurrent_executions = worker_reserved_concurrency
        self._grant_prepare(self.by_state["prepare"])
        self._grant_worker(self.by_state["worker"])
        self._grant_aggregate(self.by_state["aggregate"])
        self._grant_collect(self.by_state["collect"])
        self._grant_report(self.by_state["report"])
        for fn in self.by_state.values():
            fn.finalize()

    @property
    def prepare(self) -> lambda_.Function:
        return self.by_state["prepare"].function

    @property
    def worker(self) -> lambda_.Function:
        return self.by_state["worker"].function

    @property
    def aggregate(self) -> lambda_.Function:
        return self.by_state["aggregate"].function

    @property
    def collect(self) -> lambda_.Function:
        return self.by_state["collect"].function

    @property
    def report(self) -> lambda_.Function:
        return self.by_state["report"].function

    @property
    def all(self) -> list[lambda_.Function]:
        return [fn.function for fn in self.by_state.values()]

    # -- statements ----------------------------------------------------------------------------
    def _objects(self, fn: SurgeFunction, actions: Sequence[str], patterns: Sequence[str]) -> None:
        statement = iam.PolicyStatement(
            actions=list(actions), resources=[self._bucket.arn_for_objects(pattern) for pattern in patterns]
        )
        fn.allow(statement, wildcard_reason=RUN_KEYS_REASON)

    def _list(self, fn: SurgeFunction, prefix: str) -> None:
        fn.allow(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self._bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [prefix]}},
            )
        )

    def _run_items(
        self, fn: SurgeFunction, actions: Sequence[str], attributes: Sequence[str] | None = None
    ) -> None:
        """Item-level access limited to run partitions (pk = RUN#...); never table management.
        ``attributes``: only these attributes may be read or written (IAM's fine-grained access:
        the keys are added, and ReturnValues may return no other attribute)."""
        conditions: dict[str, Any] = {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{RUN_PK_PREFIX}*"]}
        }
        if attributes is not None:
            conditions["ForAllValues:StringLike"]["dynamodb:Attributes"] = [TABLE_PK, TABLE_SK, *attributes]
            conditions["StringEqualsIfExists"] = {
                "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
                "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"],
            }
        fn.allow(
            iam.PolicyStatement(
                actions=[f"dynamodb:{action}" for action in actions],
                resources=[self._table.table_arn],
                conditions=conditions,
            )
        )

    def _grant_prepare(self, fn: SurgeFunction) -> None:
        # Plans and the files they name (under plans/), and the files the CLI uploaded for the run:
        # Prepare checks them and copies those under plans/ to the run (CopyObject reads and puts).
        self._objects(fn, ["s3:GetObject"], [f"{PLANS_PREFIX}*", KEY_RUN_INPUTS])
        self._objects(fn, ["s3:PutObject"], [KEY_PLAN, KEY_RUN, KEY_RUN_INPUTS, KEY_SEGMENT_ITEMS, KEY_SETUP])
        self._run_items(fn, ["GetItem", "PutItem", "UpdateItem"])
        # The account's Lambda concurrency: a run that cannot start its workers at once is refused.
        fn.allow(
            iam.PolicyStatement(actions=["lambda:GetAccountSettings"], resources=["*"]),
            wildcard_reason="lambda:GetAccountSettings reads account-wide limits and supports no "
            "resource-level permissions: '*' is the only valid resource.",
        )
        # Prepare fails fast on a missing secret (metadata); it reads values for the setup flow.
        fn.allow(
            iam.PolicyStatement(actions=["secretsmanager:DescribeSecret"], resources=[_secrets_arn()]),
            wildcard_reason=SECRETS_REASON,
        )
        self._grant_secret_values(fn)
        self._grant_steps(fn)  # a setup flow's aws: steps

    def _grant_steps(self, fn: SurgeFunction) -> None:
        """The resources the deployer named for plans' aws: steps, and only the calls steps make."""
        for grant in step_grants(self._step_resources):
            fn.allow(
                iam.PolicyStatement(actions=list(grant.actions), resources=list(grant.resources)),
                wildcard_reason=STEP_REASON if grant.has_wildcard else None,
            )

    def _grant_worker(self, fn: SurgeFunction) -> None:
        self._grant_steps(fn)
        self._objects(fn, ["s3:GetObject"], [KEY_PLAN, KEY_RUN_DATA, KEY_RUN_FILES, KEY_SEGMENT_ITEMS])
        self._objects(fn, ["s3:PutObject"], [KEY_SHARD_RESULT])
        # Listing only by a shard key: a retried worker checks whether its result already exists
        # (and learns nothing else: listing shows key names, never content).
        self._list(fn, KEY_SHARD_RESULT)
        # The run's stop flag and its progress counters (BatchGetItem: a segment's watchers sum
        # them), and nothing else of the record: a worker cannot change a run's status or verdict.
        self._run_items(fn, ["GetItem", "BatchGetItem", "UpdateItem"], WORKER_RECORD_ATTRIBUTES)
        self._objects(fn, ["s3:GetObject"], [KEY_SETUP])  # what the plan's setup captured
        self._grant_secret_values(fn)

    def _grant_secret_values(self, fn: SurgeFunction) -> None:
        """The values of surge/* secrets: the functions that send a plan's requests read them
        (workers; Prepare for its setup flow, Report for its teardown)."""
        fn.allow(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[_secrets_arn()]),
            wildcard_reason=SECRETS_REASON,
        )
        fn.allow(
            iam.PolicyStatement(
                actions=["ssm:GetParameter", "ssm:GetParameters"], resources=[_parameters_arn()]
            ),
            wildcard_reason=SECRETS_REASON,
        )

    def _grant_aggregate(self, fn: SurgeFunction) -> None:
        self._list(fn, f"{RUNS_PREFIX}*")
        # Earlier segments' aggregates too: abort-on-fail judges the run so far, not one segment.
        # Its merge tasks (MergeSlice, the same function) write partials; Aggregate reads them.
        self._objects(
            fn,
            ["s3:GetObject"],
            [KEY_PLAN, KEY_SEGMENT_ITEMS, KEY_SHARD_RESULT, KEY_SEGMENT_PARTIAL, KEY_SEGMENT_AGGREGATE],
        )
        self._objects(fn, ["s3:PutObject"], [KEY_SEGMENT_PARTIAL, KEY_SEGMENT_AGGREGATE])
        self._run_items(fn, ["GetItem", "Query"])
        self._run_items(fn, ["UpdateItem"], AGGREGATE_RECORD_ATTRIBUTES)  # progress, the stop flag

    def _grant_collect(self, fn: SurgeFunction) -> None:
        self._objects(fn, ["s3:GetObject"], [KEY_PLAN])
        self._objects(fn, ["s3:PutObject"], [KEY_METRICS])
        self._run_items(
            fn, ["GetItem", "BatchGetItem", "UpdateItem"]
        )  # run options and request count (counters)
        fn.allow(
            iam.PolicyStatement(
                actions=[
                    "cloudwatch:GetMetricData",
                    "cloudwatch:ListMetrics",
                    "ce:GetCostAndUsage",
                    "logs:GetQueryResults",
                    "logs:StopQuery",
                ],
                resources=["*"],
            ),
            wildcard_reason="Read-only CloudWatch, Cost Explorer and Logs Insights result APIs that "
            "support no resource-level permissions: '*' is the only valid resource.",
        )
        fn.allow(
            iam.PolicyStatement(
                actions=["logs:StartQuery"],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{group}"
                    for group in self._log_groups
                ],
            ),
            wildcard_reason="Logs Insights queries read the tested Lambda functions' log groups "
            "(/aws/lambda/*, named by plans after deploy) and the groups the deployer listed in "
            "surge:logGroups; StartQuery is read-only, in this account and region.",
        )

    def _grant_report(self, fn: SurgeFunction) -> None:
        self._list(fn, f"{RUNS_PREFIX}*")
        # Every object under runs/: the report compares with a baseline run's results.
        self._objects(fn, ["s3:GetObject"], [f"{RUNS_PREFIX}*"])
        self._objects(fn, ["s3:PutObject"], [KEY_REPORT, KEY_JUNIT, KEY_RESULTS])
        self._grant_secret_values(fn)  # the teardown flow's
        self._grant_steps(fn)
        # PutItem: RecordError creates the run record when Prepare failed before writing it.
        self._run_items(fn, ["GetItem", "PutItem", "UpdateItem", "Query"])
        fn.allow(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{self._table.table_arn}/index/*"]),
            wildcard_reason="Queries on the runs table's own GSIs: history by plan (baseline lookup) "
            "and recent runs.",
        )
        # Run Completed for runs finished outside the workflow (a console stop, a timeout): only
        # surge's own source and detail-type, as the workflow's role.
        fn.allow(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[self._event_bus.event_bus_arn],
                conditions={
                    "StringEquals": {"events:source": EVENT_SOURCE, "events:detail-type": EVENT_DETAIL_TYPE}
                },
            )
        )


SECRETS_REASON = (
    "Secrets and parameters a plan references must be named under the surge/ prefix "
    "(docs/workflow.md); users create them after deploy, so the name past the prefix is unknown."
)


def _secrets_arn() -> str:
    return f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:{SECRETS_PREFIX}*"


def _parameters_arn() -> str:
    return f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/{SECRETS_PREFIX}*"
