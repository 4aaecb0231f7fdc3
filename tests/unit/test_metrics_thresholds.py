"""Threshold grammar for service metrics and cost (surge/thresholds.py) and binding to a plan's
services (surge/metrics/bind.py): every new form, unit errors, expressions, refusals."""

from __future__ import annotations

import math

import pytest
from pydantic import TypeAdapter

from surge.metrics.bind import bind_threshold, bind_thresholds, declared_names, threshold_problem
from surge.metrics.spec import CostSpec, Services, ServiceSpec
from surge.thresholds import (
    ExprBinOp,
    ExprName,
    ExprNeg,
    ExprNum,
    MetricRef,
    Threshold,
    ThresholdError,
    compare,
    eval_target_expr,
    parse_metric,
    parse_target_expr,
    parse_threshold,
)


def refused(expr: str) -> str:
    with pytest.raises(ThresholdError) as info:
        parse_threshold(expr)
    return str(info.value)


@pytest.mark.parametrize(
    ("expr", "canonical", "op", "target", "kind"),
    [
        ('lambda["orders"].cold_start.p99 < 2s', 'lambda["orders"].cold_start.p99', "<", 2000.0, "ms"),
        ('lambda["orders"].cold_start.rate < 5%', 'lambda["orders"].cold_start.rate', "<", 0.05, "ratio"),
        ('lambda["orders"].duration.p95 < 300ms', 'lambda["orders"].duration.p95', "<", 300.0, "ms"),
        ('lambda["orders"].throttles.sum == 0', 'lambda["orders"].throttles.sum', "==", 0.0, "count"),
        ("lambda['orders'].errors.sum <= 3", 'lambda["orders"].errors.sum', "<=", 3.0, "count"),
        (
            'dynamodb["orders"].throttled_requests.sum == 0',
            'dynamodb["orders"].throttled_requests.sum',
            "==",
            0.0,
            "count",
        ),
        (
            'dynamodb["orders"].throttled_requests.PutItem.sum == 0',
            'dynamodb["orders"].throttled_requests.PutItem.sum',
            "==",
            0.0,
            "count",
        ),
        (
            'dynamodb["orders"].successful_request_latency.GetItem.p95 < 10ms',
            'dynamodb["orders"].successful_request_latency.GetItem.p95',
            "<",
            10.0,
            "ms",
        ),
        (
            'dynamodb["orders"].wcu_utilization.max < 0.8',
            'dynamodb["orders"].wcu_utilization.max',
            "<",
            0.8,
            "ratio",
        ),
        ('elasticache["sessions"].hit_rate > 80%', 'elasticache["sessions"].hit_rate', ">", 0.8, "ratio"),
        ('elasticache["sessions"].cpu.max < 90%', 'elasticache["sessions"].cpu.max', "<", 0.9, "ratio"),
        ('rds["main"].connections.max < 90', 'rds["main"].connections.max', "<", 90.0, "count"),
        (
            'opensearch["search"].search_latency.p95 < 300ms',
            'opensearch["search"].search_latency.p95',
            "<",
            300.0,
            "ms",
        ),
        (
            's3["assets"].total_request_latency.p95 < 200ms',
            's3["assets"].total_request_latency.p95',
            "<",
            200.0,
            "ms",
        ),
        ('apigateway["api"].5xx.sum == 0', 'apigateway["api"].5xx.sum', "==", 0.0, "count"),
        ('apigateway["api"].5xx_rate < 0.1%', 'apigateway["api"].5xx_rate', "<", 0.001, "ratio"),
        ('apigateway["api"].latency.p99 < 1s', 'apigateway["api"].latency.p99', "<", 1000.0, "ms"),
        ('opensearch["search"].4xx.sum < 10', 'opensearch["search"].4xx.sum', "<", 10.0, "count"),
        (
            'sqs["jobs"].oldest_message_age.max < 60s',
            'sqs["jobs"].oldest_message_age.max',
            "<",
            60000.0,
            "ms",
        ),
        ('sqs["jobs"].visible_messages.max < 1000', 'sqs["jobs"].visible_messages.max', "<", 1000.0, "count"),
        ("cost.monthly_usd <= 950", "cost.monthly_usd", "<=", 950.0, "usd"),
        ("cost.monthly_usd <= $950", "cost.monthly_usd", "<=", 950.0, "usd"),
        ("cost.per_million_requests_usd < 2", "cost.per_million_requests_usd", "<", 2.0, "usd"),
        ("cost.run_usd < $0.50", "cost.run_usd", "<", 0.5, "usd"),
        # custom metrics take their kind from the threshold's unit until the plan's unit is known
        ('custom["app"].checkout_latency < 250ms', 'custom["app"].checkout_latency', "<", 250.0, "ms"),
        ('custom["app"].hit_ratio > 90%', 'custom["app"].hit_ratio', ">", 0.9, "ratio"),
        ('custom["app"].queue_depth < 10', 'custom["app"].queue_depth', "<", 10.0, "count"),
        ('custom["app"].spend < $3', 'custom["app"].spend', "<", 3.0, "usd"),
        # only numbers on the right: computed at once
        ('rds["main"].connections.max < 100 * 0.9', 'rds["main"].connections.max', "<", 90.0, "count"),
    ],
)
def test_service_threshold_forms(expr: str, canonical: str, op: str, target: float, kind: str) -> None:
    th = parse_threshold(expr)
    assert (th.metric.canonical, th.op, th.unit) == (canonical, op, kind)
    assert th.target == pytest.approx(target)
    assert th.is_bound
    assert parse_metric(th.metric.canonical).canonical == canonical


