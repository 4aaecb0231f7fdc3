"""One HTTP request of a flow: send, time, classify, check expectations, capture variables."""

from __future__ import annotations

import asyncio
import errno
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from surge.engine.cookies import CookieJar
from surge.engine.fastclient import FastClient, FastHTTPError, Prepared, Response
from surge.engine.flow import CompiledRequest
from surge.engine.request_policy import Answered, Hop, RedirectRefused, TooManyRedirects, follow


@dataclass(slots=True)
class Outcome:
    status: int
    nbytes: int
    error: str | None
    t_send: float
    t_end: float
    captured: dict[str, object] | None
    set_cookies: list[str] | None = None  # the final answer's Set-Cookie values (a user's jar takes them)
    answer: tuple[bytes, Mapping[str, str]] | None = None  # body and headers, for an after hook only
    detail: str | None = None  # a failure in words: what was expected, what came (failure samples)
    body_head: str | None = None  # a failed answer's first bytes, when its body was read


BODY_HEAD_CHARS = 300  # of a failed answer's body, kept in its failure sample


def _head(raw: bytes) -> str | None:
    return raw[: BODY_HEAD_CHARS * 2].decode("utf-8", errors="replace")[:BODY_HEAD_CHARS] if raw else None


def _exception_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, FastHTTPError) else f"{type(exc).__name__}: {text}"[:300]


def classify_exception(exc: BaseException) -> str:
    """Map a client exception to the error classes reports group by."""
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(exc, dns_error):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = getattr(exc, "os_error", None)
        if isinstance(os_error, OSError) and getattr(os_error, "errno", None) in (-2, -3, -5):
            return "dns"  # getaddrinfo failures on aiohttp versions without a DNS error type
        return "connect"
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "reset"
    if isinstance(exc, aiohttp.ClientOSError | ConnectionError) and getattr(exc, "errno", None) in (
        errno.ECONNRESET,
        errno.EPIPE,
        errno.ECONNABORTED,
    ):
        return "reset"
    return "other"


def status_error(status: int, expected: tuple[int, ...] | None) -> str | None:
    if expected is not None:
        if status in expected:
            return None
        return "http_5xx" if status >= 500 else "http_4xx" if status >= 400 else "expect"
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    return None


@dataclass(slots=True)
class Judgement:
    """What an answer amounts to under the plan: its error class (None: as expected), what the
    request captured, and in words what was expected and what came (for failure samples)."""

    error: str | None
    captured: dict[str, object] | None = None
    detail: str | None = None


def judge_answer(
    req: CompiledRequest,
    status: int,
    elapsed_s: float,
    too_large: bool,
    body: bytes,
    headers: Mapping[str, str] | None,
) -> Judgement:
    """An answer's judgement, whichever client got it: the status, then the latency expectation,
    the body limit, the body's checks and captures (``headers`` None: the request has none to make)."""
    error = status_error(status, req.statuses)
    if error is not None:
        wanted = "" if req.statuses is None else f", expected {'/'.join(map(str, req.statuses))}"
        return Judgement(error, None, f"status {status}{wanted}")
    if req.max_latency_s is not None and elapsed_s > req.max_latency_s:
        # expect: {max: ...}: slower than the plan allows
        return Judgement(
            "expect",
            None,
            f"took {elapsed_s * 1000:.0f} ms, expected at most {req.max_latency_s * 1000:g} ms",
        )
    if too_large:
        return Judgement("too_large", None, f"body larger than the {req.max_body:,}-byte limit (max_body)")
    if headers is None:
        return Judgement(None)
    return _check_body(req, body, headers)


