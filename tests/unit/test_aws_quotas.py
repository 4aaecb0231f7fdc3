"""The harness's quota model (tests/aws_quotas.py) refuses what AWS refuses, with AWS's answer, and
botocore retries it as it would in Lambda: the model is what the fleet drills trust."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.aws_quotas import QuotaModel, enforced

REGION = "us-east-1"


class FrozenClock:
    """Every call in the same second, whatever the machine's speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def model() -> Iterator[QuotaModel]:
    quotas = QuotaModel(clock=FrozenClock())
    with mock_aws(), enforced(quotas):
        yield quotas


def no_retries(service: str) -> Any:
    return boto3.client(service, region_name=REGION, config=Config(retries={"total_max_attempts": 1}))


def test_parameter_store_serves_40_a_second(model: QuotaModel) -> None:
    ssm = no_retries("ssm")
    ssm.put_parameter(Name="/surge/t", Value="v", Type="SecureString")
    served = 0
    for _ in range(60):
        try:
            ssm.get_parameters(Names=["/surge/t"], WithDecryption=True)
            served += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
    assert served == 40 and model.refused["ssm GetParameter"] == 20


def test_one_dynamodb_partition_takes_1000_writes_a_second_and_its_index_too(model: QuotaModel) -> None:
    ddb = no_retries("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    # A run record, in the recent index's one partition: writes to it are writes to the index too.
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "RUN#a"}, "sk": {"S": "RUN"}},
        UpdateExpression="SET #f0 = :v0",
        ExpressionAttributeNames={"#f0": "recent_pk"},
        ExpressionAttributeValues={":v0": {"S": "RUNS"}},
    )
    refused = 0
    for _ in range(1100):
        try:
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "RUN#a"}, "sk": {"S": "RUN"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            refused += 1
    assert refused == 101  # 1,000 units in the second, the first write included
    assert model.peaks["dynamodb write per partition"] == 1000
    assert model.busiest["dynamodb write per partition"] in ("t:RUN#a", "t/recent:RUNS")
    # Another partition is not throttled by this one's load.
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "RUN#a#PROGRESS#0"}, "sk": {"S": "PROGRESS"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


def test_s3_answers_slow_down_per_prefix_and_botocore_retries_it() -> None:
    clock = FrozenClock()
    quotas = QuotaModel(clock=clock)
    quotas.limits.s3_put_per_prefix = 5  # a small limit: the behaviour, not AWS's figure
    with mock_aws(), enforced(quotas):
        s3 = boto3.client("s3", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="bkt")
        for i in range(5):
            s3.put_object(Bucket="bkt", Key=f"runs/a/{i}", Body=b"x")
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="bkt", Key="runs/a/5", Body=b"x")
        assert err.value.response["Error"]["Code"] == "SlowDown"
        s3.put_object(Bucket="bkt", Key="runs/b/0", Body=b"x")  # another prefix
        # With the SDK's retries and time passing, the same call gets through.
        retrying = boto3.client(
            "s3", region_name=REGION, config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )

        def later(event_name: str, **_: Any) -> None:
            clock.now += 2.0  # the retry's backoff, in the model's time

        retrying.meta.events.register("needs-retry.s3.PutObject", later)
        retrying.put_object(Bucket="bkt", Key="runs/a/6", Body=b"x")
    assert quotas.refused["s3 PUT per prefix"] == 2
