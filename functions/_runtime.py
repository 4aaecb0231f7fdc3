"""What every handler shares: the AWS clients, the logger and the call into the core.

Handlers stay thin: check the event's shape, call ``surge.cloud.handlers.<state>(event, clients)``
and return its small dict. The core is imported lazily so that a handler module imports without
it (infra tests, tooling) and so that its import cost is paid once per container, at first use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from functions.contracts import (
    ENV_ALLOW_HOOKS,
    ENV_ALLOWED_TARGETS,
    ENV_BUCKET,
    ENV_EVENT_BUS,
    ENV_SECRETS_PREFIX,
    ENV_STATE,
    ENV_TABLE,
    ENV_WORKER_RESERVED,
)


class ContractError(ValueError):
    """The event does not have the shape the contract (functions/contracts.py) promises."""


class LambdaContext(Protocol):
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


def _make_logger() -> Any:
    # Powertools is bundled with the functions (see infra/bundling.py); plain logging keeps the
    # handlers importable where it is not installed (tests, tooling).
    try:
        from aws_lambda_powertools import Logger  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
        return logging.getLogger("surge")
    return Logger(service="surge")


logger = _make_logger()
_CLIENT_LOCK = threading.Lock()


class Clients:
    """AWS clients for the core, created on first use (a worker never pays for Cost Explorer).

    ``overrides`` lets tests pass moto or Stubber clients by service name. The core should type
    its parameter structurally (a Protocol with the attributes it uses).
    """

    def __init__(
        self,
        *,
        bucket: str,
        table: str,
        region: str | None = None,
        secrets_prefix: str = "surge/",
        worker_reserved_concurrency: int | None = None,
        event_bus: str = "default",
        allowed_targets: str = "",
        allow_hooks: bool = False,
        remaining_time_ms: Callable[[], int] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.table = table
        self.region = region
        self.secrets_prefix = secrets_prefix
        self.worker_reserved_concurrency = worker_reserved_concurrency
        self.event_bus = event_bus
        # What the deployment allows (surge.cloud.deployment): none and no, unless it says.
        self.allowed_targets = allowed_targets
        self.allow_hooks = allow_hooks
        self._remaining = remaining_time_ms
        self._cache: dict[str, Any] = dict(overrides or {})

    @classmethod
    def from_env(cls, context: LambdaContext | None = None) -> Clients:
        missing = [name for name in (ENV_BUCKET, ENV_TABLE) if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            bucket=os.environ[ENV_BUCKET],
            table=os.environ[ENV_TABLE],
            region=os.environ.get("AWS_REGION"),
            secrets_prefix=os.environ.get(ENV_SECRETS_PREFIX, "surge/"),
            worker_reserved_concurrency=int(os.environ[ENV_WORKER_RESERVED])
            if os.environ.get(ENV_WORKER_RESERVED)
            else None,
            event_bus=os.environ.get(ENV_EVENT_BUS, "default"),
            allowed_targets=os.environ.get(ENV_ALLOWED_TARGETS, ""),
            allow_hooks=os.environ.get(ENV_ALLOW_HOOKS, "").strip().lower() in {"1", "true", "yes", "on"},
            remaining_time_ms=context.get_remaining_time_in_millis if context is not None else None,
        )

    def remaining_time_ms(self) -> int:
        """Milliseconds before Lambda kills this invocation (a day when not in Lambda)."""
        return self._remaining() if self._remaining is not None else 86_400_000

    def client(self, service: str) -> Any:
        # boto3's default session is not thread-safe when creating clients; the core may use threads.
        with _CLIENT_LOCK:
            if service not in self._cache:
                import boto3  # provided by the Lambda runtime

                self._cache[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
            return self._cache[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def cloudwatch(self) -> Any:
        return self.client("cloudwatch")

    @property
    def logs(self) -> Any:
        return self.client("logs")

    @property
    def ce(self) -> Any:
        return self.client("ce")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    @property
    def ssm(self) -> Any:
        return self.client("ssm")


def require_keys(event: Any, required: frozenset[str], state: str) -> None:
    """Fail fast, with the missing field's name, instead of a KeyError deep in the core."""
    if not isinstance(event, dict):
        raise ContractError(f"{state}: event must be a JSON object, got {type(event).__name__}")
    missing = sorted(required - event.keys())
    if missing:
        raise ContractError(f"{state}: event is missing {', '.join(missing)}")


def call_core(name: str, event: Mapping[str, Any], context: LambdaContext | None) -> Any:
    """Run ``surge.cloud.handlers.<name>(event, clients)`` with the run id on every log line."""
    if hasattr(logger, "append_keys"):  # Powertools: structured keys on every later line
        logger.append_keys(run_id=event.get("run_id"), state=os.environ.get(ENV_STATE, name))
    from surge.cloud import handlers  # lazy: see the module docstring

    func = cast(Callable[[Mapping[str, Any], Clients], Any], getattr(handlers, name))
    started = time.perf_counter()
    try:
        return func(event, Clients.from_env(context))
    finally:
        logger.info("%s finished in %.3f s", name, time.perf_counter() - started)
