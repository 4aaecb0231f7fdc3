"""What a plan refers to outside itself, found by scanning its data: ``{{ $env.NAME }}``,
``{{ $secret.NAME }}`` and ``{{ $ssm.NAME }}``, and the stand-in environment validation renders
with. Pure, and below the plan, the redactor and the secrets reader that all ask it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from surge.template import secret_ref

PLACEHOLDER = "<secret>"
_REF = re.compile(r"\{\{\s*(\$(?:secret|ssm)\.[^\s}]*)\s*\}\}")
_ENV_REF = re.compile(r"\{\{\s*\$env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def strings(value: object, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """Every string in JSON-like data, with the key it sits under."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v, key)


def secret_names(data: object) -> list[tuple[str, str]]:
    """Every ``(kind, name)`` of a `$secret`/`$ssm` reference in JSON-like data, in order, once each."""
    found: dict[tuple[str, str], None] = {}
    for _, text in strings(data):
        for expr in _REF.findall(text):
            ref = secret_ref(expr)
            if ref is not None:
                found[ref] = None
    return list(found)


def env_names(data: object) -> list[str]:
    """The environment variables JSON-like data reads (``{{ $env.NAME }}``), in order, once each."""
    found: dict[str, None] = {}
    for _, text in strings(data):
        for name in _ENV_REF.findall(text):
            found[name] = None
    return list(found)


class WithSecretPlaceholders(Mapping[str, str]):
    """An environment in which every ``$secret``/``$ssm`` reference has a stand-in value: what
    validation renders (the values are read when the run starts, not when a plan is checked)."""

    def __init__(self, environ: Mapping[str, str], *, any_env: bool = False) -> None:
        self._environ = environ
        self._any_env = any_env  # a cloud plan: its `$env` references are refused on their own

    def __getitem__(self, key: str) -> str:
        if key.startswith(("$secret.", "$ssm.")) or (self._any_env and key not in self._environ):
            return PLACEHOLDER
        return self._environ[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and (key.startswith(("$secret.", "$ssm.")) or self._any_env):
            return True
        return key in self._environ

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)
