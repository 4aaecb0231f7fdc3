"""AWS services as flow steps: Lambda, SQS, Kinesis, DynamoDB, S3, Step Functions and Athena calls,
signed with the run's credentials, timed, classified, captured and checked like HTTP requests.

The public surface for the plan and the worker:

- :class:`AwsStepSpec` — one ``aws:`` step as written in a plan (pydantic, ``extra="forbid"``);
  ``resources()`` names what it touches, ``display_name`` is its endpoint name,
  ``variables()`` / ``captured_names()`` serve the plan's "is this variable defined?" checks.
- :func:`check_allowed` — the allow-list, checked before any call (``parse_allow_resources``
  validates the entries alone).
- :func:`compile_aws_step` -> :class:`CompiledAwsStep` — templates compiled once;
  ``await step.call(pool, variables, rng, clock)`` -> :class:`AwsOutcome`.
- :class:`AwsClientPool` — one per worker: aiobotocore clients made lazily, ``await pool.close()``.
- :func:`classify_cold_start` — "cold"/"warm" from a Lambda log tail.

Error classes of an outcome: ``aws_throttled``, ``aws_client`` (4xx), ``aws_server`` (5xx),
``timeout``, ``connect``, ``reset``, ``tls``, ``aws_config`` (no credentials or region),
``function_error`` (Lambda FunctionError), ``query_failed`` (Athena query or Step Functions
execution ended other than SUCCEEDED), ``expect`` (an expectation or capture failed),
``template`` (a template could not be rendered), ``other``.
"""

from __future__ import annotations

from surge.aws_allow import AllowRule, check_allowed, is_allowed, parse_allow_resources
from surge.engine.aws.lambda_log import classify_cold_start, decode_log_result, parse_report
from surge.engine.aws.pool import AwsClientPool
from surge.engine.aws.steps import (
    AWS_ERRORS,
    THROTTLE_CODES,
    AwsOutcome,
    CompiledAwsStep,
    classify_error_code,
    classify_exception,
    compile_aws_step,
)
from surge.plan_aws import CALL_FIELDS, AwsCapture, AwsExpect, AwsStepSpec, Resource, parse_size

__all__ = [
    "AWS_ERRORS",
    "CALL_FIELDS",
    "THROTTLE_CODES",
    "AllowRule",
    "AwsCapture",
    "AwsClientPool",
    "AwsExpect",
    "AwsOutcome",
    "AwsStepSpec",
    "CompiledAwsStep",
    "Resource",
    "check_allowed",
    "classify_cold_start",
    "classify_error_code",
    "classify_exception",
    "compile_aws_step",
    "decode_log_result",
    "is_allowed",
    "parse_allow_resources",
    "parse_report",
    "parse_size",
]
