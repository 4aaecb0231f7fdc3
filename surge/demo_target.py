"""The bundled demo target: a small aiohttp service to load-test on loopback.

It serves a catalogue API (`/api/...`) and an event API (`/v1/...`) shaped like the services
surge's users test, with latency, errors and periodic stalls that can be configured at start or
changed at run time (`POST /_surge/config`). `GET /_surge/stats` tells what the server received,
so tests can compare it with what the load generator says it sent.

Run it with `serve()` (blocking) or, from tests, `with running_demo_target() as target: ...`.
It only ever binds to a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import math
import random
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web

__all__ = ["DemoConfig", "DemoTarget", "create_app", "running_demo_target", "serve"]

_MAX_LIMIT = 100
_DEFAULT_LIMIT = 20
_MAX_SEARCH_LEN = 200
_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
# A long load run can post millions of events: keep only the newest ones so memory stays bounded.
_MAX_INBOX_EVENTS = 100_000
_SHUTDOWN_TIMEOUT_S = 1.0

_FLOAT_FIELDS = (
    "latency_ms",
    "jitter_ms",
    "error_rate",
    "stall_every_s",
    "stall_ms",
    "delivery_delay_ms",
    "capacity",
    "slow_ms",
)


@dataclass(frozen=True)
class DemoConfig:
    """How the demo target misbehaves. Immutable: a change at run time swaps the whole object.

    latency_ms: median latency added to every API request (0 adds none).
    jitter_ms: when > 0, latency is lognormal with median `latency_ms` and its 84th percentile
        (median * e^sigma) at `latency_ms + jitter_ms`; when 0, latency is fixed.
    error_rate: fraction of API requests answered 500 instead of being handled.
    stall_every_s, stall_ms: when both > 0, the API stops answering for `stall_ms` every
        `stall_every_s` seconds, windows aligned to the server's start.
    delivery_delay_ms: how long after `POST /v1/events` an event becomes visible in the inbox.
    capacity: when > 0, at most this many API requests are worked on at once; the others queue in
        arrival order. Past capacity / latency requests per second, answers slow down as the queue
        grows (an overload knee), and after a spike the queue drains before latency recovers.
    slow_path, slow_ms: API requests whose path starts with `slow_path` take `slow_ms` more (one
        slow endpoint among fast ones).
    seed: seeds the latency and error draws (None: not reproducible).
    """

    latency_ms: float = 5.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    stall_every_s: float = 0.0
    stall_ms: float = 0.0
    delivery_delay_ms: float = 0.0
    capacity: float = 0.0
    slow_path: str = ""
    slow_ms: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        # Validated here so the constructor, set_config() and POST /_surge/config agree.
        for name in _FLOAT_FIELDS:
            value: object = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.slow_path, str):
            raise TypeError(f"slow_path must be text, got {type(self.slow_path).__name__}")
        seed: object = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an integer or null, got {type(seed).__name__}")
        if self.error_rate > 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate!r}")
        # A stall as long as its period would never end, and requests would wait forever.
        if self.stall_every_s > 0 and self.stall_ms >= self.stall_every_s * 1000:
            raise ValueError(
                f"stall_ms ({self.stall_ms:g}) must be shorter than stall_every_s "
                f"({self.stall_every_s:g} s = {self.stall_every_s * 1000:g} ms)"
            )

    def updated(self, fields: Mapping[str, object]) -> DemoConfig:
        """A copy with `fields` changed; unknown names raise ValueError, wrong types TypeError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"unknown config field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        changes: dict[str, Any] = dict(fields)
        return dataclasses.replace(self, **changes)


# --- catalogue data: fixed, so runs are comparable and captures in plans always find an item ---

_THEMES = ("Castle", "Space", "Train", "Pirate", "City")
_NOUNS = ("Keep", "Outpost", "Station", "Harbour", "Tower", "Bridge", "Workshop", "Market", "Depot")


def _make_mocs() -> list[dict[str, Any]]:
    return [
        {
            "id": f"moc-{i:03d}",
            "name": f"{_THEMES[i % len(_THEMES)]} {_NOUNS[i % len(_NOUNS)]} {i}",
            "pieces": 150 + (i * 137) % 4000,
            "theme": _THEMES[i % len(_THEMES)],
        }
        for i in range(1, 51)
    ]


