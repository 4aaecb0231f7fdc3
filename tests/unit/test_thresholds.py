"""Threshold expressions (surge/thresholds.py): every accepted form, every refusal, compare()."""

from __future__ import annotations

import pytest

from surge.thresholds import MetricRef, Threshold, ThresholdError, compare, parse_metric, parse_threshold


def parsed(expr: str) -> tuple[str, str, float, str]:
    """(canonical metric, op, target, kind) of a threshold expression."""
    th = parse_threshold(expr)
    return th.metric.canonical, th.op, th.target, th.unit


def refused(expr: str) -> str:
    with pytest.raises(ThresholdError) as info:
        parse_threshold(expr)
    return str(info.value)


# -- accepted forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("http.latency.p95 < 500ms", ("http.latency.p95", "<", 500.0, "ms")),
        ("http.latency.p99 <= 2s", ("http.latency.p99", "<=", 2000.0, "ms")),
        ("http.latency.p99.9 < 1s", ("http.latency.p999", "<", 1000.0, "ms")),
        ("http.latency.p999 < 1s", ("http.latency.p999", "<", 1000.0, "ms")),
        ("http.latency.p99_9 < 1s", ("http.latency.p999", "<", 1000.0, "ms")),
        ("http.latency.avg < 200ms", ("http.latency.mean", "<", 200.0, "ms")),
        ("http.latency.mean < 200ms", ("http.latency.mean", "<", 200.0, "ms")),
        ("http.latency.med < 120ms", ("http.latency.p50", "<", 120.0, "ms")),
        ("http.latency.min > 1ms", ("http.latency.min", ">", 1.0, "ms")),
        ("http.latency.max < 5s", ("http.latency.max", "<", 5000.0, "ms")),
        ("http.latency.p5 > 1ms", ("http.latency.p5", ">", 1.0, "ms")),
        ("http.service_time.p90 < 100ms", ("http.service_time.p90", "<", 100.0, "ms")),
        ("http.error_rate < 1%", ("http.error_rate", "<", 0.01, "ratio")),
        ("http.error_rate < 0.01", ("http.error_rate", "<", 0.01, "ratio")),
        ("http.error_rate <= 2.5%", ("http.error_rate", "<=", 0.025, "ratio")),
        ("http.error_rate < 100%", ("http.error_rate", "<", 1.0, "ratio")),
        ("http.throughput > 100/s", ("http.throughput", ">", 100.0, "per_s")),
        ("http.throughput > 100rps", ("http.throughput", ">", 100.0, "per_s")),
        ("http.throughput > 100 req/s", ("http.throughput", ">", 100.0, "per_s")),
        ("http.throughput >= 250", ("http.throughput", ">=", 250.0, "per_s")),
        ("http.rps > 100/s", ("http.throughput", ">", 100.0, "per_s")),
        ("http.requests >= 1000", ("http.requests", ">=", 1000.0, "count")),
        ("http.errors < 5", ("http.errors", "<", 5.0, "count")),
        ("http.iterations > 10", ("http.iterations", ">", 10.0, "count")),
        ("http.dropped_iterations == 0", ("http.dropped_iterations", "==", 0.0, "count")),
        ("http.dropped_iterations != 3", ("http.dropped_iterations", "!=", 3.0, "count")),
        ('endpoint["POST /events"].p99 < 300ms', ('endpoint["POST /events"].latency.p99', "<", 300.0, "ms")),
        ("endpoint['POST /events'].p99 < 300ms", ('endpoint["POST /events"].latency.p99', "<", 300.0, "ms")),
        ('endpoint[ "GET /a" ].avg < 1s', ('endpoint["GET /a"].latency.mean', "<", 1000.0, "ms")),
        ('endpoint["x"].p99.9 < 1s', ('endpoint["x"].latency.p999', "<", 1000.0, "ms")),
        ('endpoint["x"].error_rate < 2%', ('endpoint["x"].error_rate', "<", 0.02, "ratio")),
        ('endpoint["x"].service_time.p95 < 80ms', ('endpoint["x"].service_time.p95', "<", 80.0, "ms")),
        (
            'endpoint["GET /a.b?x=1"].latency.p99 < 1s',
            ('endpoint["GET /a.b?x=1"].latency.p99', "<", 1000.0, "ms"),
        ),
        ('phase["sustained"].latency.p95 < 500ms', ('phase["sustained"].latency.p95', "<", 500.0, "ms")),
        ('phase["ramp up"].throughput > 50/s', ('phase["ramp up"].throughput', ">", 50.0, "per_s")),
        # no spaces around the operator, spaces inside the value
        ("http.latency.p95<500ms", ("http.latency.p95", "<", 500.0, "ms")),
        ("http.latency.p95 < 500 ms", ("http.latency.p95", "<", 500.0, "ms")),
        ("http.error_rate < 1 %", ("http.error_rate", "<", 0.01, "ratio")),
    ],
)
def test_accepted_forms(expr: str, expected: tuple[str, str, float, str]) -> None:
    canonical, op, target, kind = parsed(expr)
    want_canonical, want_op, want_target, want_kind = expected
    assert (canonical, op, kind) == (want_canonical, want_op, want_kind)
    assert target == pytest.approx(want_target, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("500", 500.0),
        ("500ms", 500.0),
        ("500MS", 500.0),
        ("250us", 0.25),
        ("250µs", 0.25),
        ("1.5s", 1500.0),
        ("2s", 2000.0),
        ("2m", 120_000.0),
        ("1min", 60_000.0),
    ],
)
def test_duration_units_convert_to_ms(value: str, ms: float) -> None:
    assert parse_threshold(f"http.latency.p95 < {value}").target == pytest.approx(ms)


