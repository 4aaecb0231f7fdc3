"""Service-side evidence: CloudWatch metrics, Logs Insights cold starts, Cost Explorer cost.

The public surface; see docs/service-metrics.md. The metric names and kinds it produces are in
``surge.vocabulary``, which the threshold grammar reads without loading this package.
"""

from surge.metrics.aws import FixedClients, MetricClients, MetricsError, SessionClients, credentials_available
from surge.metrics.bind import bind_threshold, bind_thresholds, declared_names, threshold_problem
from surge.metrics.collect import (
    ServiceMetrics,
    ServiceMetricSource,
    collect_or_skip,
    collect_services,
    skipped_metrics,
)
from surge.metrics.cost import RunUsage, lambda_gb_seconds, run_cost
from surge.metrics.prices import Prices
from surge.metrics.spec import CostSpec, Services, ServiceSpec

__all__ = [
    "CostSpec",
    "FixedClients",
    "MetricClients",
    "MetricsError",
    "Prices",
    "RunUsage",
    "ServiceMetricSource",
    "ServiceMetrics",
    "ServiceSpec",
    "Services",
    "SessionClients",
    "bind_threshold",
    "bind_thresholds",
    "collect_or_skip",
    "collect_services",
    "credentials_available",
    "declared_names",
    "lambda_gb_seconds",
    "run_cost",
    "skipped_metrics",
    "threshold_problem",
]