_MOCS = _make_mocs()
_MOCS_BY_ID = {m["id"]: m for m in _MOCS}
_GALLERY = [
    {"id": f"img-{i:03d}", "moc_id": m["id"], "title": m["name"], "tags": [m["theme"].lower()]}
    for i, m in enumerate(_MOCS[:30], start=1)
]
_GALLERY_IDS = {g["id"] for g in _GALLERY}
_WISHLIST = [{"moc_id": m["id"], "name": m["name"], "priority": p} for p, m in enumerate(_MOCS[2:7], 1)]


# --- server state ---


class _Stats:
    """What the server received. Locked because DemoTarget.stats() reads it from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._by_route: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()

    def record_request(self, route: str) -> None:
        with self._lock:
            self._requests += 1
            self._by_route[route] += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._by_status[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "by_route": dict(self._by_route),
                "by_status": dict(self._by_status),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_route.clear()
            self._by_status.clear()


class _State:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.stats = _Stats()
        self.started = time.monotonic()
        self._config_lock = threading.Lock()
        # Delivered events in delivery order; `_first_seq` is the sequence number of the oldest
        # one kept, so cursors (absolute sequence numbers) stay valid after old events are dropped.
        self.inbox: deque[dict[str, Any]] = deque()
        self.inbox_by_id: dict[str, dict[str, Any]] = {}
        self.first_seq = 0
        self.sessions: dict[str, str] = {}  # session cookie -> user (POST /api/login)
        self.busy = 0  # API requests being worked on (capacity)
        self.queued: deque[asyncio.Future[None]] = deque()

    def update_config(self, fields: Mapping[str, object]) -> DemoConfig:
        with self._config_lock:
            new = self.config.updated(fields)
            if "seed" in fields:
                self.rng = random.Random(new.seed)
            self.config = new
            return new

    def latency_s(self) -> float:
        cfg = self.config
        if cfg.latency_ms <= 0:
            return 0.0
        if cfg.jitter_ms <= 0:
            return cfg.latency_ms / 1000
        sigma = math.log1p(cfg.jitter_ms / cfg.latency_ms)
        return self.rng.lognormvariate(math.log(cfg.latency_ms), sigma) / 1000

    def stall_end(self, now: float) -> float | None:
        """End of the stall window containing `now`, or None when `now` is outside every window."""
        cfg = self.config
        if cfg.stall_every_s <= 0 or cfg.stall_ms <= 0:
            return None
        rel = now - self.started
        if rel < 0:
            return None
        window_start = math.floor(rel / cfg.stall_every_s) * cfg.stall_every_s
        window_end = window_start + cfg.stall_ms / 1000
        return self.started + window_end if rel < window_end else None

    async def wait_out_stall(self) -> None:
        # Sleeping (not blocking the loop) keeps stalls exact: every request held by a window is
        # released at the window's end, whatever the load. Loop because sleep may wake a hair early.
        while (end := self.stall_end(now := time.monotonic())) is not None:
            await asyncio.sleep(end - now)

    async def take_slot(self) -> bool:
        """Wait for one of `capacity` slots (in arrival order); False when there is no limit."""
        if self.config.capacity <= 0:
            return False
        while self.busy >= self.config.capacity:
            waiter = asyncio.get_running_loop().create_future()
            self.queued.append(waiter)
            await waiter
        self.busy += 1
        return True

    def release_slot(self) -> None:
        self.busy -= 1
        while self.queued:
            waiter = self.queued.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def deliver(self, event: dict[str, Any]) -> None:
        event["delivered_at"] = _now_iso()
        self.inbox.append(event)
        self.inbox_by_id[event["id"]] = event
        while len(self.inbox) > _MAX_INBOX_EVENTS:
            dropped = self.inbox.popleft()
            del self.inbox_by_id[dropped["id"]]
            self.first_seq += 1


_STATE = web.AppKey("surge_demo_state", _State)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _route_key(request: web.Request) -> str:
    resource = request.match_info.route.resource
    # By pattern, not path, so `/api/mocs/{id}` is one entry however many ids a plan hits.
    return f"{request.method} {resource.canonical if resource is not None else '(unmatched)'}"


@web.middleware
async def _misbehave(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Count API requests and apply stalls, latency and injected errors to them."""
    if request.path == "/health" or request.path.startswith("/_surge/"):
        return await handler(request)
    state = request.app[_STATE]
    state.stats.record_request(_route_key(request))
    slot = False
    try:
        await state.wait_out_stall()
        slot = await state.take_slot()
        delay = state.latency_s()
        cfg = state.config
        if cfg.slow_ms > 0 and cfg.slow_path and request.path.startswith(cfg.slow_path):
            delay += cfg.slow_ms / 1000
        if delay > 0:
            await asyncio.sleep(delay)
        error_rate = state.config.error_rate
        if error_rate > 0 and state.rng.random() < error_rate:
            response: web.StreamResponse = _error(500, "injected error")
        else:
            try:
                response = await handler(request)
            except web.HTTPException:
                await state.wait_out_stall()
                raise
        # A request in flight when a stall begins is held until the stall ends, like the others.
        await state.wait_out_stall()
    except web.HTTPException as exc:
        state.stats.record_status(exc.status)
        raise
    except Exception:
        state.stats.record_status(500)
        raise
    finally:
        if slot:
            state.release_slot()
    state.stats.record_status(response.status)
    return response