def test_metric_ref_of_service_metric() -> None:
    ref = parse_metric('apigateway["api"].5xx.sum')
    assert ref == MetricRef("apigateway", "api", ("5xx", "sum"), "count")
    assert ref.percentile is None
    assert parse_metric("cost.monthly_usd") == MetricRef("cost", None, ("monthly_usd",), "usd")


def test_expression_target_parses_into_ast_and_binds() -> None:
    th = parse_threshold('rds["main"].connections.max < pool * 0.9')
    assert th.target_expr == ExprBinOp("*", ExprName("pool"), ExprNum(0.9))
    assert th.names == {"pool"}
    assert not th.is_bound and math.isnan(th.target)
    assert not compare(1.0, th.op, th.target)  # unbound never passes
    bound = th.bind({"pool": 100})
    assert bound.target == pytest.approx(90.0) and bound.is_bound
    assert bound.expr == th.expr and bound.metric == th.metric
    with pytest.raises(ThresholdError, match="'pool' has no value"):
        th.bind({})


@pytest.mark.parametrize(
    ("text", "names", "value"),
    [
        ("pool", {"pool": 50}, 50.0),
        ("pool * 0.9", {"pool": 50}, 45.0),
        ("pool - 5", {"pool": 50}, 45.0),
        ("(pool + 10) / 2", {"pool": 50}, 30.0),
        ("pool + 10 / 2", {"pool": 50}, 55.0),
        ("-pool + 60", {"pool": 50}, 10.0),
        ("2 * (3 + 4) - 1", {}, 13.0),
        ("10 / 4 / 5", {}, 0.5),
        ("8 - 2 - 1", {}, 5.0),
    ],
)
def test_target_expression_arithmetic(text: str, names: dict[str, float], value: float) -> None:
    assert eval_target_expr(parse_target_expr(text), names) == pytest.approx(value)


def test_target_expression_ast_shapes() -> None:
    assert parse_target_expr("-(a - 1)") == ExprNeg(ExprBinOp("-", ExprName("a"), ExprNum(1.0)))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("pool *", "ends too early"),
        ("(pool", "not closed"),
        ("pool)", "unexpected ')'"),
        ("pool ** 2", "unexpected '*'"),
        ("__import__('os')", "cannot read"),
        ("pool; 1", "cannot read"),
        ("1e3", "unexpected 'e3'"),
    ],
)
def test_target_expression_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(ThresholdError) as info:
        parse_target_expr(text)
    assert fragment in str(info.value)


