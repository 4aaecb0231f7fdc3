"""SurgeStack: storage, functions, workflow, optional schedules, dashboard and the CLI's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra.bundling import lambda_code
from infra.config import ScheduleSpec
from infra.dashboard import RunsDashboard
from infra.functions import Functions
from infra.schedules import Schedules
from infra.storage import Storage
from infra.workflow import Workflow
from surge import __version__
from surge.cloud.deployment import NO_HOSTS


@dataclass(frozen=True, kw_only=True)
class ProjectPaths:
    """Where the stack finds its inputs; tests build the stack from the same paths as app.py."""

    functions_dir: Path
    definition: Path
    package_dirs: tuple[Path, ...]
    pyproject: Path

    @classmethod
    def from_root(cls, root: Path) -> ProjectPaths:
        root = root.resolve()
        return cls(
            functions_dir=root / "functions",
            definition=root / "statemachine" / "surge.asl.json",
            package_dirs=(root / "surge", root / "reports"),
            pyproject=root / "pyproject.toml",
        )


class SurgeStack(Stack):
    """Everything `surge run --cloud` needs in one account and region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        paths: ProjectPaths,
        schedules: Sequence[ScheduleSpec] = (),
        step_resources: Sequence[str] = (),
        log_groups: Sequence[str] = (),
        worker_reserved_concurrency: int | None = None,
        skip_pip_install: bool = False,
        results_retention_days: int = 365,
        remove_data_on_destroy: bool = False,
        allowed_targets: Sequence[str] = (),
        allow_hooks: bool = False,
        event_bus_name: str = "default",
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.storage = Storage(
            self,
            "Storage",
            results_retention_days=results_retention_days,
            remove_data_on_destroy=remove_data_on_destroy,
        )
        code = lambda_code(
            functions_dir=paths.functions_dir,
            package_dirs=paths.package_dirs,
            pyproject=paths.pyproject,
            skip_pip_install=skip_pip_install,
        )
        self.event_bus = events.EventBus.from_event_bus_name(self, "EventBus", event_bus_name)
        self.functions = Functions(
            self,
            "Functions",
            code=code,
            bucket=self.storage.bucket,
            table=self.storage.table,
            event_bus=self.event_bus,
            step_resources=step_resources,
            log_groups=log_groups,
            worker_reserved_concurrency=worker_reserved_concurrency,
            allowed_targets=allowed_targets,
            allow_hooks=allow_hooks,
        )
        self.workflow = Workflow(
            self,
            "Workflow",
            definition_path=paths.definition,
            functions=self.functions,
            bucket=self.storage.bucket,
            table=self.storage.table,
            event_bus=self.event_bus,
        )
        self.schedules = (
            Schedules(
                self,
                "Schedules",
                state_machine=self.workflow.state_machine,
                schedules=schedules,
                bucket=self.storage.bucket,
            )
            if schedules
            else None
        )
        self.dashboard = RunsDashboard(
            self, "Dashboard", state_machine=self.workflow.state_machine, functions=self.functions
        )
        self._outputs(worker_reserved_concurrency)
        # What runs may do here, for the CLI to check before it starts one (Prepare checks again).
        CfnOutput(
            self,
            "AllowedTargets",
            value=",".join(allowed_targets) or NO_HOSTS,
            description="hosts the workers may load (surge:allowedTargets)",
        )
        CfnOutput(
            self,
            "HooksAllowed",
            value="true" if allow_hooks else "false",
            description="whether plans may run hooks (surge:allowHooks)",
        )

    def _outputs(self, worker_reserved_concurrency: int | None) -> None:
        # Stable keys: the CLI reads these from DescribeStacks (docs/workflow.md).
        CfnOutput(
            self, "BucketName", value=self.storage.bucket.bucket_name, description="Plans, results, reports"
        )
        CfnOutput(
            self, "TableName", value=self.storage.table.table_name, description="Run records and history"
        )
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.workflow.state_machine.state_machine_arn,
            description='Start an execution with {"plan_uri": "s3://..."} or {"plan": {...}}',
        )
        CfnOutput(self, "Region", value=Aws.REGION)
        CfnOutput(
            self,
            "SurgeVersion",
            value=__version__,
            description="`surge doctor --cloud` compares it with the CLI",
        )
        if worker_reserved_concurrency is not None:
            CfnOutput(
                self,
                "WorkerReservedConcurrency",
                value=str(worker_reserved_concurrency),
                description="Concurrency reserved for the worker: the CLI checks runs against it",
            )
        CfnOutput(
            self, "EventBusName", value=self.event_bus.event_bus_name, description="Run Completed events"
        )
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard.dashboard_name)
        CfnOutput(
            self,
            "WorkerFunctionName",
            value=self.functions.worker.function_name,
            description="The load generator: its Throttles and Duration metrics (the scale drill reads them)",
        )
