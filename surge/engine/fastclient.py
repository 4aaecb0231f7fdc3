"""A small HTTP/1.1 client on asyncio Protocols: the engine's fast path for plain requests.

Why it exists: profiling the request loop (bench/RESULTS.md) showed that aiohttp's client,
not surge's own code, spends most of each request's CPU (request/response objects, stream
readers, writer tasks, connector bookkeeping). A load generator needs far less: write one
pre-serialized request on a kept-alive connection, parse the response with llhttp (httptools),
count its bytes, and keep the body and headers only when an expectation or a capture reads them.

What it supports: http and https (default verification, or a given ``ssl.SSLContext``), a
keep-alive pool per origin, Content-Length, chunked and read-until-close responses, gzip/deflate
bodies (decoded, as aiohttp does, so byte counts and captures agree), connect and total
timeouts, one retry of an idempotent request whose reused connection turned out closed. It sends
one hop: a redirect is answered with its Location, and the request policy's one loop
(surge.engine.request_policy.follow) decides and sends the next hop, as for aiohttp. What it does
not (the caller keeps aiohttp for it): HEAD, credentials in the URL, caller-set framing headers
(Content-Length, Transfer-Encoding, Connection, Expect, Upgrade), proxies, cookies.

Errors are raised as :class:`FastHTTPError` whose ``kind`` is one of the classes reports group
by: connect, timeout, reset, dns, tls, other.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import httptools
from yarl import URL

from surge.plan import DEFAULT_MAX_BODY

DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
)
# Methods aiohttp sends without a body; the others get "Content-Length: 0" when they have none.
NO_BODY_METHODS = frozenset({"GET", "OPTIONS", "TRACE", "CONNECT"})
IDEMPOTENT = frozenset({"GET", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Framing is the client's business: a request that sets these goes through aiohttp instead.
UNSUPPORTED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "expect", "upgrade"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
URL_CACHE_MAX = 4096


class FastHTTPError(Exception):
    """A failed request; ``kind`` is the error class (connect, timeout, reset, dns, tls, other)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    host_header: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(slots=True)
class Prepared:
    """A request serialized once: reused as is while its URL, headers and body do not change."""

    origin: Origin
    method: str
    target: str  # path and query, percent-encoded as aiohttp (yarl) would send them
    data: bytes  # the whole request: head and body
    idempotent: bool
    pool: _Pool  # resolved once: hashing the origin per request showed in the profile


@dataclass(slots=True)
class Response:
    status: int
    nbytes: int  # decoded body bytes, as aiohttp's len(await resp.read())
    body: bytes | None  # only when asked for, and within the limit
    headers: list[tuple[str, str]] | None  # only when asked for
    too_large: bool = False  # the body was asked for but exceeded the limit: it was not kept
    set_cookies: list[str] | None = None  # Set-Cookie values, for the user's jar (surge.engine.cookies)


def supports(method: str, url: str, headers: Mapping[str, str]) -> bool:
    """Whether the fast path can send this request exactly as aiohttp would."""
    if method == "HEAD" or not url.startswith(("http://", "https://")):
        return False
    if "@" in url.split("/", 3)[2]:  # credentials: aiohttp turns them into Basic auth
        return False
    return not any(k.lower() in UNSUPPORTED_HEADERS for k in headers)


def _origin(url: URL) -> Origin:
    host = url.raw_host
    if not host or url.scheme not in ("http", "https"):
        raise FastHTTPError("other", f"not an http(s) URL: {url}")
    port = url.port or (443 if url.scheme == "https" else 80)
    return Origin(url.scheme, host, port, url.host_port_subcomponent or host)


def _check_header(name: str, value: str) -> None:
    # A rendered value with a line break would smuggle a header; aiohttp refuses it too.
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise FastHTTPError("other", f"invalid header {name!r}")


