"""Stack settings read from CDK context, validated with messages a user can act on (no CDK import)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.names import CTX_ALLOWED_TARGETS, CTX_SCHEDULES, ENV_SKIP_PIP_INSTALL

_SCHEDULE_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    """One EventBridge Scheduler schedule that starts the workflow with ``{"plan_uri": ...}``."""

    name: str
    cron: str
    """The six fields of a Scheduler cron expression, e.g. ``0 2 * * ? *`` (02:00 every day)."""
    plan: str = ""
    """The plan's key in the stack's own bucket (``plans/nightly.yaml``): one deploy, the bucket's
    name is filled in by the stack."""
    plan_uri: str = ""
    """Or its full ``s3://<bucket>/<key>`` (the bucket must be the stack's: Prepare reads no other)."""
    timezone: str = "UTC"
    enabled: bool = True

    def __post_init__(self) -> None:
        if not _SCHEDULE_NAME.match(self.name):
            raise ValueError(f"schedule name {self.name!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        if bool(self.plan) == bool(self.plan_uri):
            raise ValueError(
                f"schedule {self.name!r}: give plan (its key in the stack's bucket, e.g. plans/nightly.yaml) "
                "or plan_uri (s3://<bucket>/<key>), one of them"
            )
        if self.plan_uri and (not self.plan_uri.startswith("s3://") or self.plan_uri.count("/") < 3):
            raise ValueError(f"schedule {self.name!r}: plan_uri must be s3://<bucket>/<key>")
        if self.plan and (
            not self.plan.startswith("plans/") or self.plan.endswith("/") or ".." in self.plan.split("/")
        ):
            raise ValueError(
                f"schedule {self.name!r}: plan {self.plan!r} must be a key under plans/ in the stack's "
                "bucket, e.g. plans/nightly.yaml (Prepare reads plans from there)"
            )
        fields = self.cron.split()
        if len(fields) != 6:
            raise ValueError(
                f"schedule {self.name!r}: cron needs 6 fields (minutes hours day-of-month month "
                f"day-of-week year), got {len(fields)} in {self.cron!r}"
            )

    @property
    def expression(self) -> str:
        return f"cron({self.cron})"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ScheduleSpec:
        unknown = set(raw) - {"name", "plan", "plan_uri", "cron", "timezone", "enabled"}
        if unknown:
            raise ValueError(f"schedule {raw.get('name')!r}: unknown keys {sorted(unknown)}")
        try:
            return cls(**raw)
        except TypeError as exc:  # a missing required key
            raise ValueError(
                f"schedule {raw.get('name')!r}: needs name, cron and plan (or plan_uri)"
            ) from exc


def parse_schedules(value: Any) -> tuple[ScheduleSpec, ...]:
    """Context value (a list, or its JSON text from ``-c``) -> validated schedules; unique names."""
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"context {CTX_SCHEDULES} is not valid JSON: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ValueError(f"context {CTX_SCHEDULES} must be a list of objects")
    specs = tuple(ScheduleSpec.from_mapping(item) for item in value)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"context {CTX_SCHEDULES}: duplicate schedule names {duplicates}")
    return specs


def cdk_json_context(root: Path) -> dict[str, Any]:
    """The ``context`` of cdk.json, so that ``python app.py`` (no CLI) and tests use the same flags.

    Passed as ``App(context=...)``: under the CDK CLI its own context still takes precedence.
    """
    path = root / "cdk.json"
    if not path.exists():
        return {}
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise ValueError(f"{path}: 'context' must be an object")
    return context


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def skip_pip_install(context_value: Any) -> bool:
    """From context (``surge:skipPipInstall``) or the environment (``SURGE_SKIP_PIP_INSTALL``)."""
    return truthy(context_value) or truthy(os.environ.get(ENV_SKIP_PIP_INSTALL, ""))


def parse_reserved_concurrency(value: Any) -> int | None:
    """The worker's reserved concurrency from context (a whole number >= 1), or None."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(
            f"context surge:workerReservedConcurrency must be a whole number, not {value!r}"
        ) from None
    if number < 1:
        raise ValueError("context surge:workerReservedConcurrency must be at least 1")
    return number


def _string_list(value: Any, key: str, prefix: str, expected: str) -> tuple[str, ...]:
    """A context value that is a list of strings starting with ``prefix`` (a list, or JSON text
    from `-c`); ``expected`` says what the list holds when it is wrong."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"context {key} is not valid JSON: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) and v.startswith(prefix) for v in value):
        raise ValueError(f"context {key} must be a list of {expected}")
    return tuple(value)


def parse_log_groups(value: Any) -> tuple[str, ...]:
    """Log group names (or name patterns with *) Collect may query."""
    return _string_list(value, "surge:logGroups", "/", 'log group names, e.g. ["/aws/ecs/orders"]')


def parse_step_resources(value: Any) -> tuple[str, ...]:
    """ARNs for plans' aws: steps."""
    return _string_list(value, "surge:stepResources", "arn:", "ARNs")


def parse_allowed_targets(value: Any) -> tuple[str, ...]:
    """Context ``surge:allowedTargets``: a list, its JSON text, or comma-separated hosts."""
    from surge.cloud.deployment import parse_host_patterns

    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"context {CTX_ALLOWED_TARGETS} is not valid JSON: {exc}") from exc
    if value is not None and not isinstance(value, str | list):
        raise ValueError(f"context {CTX_ALLOWED_TARGETS} must be a list of hosts or comma-separated text")
    try:
        return parse_host_patterns(value)
    except ValueError as exc:
        raise ValueError(f"context {CTX_ALLOWED_TARGETS}: {exc}") from None
