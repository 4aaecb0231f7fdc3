"""The AWS edge shared by the collectors: clients, throttling retries, errors a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",  # Logs (concurrent queries) and Cost Explorer (rate)
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId"}
)

# Cost Explorer has one endpoint, in us-east-1, whatever region the services run in.
CE_REGION = "us-east-1"


class MetricsError(Exception):
    """A collector call that failed for good; the message says what to do about it."""


class MetricClients(Protocol):
    """Gives a boto3 client for a service ("cloudwatch", "logs", "ce") in a region (None: default)."""

    def client(self, service: str, region: str | None) -> Any: ...


@dataclass
class SessionClients:
    """MetricClients over a boto3 Session, one client per (service, region)."""

    session: Any
    _cache: dict[tuple[str, str | None], Any] = field(default_factory=dict)

    def client(self, service: str, region: str | None) -> Any:
        if service == "ce":
            region = CE_REGION
        key = (service, region)
        if key not in self._cache:
            self._cache[key] = self.session.client(service, region_name=region)
        return self._cache[key]


@dataclass
class FixedClients:
    """MetricClients handing out given clients whatever the region (tests, single-region runs)."""

    cloudwatch: Any = None
    logs: Any = None
    ce: Any = None

    def client(self, service: str, region: str | None) -> Any:
        found = {"cloudwatch": self.cloudwatch, "logs": self.logs, "ce": self.ce}.get(service)
        if found is None:
            raise MetricsError(f"no {service} client was given")
        return found


def credentials_available(session: Any = None) -> bool:
    """Whether boto3 finds credentials (env, profile, SSO, instance role) without calling AWS."""
    if session is None:
        import boto3

        session = boto3.Session()
    try:
        return session.get_credentials() is not None
    except (BotoCoreError, ValueError):
        # A broken profile or SSO cache is "no usable credentials", not a crash of the run.
        return False


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def describe_error(exc: BaseException, action: str) -> str:
    """One sentence naming the IAM action or credential problem behind a failed call."""
    code = error_code(exc)
    if code in ACCESS_DENIED_CODES:
        return f"access denied: the role needs the IAM permission {action} ({code})"
    if code in CREDENTIAL_CODES:
        return f"{action} was refused: the AWS credentials are expired or invalid ({code})"
    if isinstance(exc, NoCredentialsError):
        return f"{action} needs AWS credentials and none were found"
    if code in THROTTLING_CODES:
        return f"{action} was throttled and kept failing after retries ({code})"
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{action} failed: {code}: {message}".rstrip(": ")
    return f"{action} failed: {type(exc).__name__}: {exc}"


def with_retries(
    call: Callable[[], T],
    *,
    sleep: Callable[[float], None],
    attempts: int = 6,
    base_delay_s: float = 1.0,
    max_delay_s: float = 20.0,
) -> T:
    """Run ``call``, retrying throttling errors with exponential backoff; other errors raise at once.

    No jitter: one collector makes these calls serially, so there is no herd to spread out, and
    tests can assert the exact waits.
    """
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in THROTTLING_CODES or attempt == attempts - 1:
                raise
            sleep(min(max_delay_s, base_delay_s * 2**attempt))
    raise AssertionError("unreachable")  # the loop returns or raises