def serialize(
    method: str, origin: Origin, target: str, headers: Mapping[str, str], body: bytes | None, user_agent: str
) -> bytes:
    """The request bytes, headers in aiohttp's defaults-then-caller order."""
    lower = {k.lower() for k in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in lower:
        lines.append(f"Host: {origin.host_header}")
    for k, v in DEFAULT_HEADERS:
        if k.lower() not in lower:
            lines.append(f"{k}: {v}")
    if "user-agent" not in lower and user_agent:
        lines.append(f"User-Agent: {user_agent}")
    for k, v in headers.items():
        _check_header(k, v)
        lines.append(f"{k}: {v}")
    if body is not None:
        if "content-type" not in lower:
            lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {len(body)}")
    elif method not in NO_BODY_METHODS:
        lines.append("Content-Length: 0")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


# Decoded a piece at a time, so a body is counted without being held, and a small compressed
# body that expands to gigabytes (a zip bomb) is never in memory whole.
_DECODE_STEP = 1 << 20
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # zlib detects which header the body has


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time (no pipelining)."""

    __slots__ = (
        "_body",
        "_chunked",
        "_deadline",
        "_decoded_any",
        "_decoder",
        "_encoding",
        "_has_length",
        "_headers",
        "_keep_body",
        "_kept",
        "_loop",
        "_max_keep",
        "_parser",
        "_set_cookies",
        "_timer",
        "_waiter",
        "_want_headers",
        "closed",
        "done_headers",
        "keep_alive",
        "nbytes",
        "received",
        "status",
        "too_large",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self.closed = False
        self._reset_state(False, False, 0)

    def _reset_state(self, want_headers: bool, keep_body: bool, max_keep: int) -> None:
        self._want_headers = want_headers
        self._keep_body = keep_body
        self._max_keep = max_keep
        self._kept = 0
        self.too_large = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._set_cookies: list[str] = []
        self._body: list[bytes] = []
        self._encoding: str | None = None
        self._decoder: Any = None  # a zlib decompressobj while the body is encoded
        self._decoded_any = False
        self._has_length = False
        self._chunked = False
        self.done_headers = False
        self.keep_alive = True
        self.nbytes = 0
        self.received = False
        self.status = 0

    # -- asyncio.Protocol ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not TCP: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(FastHTTPError("other", f"bad response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost decides what the EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self.done_headers and not self._has_length and not self._chunked and exc is None:
            self._finish()  # no length and not chunked: the body ends where the connection does
        elif isinstance(exc, ssl.SSLError):
            self._fail(FastHTTPError("tls", str(exc)))
        else:
            self._fail(FastHTTPError("reset", str(exc) if exc else "server closed the connection"))

    # -- httptools callbacks -------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.done_headers = True
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        for name, value in self._headers:
            n = name.lower()
            if n == b"content-length":
                self._has_length = True
            elif n == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif n == b"set-cookie":
                self._set_cookies.append(value.decode("latin-1"))
            elif n == b"content-encoding":
                enc = value.strip().lower()
                if enc in (b"gzip", b"x-gzip", b"deflate"):
                    self._encoding = "deflate" if enc == b"deflate" else "gzip"
                    self._decoder = zlib.decompressobj(_GZIP_OR_ZLIB)

    def on_body(self, body: bytes) -> None:
        if self._decoder is None:
            self.nbytes += len(body)
            if self._keep_body:
                self._keep(body)
        else:
            self._decode(body)

    def _keep(self, data: bytes) -> None:
        # Past the limit nothing more is held, and what was is let go: the size still counts.
        if self.too_large:
            return
        self._kept += len(data)
        if self._kept > self._max_keep:
            self.too_large = True
            self._body.clear()
        else:
            self._body.append(data)

    def _decode(self, data: bytes) -> None:
        dec = self._decoder
        try:
            try:
                out = dec.decompress(data, _DECODE_STEP)
            except zlib.error:
                if self._decoded_any or self._encoding != "deflate":
                    raise
                # "deflate" without the zlib header (raw deflate), as some servers send it.
                dec = self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                out = dec.decompress(data, _DECODE_STEP)
            while True:
                self._decoded_any = True
                self.nbytes += len(out)
                if self._keep_body:
                    self._keep(out)
                if not dec.unconsumed_tail:
                    break
                out = dec.decompress(dec.unconsumed_tail, _DECODE_STEP)
        except zlib.error as exc:
            self._fail(FastHTTPError("other", f"cannot decode {self._encoding} body: {exc}"))
            self.close()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            # An interim answer (100 Continue, 102, 103 Early Hints) is not the answer: the final
            # one follows on the same connection, within the same deadline (or never: a timeout).
            self._reset_state(self._want_headers, self._keep_body, self._max_keep)
            self.received = True
            return
        self._finish()

    # -- requests ------------------------------------------------------------------------------------
    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: FastHTTPError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _on_timer(self) -> None:
        # One timer per connection, re-armed lazily: a request that ends before its deadline
        # costs no timer call of its own (the common case), only a connection idle past it does.
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        self._fail(FastHTTPError("timeout", "no complete response in time"))
        self.close()

    def send(
        self, data: bytes, deadline: float, want_headers: bool, keep_body: bool, max_keep: int
    ) -> asyncio.Future[None]:
        # The llhttp parser carries over between messages; the rest is per response.
        self._reset_state(want_headers, keep_body, max_keep)
        waiter = self._waiter = self._loop.create_future()
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def response(self) -> Response:
        if self._decoder is not None:
            rest = self._decoder.flush()
            self.nbytes += len(rest)
            if self._keep_body:
                self._keep(rest)
        body: bytes | None = None
        if self._keep_body and not self.too_large:
            body = b"".join(self._body)
        headers = None
        if self._want_headers:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._headers]
        return Response(self.status, self.nbytes, body, headers, self.too_large, self._set_cookies or None)

    def location(self) -> str | None:
        for k, v in self._headers:
            if k.lower() == b"location":
                return v.decode("latin-1")
        return None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pool:
    __slots__ = ("idle", "origin")

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.idle: list[_Connection] = []


class FastClient:
    """Keep-alive HTTP/1.1 pools per origin. Concurrency is bounded by the caller (the worker's
    connection semaphore), so the pool opens a connection whenever none is idle."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "surge/0.1",
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        self.user_agent = user_agent
        self._pools: dict[Origin, _Pool] = {}
        self._urls: dict[str, tuple[Origin, str]] = {}
        self._all: set[_Connection] = set()
        self.connections_opened = 0  # for tests and benchmarks: keep-alive reuse is observable

    # -- preparing ---------------------------------------------------------------------------------
    def _split(self, url: str) -> tuple[Origin, str]:
        hit = self._urls.get(url)
        if hit is not None:
            return hit
        try:
            u = URL(url)
        except (ValueError, TypeError) as exc:
            raise FastHTTPError("other", f"invalid URL {url!r}: {exc}") from None
        hit = (_origin(u), u.raw_path_qs or "/")
        if len(self._urls) >= URL_CACHE_MAX:  # templated URLs: keep the cache bounded
            self._urls.clear()
        self._urls[url] = hit
        return hit

    def prepare(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Prepared:
        origin, target = self._split(url)
        data = serialize(method, origin, target, headers, body, self.user_agent)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(origin)
        return Prepared(origin, method, target, data, method in IDEMPOTENT, pool)

    # -- sending -----------------------------------------------------------------------------------
    def url_of(self, prepared: Prepared) -> str:
        """The URL a prepared request asks for (what a relative redirect is read against)."""
        o = prepared.origin
        here = URL.build(scheme=o.scheme, host=o.host, port=o.port, encoded=True)
        return str(here.join(URL(prepared.target, encoded=True)))

    async def request(
        self,
        prepared: Prepared,
        *,
        timeout: float | None = None,
        want_headers: bool = False,
        want_body: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> Response:
        """Send one prepared request and read its answer (one hop: a redirect is an answer like any
        other; the request policy's loop follows it); raises FastHTTPError."""
        resp, _ = await self.exchange(prepared, self.deadline(timeout), want_headers, want_body, max_body)
        return resp

    def deadline(self, timeout: float | None) -> float:
        """The loop-clock time by which a request sent now must be answered, all its hops included."""
        return asyncio.get_running_loop().time() + (timeout if timeout is not None else self.timeout)

    async def exchange(
        self, prepared: Prepared, deadline: float, want_headers: bool, want_body: bool, max_body: int
    ) -> tuple[Response, str | None]:
        """One hop: the answer, and its Location when it is a redirect (else None)."""
        pool = prepared.pool
        for attempt in (0, 1):
            conn = None
            idle = pool.idle
            while idle:
                c = idle.pop()
                if not c.closed:
                    conn = c
                    break
            reused = conn is not None
            if conn is None:
                conn = await self._connect(asyncio.get_running_loop(), pool.origin, deadline)
            try:
                await conn.send(prepared.data, deadline, want_headers, want_body, max_body)
            except FastHTTPError as exc:
                conn.close()
                self._all.discard(conn)
                # A kept-alive connection the server had already closed: the request never
                # reached it, so an idempotent one is sent once more on a new connection.
                if (
                    attempt == 0
                    and reused
                    and exc.kind == "reset"
                    and not conn.received
                    and prepared.idempotent
                ):
                    continue
                raise
            except asyncio.CancelledError:
                conn.close()
                self._all.discard(conn)
                raise
            location = conn.location() if conn.status in REDIRECTS else None
            resp = conn.response()
            if conn.keep_alive and not conn.closed:
                idle.append(conn)
            else:
                conn.close()
                self._all.discard(conn)
            return resp, location
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: Origin, deadline: float) -> _Connection:
        budget = min(self.connect_timeout, deadline - loop.time())
        if budget <= 0:
            raise FastHTTPError("timeout", "no time left to connect")
        kwargs: dict[str, Any] = {}
        if origin.tls:
            kwargs["ssl"] = self.ssl_context if self.ssl_context is not None else _default_context()
            kwargs["server_hostname"] = origin.host.strip("[]")
        try:
            async with asyncio.timeout(budget):
                _, proto = await loop.create_connection(
                    lambda: _Connection(loop), origin.host.strip("[]"), origin.port, **kwargs
                )
        except TimeoutError:
            raise FastHTTPError("timeout", f"connect to {origin.host}:{origin.port}") from None
        except socket.gaierror as exc:
            raise FastHTTPError("dns", f"{origin.host}: {exc}") from None
        except ssl.SSLError as exc:  # includes certificate verification failures
            raise FastHTTPError("tls", str(exc)) from None
        except OSError as exc:
            raise FastHTTPError("connect", f"{origin.host}:{origin.port}: {exc}") from None
        self.connections_opened += 1
        self._all.add(proto)
        return proto

    async def warm(self, prepared: Prepared, n: int, *, parallel: int = 32) -> int:
        """Open up to ``n`` idle connections to ``prepared``'s origin ahead of the load, as wrk
        does: otherwise the first arrivals each wait for a handshake, and a start at thousands per
        second queues them behind one another (tens of ms in the first 100 ms). Stops at the first
        failure, which the requests themselves will then report. Returns how many are idle."""
        loop = asyncio.get_running_loop()
        pool = prepared.pool
        while len(pool.idle) < n:
            batch = min(parallel, n - len(pool.idle))
            deadline = loop.time() + self.connect_timeout
            got = await asyncio.gather(
                *(self._connect(loop, pool.origin, deadline) for _ in range(batch)), return_exceptions=True
            )
            failed = False
            for conn in got:
                if isinstance(conn, _Connection):
                    pool.idle.append(conn)
                elif not isinstance(conn, Exception):  # cancelled, interrupted: not a failed connect
                    raise conn
                else:
                    failed = True
            if failed:
                break
        return len(pool.idle)

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._pools.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run


_DEFAULT_CTX: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    """A verifying context, made once (it reads the CA store; SSL_CERT_FILE is honoured)."""
    global _DEFAULT_CTX
    if _DEFAULT_CTX is None:
        _DEFAULT_CTX = ssl.create_default_context()
    return _DEFAULT_CTX
