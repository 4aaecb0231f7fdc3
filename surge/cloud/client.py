"""The CLI's side of cloud runs: find the stack, start an execution, follow it, stop it, fetch reports.

boto3 clients are injected (a session factory in the CLI, moto's clients in tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surge.cloud import DEFAULT_STACK, layout
from surge.cloud.deployment import NO_HOSTS, DeploymentPolicy, parse_host_patterns
from surge.cloud.inputs import upload_local_files
from surge.cloud.planner import Concurrency
from surge.cloud.records import RunRecords
from surge.errors import UserError
from surge.plan import Plan
from surge.store.history import DynamoHistory

POLL_S = 2.0
REPORT_FILES = ("report.html", "report.md", "report.json", "junit.xml")


@dataclass(frozen=True)
class StackInfo:
    bucket: str
    table: str
    state_machine_arn: str
    region: str
    worker_reserved: int | None = None  # the stack's surge:workerReservedConcurrency
    deployment: DeploymentPolicy | None = None  # what it allows runs (None: a stack from before)


def describe_stack(cfn: Any, stack_name: str = DEFAULT_STACK) -> StackInfo:
    """Read the outputs `cdk deploy` created; a missing stack is a user error naming the region."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        raise_for_aws(exc, f"stack '{stack_name}'")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    needed = ("BucketName", "TableName", "StateMachineArn")
    missing = [k for k in needed if k not in outputs]
    if missing:
        raise UserError(
            f"stack '{stack_name}' has no output(s) {', '.join(missing)}: is it a surge stack? Redeploy with `cdk deploy`."
        )
    region = outputs.get("Region") or cfn.meta.region_name
    reserved = outputs.get("WorkerReservedConcurrency")
    return StackInfo(
        outputs["BucketName"],
        outputs["TableName"],
        outputs["StateMachineArn"],
        region,
        int(reserved) if reserved and reserved.isdigit() else None,
        _deployment(outputs),
    )


def _deployment(outputs: dict[str, str]) -> DeploymentPolicy | None:
    if "AllowedTargets" not in outputs:
        return None
    listed = outputs["AllowedTargets"]
    return DeploymentPolicy(
        allowed_targets=() if listed == NO_HOSTS else parse_host_patterns(listed),
        allow_hooks=outputs.get("HooksAllowed", "false").lower() == "true",
    )


