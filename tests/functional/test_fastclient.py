"""The fast HTTP/1.1 client against real sockets on loopback: framing, keep-alive, errors, TLS.

Each test starts a small asyncio server that writes exactly the bytes a case needs (chunked,
read-until-close, a body cut short...), so the client's parsing is tested against the wire, not
against another client library's idea of it.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from surge.demo_target import DemoTarget
from surge.engine.fastclient import FastClient, FastHTTPError, supports
from surge.engine.flow import compile_plan
from surge.engine.http_step import send, send_fast
from surge.engine.worker import Worker, make_session, run_worker
from surge.engine.worker_spec import WorkerSpec
from surge.stats import aggregate, merge_results
from tests.helpers import make_plan

Handler = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


class RawServer:
    """Answers each request with the bytes ``handler`` writes; counts accepted connections."""

    def __init__(self, handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_ctx = ssl_ctx
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    break
                self.requests.append(req)
                keep = await self.handler(req[0], req[1], writer)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.ssl_ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


def _path(head: bytes) -> bytes:
    return head.split(b" ", 2)[1].split(b"?", 1)[0]


async def routes(head: bytes, body: bytes, w: asyncio.StreamWriter) -> bool:
    path = _path(head)
    if path == b"/cl":
        w.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id":"a1"}')
    elif path == b"/chunked":
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Token: t-42\r\n\r\n")
        w.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    elif path == b"/big":
        payload = b"x" * (3 * 1024 * 1024)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
    elif path == b"/big-chunked":
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(64):
            w.write(b"4000\r\n" + b"y" * 0x4000 + b"\r\n")
            await w.drain()
        w.write(b"0\r\n\r\n")
    elif path == b"/until-close":
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False
    elif path == b"/cut":
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        return False
    elif path == b"/close-now":
        return False  # the request is read, then the connection closes with no answer
    elif path == b"/slow":
        await asyncio.sleep(1.0)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    elif path == b"/gzip":
        data = gzip.compress(b'{"zipped": true}')
        w.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    elif path == b"/redirect":
        w.write(b"HTTP/1.1 302 Found\r\nLocation: /cl\r\nContent-Length: 0\r\n\r\n")
    elif path == b"/redirect-away":
        w.write(b"HTTP/1.1 302 Found\r\nLocation: http://example.invalid/x\r\nContent-Length: 0\r\n\r\n")
    elif path == b"/conn-close":
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return False
    elif path == b"/echo":
        out = head + body
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
    elif path == b"/continue-then-ok":
        w.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        await w.drain()
        w.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
    elif path == b"/continue-forever":
        for _ in range(50):
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await w.drain()
            await asyncio.sleep(0.01)
    elif path == b"/garbage":
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        return False
    else:
        w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    return True


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def get(client: FastClient, url: str, **kw: object) -> tuple[int, int, bytes | None, dict[str, str]]:
    prep = client.prepare(
        str(kw.pop("method", "GET")), url, dict(kw.pop("headers", {})), kw.pop("body", None)
    )  # type: ignore[call-overload]
    resp = await client.request(prep, want_body=True, want_headers=True, **kw)  # type: ignore[arg-type]
    return resp.status, resp.nbytes, resp.body, dict(resp.headers or [])


def test_keep_alive_reuses_one_connection() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            for _ in range(20):
                status, n, body, _ = await get(client, srv.url("/cl"))
                assert (status, n, body) == (200, 11, b'{"id":"a1"}')
            assert client.connections_opened == 1
            assert srv.connections == 1
            await client.close()

    run(main())


def test_content_length_chunked_and_read_until_close_bodies() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            status, n, body, headers = await get(client, srv.url("/chunked"))
            assert (status, n, body) == (200, 11, b"hello world")
            assert headers["X-Token"] == "t-42"
            status, n, body, _ = await get(client, srv.url("/until-close"))
            assert (status, n, body) == (200, 9, b"all of it")
            status, n, body, _ = await get(client, srv.url("/gzip"))
            assert (status, body) == (200, b'{"zipped": true}') and n == len(body)
            await client.close()

    run(main())


def test_large_bodies_are_counted_and_kept_when_asked() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            status, n, body, _ = await get(client, srv.url("/big"))
            assert status == 200 and n == 3 * 1024 * 1024 and body == b"x" * n
            prep = client.prepare("GET", srv.url("/big-chunked"), {}, None)
            resp = await client.request(prep)  # body not wanted: only counted
            assert resp.status == 200 and resp.nbytes == 64 * 0x4000 and resp.body is None
            assert client.connections_opened == 1  # both on one kept-alive connection
            await client.close()

    run(main())


def test_connection_close_responses_open_a_new_connection_each_time() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            for _ in range(3):
                assert (await get(client, srv.url("/conn-close")))[0] == 200
            assert client.connections_opened == 3
            await client.close()

    run(main())


def test_connection_refused_is_connect() -> None:
    async def main() -> None:
        client = FastClient(connect_timeout=2)
        with pytest.raises(FastHTTPError) as err:
            await get(client, "http://127.0.0.1:9/x")
        assert err.value.kind == "connect"
        await client.close()

    run(main())


def test_server_closing_mid_response_is_reset() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            for path in ("/cut", "/close-now"):
                with pytest.raises(FastHTTPError) as err:
                    await get(client, srv.url(path), method="POST", body=b"{}")
                assert err.value.kind == "reset", path
            with pytest.raises(FastHTTPError) as err:
                await get(client, srv.url("/garbage"))
            assert err.value.kind == "other"
            await client.close()

    run(main())


def test_stale_keep_alive_connection_is_retried_once_for_idempotent_requests() -> None:
    async def close_after_answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> bool:
        # Says keep-alive, then closes: the client learns it only when it reuses the connection.
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()
        return False

    async def main() -> None:
        async with RawServer(close_after_answer) as srv:
            client = FastClient()
            prep = client.prepare("GET", srv.url("/a"), {}, None)
            assert (await client.request(prep)).status == 200
            await asyncio.sleep(0.05)
            # The pool notices the close (connection_lost) or the retry covers the race.
            assert (await client.request(prep)).status == 200
            assert srv.connections == 2
            await client.close()

    run(main())


def test_timeouts() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient(timeout=5)
            t = time.perf_counter()
            with pytest.raises(FastHTTPError) as err:
                await get(client, srv.url("/slow"), timeout=0.2)
            assert err.value.kind == "timeout"
            assert time.perf_counter() - t < 0.9
            # The timed-out connection is closed, not reused; the next request gets a new one.
            status, *_ = await get(client, srv.url("/cl"))
            assert status == 200 and client.connections_opened == 2
            await client.close()

    run(main())


def test_an_interim_answer_is_not_the_answer() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient(timeout=5)
            status, nbytes, body, headers = await get(client, srv.url("/continue-then-ok"))
            assert (status, nbytes, body) == (201, 4, b"done") and "Link" not in headers
            # Only 100 Continue, again and again: no answer, so a timeout, never a status 100.
            with pytest.raises(FastHTTPError) as err:
                await get(client, srv.url("/continue-forever"), timeout=0.3)
            assert err.value.kind == "timeout"
            await client.close()

    run(main())


def test_request_head_and_body_are_sent_as_aiohttp_would() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient(user_agent="surge/0.1")
            body = b'{"a": 1}'
            headers = {"Content-Type": "application/json", "X-Trace": "abc"}
            status, _, echoed, _ = await get(
                client, srv.url("/echo?q=a b&x=ü"), method="POST", headers=headers, body=body
            )
            assert status == 200 and echoed is not None
            head, _, sent_body = echoed.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /echo?q=a+b&x=%C3%BC HTTP/1.1"  # yarl quoting, as aiohttp
            hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
            assert hdrs[b"host"] == f"127.0.0.1:{srv.port}".encode()
            assert hdrs[b"user-agent"] == b"surge/0.1"
            assert hdrs[b"content-length"] == b"8"
            assert hdrs[b"content-type"] == b"application/json"
            assert hdrs[b"x-trace"] == b"abc"
            assert hdrs[b"accept-encoding"] == b"gzip, deflate"
            assert sent_body == body
            # A bodiless POST says so, as aiohttp does.
            await get(client, srv.url("/echo"), method="POST")
            assert b"Content-Length: 0" in srv.requests[-1][0]
            with pytest.raises(FastHTTPError):
                client.prepare("GET", srv.url("/echo"), {"X-Bad": "a\r\nInjected: 1"}, None)
            await client.close()

    run(main())


def test_the_client_sends_one_hop_and_the_policy_follows_redirects_only_to_allowed_hosts() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            # A transport: a redirect is an answer like any other, never followed by the client.
            status, _, _, headers = await get(client, srv.url("/redirect"))
            assert (status, headers["Location"]) == (302, "/cl")
            plan = make_plan(srv.url(""), scenarios=[{"name": "r", "flow": [{"get": "/redirect"}]}])
            (req,) = compile_plan(plan).scenarios[0].steps

            async def send_to(path: str) -> tuple[int, str | None, str | None]:
                url = srv.url(path)
                prep = client.prepare("GET", url, {}, None)
                out = await send_fast(client, prep, req, {}, None, time.perf_counter, plan.allowed_hosts)  # type: ignore[arg-type]
                return out.status, out.error, out.detail

            assert await send_to("/redirect") == (200, None, None)  # followed: /cl answers
            status, error, detail = await send_to("/redirect-away")
            assert (status, error) == (0, "refused") and "example.invalid" in (detail or "")
            await client.close()

    run(main())


def test_supports_only_what_it_can_send_like_aiohttp() -> None:
    assert supports("GET", "http://127.0.0.1/x", {"X-A": "1"})
    assert supports("POST", "https://127.0.0.1/x", {})
    assert not supports("HEAD", "http://127.0.0.1/x", {})
    assert not supports("GET", "http://user:pw@127.0.0.1/x", {})
    assert not supports("GET", "http://127.0.0.1/x", {"Transfer-Encoding": "chunked"})
    assert not supports("GET", "http://127.0.0.1/x", {"connection": "close"})


# -- TLS with a throwaway CA -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("ca")
    ca_key, ca, key, csr, crt, ext = (d / n for n in ("ca.key", "ca.pem", "k.pem", "r.csr", "c.pem", "san"))
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca_key],
        ["openssl", "req", "-x509", "-new", "-key", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=test CA"],
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
        ["openssl", "req", "-new", "-key", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            crt,
            "-days",
            "1",
            "-extfile",
            ext,
        ],
    ):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=30)
    return ca, crt, key


def test_https_with_a_trusted_test_ca_and_failure_without_it(test_ca: tuple[Path, Path, Path]) -> None:
    ca, crt, key = test_ca
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)

    async def main() -> None:
        async with RawServer(routes, server_ctx) as srv:
            trusted = FastClient(ssl_context=ssl.create_default_context(cafile=str(ca)))
            for _ in range(3):
                status, _, body, _ = await get(trusted, srv.url("/chunked", "https"))
                assert (status, body) == (200, b"hello world")
            assert trusted.connections_opened == 1
            await trusted.close()
            default = FastClient()  # the system's CAs do not know the test CA
            with pytest.raises(FastHTTPError) as err:
                await get(default, srv.url("/cl", "https"))
            assert err.value.kind == "tls"
            await default.close()

    run(main())


# -- the engine: same Outcome through either client ------------------------------------------------


def test_fast_path_gives_the_same_outcome_as_aiohttp(demo_target: DemoTarget) -> None:
    flow = [
        {
            "get": {
                "url": "/api/mocs",
                "capture": [{"json": "$.data[1].id", "as": "mocId"}],
                "expect": [{"status": 200, "content_type": "json"}],
            }
        },
        {"post": {"url": "/v1/events", "json": {"type": "t", "n": 1}, "expect": [{"status": 202}]}},
        {"get": {"url": "/api/mocs/nope", "name": "missing"}},
    ]
    plan = make_plan(demo_target.url, scenarios=[{"name": "f", "flow": flow}])
    reqs = [s for s in compile_plan(plan).scenarios[0].steps if hasattr(s, "method")]

    async def main() -> None:
        session = make_session(plan)
        client = FastClient()
        try:
            for req in reqs:
                url = demo_target.url + req.url.source  # type: ignore[union-attr]
                headers = req.render_headers({}, __import__("random").Random(1))  # type: ignore[union-attr]
                body = req.render_body({}, __import__("random").Random(1))  # type: ignore[union-attr]
                a = await send(session, req, url, headers, body, time.perf_counter)  # type: ignore[arg-type]
                prep = client.prepare(req.method, url, headers, body)  # type: ignore[union-attr]
                b = await send_fast(client, prep, req, headers, body, time.perf_counter)  # type: ignore[arg-type]
                assert (a.status, a.nbytes, a.error, a.captured) == (b.status, b.nbytes, b.error, b.captured)
        finally:
            await client.close()
            await session.close()

    run(main())


def test_worker_sends_plain_requests_through_the_fast_client(demo_target: DemoTarget) -> None:
    plan = make_plan(demo_target.url)

    async def main() -> None:
        client = FastClient()
        session = aiohttp.ClientSession()
        try:
            spec = WorkerSpec(plan, 0, 1, time.time() + 0.2, None, "t")
            result = await run_worker(spec, session=session, fast_client=client)
        finally:
            await client.close()
            await session.close()
        agg = aggregate(merge_results([result]))
        assert agg.requests == 40 and agg.errors == {}
        assert 1 <= client.connections_opened <= 40

    run(main())


def test_warm_opens_idle_connections_that_requests_then_reuse() -> None:
    async def main() -> None:
        async with RawServer(routes) as srv:
            client = FastClient()
            prep = client.prepare("GET", srv.url("/cl"), {}, None)
            assert await client.warm(prep, 5, parallel=2) == 5
            assert client.connections_opened == 5
            got = await asyncio.gather(*(client.request(prep) for _ in range(5)))
            assert [r.status for r in got] == [200] * 5
            assert client.connections_opened == 5  # five at once, all on warmed connections
            assert srv.connections == 5
            assert await client.warm(prep, 3) == 5  # already enough idle: nothing opened
            assert client.connections_opened == 5
            await client.close()

    run(main())


def test_warm_against_a_closed_port_stops_quietly() -> None:
    async def main() -> None:
        client = FastClient(connect_timeout=2)
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        prep = client.prepare("GET", f"http://127.0.0.1:{port}/", {}, None)
        assert await client.warm(prep, 10) == 0
        with pytest.raises(FastHTTPError) as err:  # the request itself reports it
            await client.request(prep)
        assert err.value.kind == "connect"
        await client.close()

    run(main())


def test_worker_warms_connections_before_the_load_unless_the_plan_says_not(demo_target: DemoTarget) -> None:
    async def opened(warm: bool) -> tuple[int, int]:
        plan = make_plan(
            demo_target.url,
            load={"phases": [{"duration": "1s", "rate": 1000}], "warm_connections": warm},
        )
        client = FastClient()
        # A start far enough ahead that warming finishes on a busy machine too; looked at until
        # the warm-up is done or just before the start, whichever comes first.
        start = time.time() + 3.0
        spec = WorkerSpec(plan, 0, 1, start, None, "w")
        task = asyncio.create_task(run_worker(spec, fast_client=client))
        while time.time() < start - 0.3 and not (warm and client.connections_opened >= 20):
            await asyncio.sleep(0.02)
        before = client.connections_opened
        result = await task
        await client.close()
        assert result["error"] is None
        return before, client.connections_opened

    before, _ = asyncio.run(opened(True))
    assert before == 20  # 1000/s x 20 ms
    before, after = asyncio.run(opened(False))
    assert before == 0 and after > 0


@pytest.mark.parametrize(
    ("load", "shards", "expected"),
    [
        ({"phases": [{"duration": "1s", "rate": 5000}, {"duration": "1s", "rate": 10}]}, 1, 100),
        # The first second, not the peak: idle connections would be closed before the top of a ramp.
        ({"phases": [{"duration": "60s", "rate": 10, "ramp_to": 5000}]}, 1, 2),  # 93/s after 1 s
        ({"phases": [{"duration": "1s", "rate": 10}, {"duration": "1s", "rate": 5000}]}, 1, 1),
        ({"phases": [{"duration": "1s", "rate": 5000}]}, 4, 25),  # a worker's share
        ({"phases": [{"duration": "1s", "rate": 5000}], "connections": 60}, 2, 30),  # the limit
        ({"phases": [{"duration": "1s", "users": 7}]}, 2, 4),  # users 0, 2, 4, 6
        ({"phases": [{"duration": "1s", "rate": 0.5}]}, 1, 1),
    ],
)
def test_warm_targets_follow_the_load_and_the_limits(
    load: dict[str, object], shards: int, expected: int
) -> None:
    async def main() -> dict[object, tuple[object, int]]:
        plan = make_plan(
            "http://127.0.0.1:9",
            load=load,
            scenarios=[
                {"name": "a", "flow": [{"get": "/a"}, {"get": "http://127.0.0.1:9/b"}]},
                {"name": "b", "flow": [{"get": "/c?q={{ $uuid }}"}]},
            ],
        )
        client = FastClient()
        async with make_session(plan) as session:
            worker = Worker(WorkerSpec(plan, 0, shards, time.time(), None, "w"), session, fast_client=client)
            return dict(worker.warm_targets())  # type: ignore[arg-type]

    targets = asyncio.run(main())
    assert len(targets) == 1  # one origin, whether its requests are templated or not
    assert [n for _, n in targets.values()] == [expected]


def test_templated_requests_warm_the_target_and_other_hosts_their_own() -> None:
    async def main() -> dict[tuple[str, int], int]:
        plan = make_plan(
            "http://127.0.0.1:9",
            load={"phases": [{"duration": "1s", "rate": 500}]},
            allow_hosts=["localhost"],
            scenarios=[
                {"name": "a", "flow": [{"get": "/c?q={{ $uuid }}"}, {"get": "http://localhost:7/x"}]},
            ],
        )
        async with make_session(plan) as session:
            worker = Worker(WorkerSpec(plan, 0, 1, time.time(), None, "w"), session, fast_client=FastClient())
            return {(o.host, o.port): n for o, (_, n) in worker.warm_targets().items()}

    assert asyncio.run(main()) == {("127.0.0.1", 9): 10, ("localhost", 7): 10}


def test_warm_up_waits_until_shortly_before_the_start(
    demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not at the beginning of a long lead: servers close idle connections after a few seconds."""
    import surge.engine.worker as worker_mod

    monkeypatch.setattr(worker_mod, "WARM_LEAD_S", 0.4)

    async def main() -> tuple[int, int, int]:
        plan = make_plan(demo_target.url, load={"phases": [{"duration": "1s", "rate": 1000}]})
        client = FastClient()
        start = time.time() + 1.2
        task = asyncio.create_task(run_worker(WorkerSpec(plan, 0, 1, start, None, "w"), fast_client=client))
        await asyncio.sleep(start - 0.6 - time.time())
        early = client.connections_opened
        await asyncio.sleep(start - 0.1 - time.time())
        warmed = client.connections_opened
        result = await task
        await client.close()
        assert result["error"] is None
        return early, warmed, client.connections_opened

    early, warmed, _ = asyncio.run(main())
    assert early == 0
    assert warmed == 20
