"""A plan's Python hooks: the user's own functions, in a file the plan names (``hooks: hooks.py``).

Flows call them in templates (``{{ sign(body) }}``), before a request (``before: add_signature``:
change its URL, headers or body) and after a response (``after: check_order``: custom checks and
captures). Every worker loads the file once (local runs, and Lambda workers, to which the file
ships with the run); ``surge validate`` imports it and checks every name the plan uses. A hook
that raises ends its iteration with the error class ``hook``; the first message of each hook is
kept in the report's generator notes.

A before hook gets ``(request, variables)``: ``request`` is a dict with ``method``, ``url``,
``headers`` (a dict it may change) and ``body`` (bytes or None); it changes it in place or returns
a new one. An after hook gets ``(response, variables)``: ``status``, ``headers``, ``body`` (bytes)
and ``json`` (the parsed body, or None); it may return a dict of variables to set for the rest of
the iteration, and fails the request by raising (``HookFailed("why")`` reads best).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from surge.template import HOOKS_KEY

__all__ = ["HOOKS_KEY", "HookFailed", "HookLoadError", "call_after", "call_before", "describe", "load_hooks"]

HookFunctions = Mapping[str, Callable[..., Any]]


class HookFailed(Exception):
    """Raise it from a hook to fail the request with a message (any exception fails it too)."""


class HookLoadError(ValueError):
    """The hooks file cannot be imported: the message says why."""


def load_hooks(path: Path) -> dict[str, Callable[..., Any]]:
    """The public functions of the hooks file (names not starting with ``_``)."""
    if not path.is_file():
        raise HookLoadError(f"cannot read {path}: no such file")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"surge_hooks_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HookLoadError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so dataclasses and pickling inside the hooks file work
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # user code cannot end surge, nor choose its exit code
        del sys.modules[name]
        raise HookLoadError(
            f"cannot import {path}: it calls sys.exit({exc.code!r}) at import; a hooks file defines functions"
        ) from None
    except Exception as exc:  # the user's code: say what broke, never a traceback
        del sys.modules[name]
        line = ""
        if isinstance(exc, SyntaxError) and exc.lineno:
            line = f" (line {exc.lineno})"
        raise HookLoadError(f"cannot import {path}{line}: {type(exc).__name__}: {exc}") from None
    return {
        n: _guarded(n, fn)
        for n, fn in vars(module).items()
        if not n.startswith("_") and inspect.isfunction(fn) and fn.__module__ == name
    }


def _guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The hook as every caller gets it (templates, before and after hooks, on every path): a
    ``sys.exit`` inside it fails that call like any other error, instead of ending surge."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SystemExit as exc:
            raise HookFailed(f"{name} called sys.exit({exc.code!r}); a hook cannot end the run") from None

    return call


def call_before(
    fn: Callable[..., Any],
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    variables: dict[str, object],
) -> tuple[str, dict[str, str], bytes | None]:
    """Run a before hook on a copy of the request; the request it leaves (or returns)."""
    request: dict[str, Any] = {"method": method, "url": url, "headers": dict(headers), "body": body}
    returned = fn(request, variables)
    if isinstance(returned, dict):
        request = returned
    new_body = request.get("body")
    if isinstance(new_body, str):
        new_body = new_body.encode()
    elif new_body is not None and not isinstance(new_body, bytes | bytearray):
        new_body = json.dumps(new_body).encode()  # a dict or list: sent as JSON
    return (
        str(request.get("url", url)),
        {str(k): str(v) for k, v in dict(request.get("headers") or {}).items()},
        bytes(new_body) if new_body is not None else None,
    )


def call_after(
    fn: Callable[..., Any], status: int, headers: Mapping[str, str], body: bytes, variables: dict[str, object]
) -> dict[str, object]:
    """Run an after hook; the variables it sets."""
    try:
        doc: object = json.loads(body) if body else None
    except ValueError:
        doc = None
    response = {"status": status, "headers": dict(headers), "body": body, "json": doc}
    returned = fn(response, variables)
    if returned is None:
        return {}
    if not isinstance(returned, dict):
        raise HookFailed(f"an after hook returns a dict of variables or None, not {type(returned).__name__}")
    return {str(k): v for k, v in returned.items()}


def describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, HookFailed) else f"{type(exc).__name__}: {exc}"
