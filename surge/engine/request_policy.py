"""The rules every request follows, whichever client sends it: credentials in a URL, redirects
and the allow-list.

As httpx applies redirects and auth in its Client above pluggable transports, surge decides here,
once, where a redirect may lead (:func:`next_hop`) and follows redirects in one loop
(:func:`follow`); the fast HTTP client and the aiohttp path are transports that each send one hop
and never follow a redirect on their own. No I/O here: a hop is sent by the ``exchange`` the
caller passes in.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from yarl import URL

from surge.engine.cookies import CookieJar, with_cookies

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials never follow a redirect to another origin (what browsers, requests and aiohttp do).
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "host", "cookie", "proxy-authorization"})


class RedirectRefused(Exception):
    """A redirect to a host the plan does not allow: the request ends here, never sent there."""

    def __init__(self, host: str) -> None:
        super().__init__(f"redirect to {host}, which the plan does not allow")
        self.host = host


@dataclass(frozen=True)
class Hop:
    """The request a redirect leads to."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def next_hop(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    status: int,
    location: str | None,
    allowed_hosts: frozenset[str] | None,
    jar: CookieJar | None = None,
    set_cookies: Sequence[str] = (),
) -> Hop | None:
    """Where the answer ``status`` + ``location`` to ``method url`` leads under the plan's rules.

    None: not a redirect to follow (the answer stands as the request's outcome). Raises
    :class:`RedirectRefused` for a host outside ``allowed_hosts``: nothing is sent there. With the
    user's ``jar``, a hop keeps the cookies the redirect set (a login's 302) and sends the jar's.
    """
    if status not in REDIRECT_STATUSES or not location:
        return None
    try:
        here = URL(url, encoded=True)
        nxt = here.join(URL(location))
    except ValueError:
        return None
    if nxt.scheme not in ("http", "https") or not nxt.host:
        return None  # not something an HTTP client can follow: the redirect response itself stands
    host = nxt.host.lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        raise RedirectRefused(host)
    out_headers = dict(headers)
    # The usual rules (RFC 9110 15.4, as browsers and aiohttp apply them): 303 turns anything but
    # HEAD into GET; 301/302 turn POST into GET; 307/308 keep the method and the body.
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        out_headers = {
            k: v for k, v in out_headers.items() if k.lower() not in ("content-type", "content-length")
        }
    if (nxt.host, nxt.port, nxt.scheme) != (here.host, here.port, here.scheme):
        out_headers = {k: v for k, v in out_headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
    target = str(nxt.with_fragment(None))
    if jar is not None:
        jar.store(url, set_cookies)
        out_headers = with_cookies(out_headers, jar, target)
    return Hop(method, target, out_headers, body)


class TooManyRedirects(Exception):
    def __init__(self) -> None:
        super().__init__(f"more than {MAX_REDIRECTS} redirects")


A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Answered(Generic[A]):
    """What one hop got: the transport's own answer, and what the loop decides the next hop by."""

    answer: A
    url: str  # the URL this hop asked for: the base a relative Location is read against
    status: int
    location: str | None
    set_cookies: Sequence[str] = ()


async def follow(
    request: Hop,
    answered: Answered[A],
    exchange: Callable[[Hop], Awaitable[Answered[A]]],
    *,
    allowed_hosts: frozenset[str] | None,
    jar: CookieJar | None = None,
) -> A:
    """The final answer to ``request``, whose first hop was ``answered``: each redirect's next hop
    decided by :func:`next_hop` and sent by ``exchange``, at most MAX_REDIRECTS of them. The
    caller sends the first hop itself, so a request that is not redirected (nearly all) costs
    nothing here. Raises :class:`RedirectRefused` (a host not allowed: nothing sent there) and
    :class:`TooManyRedirects`."""
    for hops in itertools.count():
        nxt = next_hop(
            method=request.method,
            url=answered.url,
            headers=request.headers,
            body=request.body,
            status=answered.status,
            location=answered.location,
            allowed_hosts=allowed_hosts,
            jar=jar,
            set_cookies=answered.set_cookies,
        )
        if nxt is None:
            return answered.answer
        if hops == MAX_REDIRECTS:
            raise TooManyRedirects()
        request, answered = nxt, await exchange(nxt)
    raise AssertionError("unreachable")  # itertools.count never ends


def credentials_from_url(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``user:password@`` in a URL becomes an ``Authorization: Basic`` header and leaves the URL,
    so no client sends (or logs) it as part of the URL. A request that sets Authorization itself
    keeps its own: an explicit header wins, as in curl."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or "@" not in authority:
        return url, headers
    userinfo, _, hostport = authority.rpartition("@")
    bare = f"{scheme}://{hostport}{rest[len(authority) :]}"
    if any(k.lower() == "authorization" for k in headers):
        return bare, headers
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return bare, {**headers, "Authorization": f"Basic {token}"}
