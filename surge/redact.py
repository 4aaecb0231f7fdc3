"""Secrets never leave a run: one redactor applied to everything a run writes or prints.

What is secret is known from the plan before the run: userinfo in any URL, the values of the
`$env` references it uses, the literal values of credential headers (Authorization, Cookie, API
keys) and of any header, JSON field or variable the plan names under `redact:`. The redactor
replaces each of them with ``***`` in text (messages, names, URLs) and in data (results, reports,
the stored plan, the history record), keys included. Pure: no I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar, cast

from surge.plan_refs import env_names, strings

if TYPE_CHECKING:
    from surge.plan import Plan

MASK = "***"
# Shorter values would mask ordinary text everywhere ("on", "1234"); they are not credentials.
MIN_SECRET_LEN = 4
# Names whose values are credentials in every API (matched without case, as HTTP header names).
SENSITIVE_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-amz-security-token",
        "password",
        "secret",
        "token",
        "access_token",
        "client_secret",
    }
)
# Encoded values: a histogram's bytes could hold four letters of a secret by chance; they are
# never text a person reads, and masking them would corrupt the figures.
_OPAQUE_KEYS = frozenset({"rt", "st", "rt_timeouts", "st_timeouts", "hist", "histogram"})
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#@\s\"'<>]+)@")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")

T = TypeVar("T")


class Redactor:
    """Masks a fixed set of secret values, and userinfo in any URL."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if len(s) >= MIN_SECRET_LEN)
        ordered = sorted(self.secrets, key=len, reverse=True)  # "abcd1234" before "abcd"
        self._pattern = re.compile("|".join(_encodings(s) for s in ordered)) if ordered else None

    def text(self, value: str) -> str:
        value = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", value)
        return self._pattern.sub(MASK, value) if self._pattern is not None else value

    def data(self, value: T) -> T:
        """A copy of JSON-like data with every string (and key) redacted."""
        return cast(T, self._walk(value, None))

    def _walk(self, value: object, key: str | None) -> object:
        if isinstance(value, str):
            return value if key in _OPAQUE_KEYS else self.text(value)
        if isinstance(value, Mapping):
            return {
                (self.text(k) if isinstance(k, str) else k): self._walk(v, k if isinstance(k, str) else None)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._walk(v, key) for v in value]
        return value


def _encodings(secret: str) -> str:
    """A pattern for the secret as it is sent or written anywhere: each character as itself,
    percent-encoded (either case of hex; ``+`` for a space, as forms and query strings write it)
    or JSON-escaped. A query parameter's value is sent encoded, and must be masked so too."""
    parts = []
    for ch in secret:
        forms = [re.escape(ch)]
        encoded = "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        forms.append("".join(f"%(?i:{h[1:]})" for h in re.findall(r"%..", encoded)))
        if ch == " ":
            forms.append(r"\+")
        escaped = json.dumps(ch)[1:-1]
        if escaped != ch:
            forms.append(re.escape(escaped))
        if ord(ch) > 0x7F or ch in "<>&'":
            forms.append(re.escape(f"\\u{ord(ch):04x}") if ord(ch) <= 0xFFFF else re.escape(escaped))
        parts.append(forms[0] if len(forms) == 1 else "(?:" + "|".join(dict.fromkeys(forms)) + ")")
    return "".join(parts)


def _userinfo_secrets(text: str) -> Iterator[str]:
    for m in _USERINFO.finditer(text):
        userinfo = m.group("userinfo")
        user, _, password = userinfo.partition(":")
        yield userinfo
        if password:
            yield password
            yield base64.b64encode(f"{user}:{password}".encode()).decode()  # as Basic auth sends it


def _literal_secrets(value: str) -> Iterator[str]:
    """A literal credential: the whole value and its token after a scheme ("Bearer X")."""
    if _TEMPLATE.search(value):
        return  # templated: its `$env` values are secrets already, its literal text is not
    value = value.strip()
    yield value
    _scheme, _, token = value.partition(" ")
    if token.strip():
        yield token.strip()


def redactor_for(
    plan: Plan, environ: Mapping[str, str], extra: Iterable[str] = (), *, names: Iterable[str] = ()
) -> Redactor:
    """The redactor of a run of ``plan``; ``environ``: what its `$env` references read;
    ``extra``: more secret values (resolved secrets); ``names``: more names to redact."""
    redact_names = SENSITIVE_NAMES | {n.lower() for n in (*plan.redact, *names)}
    secrets: set[str] = set(extra)
    secrets.update(
        environ[name] for name in env_names(plan.model_dump(mode="json", by_alias=True)) if name in environ
    )
    for key, text in strings(plan.model_dump(mode="json", by_alias=True)):
        secrets.update(_userinfo_secrets(text))
        if key is not None and key.lower() in redact_names:
            secrets.update(_literal_secrets(text))
    for name, value in plan.variables.items():
        if name.lower() in redact_names:
            secrets.update(text for _, text in strings(value))
    return Redactor(secrets)


NO_REDACTION = Redactor()
