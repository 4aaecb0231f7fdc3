"""A CloudWatch dashboard of runs: executions, workers, load generated, errors per state."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.functions import Functions
from infra.names import (
    METRIC_ERRORS,
    METRIC_LATENCY_P95,
    METRIC_LIVE_DROPPED,
    METRIC_LIVE_ERRORS,
    METRIC_LIVE_P95,
    METRIC_LIVE_REQUESTS,
    METRIC_REQUESTS,
    METRIC_WORKERS_FAILED,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)

_HOUR = Duration.hours(1)
_MINUTE = Duration.minutes(1)


def _surge_metric(name: str, statistic: str, period: Duration = _MINUTE) -> cw.Metric:
    # Powertools Metrics adds the `service` dimension to every EMF metric the core emits.
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


class RunsDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: Functions,
    ) -> None:
        super().__init__(scope, construct_id)
        worker = functions.worker
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown="# surge runs\nExecutions of the workflow, the Lambda load generators and the "
                "load they sent. Per-run details: `surge status RUN` or the run's report.",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Runs (executions per hour)",
                left=[
                    state_machine.metric_started(period=_HOUR, label="started"),
                    state_machine.metric_succeeded(period=_HOUR, label="passed"),
                    state_machine.metric_failed(period=_HOUR, label="failed or errored"),
                    state_machine.metric_aborted(period=_HOUR, label="stopped"),
                    state_machine.metric_timed_out(period=_HOUR, label="timed out"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Run duration",
                left=[
                    state_machine.metric_time(statistic="p50", period=_HOUR, label="p50"),
                    state_machine.metric_time(statistic="Maximum", period=_HOUR, label="max"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Workers",
                left=[
                    cw.Metric(
                        namespace="AWS/Lambda",
                        metric_name="ConcurrentExecutions",
                        dimensions_map={"FunctionName": worker.function_name},
                        statistic="Maximum",
                        period=_MINUTE,
                        label="concurrent workers",
                    ),
                ],
                right=[
                    worker.metric_errors(period=_MINUTE, label="crashed"),
                    worker.metric_throttles(period=_MINUTE, label="throttled"),
                    _surge_metric(METRIC_WORKERS_FAILED, "Sum").with_(label="missing shards"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Load generated (live: every worker, every interval)",
                left=[
                    _surge_metric(METRIC_LIVE_REQUESTS, "Sum").with_(label="requests/min"),
                    _surge_metric(METRIC_LIVE_ERRORS, "Sum").with_(label="errors/min"),
                    _surge_metric(METRIC_LIVE_DROPPED, "Sum").with_(label="dropped iterations/min"),
                ],
                right=[_surge_metric(METRIC_LIVE_P95, "Maximum").with_(label="worst shard p95 (ms)")],
                width=12,
            ),
            cw.GraphWidget(
                title="Runs' results (one point per run)",
                left=[
                    _surge_metric(METRIC_REQUESTS, "Sum", _HOUR).with_(label="requests per run"),
                    _surge_metric(METRIC_ERRORS, "Sum", _HOUR).with_(label="errors per run"),
                ],
                right=[_surge_metric(METRIC_LATENCY_P95, "Maximum", _HOUR).with_(label="run p95 (ms)")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Errors per state",
                left=[fn.metric_errors(period=_HOUR, label=fn_id) for fn_id, fn in _named(functions)],
                width=12,
            ),
            cw.GraphWidget(
                title="Duration per state (max)",
                left=[
                    fn.metric_duration(statistic="Maximum", period=_HOUR, label=fn_id)
                    for fn_id, fn in _named(functions)
                ],
                width=12,
            ),
        )


def _named(functions: Functions) -> list[tuple[str, lambda_.Function]]:
    return [(state, surge_fn.function) for state, surge_fn in functions.by_state.items()]