def _page_params(request: web.Request) -> tuple[int, int] | web.Response:
    try:
        limit = int(request.query.get("limit", _DEFAULT_LIMIT))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        return _error(400, "limit and offset must be integers")
    if not 1 <= limit <= _MAX_LIMIT or offset < 0:
        return _error(400, f"limit must be in 1..{_MAX_LIMIT} and offset >= 0")
    return limit, offset


# --- API handlers ---


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _index(request: web.Request) -> web.Response:
    """What the demo API serves: the routes a plan can call (and a target for a plain `GET /`)."""
    routes = sorted(
        {
            f"{route.method} {route.resource.canonical}"
            for route in request.app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
    )
    return web.json_response({"service": "surge demo target", "routes": routes})


async def _list_mocs(request: web.Request) -> web.Response:
    page = _page_params(request)
    if isinstance(page, web.Response):
        return page
    limit, offset = page
    return web.json_response({"data": _MOCS[offset : offset + limit], "total": len(_MOCS)})


async def _get_moc(request: web.Request) -> web.Response:
    moc_id = request.match_info["id"]
    moc = _MOCS_BY_ID.get(moc_id)
    return web.json_response(moc) if moc is not None else _error(404, "moc not found", id=moc_id)


async def _search_gallery(request: web.Request) -> web.Response:
    page = _page_params(request)
    if isinstance(page, web.Response):
        return page
    limit, offset = page
    term = request.query.get("search", "").strip().lower()
    if len(term) > _MAX_SEARCH_LEN:
        return _error(400, f"search must be at most {_MAX_SEARCH_LEN} characters")
    found = [g for g in _GALLERY if not term or term in g["title"].lower() or term in g["tags"]]
    return web.json_response({"data": found[offset : offset + limit], "total": len(found)})


async def _upload_image(request: web.Request) -> web.Response:
    gallery_id = request.match_info["id"]
    if gallery_id not in _GALLERY_IDS:
        return _error(404, "gallery item not found", id=gallery_id)
    # Streamed and counted, never kept: a load test may upload a lot.
    size = 0
    parts: list[dict[str, object]] = []  # what was received, so a client can check its encoding
    if request.content_type.startswith("multipart/"):
        file_bytes, all_bytes = 0, 0
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                return _error(400, "nested multipart bodies are not supported")
            part_bytes = 0
            head = b""
            while chunk := await part.read_chunk():
                part_bytes += len(chunk)
                if len(head) < 256:
                    head += chunk[: 256 - len(head)]
                if all_bytes + part_bytes > _MAX_UPLOAD_BYTES:
                    return _error(413, f"upload larger than {_MAX_UPLOAD_BYTES} bytes")
            all_bytes += part_bytes
            described: dict[str, object] = {"name": part.name, "bytes": part_bytes}
            if part.filename is not None:
                file_bytes += part_bytes
                described |= {"filename": part.filename, "content_type": part.headers.get("Content-Type")}
            else:
                described["value"] = head.decode(errors="replace")
            parts.append(described)
        # Count the file parts; a form without any file counts as the image itself.
        size = file_bytes or all_bytes
    else:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > _MAX_UPLOAD_BYTES:
                return _error(413, f"upload larger than {_MAX_UPLOAD_BYTES} bytes")
    if size == 0:
        return _error(400, "empty upload: send the image as the body or as a multipart file part")
    return web.json_response({"id": gallery_id, "bytes": size, "parts": parts})


async def _wishlist(request: web.Request) -> web.Response:
    return web.json_response({"data": _WISHLIST, "total": len(_WISHLIST)})


SESSION_COOKIE = "surge_session"


async def _login(request: web.Request) -> web.Response:
    """Sign a user in: a session cookie, and a redirect to the account page (as a login form does)."""
    state = request.app[_STATE]
    user = request.query.get("user", "demo")
    session = uuid.uuid4().hex
    state.sessions[session] = user
    response = web.Response(status=302, headers={"Location": "/api/account"})
    response.set_cookie(SESSION_COOKIE, session, path="/api", httponly=True)
    return response


async def _account(request: web.Request) -> web.Response:
    """The signed-in user's account: 401 without the session cookie the login set."""
    session = request.cookies.get(SESSION_COOKIE, "")
    user = request.app[_STATE].sessions.get(session)
    if user is None:
        return _error(401, "not signed in: POST /api/login first and send its cookie back")
    return web.json_response({"user": user, "session": session[:8]})


async def _logout(request: web.Request) -> web.Response:
    request.app[_STATE].sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    response = web.json_response({"signed_out": True})
    response.del_cookie(SESSION_COOKIE, path="/api")
    return response


async def _post_event(request: web.Request) -> web.Response:
    try:
        body: object = await request.json()
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    if not isinstance(body.get("type"), str) or not body["type"]:
        return _error(400, 'body must have a non-empty string "type"')
    state = request.app[_STATE]
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": body["type"],
        "data": body,
        "accepted_at": _now_iso(),
        "delivered_at": None,
        "acked": False,
    }
    delay_s = state.config.delivery_delay_ms / 1000
    if delay_s > 0:
        asyncio.get_running_loop().call_later(delay_s, state.deliver, event)
    else:
        state.deliver(event)
    return web.json_response({"id": event["id"], "accepted_at": event["accepted_at"]}, status=202)


