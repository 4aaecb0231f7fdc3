"""Where runs live: the results bucket (plans, shard items and results, reports) and the runs table."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.names import (
    GSI_BY_PLAN,
    GSI_BY_PLAN_PK,
    GSI_BY_PLAN_SK,
    GSI_RECENT,
    GSI_RECENT_PK,
    GSI_RECENT_SK,
    RUNS_PREFIX,
    TABLE_PK,
    TABLE_SK,
    TABLE_TTL,
)


class Storage(Construct):
    """Private, encrypted, TLS-only bucket with access logs; runs table with history by plan."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        results_retention_days: int = 365,
        access_log_retention_days: int = 90,
        remove_data_on_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # Results and baselines outlive the stack by default; a sandbox (the verify-in-aws job)
        # asks `cdk destroy` to remove them too: buckets emptied first, then deleted, with the table.
        removal = RemovalPolicy.DESTROY if remove_data_on_destroy else RemovalPolicy.RETAIN
        self.remove_data_on_destroy = remove_data_on_destroy
        if results_retention_days < 30:
            # Infrequent-access transition needs 30 days, and baselines must outlive a month of runs.
            raise ValueError("results_retention_days must be at least 30")

        self.logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write to SSE-KMS buckets
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(access_log_retention_days))
            ],
            removal_policy=removal,
            auto_delete_objects=remove_data_on_destroy,
        )
        nag.acknowledge(
            self.logs_bucket,
            "AwsSolutions-S1",
            "This is the server access log bucket of the results bucket; logging it to itself would "
            "loop, and logging it to yet another bucket only moves the finding.",
        )

        self.bucket = s3.Bucket(
            self,
            "Results",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,  # a re-run shard overwrites its key; versions keep what was there
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="age-run-results",
                    prefix=RUNS_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(30),
                        )
                    ],
                    expiration=Duration.days(results_retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
            ],
            removal_policy=removal,
            auto_delete_objects=remove_data_on_destroy,
        )

        # Single-table design (docs/workflow.md, "Run storage"): every item of a run under
        # pk=RUN#<id>; sparse GSIs over run records only: history per plan and recent runs.
        self.table = dynamodb.Table(
            self,
            "Runs",
            partition_key=dynamodb.Attribute(name=TABLE_PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=TABLE_SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TABLE_TTL,  # progress items expire; run records have no TTL
            removal_policy=removal,
        )
        self.table.add_global_secondary_index(
            index_name=GSI_BY_PLAN,
            partition_key=dynamodb.Attribute(name=GSI_BY_PLAN_PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=GSI_BY_PLAN_SK, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=GSI_RECENT,
            partition_key=dynamodb.Attribute(name=GSI_RECENT_PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=GSI_RECENT_SK, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