def test_division_by_zero_is_an_error() -> None:
    with pytest.raises(ThresholdError, match="divides by zero"):
        eval_target_expr(parse_target_expr("pool / 0"), {"pool": 1})


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ('lambda["orders"].cold_start.p99 < 80%', "compares a duration"),
        ('elasticache["sessions"].hit_rate > 80ms', "compares a rate"),
        ('elasticache["sessions"].hit_rate > 80', "a rate is a fraction"),
        ('dynamodb["orders"].throttled_requests.sum == 0ms', "compares a count"),
        ("cost.monthly_usd <= 950ms", "compares a cost"),
        ('lambda["orders"].p99 < 1s', "lambda metrics are: invocations.sum"),
        ('lambda["orders"].duration < 1s', "unknown metric 'lambda[\"orders\"].duration'"),
        ('lambda["orders"] < 1s', "unknown metric"),
        ('rds["main"].bogus.max < 1', "rds metrics are: connections.max, pool"),
        ('dynamodb["t"].throttled_requests.Get-Item.sum == 0', "cannot read threshold"),
        ('dynamodb["t"].throttled_requests.Get.Item.sum == 0', "<Operation>"),
        ("cost.bogus < 1", "cost metrics are: monthly_usd, lookback_usd, per_million_requests_usd, run_usd"),
        ('cost["x"].monthly_usd < 1', "unknown metric namespace 'cost[...]'"),
        ('lambda[""].errors.sum == 0', "is empty; name a service"),
        (
            "lambda.errors.sum == 0",
            'lambda metrics need the service\'s name from the plan: lambda["NAME"].errors.sum',
        ),
        ('custom["x"].a.b < 1', "name one of the custom service's query ids"),
        ('custom["x"].Upper < 1', "name one of the custom service's query ids"),
        ('nosuch["x"].a < 1', "known: endpoint[...], phase[...], stage[...], recovery[...], lambda[...]"),
        # expressions
        (
            'rds["main"].connections.max < conns * 0.9',
            "'conns' is not a value rds services provide (they provide: pool)",
        ),
        (
            'sqs["jobs"].visible_messages.max < pool',
            "'pool' is not a value sqs services provide (they provide: none)",
        ),
        ('rds["main"].cpu.max < pool * 0.01', "'pool' is a count and cannot be compared with a ratio metric"),
        ("cost.monthly_usd <= baseline * x", "'x' is not a value cost services provide"),
        ('rds["main"].connections.max < pool *', "is not a number with an optional unit, nor an expression"),
        # HTTP metrics keep their old message: no names on their right side
        ("http.requests >= lots", "is not a number with an optional unit"),
    ],
)
def test_refusals(expr: str, fragment: str) -> None:
    assert fragment in refused(expr)


def test_http_thresholds_unchanged() -> None:
    th = parse_threshold("http.latency.p95 < 500ms")
    assert th == Threshold("http.latency.p95 < 500ms", th.metric, "<", 500.0)
    assert th.target_expr is None and th.names == frozenset() and th.bind({"pool": 1}) is th


def test_custom_kind_given_by_the_plan() -> None:
    assert parse_threshold('custom["x"].lat < 2', kind="ms").target == 2.0
    assert parse_threshold('custom["x"].lat < 2s', kind="ms").target == 2000.0
    with pytest.raises(ThresholdError, match="compares a duration"):
        parse_threshold('custom["x"].lat < 2%', kind="ms")


# -- binding to the plan's services ------------------------------------------------------------------

SERVICES: list[ServiceSpec] = TypeAdapter(Services).validate_python(
    [
        {
            "type": "lambda",
            "name": "orders",
            "function_name": "orders-fn",
            "memory_mb": 1024,
            "concurrency_limit": 200,
        },
        {"type": "lambda", "name": "nocold", "function_name": "f2", "cold_starts": False},
        {"type": "rds", "name": "main", "instance_id": "db", "pool_max": 100},
        {"type": "rds", "name": "nopool", "instance_id": "db2"},
        {"type": "dynamodb", "name": "orders", "table": "t", "operations": ["GetItem", "PutItem"]},
        {
            "type": "custom",
            "name": "app",
            "queries": [
                {"id": "lat", "namespace": "App", "metric": "Latency", "stat": "p99", "unit": "Milliseconds"},
                {"id": "depth", "namespace": "App", "metric": "Depth", "stat": "Maximum"},
            ],
            "expressions": [{"id": "share", "expression": "lat / 2", "unit": "Percent"}],
        },
    ]
)
COST = CostSpec(tag_key="app", tag_value="mocs", baseline_monthly_usd=950)


