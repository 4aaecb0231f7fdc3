"""One request policy for both clients: a redirect never takes a request to a host the plan does not
allow, whether the fast client or aiohttp sends it (HEAD, a Connection header, SURGE_FAST_CLIENT=0).
Two real servers on loopback: the target answers redirects, a "forbidden" host counts what reaches it."""

from __future__ import annotations

import asyncio
import functools
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from surge.engine.request_policy import RedirectRefused, next_hop
from surge.stats import RunStats, aggregate, merge_results
from tests.helpers import make_plan, run_in_process


@functools.cache
def gzip_bomb() -> bytes:
    return gzip.compress(bytes(64 << 20), 9)


@dataclass
class Server:
    host: str
    port: int = 0
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


def _app(server: Server) -> web.Application:
    async def redirect(request: web.Request) -> web.StreamResponse:
        server.hits.append(request.method + " " + request.path_qs)
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def anything(request: web.Request) -> web.StreamResponse:
        server.hits.append(request.method + " " + request.path_qs)
        return web.json_response({"ok": True})

    async def big(request: web.Request) -> web.StreamResponse:
        # Streamed, never held by the server either: ``mb`` MiB, then the word a capture looks for.
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * (1 << 20)
        for _ in range(int(request.query["mb"])):
            await resp.write(chunk)
        await resp.write(b"token=found")
        await resp.write_eof()
        return resp

    async def bomb(request: web.Request) -> web.StreamResponse:
        # 64 MiB of zeros in 64 KiB on the wire: what counts is the decoded size.
        return web.Response(
            body=gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        )

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/bomb", bomb)
    app.router.add_route("*", "/redir", redirect)
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    """The target on 127.0.0.1 and a host the plan does not allow on 127.0.0.3 (loopback too)."""
    loop = asyncio.new_event_loop()
    target, forbidden = Server("127.0.0.1"), Server("127.0.0.3")
    runners: list[web.AppRunner] = []

    async def start(server: Server) -> None:
        runner = web.AppRunner(_app(server), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, server.host, 0)
        await site.start()
        server.port = runner.addresses[0][1]
        runners.append(runner)

    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start(target))
        loop.run_until_complete(start(forbidden))
        ready.set()
        loop.run_forever()
        for runner in runners:
            loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield target, forbidden
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


ESCAPES = [
    pytest.param({}, "GET", id="fast-client"),
    pytest.param({"Connection": "keep-alive"}, "GET", id="aiohttp-connection-header"),
    pytest.param({}, "HEAD", id="aiohttp-head"),
    pytest.param({"Content-Length": "1"}, "POST", id="aiohttp-framing-header"),
]


def send(
    target: Server, method: str, url: str, headers: dict[str, str] | None = None, rate: int = 4
) -> RunStats:
    """One second of ``method url`` at ``rate``/s against the target, in one worker."""
    request: dict[str, Any] = {"url": url, "headers": headers or {}}
    if method == "POST":
        request["body"] = "x"
    plan = make_plan(
        target.url(""),
        load={"phases": [{"duration": "1s", "rate": rate}]},
        scenarios=[{"name": "r", "flow": [{method.lower(): request}]}],
    )
    return merge_results([run_in_process(plan)])


@pytest.mark.parametrize("status", [302, 307])  # the method-changing and the method-keeping kind
@pytest.mark.parametrize(("headers", "method"), ESCAPES)
def test_a_redirect_to_a_forbidden_host_is_refused_on_every_path(
    servers: tuple[Server, Server], headers: dict[str, str], method: str, status: int
) -> None:
    target, forbidden = servers
    stats = send(target, method, f"/redir?status={status}&to={forbidden.url('/stolen')}", headers)
    assert forbidden.hits == [], "a request reached a host the plan does not allow"
    assert aggregate(stats).errors == {"refused": 4}
    assert len(target.hits) == 4