def _check_body(req: CompiledRequest, raw: bytes, headers: Mapping[str, str]) -> Judgement:
    content_type = headers.get("Content-Type", "")
    if req.content_type is not None and req.content_type not in content_type.lower():
        return Judgement(
            "expect", None, f"content type {content_type or '(none)'}, expected {req.content_type}"
        )
    if not req.needs_body_text:
        return Judgement(None)
    text = raw.decode("utf-8", errors="replace")
    if req.body_contains is not None and req.body_contains not in text:
        return Judgement("expect", None, f"body does not contain {req.body_contains!r}")
    captured: dict[str, object] = {}
    doc: object = None
    if any(c.kind in ("json", "until") for c in req.captures):
        try:
            doc = json.loads(text)
        except ValueError:
            return Judgement(
                "expect", None, "body is not JSON (the request's JSON checks and captures need it)"
            )
    for cap in req.captures:
        value = cap.extract(text, doc, headers)
        if value is None and cap.optional:
            captured[cap.name] = None  # empty: a later `if`/`while` sees it as not there
            continue
        if value is None:
            # A condition that does not hold is an unmet expectation; a capture that found nothing
            # is its own failure (the rest of the flow would miss the value).
            if cap.kind == "until":
                return Judgement("expect", None, cap.describe_miss(doc))
            return Judgement("capture", None, f"capture {cap.name} ({cap.source}) found nothing")
        captured[cap.name] = value
    return Judgement(None, captured)


def _not_followed(exc: RedirectRefused | TooManyRedirects, t_send: float, t_end: float) -> Outcome:
    """A redirect the request policy would not follow: to a host not allowed, or one too many."""
    kind = "refused" if isinstance(exc, RedirectRefused) else "other"
    return Outcome(0, 0, kind, t_send, t_end, None, detail=str(exc))


@dataclass(slots=True)
class _AiohttpAnswer:
    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes
    nbytes: int
    too_large: bool
    set_cookies: list[str] | None


async def send(
    session: aiohttp.ClientSession,
    req: CompiledRequest,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    clock: Callable[[], float],
    allowed_hosts: frozenset[str] | None = None,
    jar: CookieJar | None = None,
    keep_answer: bool = False,
) -> Outcome:
    """The request through aiohttp, one hop at a time: aiohttp never follows a redirect by itself,
    the request policy's loop does (as for the fast client), so a redirect to a host the plan does
    not allow is refused before anything is sent there. ``keep_answer``: keep the answer's headers
    and body (up to the plan's limit) in the Outcome, for --debug."""
    needs_body = req.needs_body_text
    budget = req.timeout_s if req.timeout_s is not None else _session_timeout(session)
    t_send = clock()
    deadline = t_send + budget if budget is not None else None

    async def exchange(hop: Hop) -> Answered[_AiohttpAnswer]:
        timeout = (
            aiohttp.ClientTimeout(total=max(deadline - clock(), 0.001)) if deadline is not None else None
        )
        async with session.request(
            hop.method, hop.url, headers=hop.headers, data=hop.body, timeout=timeout, allow_redirects=False
        ) as resp:
            raw, nbytes, too_large = await _read_body(resp, needs_body or keep_answer, req.max_body)
            set_cookies = resp.headers.getall("Set-Cookie", None) if jar is not None else None
            answer = _AiohttpAnswer(resp.status, resp.headers, raw, nbytes, too_large, set_cookies)
            return Answered(
                answer, str(resp.url), resp.status, resp.headers.get("Location"), set_cookies or ()
            )

    try:
        first = Hop(req.method, url, headers, body)
        got = await follow(first, await exchange(first), exchange, allowed_hosts=allowed_hosts, jar=jar)
    except (RedirectRefused, TooManyRedirects) as exc:
        return _not_followed(exc, t_send, clock())
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every client failure is a measured outcome, never a crash
        return Outcome(0, 0, classify_exception(exc), t_send, clock(), None, detail=_exception_text(exc))
    t_end = clock()
    too_large = got.too_large and needs_body  # kept only to be shown: no limit applies
    checks = req.content_type is not None or needs_body
    judged = judge_answer(
        req, got.status, t_end - t_send, too_large, got.raw, got.headers if checks else None
    )
    return Outcome(
        got.status,
        got.nbytes,
        judged.error,
        t_send,
        t_end,
        judged.captured,
        got.set_cookies,
        (got.raw, got.headers) if req.after is not None or keep_answer else None,
        judged.detail,
        _head(got.raw) if judged.error is not None else None,
    )


