"""What every part of a plan is built from: the base model (unknown keys refused, a field's
docstring its description) and the field types written in human units (durations, sizes, pauses)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from surge.pause import PAUSE_SCHEMA, Pause, parse_pause
from surge.units import (
    DURATION_SCHEMA,
    SIZE_SCHEMA,
    parse_duration_s,
    parse_size_bytes,
)


def _duration(v: object) -> float:
    return parse_duration_s(v)


Seconds = Annotated[float, BeforeValidator(_duration), Field(ge=0), WithJsonSchema(DURATION_SCHEMA)]

# A think time or pace: 2s, 1s..3s, {between: [1s, 3s]} or {mean: 2s, stddev: 500ms} (surge.pause).
PauseSpec = Annotated[
    Pause,
    BeforeValidator(parse_pause),
    PlainSerializer(lambda p: p.to_plan(), return_type=Any),
    WithJsonSchema(PAUSE_SCHEMA),
]

# A response body held for checks and captures: more than this is a plan's mistake, not a test.
MAX_BODY_LIMIT = 1 << 30

Bytes = Annotated[
    int, BeforeValidator(parse_size_bytes), Field(gt=0, le=MAX_BODY_LIMIT), WithJsonSchema(SIZE_SCHEMA)
]


class PlanModel(BaseModel):
    # A field's docstring is its description: in the JSON Schema and docs/plans.md (surge.plan_schema).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)
