"""k6's threshold syntax in plans, read as surge's checks and reported in surge's form."""

from __future__ import annotations

from typing import Any

import pytest

from surge.errors import PlanError
from surge.k6_thresholds import k6_checks
from surge.plan_load import parse_plan

BASE: dict[str, Any] = {
    "name": "p",
    "target": "http://127.0.0.1:1",
    "load": {"phases": [{"duration": "1s", "rate": 1}]},
    "scenarios": [{"name": "s", "flow": [{"get": {"url": "/login", "name": "login"}}]}],
}


def checks(thresholds: object) -> list[tuple[str, bool, float]]:
    plan = parse_plan({**BASE, "thresholds": thresholds})
    return [(t.check, t.abort_on_fail, t.grace) for t in plan.thresholds]


def test_k6_thresholds_beside_surge_checks() -> None:
    assert checks(
        [
            {"http_req_duration": ["p(95)<500", "p(99.9)<1500", "avg<200", "med<=100", "max<2000"]},
            "http.latency.p50 < 1s",
            {"http_req_failed": ["rate<0.01"]},
            {"http_reqs": ["count>=10", "rate>100"]},
            {"iterations": "count>5", "dropped_iterations": "count==0"},
        ]
    ) == [
        ("http.latency.p95 < 500ms", False, 0.0),
        ("http.latency.p99.9 < 1500ms", False, 0.0),
        ("http.latency.mean < 200ms", False, 0.0),
        ("http.latency.p50 <= 100ms", False, 0.0),
        ("http.latency.max < 2000ms", False, 0.0),
        ("http.latency.p50 < 1s", False, 0.0),
        ("http.error_rate < 0.01", False, 0.0),
        ("http.requests >= 10", False, 0.0),
        ("http.throughput > 100/s", False, 0.0),
        ("http.iterations > 5", False, 0.0),
        ("http.dropped_iterations == 0", False, 0.0),
    ]


def test_a_k6_thresholds_mapping_tag_filters_and_abort_options() -> None:
    assert checks(
        {
            "http_req_duration{name:login}": [
                {"threshold": "p(99)<800", "abortOnFail": True, "delayAbortEval": "10s"}
            ],
            "http_req_failed": "rate<0.05",
        }
    ) == [('endpoint["login"].latency.p99 < 800ms', True, 10.0), ("http.error_rate < 0.05", False, 0.0)]


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            {"checks": ["rate>0.99"]},
            "surge counts a failed expectation as an error: write http.error_rate < 1%",
        ),
        ({"http_req_duration": ["p95<500"]}, "write AGGREGATION OP NUMBER, e.g. p(95)<500"),
        ({"http_req_failed": ["p(95)<1"]}, "http_req_failed has no percentiles"),
        ({"http_reqs": ["avg<1"]}, "http_reqs has no avg; it has count, rate"),
        ({"http_req_duration{status:200}": ["p(95)<1"]}, "surge filters by the name tag only"),
        ({"http_req_duration{name:nope}": ["p(95)<1"]}, 'no endpoint named "nope"'),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(thresholds: object, message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({**BASE, "thresholds": [thresholds]})
    assert message in str(info.value)


def test_a_surge_threshold_spec_is_not_taken_for_k6() -> None:
    assert checks([{"check": "http.error_rate < 1%", "abort_on_fail": True}]) == [
        ("http.error_rate < 1%", True, 0.0)
    ]
    assert k6_checks("http_req_duration", "p(90) < 300") == [{"check": "http.latency.p90 < 300ms"}]