def test_threshold_keeps_expression_and_options() -> None:
    th = parse_threshold("  http.error_rate < 5%  ", abort_on_fail=True, grace_s=30.0)
    assert isinstance(th, Threshold)
    assert th.expr == "http.error_rate < 5%"
    assert th.abort_on_fail is True
    assert th.grace_s == 30.0
    assert th.unit == "ratio"
    assert parse_threshold("http.error_rate < 5%").abort_on_fail is False


@pytest.mark.parametrize(
    ("expr", "pct"),
    [
        ("http.latency.p95 < 1s", 95.0),
        ("http.latency.p99.9 < 1s", 99.9),
        ("http.latency.p999 < 1s", 99.9),
        ("http.latency.med < 1s", 50.0),
        ("http.latency.p99.99 < 1s", 99.99),
        ('endpoint["e"].p90 < 1s', 90.0),
        ("http.latency.max < 1s", None),
        ("http.latency.avg < 1s", None),
        ("http.error_rate < 1%", None),
    ],
)
def test_metric_percentile(expr: str, pct: float | None) -> None:
    assert parse_threshold(expr).metric.percentile == pct


# -- MetricRef -----------------------------------------------------------------------------------


def test_metric_ref_fields() -> None:
    ref = parse_metric("endpoint['POST /events'].p99")
    assert ref == MetricRef("endpoint", "POST /events", ("latency", "p99"), "ms")
    assert ref.canonical == 'endpoint["POST /events"].latency.p99'
    assert parse_metric("http.rps") == MetricRef("http", None, ("throughput",), "per_s")
    assert parse_metric("http.rps").canonical == "http.throughput"


@pytest.mark.parametrize(
    "text",
    [
        "http.latency.p95",
        "http.service_time.p50",
        "http.error_rate",
        'endpoint["POST /v1/events"].latency.p99',
        'phase["sustained"].throughput',
        'endpoint["it\'s"].latency.p95',
    ],
)
def test_canonical_reparses_to_same_metric(text: str) -> None:
    ref = parse_metric(text)
    assert parse_metric(ref.canonical) == ref


