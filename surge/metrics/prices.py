"""Published on-demand prices used to cost a run and a Lambda target. Pure data; pass your own.

Source: the AWS pricing pages for Lambda, Step Functions, S3, DynamoDB, API Gateway and CloudWatch,
US East (N. Virginia), as published in 2025-01 (DynamoDB on-demand after the 2024-11-01 price
cut). Free tiers and volume tiers are ignored: a load test should not lean on them. Re-check before
quoting figures to a finance team; `Prices` is a parameter everywhere for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prices:
    lambda_gb_s_x86: float = 0.0000166667
    lambda_gb_s_arm: float = 0.0000133334
    lambda_request: float = 0.20 / 1e6
    sfn_transition: float = 0.025 / 1000  # Standard workflows
    s3_put: float = 0.005 / 1000  # PUT, COPY, POST, LIST (S3 Standard)
    s3_get: float = 0.0004 / 1000  # GET, SELECT and the rest
    dynamodb_write_unit: float = 0.625 / 1e6  # on-demand write request unit
    dynamodb_read_unit: float = 0.125 / 1e6  # on-demand read request unit
    apigateway_rest_request: float = 3.50 / 1e6  # first 333 million per month
    apigateway_http_request: float = 1.00 / 1e6  # first 300 million per month
    cloudwatch_metric_requested: float = 0.01 / 1000  # GetMetricData, per metric requested

    def lambda_gb_s(self, architecture: str) -> float:
        return self.lambda_gb_s_arm if architecture == "arm64" else self.lambda_gb_s_x86


US_EAST_1 = Prices()

# Regions whose prices for the services above match US East (N. Virginia) on the source date.
# Others fall back to these figures and the report says so.
REGIONAL_PRICES: dict[str, Prices] = {"us-east-1": US_EAST_1, "us-east-2": US_EAST_1, "us-west-2": US_EAST_1}


def prices_for(region: str | None) -> tuple[Prices, str | None]:
    """The price table for a region, and a note when it is an approximation."""
    if region in REGIONAL_PRICES:
        return REGIONAL_PRICES[region], None
    if region is None:
        return US_EAST_1, "no region is known for the prices: us-east-1 prices were used"
    return US_EAST_1, f"prices for {region} are not in surge's table: us-east-1 prices were used"