async def _list_inbox(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    try:
        limit = int(request.query.get("limit", _DEFAULT_LIMIT))
        # The cursor is the absolute sequence number of the next event to return.
        cursor = int(request.query.get("cursor", state.first_seq))
    except ValueError:
        return _error(400, "cursor and limit must come from this API (integers)")
    if not 1 <= limit <= _MAX_LIMIT or cursor < 0:
        return _error(400, f"limit must be in 1..{_MAX_LIMIT} and cursor >= 0")
    start = max(cursor, state.first_seq) - state.first_seq
    events = [state.inbox[i] for i in range(start, min(start + limit, len(state.inbox)))]
    end = start + len(events)
    # null when this page reached the newest delivered event; poll again later from the start.
    next_cursor = str(state.first_seq + end) if end < len(state.inbox) else None
    return web.json_response({"events": events, "next_cursor": next_cursor})


async def _get_inbox_event(request: web.Request) -> web.Response:
    event_id = request.match_info["id"]
    event = request.app[_STATE].inbox_by_id.get(event_id)
    return web.json_response(event) if event is not None else _error(404, "event not found", id=event_id)


async def _ack_event(request: web.Request) -> web.Response:
    event_id = request.match_info["id"]
    event = request.app[_STATE].inbox_by_id.get(event_id)
    if event is None:
        return _error(404, "event not found", id=event_id)
    event["acked"] = True
    return web.json_response({"acked": True})


# --- control endpoints (never delayed, failed, stalled or counted) ---


async def _echo(request: web.Request) -> web.Response:
    """What a request carried, as the server parsed it: query, content type, form fields, its X-
    headers and the SHA-256 of its body."""
    form: dict[str, list[str]] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        for key, value in (await request.post()).items():
            form.setdefault(key, []).append(str(value))
    query: dict[str, list[str]] = {}
    for key, value in request.query.items():
        query.setdefault(key, []).append(value)
    raw = b"" if form else await request.read()
    return web.json_response(
        {
            "method": request.method,
            "query": query,
            "content_type": request.content_type,
            "form": form,
            # What a client's own headers and body were: the X- headers, the body's digest.
            "headers": {k: v for k, v in request.headers.items() if k.lower().startswith("x-")},
            "body_sha256": hashlib.sha256(raw).hexdigest(),
        }
    )


async def _get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].stats.snapshot())