def raise_for_aws(exc: Exception, what: str) -> Any:
    """Turn the AWS errors a user causes into one clear message (exit 2), never a traceback."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        raise UserError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        ) from None
    if isinstance(exc, NoRegionError):
        raise UserError(
            "no AWS region set: pass --region or set AWS_REGION to the region surge is deployed in"
        ) from None
    if isinstance(exc, EndpointConnectionError):
        raise UserError(f"cannot reach AWS for {what}: {exc}") from None
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in ("ValidationError", "ResourceNotFoundException", "StackNotFound"):
            raise UserError(
                f"{what} not found ({message}); deploy it with `cdk deploy`, or check --stack and --region"
            ) from None
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            raise UserError(f"access denied for {what}: {message}") from None
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
            raise UserError(
                f"AWS credentials are invalid or expired ({code}): refresh them and retry"
            ) from None
    raise exc


@dataclass
class RunStatus:
    run_id: str
    execution_status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    record: dict[str, object]
    cause: str | None

    @property
    def done(self) -> bool:
        return self.execution_status != "RUNNING"

    @property
    def verdict(self) -> str:
        v = self.record.get("verdict")
        if isinstance(v, str):
            return v
        return "pass" if self.execution_status == "SUCCEEDED" else "error"


class CloudRuns:
    def __init__(
        self, info: StackInfo, *, s3: Any, sfn: Any, dynamodb: Any, lambda_client: Any = None
    ) -> None:
        self.info, self.s3, self.sfn = info, s3, sfn
        self.lambda_client = lambda_client
        self.dynamodb = dynamodb
        self.records = RunRecords(info.table, dynamodb)

    def execution_arn(self, run_id: str) -> str:
        # arn:aws:states:REGION:ACCOUNT:stateMachine:NAME -> ...:execution:NAME:RUN
        prefix, name = self.info.state_machine_arn.rsplit(":stateMachine:", 1)
        return f"{prefix}:execution:{name}:{run_id}"

    def start(
        self,
        plan: Plan,
        run_id: str,
        options: dict[str, object] | None = None,
        *,
        base_dir: Path | None = None,
        concurrency: Concurrency | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> str:
        """Upload the plan (and its local data and baseline files, which ``base_dir`` resolves like
        a local run does: the plan's folder) and start the execution named after the run.
        ``concurrency``: the Lambda executions the run needs at its peak, checked against the
        account's after the files (a UserError names both); a note when it cannot be read."""
        key = f"{layout.PLANS_PREFIX}{run_id}.json"
        if self.info.deployment is not None:
            self.info.deployment.check(plan)  # as Prepare would, before anything is uploaded
        try:
            plan = upload_local_files(
                plan, base_dir or Path.cwd(), s3=self.s3, bucket=self.info.bucket, run_id=run_id
            )
            if concurrency is not None:
                note = self.check_concurrency(concurrency)
                if note and on_note is not None:
                    on_note(note)
            self.s3.put_object(
                Bucket=self.info.bucket,
                Key=key,
                Body=json.dumps(plan.model_dump(mode="json", by_alias=True)).encode(),
                ContentType="application/json",
            )
            payload: dict[str, object] = {"plan_uri": f"s3://{self.info.bucket}/{key}"}
            if options:
                payload["options"] = options
            resp = self.sfn.start_execution(
                stateMachineArn=self.info.state_machine_arn, name=run_id, input=json.dumps(payload)
            )
        except UserError:
            raise
        except Exception as exc:
            raise_for_aws(exc, "the surge state machine")
        return str(resp["executionArn"])

    def check_concurrency(self, needed: Concurrency) -> str | None:
        """UserError when the account cannot run the plan's workers at once (see planner)."""
        from surge.cloud.planner import check_concurrency

        if self.lambda_client is None:
            return "the account's Lambda concurrency was not checked (no Lambda client)"
        return check_concurrency(self.lambda_client, needed, reserved=self.info.worker_reserved)

    def status(self, run_id: str) -> RunStatus:
        try:
            desc = self.sfn.describe_execution(executionArn=self.execution_arn(run_id))
        except Exception as exc:
            raise_for_aws(exc, f"run '{run_id}'")
        record = self.records.with_progress(run_id) or {}
        cause = desc.get("cause") or (record.get("cause") if isinstance(record.get("cause"), str) else None)
        return RunStatus(run_id, str(desc["status"]), record, cause if isinstance(cause, str) else None)

    def follow(
        self, run_id: str, on_progress: Callable[[RunStatus], None] | None = None, poll_s: float = POLL_S
    ) -> RunStatus:
        while True:
            st = self.status(run_id)
            if on_progress is not None:
                on_progress(st)
            if st.done:
                return st
            time.sleep(poll_s)

    def stop(self, run_id: str, reason: str = "stopped with `surge stop`") -> None:
        """Set the stop flag: workers end within seconds, Aggregate stops the workflow, and the
        report is written from what was measured (marked partial)."""
        if self.records.get(run_id) is None and not self._execution_running(run_id):
            raise UserError(
                f"no run '{run_id}' in table {self.info.table} nor a running execution of that name; "
                "list runs with `surge runs --cloud`"
            )
        # Right after `run --cloud` the record may not exist yet: the flag is set all the same, and
        # Prepare, finding it, launches no worker.
        self.records.request_stop(run_id, reason)

    def _execution_running(self, run_id: str) -> bool:
        try:
            desc = self.sfn.describe_execution(executionArn=self.execution_arn(run_id))
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise_for_aws(exc, f"run '{run_id}'")
        return str(desc.get("status")) == "RUNNING"

    def recent(self, plan: str | None = None, limit: int = 20) -> list[dict[str, object]]:
        return self.records.recent(limit=limit, plan=plan)

    def history(self) -> DynamoHistory:
        """The stack's history of finished runs, as the CLI's baselines and comparisons read it."""
        return DynamoHistory(self.info.table, self.dynamodb)

    def download_report(self, run_id: str, dest: Path) -> dict[str, Path]:
        dest.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name in REPORT_FILES:
            key = layout.report_key(run_id, name)
            try:
                body = self.s3.get_object(Bucket=self.info.bucket, Key=key)["Body"].read()
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code in ("NoSuchKey", "404"):
                    raise UserError(
                        f"run '{run_id}' has no {name} yet (s3://{self.info.bucket}/{key})"
                    ) from None
                raise_for_aws(exc, f"s3://{self.info.bucket}/{key}")
            path = dest / name
            path.write_bytes(body)
            paths[name.split(".")[-1] if name != "junit.xml" else "junit"] = path
        return paths
