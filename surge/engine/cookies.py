"""A virtual user's cookies: what Set-Cookie answers stored, sent back to the host that set them.

One jar per virtual user in the closed model, per iteration in the open model (as Artillery and
Locust give each user its own), used by every client through the worker and the redirect policy
(surge.engine.request_policy), never by a transport on its own. Pure.

Kept simple on purpose, as a load tester's jar can be: cookies are host-only (a ``Domain``
attribute widens nothing), ``Path`` is honoured as a prefix, ``Max-Age``/``Expires`` in the past
delete a cookie (a later expiry is not tracked: a test is minutes long), ``Secure`` cookies go
only over https.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit


@dataclass(slots=True)
class _Cookie:
    value: str
    path: str
    secure: bool


def _default_path(request_path: str) -> str:
    # RFC 6265 5.1.4: the request path up to its last "/", or "/".
    if not request_path.startswith("/") or request_path.count("/") <= 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _expired(attrs: dict[str, str], now: float) -> bool:
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        try:
            return parsedate_to_datetime(attrs["expires"]).timestamp() <= now
        except (TypeError, ValueError):
            return False
    return False


@dataclass
class CookieJar:
    """Cookies by host, then name."""

    _hosts: dict[str, dict[str, _Cookie]] = field(default_factory=dict)

    def store(self, url: str, set_cookies: Iterable[str]) -> None:
        """Take the Set-Cookie header values of an answer to a request for ``url``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        now = time.time()
        for header in set_cookies:
            pieces = header.split(";")
            name, sep, value = pieces[0].partition("=")
            name = name.strip()
            if not sep or not name:
                continue  # not a cookie (RFC 6265 5.2: ignore it)
            attrs: dict[str, str] = {}
            for piece in pieces[1:]:
                key, _, val = piece.partition("=")
                attrs[key.strip().lower()] = val.strip()
            cookies = self._hosts.setdefault(host, {})
            if _expired(attrs, now):
                cookies.pop(name, None)
                continue
            path = attrs.get("path") or _default_path(parts.path or "/")
            cookies[name] = _Cookie(value.strip(), path, "secure" in attrs)

    def header(self, url: str) -> str | None:
        """The Cookie header a request for ``url`` carries, or None."""
        parts = urlsplit(url)
        cookies = self._hosts.get((parts.hostname or "").lower())
        if not cookies:
            return None
        path = parts.path or "/"
        https = parts.scheme == "https"
        sent = [
            f"{name}={c.value}"
            for name, c in cookies.items()
            if (https or not c.secure) and (path == c.path or path.startswith(c.path.rstrip("/") + "/"))
        ]
        return "; ".join(sent) or None

    def __bool__(self) -> bool:
        return any(self._hosts.values())


def with_cookies(headers: dict[str, str], jar: CookieJar | None, url: str) -> dict[str, str]:
    """``headers`` plus the jar's cookies for ``url`` (after a Cookie header the plan wrote)."""
    if not jar:
        return headers
    cookie = jar.header(url)
    if cookie is None:
        return headers
    out = {k: v for k, v in headers.items() if k.lower() != "cookie"}
    own = next((v for k, v in headers.items() if k.lower() == "cookie"), None)
    out["Cookie"] = f"{own}; {cookie}" if own else cookie
    return out
