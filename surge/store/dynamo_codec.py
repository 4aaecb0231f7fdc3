"""Plain Python values <-> DynamoDB attribute values, for the low-level client the stores use."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_dynamo(value: object) -> object:
    # DynamoDB numbers are decimals; a NaN or infinity has no representation, so it is stored as null.
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def to_attr(value: object) -> Any:
    return _SERIALIZER.serialize(_to_dynamo(value))


def to_item(data: Mapping[str, object]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in data.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, object]:
    return {k: _from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}