# A body nothing reads is read whole up to this size when its length is known (cheaper per request
# than streaming it); beyond, or of unknown length, or encoded, it is streamed and counted.
_READ_WHOLE_UP_TO = 1 << 20


async def _read_body(resp: aiohttp.ClientResponse, keep: bool, limit: int) -> tuple[bytes, int, bool]:
    """The body (when a check or capture reads it, up to ``limit``), its decoded size, and
    whether it was over the limit. A body nothing reads is counted as it streams, never held."""
    length = resp.content_length
    if (
        length is not None
        and length <= (limit if keep else _READ_WHOLE_UP_TO)
        and "Content-Encoding" not in resp.headers
    ):
        # Small and of known size (the common case): one read, as before the limit existed.
        raw = await resp.read()
        return (raw if keep else b""), len(raw), False
    kept: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if keep and not too_large:
            if size > limit:
                too_large = True
                kept.clear()
            else:
                kept.append(chunk)
    return b"".join(kept), size, too_large


def _session_timeout(session: aiohttp.ClientSession) -> float | None:
    total = session.timeout.total if session.timeout is not None else None
    return float(total) if total else None


async def send_fast(
    client: FastClient,
    prepared: Prepared,
    req: CompiledRequest,
    headers: dict[str, str],
    body: bytes | None,
    clock: Callable[[], float],
    allowed_hosts: frozenset[str] | None = None,
    jar: CookieJar | None = None,
    keep_answer: bool = False,
) -> Outcome:
    """The same request and Outcome as :func:`send`, through the fast client (the first hop sent
    as prepared; a redirect's next hops by the same policy loop as aiohttp's).

    Headers and the body are kept only when an expectation or a capture reads them, or
    ``keep_answer`` asks for them (--debug).
    """
    want_headers = req.content_type is not None or bool(req.captures) or req.after is not None
    want_body = req.needs_body_text
    read_headers, read_body = want_headers or keep_answer, want_body or keep_answer
    t_send = clock()
    try:
        deadline = client.deadline(req.timeout_s)
        resp, location = await client.exchange(prepared, deadline, read_headers, read_body, req.max_body)
        if location is not None:

            async def exchange(hop: Hop) -> Answered[Response]:
                nxt = client.prepare(hop.method, hop.url, hop.headers, hop.body)
                got, where = await client.exchange(nxt, deadline, read_headers, read_body, req.max_body)
                return Answered(got, client.url_of(nxt), got.status, where, got.set_cookies or ())

            first = Answered(resp, client.url_of(prepared), resp.status, location, resp.set_cookies or ())
            request = Hop(req.method, first.url, headers, body)
            resp = await follow(request, first, exchange, allowed_hosts=allowed_hosts, jar=jar)
    except (RedirectRefused, TooManyRedirects) as exc:
        return _not_followed(exc, t_send, clock())
    except FastHTTPError as exc:
        return Outcome(0, 0, exc.kind, t_send, clock(), None, detail=_exception_text(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every client failure is a measured outcome, never a crash
        return Outcome(0, 0, classify_exception(exc), t_send, clock(), None, detail=_exception_text(exc))
    t_end = clock()
    hdrs: CIMultiDict[str] | None = CIMultiDict(resp.headers or ()) if want_headers or want_body else None
    too_large = resp.too_large and want_body  # a body kept only to be shown has no limit to break
    judged = judge_answer(req, resp.status, t_end - t_send, too_large, resp.body or b"", hdrs)
    keep = req.after is not None or keep_answer
    answer = (resp.body or b"", dict(resp.headers or ())) if keep else None
    return Outcome(
        resp.status,
        resp.nbytes,
        judged.error,
        t_send,
        t_end,
        judged.captured,
        resp.set_cookies,
        answer,
        judged.detail,
        _head(resp.body) if judged.error is not None and resp.body else None,
    )