def problem(expr: str, services: list[ServiceSpec] = SERVICES, cost: CostSpec | None = COST) -> str | None:
    return threshold_problem(parse_threshold(expr), services, cost)


@pytest.mark.parametrize(
    "expr",
    [
        'lambda["orders"].cold_start.p99 < 2s',
        'lambda["orders"].concurrent_executions.max < concurrency_limit * 0.8',
        'rds["main"].connections.max < pool * 0.9',
        'rds["main"].connection_utilization.max < 90%',
        'dynamodb["orders"].throttled_requests.PutItem.sum == 0',
        'custom["app"].lat < 200ms',
        'custom["app"].lat < 200',
        'custom["app"].depth < 10',
        'custom["app"].share > 50%',
        "cost.monthly_usd <= baseline",
        "cost.per_million_requests_usd < 2",
        "http.latency.p95 < 500ms",
    ],
)
def test_thresholds_that_fit_the_plan(expr: str) -> None:
    assert problem(expr) is None


@pytest.mark.parametrize(
    ("expr", "fragment", "services", "cost"),
    [
        (
            'lambda["payments"].errors.sum == 0',
            'no lambda service named "payments"; the plan declares: "orders", "nocold"',
            SERVICES,
            COST,
        ),
        ('sqs["jobs"].visible_messages.max < 5', "declare it under services: with type: sqs", SERVICES, COST),
        (
            'rds["nopool"].connections.max < pool * 0.9',
            'which rds["nopool"] does not declare',
            SERVICES,
            COST,
        ),
        ('rds["nopool"].connection_utilization.max < 90%', "declare pool_max for it", SERVICES, COST),
        ('lambda["nocold"].cold_start.p99 < 2s', "its cold_starts is off", SERVICES, COST),
        ('lambda["nocold"].concurrency_utilization.max < 80%', "declare concurrency_limit", SERVICES, COST),
        (
            'dynamodb["orders"].throttled_requests.Scan.sum == 0',
            "not in the service's operations list",
            SERVICES,
            COST,
        ),
        ('custom["app"].nope < 1', "no query or expression with id 'nope'", SERVICES, COST),
        ('custom["app"].lat < 20%', "compares a duration", SERVICES, COST),
        ('custom["app"].depth < 20ms', "compares a count", SERVICES, COST),
        ("cost.monthly_usd <= 950", "needs a cost: section", SERVICES, None),
        (
            "cost.monthly_usd <= baseline",
            "declare cost.baseline_monthly_usd",
            SERVICES,
            CostSpec(tag_key="a", tag_value="b"),
        ),
        ("cost.per_million_requests_usd < 2", "needs a lambda service with memory_mb", SERVICES[1:], COST),
    ],
)
def test_thresholds_that_do_not_fit_the_plan(
    expr: str, fragment: str, services: list[ServiceSpec], cost: CostSpec | None
) -> None:
    found = problem(expr, services, cost)
    assert found is not None and fragment in found
    with pytest.raises(ThresholdError) as info:
        bind_threshold(parse_threshold(expr), services, cost)
    assert str(info.value) == found


def test_bind_fills_targets_and_custom_kinds() -> None:
    texts = [
        'rds["main"].connections.max < pool * 0.9',
        'lambda["orders"].concurrent_executions.max < concurrency_limit - 20',
        "cost.monthly_usd <= baseline * 1.05",
        'custom["app"].lat < 200',
        'custom["app"].share > 0.5',
        "http.error_rate < 1%",
    ]
    bound = bind_thresholds(
        [parse_threshold(t, abort_on_fail=True, grace_s=5) for t in texts], SERVICES, COST
    )
    assert [(b.target, b.unit) for b in bound] == [
        (pytest.approx(90.0), "count"),
        (180.0, "count"),
        (pytest.approx(997.5), "usd"),
        (200.0, "ms"),
        (0.5, "ratio"),
        (0.01, "ratio"),
    ]
    assert all(b.is_bound and b.abort_on_fail and b.grace_s == 5 for b in bound)


def test_declared_names() -> None:
    assert declared_names(SERVICES[2]) == {"pool": 100.0}
    assert declared_names(SERVICES[0]) == {"concurrency_limit": 200.0}
    assert declared_names(SERVICES[3]) == {}
    assert declared_names(None, COST) == {"baseline": 950.0}
    assert declared_names(None, None) == {}
