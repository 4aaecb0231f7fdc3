"""The plan's ``services:`` and ``cost:`` sections: typed models (pydantic v2), one class per type.

Each service has a ``name`` (the label thresholds use: ``lambda["orders"]``), an optional
``region`` (default: the session's) and the identifiers CloudWatch needs for its dimensions.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from surge.vocabulary import CUSTOM_ID, UNIT_KINDS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Service(_Model):
    name: str = Field(min_length=1, description='the label thresholds use, e.g. lambda["orders"]')
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    target: str | None = Field(
        default=None, description="an A/B run: the target this resource serves (the report groups by it)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if '"' in v or "'" in v:
            raise ValueError("a service name cannot contain quotes (thresholds write it in quotes)")
        return v


class LambdaService(_Service):
    type: Literal["lambda"]
    function_name: str = Field(min_length=1)
    log_group: str | None = Field(default=None, description="default: /aws/lambda/<function_name>")
    cold_starts: bool = Field(default=True, description="query Logs Insights for @initDuration")
    memory_mb: int | None = Field(default=None, ge=128, le=10240, description="for cost per million requests")
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    concurrency_limit: int | None = Field(
        default=None, ge=1, description="reserved or account concurrency; thresholds may name it"
    )

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.function_name}"


DYNAMODB_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
)


class DynamoDBService(_Service):
    type: Literal["dynamodb"]
    table: str = Field(min_length=1)
    operations: list[str] = Field(
        default_factory=lambda: list(DYNAMODB_OPERATIONS),
        min_length=1,
        description="operations whose latency and throttling to read (CloudWatch reports them per operation)",
    )

    @field_validator("operations")
    @classmethod
    def _ops(cls, v: list[str]) -> list[str]:
        unknown = [op for op in v if op not in DYNAMODB_OPERATIONS]
        if unknown:
            raise ValueError(
                f"unknown operation(s) {', '.join(unknown)}; use {', '.join(DYNAMODB_OPERATIONS)}"
            )
        return list(dict.fromkeys(v))


class ElastiCacheService(_Service):
    type: Literal["elasticache"]
    cluster_id: str = Field(
        min_length=1, description="CacheClusterId (for Redis/Valkey: a node's cluster id)"
    )
    node_id: str | None = Field(default=None, description="CacheNodeId, e.g. 0001")
    engine: Literal["redis", "valkey", "memcached"] = "redis"


class RDSService(_Service):
    type: Literal["rds"]
    instance_id: str | None = Field(default=None, description="DBInstanceIdentifier")
    cluster_id: str | None = Field(default=None, description="DBClusterIdentifier (Aurora)")
    pool_max: int | None = Field(default=None, ge=1, description="the connection pool's declared maximum")

    @model_validator(mode="after")
    def _one_id(self) -> RDSService:
        if (self.instance_id is None) == (self.cluster_id is None):
            raise ValueError("an rds service names either 'instance_id' or 'cluster_id'")
        return self


class OpenSearchService(_Service):
    type: Literal["opensearch"]
    domain: str = Field(min_length=1)
    client_id: str = Field(pattern=r"^\d{12}$", description="the domain's AWS account id")


class S3Service(_Service):
    type: Literal["s3"]
    bucket: str = Field(min_length=3)
    filter_id: str = Field(default="EntireBucket", min_length=1, description="the request-metrics filter")


class ApiGatewayService(_Service):
    type: Literal["apigateway"]
    api_name: str | None = Field(default=None, description="REST API name (ApiName dimension)")
    api_id: str | None = Field(default=None, description="HTTP API id (ApiId dimension)")
    stage: str | None = None

    @model_validator(mode="after")
    def _one_api(self) -> ApiGatewayService:
        if (self.api_name is None) == (self.api_id is None):
            raise ValueError("an apigateway service names 'api_name' (REST API) or 'api_id' (HTTP API)")
        return self


class SQSService(_Service):
    type: Literal["sqs"]
    queue_name: str = Field(min_length=1)


_STAT = re.compile(
    r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM"
    r"|p\d{1,2}(\.\d+)?|p100|(tm|wm|tc|ts)\d{1,2}(\.\d+)?|(TM|WM|TC|TS|PR)\([^)]*\))$"
)
_Unit = Literal[
    "Microseconds",
    "Milliseconds",
    "Seconds",
    "Percent",
    "Count/Second",
    "Count",
    "None",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Bits",
    "Bytes/Second",
]
assert set(get_args(_Unit)) == set(UNIT_KINDS)  # the catalog maps every unit to a kind


class CustomQuery(_Model):
    id: str = Field(pattern=CUSTOM_ID.pattern, description="thresholds name it: custom[...].<id>")
    namespace: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: str = "Average"
    unit: _Unit | None = Field(default=None, description="only data published in this unit is read")

    @field_validator("stat")
    @classmethod
    def _stat(cls, v: str) -> str:
        if not _STAT.match(v):
            raise ValueError(f"'{v}' is not a CloudWatch statistic; e.g. Sum, Maximum, Average, p99")
        return v


class CustomExpression(_Model):
    id: str = Field(pattern=CUSTOM_ID.pattern)
    expression: str = Field(min_length=1, description="CloudWatch metric math over this service's query ids")
    unit: _Unit | None = None
    reduce: Literal["max", "min", "sum", "mean", "last"] = Field(
        default="max", description="how the window's values become the one a threshold compares"
    )


class CustomService(_Service):
    type: Literal["custom"]
    queries: list[CustomQuery] = Field(min_length=1)
    expressions: list[CustomExpression] = Field(default_factory=list)
    high_resolution: bool = Field(default=False, description="read 1-second data (kept 3 hours)")

    @model_validator(mode="after")
    def _unique_ids(self) -> CustomService:
        ids = [q.id for q in self.queries] + [e.id for e in self.expressions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"query ids must be unique; repeated: {', '.join(dupes)}")
        # Each query may need a second, whole-window query for percentiles: stay within one call.
        if 2 * len(ids) > 500:
            raise ValueError("a custom service takes at most 250 queries and expressions")
        return self


ServiceSpec = Annotated[
    LambdaService
    | DynamoDBService
    | ElastiCacheService
    | RDSService
    | OpenSearchService
    | S3Service
    | ApiGatewayService
    | SQSService
    | CustomService,
    Field(discriminator="type"),
]


def _unique_names(services: list[ServiceSpec]) -> list[ServiceSpec]:
    seen: dict[tuple[str, str], int] = {}
    for i, s in enumerate(services):
        key = (s.type, s.name)
        if key in seen:
            raise ValueError(
                f'services[{i}]: {s.type}["{s.name}"] is already declared at services[{seen[key]}]'
            )
        seen[key] = i
    return services


# The type of the plan's ``services:`` field: ``services: Services = Field(default_factory=list)``.
Services = Annotated[list[ServiceSpec], AfterValidator(_unique_names)]

CostMetric = Literal["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost", "BlendedCost"]


class CostSpec(_Model):
    """Cost Explorer actuals for resources carrying a cost-allocation tag, projected to a month."""

    tag_key: str = Field(min_length=1)
    tag_value: str = Field(min_length=1)
    lookback_days: int = Field(default=7, ge=1, le=365)
    baseline_monthly_usd: float | None = Field(default=None, ge=0, description="e.g. the old platform's bill")
    services: list[str] | None = Field(
        default=None, min_length=1, description='Cost Explorer SERVICE names to keep, e.g. "AWS Lambda"'
    )
    metric: CostMetric = "UnblendedCost"