def test_the_aiohttp_fallback_refuses_too(
    servers: tuple[Server, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURGE_FAST_CLIENT", "0")
    target, forbidden = servers
    stats = send(target, "GET", f"/redir?to={forbidden.url('/x')}")
    assert forbidden.hits == [] and aggregate(stats).errors == {"refused": 4}


@pytest.mark.parametrize(("headers", "method"), ESCAPES)
def test_a_redirect_within_the_allowed_hosts_is_followed_on_every_path(
    servers: tuple[Server, Server], headers: dict[str, str], method: str
) -> None:
    target, _ = servers
    stats = send(target, method, f"/redir?status=307&to={target.url('/landed')}", headers, rate=2)
    assert aggregate(stats).errors == {}
    assert (
        sorted(h.split("?")[0] for h in target.hits) == [f"{method} /landed"] * 2 + [f"{method} /redir"] * 2
    )


BODY_PATHS = [
    pytest.param({}, id="fast-client"),
    pytest.param({"Connection": "keep-alive"}, id="aiohttp"),
]


@pytest.mark.parametrize("headers", BODY_PATHS)
def test_a_body_over_the_limit_fails_its_capture_without_being_held(
    servers: tuple[Server, Server], headers: dict[str, str]
) -> None:
    target, _ = servers

    def run(url: str, capture: bool) -> RunStats:
        request: dict[str, Any] = {"url": url, "headers": headers}
        if capture:
            request["capture"] = [{"regex": "token=(\\w+)", "as": "token"}]
        plan = make_plan(
            target.url(""),
            defaults={"max_body": "1MiB"},
            load={"phases": [{"duration": "1s", "rate": 2}]},
            scenarios=[{"name": "r", "flow": [{"get": request}]}],
        )
        return merge_results([run_in_process(plan)])

    small = aggregate(run("/big?mb=0", capture=True))
    assert small.errors == {} and small.requests == 2
    over = run("/big?mb=3", capture=True)
    total = aggregate(over)
    assert total.errors == {"too_large": 2}
    (endpoint,) = [e for i in over["intervals"].values() for e in i["endpoints"].values() if e["bytes"]]
    assert endpoint["bytes"] >= 3 << 20  # counted in full all the same
    # Nothing reads these bodies: counted as they stream, whatever their size, and no error.
    unread = aggregate(run("/bomb", capture=False))
    assert unread.errors == {} and unread.requests == 2
    bomb = aggregate(run("/bomb", capture=True))
    assert bomb.errors == {"too_large": 2}


def test_the_policy_strips_credentials_across_origins_and_turns_posts_into_gets() -> None:
    hop = next_hop(
        method="POST",
        url="http://127.0.0.1:1/a",
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json", "X-A": "1"},
        body=b"{}",
        status=302,
        location="http://localhost:2/b#frag",
        allowed_hosts=frozenset({"127.0.0.1", "localhost"}),
    )
    assert hop is not None
    assert (hop.method, hop.url, hop.body) == ("GET", "http://localhost:2/b", None)
    assert hop.headers == {"X-A": "1"}
    same = next_hop(
        method="PUT",
        url="http://127.0.0.1:1/a",
        headers={"Authorization": "x"},
        body=b"1",
        status=307,
        location="/c",
        allowed_hosts=None,
    )
    assert same is not None and (same.method, same.url, same.body, same.headers) == (
        "PUT",
        "http://127.0.0.1:1/c",
        b"1",
        {"Authorization": "x"},
    )
    assert (
        next_hop(
            method="GET",
            url="http://h/a",
            headers={},
            body=None,
            status=200,
            location="/x",
            allowed_hosts=None,
        )
        is None
    )
    assert (
        next_hop(
            method="GET",
            url="http://h/a",
            headers={},
            body=None,
            status=302,
            location="ftp://h/x",
            allowed_hosts=None,
        )
        is None
    )
    with pytest.raises(RedirectRefused):
        next_hop(
            method="GET",
            url="http://h/a",
            headers={},
            body=None,
            status=301,
            location="http://evil/",
            allowed_hosts=frozenset({"h"}),
        )