async def _reset_stats(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.stats.reset()
    return web.json_response(state.stats.snapshot())


async def _get_config(request: web.Request) -> web.Response:
    return web.json_response(dataclasses.asdict(request.app[_STATE].config))


async def _set_config(request: web.Request) -> web.Response:
    try:
        body: object = await request.json()
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object of DemoConfig fields")
    try:
        config = request.app[_STATE].update_config(body)
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    return web.json_response(dataclasses.asdict(config))


def create_app(config: DemoConfig | None = None) -> web.Application:
    """The demo target as an aiohttp application, misbehaving as `config` says."""
    app = web.Application(middlewares=[_misbehave])
    app[_STATE] = _State(config or DemoConfig())

    async def on_startup(app: web.Application) -> None:
        # Stall windows are aligned to the moment the server starts serving.
        app[_STATE].started = time.monotonic()

    app.on_startup.append(on_startup)
    app.router.add_get("/", _index)
    app.router.add_get("/health", _health)
    app.router.add_get("/api/mocs", _list_mocs)
    app.router.add_get("/api/mocs/{id}", _get_moc)
    app.router.add_get("/api/gallery", _search_gallery)
    app.router.add_post("/api/gallery/{id}/image", _upload_image)
    app.router.add_get("/api/wishlist", _wishlist)
    app.router.add_post("/api/login", _login)
    app.router.add_get("/api/account", _account)
    app.router.add_post("/api/logout", _logout)
    app.router.add_post("/v1/events", _post_event)
    app.router.add_get("/v1/inbox", _list_inbox)
    app.router.add_get("/v1/inbox/{id}", _get_inbox_event)
    app.router.add_post("/v1/inbox/{id}/ack", _ack_event)
    app.router.add_get("/_surge/stats", _get_stats)
    app.router.add_route("*", "/_surge/echo", _echo)
    app.router.add_post("/_surge/reset", _reset_stats)
    app.router.add_get("/_surge/config", _get_config)
    app.router.add_post("/_surge/config", _set_config)
    return app


# --- running it ---


def _loopback_host(host: str) -> str:
    """The address to bind for `host`, or ValueError when it is not a loopback address."""
    # "localhost" may resolve to both ::1 and 127.0.0.1, which would get two different free ports.
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"refusing to bind the demo target to {host!r}: it only listens on a loopback address "
            "(127.0.0.0/8, ::1 or localhost), so load tests never leave this machine"
        )
    return host


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    # No access log: one line per request would cost more than the request under load.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port: int = runner.addresses[0][1]
    return runner, bound_port


def serve(host: str = "127.0.0.1", port: int = 8080, config: DemoConfig | None = None) -> None:
    """Serve the demo target until Ctrl-C (or SIGTERM); prints its URL once listening."""
    bind_host = _loopback_host(host)

    async def main() -> None:
        runner, bound_port = await _start(create_app(config), bind_host, port)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(f"surge demo target listening on {_url(bind_host, bound_port)} (Ctrl-C to stop)", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


class DemoTarget:
    """A demo target running in a background thread (see `running_demo_target`)."""

    def __init__(self, host: str, port: int, state: _State) -> None:
        self.host = host
        self.port = port
        self.url = _url(host, port)
        self._state = state

    @property
    def config(self) -> DemoConfig:
        return self._state.config

    def stats(self) -> dict[str, Any]:
        """What the server received since start or the last reset (same as GET /_surge/stats)."""
        return self._state.stats.snapshot()

    def reset_stats(self) -> None:
        self._state.stats.reset()

    def set_config(self, **fields: Any) -> DemoConfig:
        """Change some config fields at run time; raises ValueError/TypeError like the HTTP API."""
        return self._state.update_config(fields)


@contextlib.contextmanager
def running_demo_target(
    config: DemoConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[DemoTarget]:
    """Run the demo target on its own event loop in a background thread; port 0 picks a free port."""
    bind_host = _loopback_host(host)
    app = create_app(config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: list[tuple[web.AppRunner, int]] = []
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                started.append(loop.run_until_complete(_start(app, bind_host, port)))
            except BaseException as exc:
                failed.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(started[0][0].cleanup())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="surge-demo-target", daemon=True)
    thread.start()
    ready.wait()
    if failed:
        thread.join()
        raise failed[0]
    try:
        yield DemoTarget(bind_host, started[0][1], app[_STATE])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