def test_canonical_of_key_with_double_quote_reparses() -> None:
    ref = parse_metric("endpoint['say \"hi\"'].p95")
    assert ref.key == 'say "hi"'
    assert parse_metric(ref.canonical) == ref


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("foo.latency.p95 < 1s", "unknown metric 'foo.latency.p95'"),
        ('lambda["f"].p99 < 1s', "lambda metrics are:"),
        ('nosuch["f"].p99 < 1s', "unknown metric namespace 'nosuch[...]'"),
        ("http.bogus < 1", "unknown metric 'http.bogus'"),
        ("http.p95 < 1s", "unknown metric 'http.p95'"),
        ("http.latency < 500ms", "say which statistic"),
        ("http.latency.p95.x < 1s", "say which statistic"),
        ("http.latency.foo < 1s", "'foo' is not a latency statistic"),
        ("http.latency.P95 < 1s", "'P95' is not a latency statistic"),
        ("http.latency.p0 < 1s", "'p0' is not a latency statistic"),
        ("http.latency.p100 < 1s", "'p100' is not a latency statistic"),
        ("http.error_rate < 500ms", "compares a rate"),
        ("http.latency.p95 < 5%", "compares a duration"),
        ("http.latency.p95 < 5/s", "compares a duration"),
        ("http.throughput > 100ms", "compares a throughput"),
        ("http.requests > 5%", "compares a count"),
        ("http.requests > 5/s", "compares a count"),
        ("http.error_rate < 5", "a rate is a fraction (0.01) or a percentage (1%)"),
        ("http.error_rate < 1.5", "a rate is a fraction"),
        ('endpoint[""].p99 < 300ms', "is empty"),
        ("endpoint[''].p99 < 300ms", "is empty"),
        ("endpoint.p99 < 300ms", 'endpoint metrics need a name: endpoint["NAME"]'),
        ("phase.latency.p95 < 300ms", 'phase metrics need a name: phase["NAME"]'),
        ('phase["x"] < 1s', "names no metric"),
        ("garbage", "cannot read threshold 'garbage'"),
        ("http.latency.p95 <", "cannot read threshold"),
        ("http.latency.p95 = 5ms", "cannot read threshold"),
        ("< 5ms", "cannot read threshold"),
        ('endpoint["x"]p99 < 1s', "cannot read threshold"),
        ("http.requests >= 1e3", "is not a number with an optional unit"),
        ("http.requests >= lots", "is not a number with an optional unit"),
    ],
)
def test_refused_with_clear_message(expr: str, fragment: str) -> None:
    assert fragment in refused(expr)


def test_unknown_metric_lists_known_metrics() -> None:
    message = refused("http.bogus < 1")
    for known in ("latency.pNN", "service_time.pNN", "error_rate", "throughput", "requests"):
        assert known in message


def test_threshold_error_is_a_value_error() -> None:
    # Plan validation (pydantic) relies on it being a ValueError subclass.
    assert issubclass(ThresholdError, ValueError)


# -- compare --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [
        ("<", True, False, False),
        ("<=", True, True, False),
        (">", False, False, True),
        (">=", False, True, True),
        ("==", False, True, False),
        ("!=", True, False, True),
    ],
)
def test_compare_every_op(op: str, below: bool, equal: bool, above: bool) -> None:
    assert compare(9.99, op, 10.0) is below  # type: ignore[arg-type]
    assert compare(10.0, op, 10.0) is equal  # type: ignore[arg-type]
    assert compare(10.01, op, 10.0) is above  # type: ignore[arg-type]


def test_compare_uses_parsed_target() -> None:
    th = parse_threshold("http.error_rate < 1%")
    assert compare(0.0099, th.op, th.target)
    assert not compare(0.01, th.op, th.target)
    th = parse_threshold("http.latency.p99 <= 2s")
    assert compare(2000.0, th.op, th.target)
    assert not compare(2000.001, th.op, th.target)


@pytest.mark.parametrize("expr", ["http.latency.p95 < -5ms", "http.error_rate < -1%"])
def test_negative_target_refused(expr: str) -> None:
    refused(expr)
