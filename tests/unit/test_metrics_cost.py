"""Cost (surge/metrics/cost.py, prices.py): Cost Explorer requests and recorded responses, monthly
projection, baseline comparison, a Lambda target's cost per million requests, the run's own cost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from surge.metrics.cost import (
    RunUsage,
    baseline_comparison,
    cost_request,
    explorer_costs,
    lambda_cost,
    lambda_gb_seconds,
    per_million,
    run_cost,
    summarize_costs,
)
from surge.metrics.prices import US_EAST_1, Prices, prices_for
from surge.metrics.spec import CostSpec

SPEC = CostSpec(tag_key="app", tag_value="mocs", lookback_days=7, baseline_monthly_usd=950)
TODAY = date(2027, 1, 15)


def day(d: int, groups: list[tuple[str, str]], estimated: bool = False) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": f"2027-01-{d:02d}", "End": f"2027-01-{d + 1:02d}"},
        "Total": {},
        "Groups": [
            {"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": a, "Unit": "USD"}}} for k, a in groups
        ],
        "Estimated": estimated,
    }


# Recorded GetCostAndUsage (DAILY, grouped by SERVICE, filtered by tag) for 7 days.
RECORDED: dict[str, Any] = {
    "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    "ResultsByTime": [
        day(8, [("AWS Lambda", "4.2011"), ("Amazon DynamoDB", "2.5"), ("Amazon ElastiCache", "3.26")]),
        day(9, [("AWS Lambda", "4.1"), ("Amazon DynamoDB", "2.5"), ("Amazon ElastiCache", "3.26")]),
        day(10, [("AWS Lambda", "3.9"), ("Amazon DynamoDB", "2.4"), ("Amazon ElastiCache", "3.26")]),
        day(11, [("AWS Lambda", "4.0"), ("Amazon DynamoDB", "2.6"), ("Amazon ElastiCache", "3.26")]),
        day(12, [("AWS Lambda", "4.4"), ("Amazon DynamoDB", "2.5"), ("Amazon ElastiCache", "3.26")]),
        day(
            13,
            [("AWS Lambda", "4.3"), ("Amazon DynamoDB", "2.5"), ("Amazon ElastiCache", "3.26"), ("Tax", "0")],
        ),
        day(
            14,
            [("AWS Lambda", "4.1"), ("Amazon DynamoDB", "2.5"), ("Amazon ElastiCache", "3.26")],
            estimated=True,
        ),
    ],
    "DimensionValueAttributes": [],
}


def test_cost_request_by_tag_over_full_days() -> None:
    assert cost_request(SPEC, TODAY) == {
        "TimePeriod": {"Start": "2027-01-08", "End": "2027-01-15"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "Filter": {"Tags": {"Key": "app", "Values": ["mocs"], "MatchOptions": ["EQUALS"]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    narrowed = CostSpec(
        tag_key="app", tag_value="mocs", services=["AWS Lambda"], metric="AmortizedCost", lookback_days=30
    )
    req = cost_request(narrowed, TODAY)
    assert req["TimePeriod"] == {"Start": "2026-12-16", "End": "2027-01-15"}
    assert req["Metrics"] == ["AmortizedCost"]
    assert req["Filter"] == {
        "And": [
            {"Tags": {"Key": "app", "Values": ["mocs"], "MatchOptions": ["EQUALS"]}},
            {"Dimensions": {"Key": "SERVICE", "Values": ["AWS Lambda"]}},
        ]
    }


def test_summary_projects_to_a_month_by_service() -> None:
    out = summarize_costs([RECORDED], SPEC, cost_request(SPEC, TODAY))
    lam = 4.2011 + 4.1 + 3.9 + 4.0 + 4.4 + 4.3 + 4.1
    total = lam + 2.5 * 5 + 2.4 + 2.6 + 3.26 * 7
    assert out.lookback_usd == pytest.approx(total, abs=1e-4)
    assert out.monthly_usd == pytest.approx(round(total * 30 / 7, 2))
    assert out.by_service_monthly_usd == {
        "AWS Lambda": round(lam * 30 / 7, 2),
        "Amazon ElastiCache": round(3.26 * 7 * 30 / 7, 2),
        "Amazon DynamoDB": round(17.5 * 30 / 7, 2),
    }  # largest first; zero-cost lines (Tax) left out
    assert list(out.by_service_monthly_usd) == ["AWS Lambda", "Amazon ElastiCache", "Amazon DynamoDB"]
    assert (out.start, out.end, out.estimated) == ("2027-01-08", "2027-01-15", True)
    assert out.notes == ["some days are still estimated by Cost Explorer and may change"]


def test_untagged_cost_is_no_data_with_a_hint() -> None:
    empty = {"ResultsByTime": [{**day(d, []), "Total": {}} for d in range(8, 15)]}
    out = summarize_costs([empty], SPEC, cost_request(SPEC, TODAY))
    assert out.monthly_usd is None and out.lookback_usd is None
    assert "no cost carries the tag app=mocs" in out.notes[0] and "cost-allocation tag" in out.notes[0]


def test_non_usd_currency_is_flagged() -> None:
    page = {
        "ResultsByTime": [
            {
                **day(8, []),
                "Groups": [
                    {"Keys": ["AWS Lambda"], "Metrics": {"UnblendedCost": {"Amount": "7", "Unit": "CNY"}}}
                ],
            }
        ]
    }
    out = summarize_costs([page], SPEC, cost_request(SPEC, TODAY))
    assert out.unit == "CNY" and "CNY, not USD" in out.notes[0]


@pytest.fixture
def ce() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_explorer_costs_follows_next_page_token(ce: tuple[Any, Stubber]) -> None:
    client, stub = ce
    req = cost_request(SPEC, TODAY)
    first = {**RECORDED, "ResultsByTime": RECORDED["ResultsByTime"][:3], "NextPageToken": "p2"}
    second = {**RECORDED, "ResultsByTime": RECORDED["ResultsByTime"][3:]}
    stub.add_response("get_cost_and_usage", first, req)
    stub.add_response("get_cost_and_usage", second, {**req, "NextPageToken": "p2"})
    out = explorer_costs(client, SPEC, today=TODAY, sleep=lambda s: None)
    assert out.monthly_usd == summarize_costs([RECORDED], SPEC, req).monthly_usd


def test_explorer_costs_access_denied_names_the_action(ce: tuple[Any, Stubber]) -> None:
    client, stub = ce
    stub.add_client_error(
        "get_cost_and_usage", service_error_code="AccessDeniedException", http_status_code=400
    )
    out = explorer_costs(client, SPEC, today=TODAY, sleep=lambda s: None)
    assert out.monthly_usd is None
    assert out.notes == [
        "Cost Explorer: access denied: the role needs the IAM permission ce:GetCostAndUsage (AccessDeniedException)"
    ]


def test_explorer_costs_retries_rate_limits(ce: tuple[Any, Stubber]) -> None:
    client, stub = ce
    stub.add_client_error(
        "get_cost_and_usage", service_error_code="LimitExceededException", http_status_code=400
    )
    stub.add_response("get_cost_and_usage", RECORDED, None)
    waits: list[float] = []
    out = explorer_costs(client, SPEC, today=TODAY, sleep=waits.append)
    assert waits == [1.0] and out.monthly_usd is not None


def test_baseline_comparison() -> None:
    assert baseline_comparison(812.4, 950) == {
        "baseline_monthly_usd": 950,
        "delta_vs_baseline_usd": -137.6,
        "delta_vs_baseline_pct": -14.48,
        "within_baseline": True,
    }
    assert baseline_comparison(1000.0, 950)["within_baseline"] is False
    assert baseline_comparison(None, 950) == {"baseline_monthly_usd": 950}  # no actuals: no verdict
    assert baseline_comparison(10.0, None) == {}


def test_lambda_cost_and_per_million() -> None:
    # 1 M invocations of 100 ms at 512 MB: 50,000 GB-s x $0.0000166667 + 1 M x $0.20 / M
    c = lambda_cost(
        invocations=1e6, duration_ms_sum=1e8, memory_mb=512, architecture="x86_64", prices=US_EAST_1
    )
    assert c == pytest.approx(50_000 * 0.0000166667 + 0.20)
    arm = lambda_cost(
        invocations=1e6, duration_ms_sum=1e8, memory_mb=512, architecture="arm64", prices=US_EAST_1
    )
    assert arm == pytest.approx(50_000 * 0.0000133334 + 0.20)
    assert per_million(c, 1e6) == pytest.approx(c)
    assert per_million(1.5, 500_000) == pytest.approx(3.0)
    assert per_million(None, 10) is None and per_million(1.0, 0) is None and per_million(1.0, None) is None


def test_run_cost_is_the_sum_of_its_parts() -> None:
    usage = RunUsage(
        region="us-east-1",
        lambda_gb_s=lambda_gb_seconds(600, 1769) * 20,  # 20 workers, 10 minutes, 1769 MB
        lambda_requests=25,
        sfn_transitions=400,
        s3_put_requests=60,
        s3_get_requests=40,
        dynamodb_write_units=200,
        dynamodb_read_units=50,
        cloudwatch_metrics_requested=120,
    )
    out = run_cost(usage)
    assert out["lambda_usd"] == pytest.approx(600 * 1769 / 1024 * 20 * 0.0000166667 + 25 * 0.2e-6, abs=1e-6)
    assert out["step_functions_usd"] == pytest.approx(0.01)
    assert out["s3_usd"] == pytest.approx(60 * 0.005 / 1000 + 40 * 0.0004 / 1000, abs=1e-6)
    assert out["dynamodb_usd"] == pytest.approx(200 * 0.625e-6 + 50 * 0.125e-6, abs=1e-6)
    assert out["cloudwatch_usd"] == pytest.approx(0.0012)
    assert out["total_usd"] == pytest.approx(sum(v for k, v in out.items() if k != "total_usd"), abs=1e-5)
    doubled = run_cost(usage, Prices(lambda_gb_s_x86=2 * US_EAST_1.lambda_gb_s_x86))
    assert doubled["lambda_usd"] > 1.9 * out["lambda_usd"]
    assert run_cost(RunUsage())["total_usd"] == 0.0


def test_prices_for_regions() -> None:
    assert prices_for("us-east-1") == (US_EAST_1, None)
    prices, note = prices_for("ap-southeast-2")
    assert prices is US_EAST_1 and note is not None and "ap-southeast-2" in note
