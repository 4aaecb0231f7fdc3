"""The demo target over real HTTP on loopback: endpoints, misbehaviour, stats and control."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from surge.demo_target import DemoConfig, DemoTarget, running_demo_target, serve


@pytest.fixture
def target() -> Iterator[DemoTarget]:
    # No added latency by default so the file stays fast; tests that need it set it.
    with running_demo_target(DemoConfig(latency_ms=0)) as t:
        yield t


def call(
    target: DemoTarget,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request with urllib; returns (status, decoded JSON body or None)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = dict(headers or {})
    if body is not None and raw is None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(target.url + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, payload = err.code, err.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, None


def timed_get(target: DemoTarget, path: str) -> tuple[int, float]:
    start = time.perf_counter()
    status, _ = call(target, "GET", path)
    return status, time.perf_counter() - start


# --- endpoints ---


def test_health(target: DemoTarget) -> None:
    assert call(target, "GET", "/health") == (200, {"ok": True})


def test_mocs_list_and_pagination(target: DemoTarget) -> None:
    status, body = call(target, "GET", "/api/mocs")
    assert status == 200
    assert len(body["data"]) == 20
    assert body["total"] >= 20
    first = body["data"][0]
    assert isinstance(first["id"], str) and isinstance(first["name"], str)
    assert isinstance(first["pieces"], int)

    status, page2 = call(target, "GET", "/api/mocs?offset=20&limit=5")
    assert status == 200 and len(page2["data"]) == 5
    assert not {m["id"] for m in page2["data"]} & {m["id"] for m in body["data"]}


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=101", "offset=-1"])
def test_mocs_list_rejects_bad_paging(target: DemoTarget, query: str) -> None:
    status, body = call(target, "GET", f"/api/mocs?{query}")
    assert status == 400 and "error" in body


def test_moc_by_id(target: DemoTarget) -> None:
    _, listing = call(target, "GET", "/api/mocs")
    moc = listing["data"][3]
    assert call(target, "GET", f"/api/mocs/{moc['id']}") == (200, moc)

    status, body = call(target, "GET", "/api/mocs/no-such-moc")
    assert status == 404 and body["id"] == "no-such-moc" and "error" in body


def test_gallery_search(target: DemoTarget) -> None:
    status, everything = call(target, "GET", "/api/gallery?limit=100")
    assert status == 200 and everything["total"] == len(everything["data"]) > 0

    status, castles = call(target, "GET", "/api/gallery?search=CASTLE&limit=100")
    assert status == 200
    assert 0 < castles["total"] < everything["total"]
    assert all("castle" in g["title"].lower() or "castle" in g["tags"] for g in castles["data"])

    assert call(target, "GET", "/api/gallery?search=zzz-nothing")[1] == {"data": [], "total": 0}
    status, body = call(target, "GET", "/api/gallery?search=" + "x" * 300)
    assert status == 400 and "error" in body


def test_gallery_image_upload_raw_and_multipart(target: DemoTarget) -> None:
    _, gallery = call(target, "GET", "/api/gallery")
    gid = gallery["data"][0]["id"]
    headers = {"Content-Type": "image/png"}
    png = b"\x89PNG" + b"\0" * 996
    status, body = call(target, "POST", f"/api/gallery/{gid}/image", raw=png, headers=headers)
    assert (status, body) == (200, {"id": gid, "bytes": 1000, "parts": []})

    async def multipart() -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("caption", "not counted")
        form.add_field("image", b"x" * 2048, filename="moc.png", content_type="image/png")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{target.url}/api/gallery/{gid}/image", data=form) as resp,
        ):
            return resp.status, await resp.json()

    status, body = asyncio.run(multipart())
    assert (status, body["bytes"]) == (200, 2048)
    # What arrived, part by part: a client can check its encoding against it.
    assert body["parts"] == [
        {"name": "caption", "bytes": 11, "value": "not counted"},
        {"name": "image", "bytes": 2048, "filename": "moc.png", "content_type": "image/png"},
    ]


def test_gallery_image_upload_errors(target: DemoTarget) -> None:
    _, gallery = call(target, "GET", "/api/gallery")
    gid = gallery["data"][0]["id"]
    status, body = call(target, "POST", f"/api/gallery/{gid}/image", raw=b"")
    assert status == 400 and "error" in body
    status, body = call(target, "POST", "/api/gallery/img-999/image", raw=b"data")
    assert status == 404 and body["id"] == "img-999"


def test_wishlist(target: DemoTarget) -> None:
    status, body = call(target, "GET", "/api/wishlist")
    assert status == 200 and 0 < len(body["data"]) == body["total"] <= 10
    assert call(target, "POST", "/api/wishlist", {"x": 1})[0] == 405


def test_post_event_accepted(target: DemoTarget) -> None:
    status, body = call(target, "POST", "/v1/events", {"type": "order.created", "order": 7})
    assert status == 202
    assert len(body["id"]) == 36 and isinstance(body["accepted_at"], str)
    status, event = call(target, "GET", f"/v1/inbox/{body['id']}")
    assert status == 200
    assert event["type"] == "order.created" and event["data"]["order"] == 7


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'"text"', b"{}", b'{"type": 3}', b'{"type": ""}', b'{"kind": "x"}'],
)
def test_post_event_rejects_bad_bodies(target: DemoTarget, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    status, body = call(target, "POST", "/v1/events", raw=raw, headers=headers)
    assert status == 400 and isinstance(body["error"], str)
    assert call(target, "GET", "/v1/inbox")[1] == {"events": [], "next_cursor": None}


def test_delivery_delay_and_ack() -> None:
    with running_demo_target(DemoConfig(latency_ms=0, delivery_delay_ms=300)) as target:
        _, accepted = call(target, "POST", "/v1/events", {"type": "ping"})
        event_id = accepted["id"]
        assert call(target, "GET", f"/v1/inbox/{event_id}")[0] == 404
        assert call(target, "GET", "/v1/inbox")[1]["events"] == []
        assert call(target, "POST", f"/v1/inbox/{event_id}/ack")[0] == 404

        time.sleep(0.45)
        status, event = call(target, "GET", f"/v1/inbox/{event_id}")
        assert status == 200 and event["id"] == event_id and event["acked"] is False
        assert [e["id"] for e in call(target, "GET", "/v1/inbox")[1]["events"]] == [event_id]

        assert call(target, "POST", f"/v1/inbox/{event_id}/ack") == (200, {"acked": True})
        assert call(target, "GET", f"/v1/inbox/{event_id}")[1]["acked"] is True
        status, body = call(target, "POST", "/v1/inbox/unknown-id/ack")
        assert status == 404 and "error" in body


def test_inbox_cursor_pagination_walks_every_event_once(target: DemoTarget) -> None:
    posted = [call(target, "POST", "/v1/events", {"type": "t", "n": n})[1]["id"] for n in range(23)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        path = "/v1/inbox?limit=7" + (f"&cursor={cursor}" if cursor is not None else "")
        status, page = call(target, "GET", path)
        assert status == 200
        seen += [e["id"] for e in page["events"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == posted  # every event once, in delivery order


@pytest.mark.parametrize("query", ["cursor=abc", "cursor=-1", "limit=0", "limit=1000"])
def test_inbox_rejects_bad_cursor_or_limit(target: DemoTarget, query: str) -> None:
    status, body = call(target, "GET", f"/v1/inbox?{query}")
    assert status == 400 and "error" in body


def test_unknown_inbox_event_is_404(target: DemoTarget) -> None:
    status, body = call(target, "GET", "/v1/inbox/nope")
    assert status == 404 and body["id"] == "nope"


# --- misbehaviour ---


def test_error_rate_one_fails_every_api_request_but_not_health() -> None:
    with running_demo_target(DemoConfig(latency_ms=0, error_rate=1.0)) as target:
        for path in ("/api/mocs", "/api/mocs/moc-001", "/api/wishlist", "/v1/inbox"):
            status, body = call(target, "GET", path)
            assert status == 500 and body == {"error": "injected error"}
        assert call(target, "POST", "/v1/events", {"type": "x"})[0] == 500
        assert call(target, "GET", "/health")[0] == 200
        assert call(target, "GET", "/_surge/stats")[0] == 200
        assert target.stats()["by_status"] == {"500": 5}


def test_error_rate_zero_fails_nothing(target: DemoTarget) -> None:
    assert {call(target, "GET", "/api/mocs")[0] for _ in range(30)} == {200}


def test_seeded_error_draws_are_reproducible() -> None:
    def statuses() -> list[int]:
        with running_demo_target(DemoConfig(latency_ms=0, error_rate=0.5, seed=42)) as target:
            return [call(target, "GET", "/api/wishlist")[0] for _ in range(20)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_fixed_latency_is_observed_and_health_is_not_delayed() -> None:
    with running_demo_target(DemoConfig(latency_ms=150)) as target:
        status, elapsed = timed_get(target, "/api/mocs")
        assert status == 200 and elapsed >= 0.150
        status, elapsed = timed_get(target, "/health")
        assert status == 200 and elapsed < 0.100


def test_jitter_varies_latency_around_the_median() -> None:
    with running_demo_target(DemoConfig(latency_ms=20, jitter_ms=20, seed=7)) as target:
        elapsed = sorted(timed_get(target, "/api/wishlist")[1] for _ in range(15))
    assert elapsed[-1] - elapsed[0] > 0.010  # not fixed
    assert 0.005 < elapsed[len(elapsed) // 2] < 0.080  # median near 20 ms (plus loopback overhead)


def test_periodic_stall_holds_api_requests_but_not_health() -> None:
    async def probe(url: str, session: aiohttp.ClientSession) -> float:
        start = time.perf_counter()
        async with session.get(url) as resp:
            assert resp.status == 200
            await resp.read()
        return time.perf_counter() - start

    async def load(target: DemoTarget) -> tuple[list[float], list[float]]:
        api: list[asyncio.Task[float]] = []
        health: list[asyncio.Task[float]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            # One API and one health request every 25 ms for ~2.1 s: spans at least two stall windows.
            for _ in range(84):
                api.append(asyncio.create_task(probe(target.url + "/api/mocs", session)))
                health.append(asyncio.create_task(probe(target.url + "/health", session)))
                await asyncio.sleep(0.025)
            return list(await asyncio.gather(*api)), list(await asyncio.gather(*health))

    config = DemoConfig(latency_ms=1, stall_every_s=1.0, stall_ms=300)
    with running_demo_target(config) as target:
        api, health = asyncio.run(load(target))
    stalled = [t for t in api if t >= 0.250]
    # Requests arriving in the first ~50 ms of a window wait >= 250 ms; >= 2 windows, ~2 each.
    assert len(stalled) >= 3, sorted(api)[-5:]
    assert max(api) < 0.5  # held only until the window's end
    assert max(health) < 0.250


# --- stats and control ---


def test_stats_count_api_requests_by_route_and_status(target: DemoTarget) -> None:
    call(target, "GET", "/api/mocs")
    call(target, "GET", "/api/mocs/moc-001")
    call(target, "GET", "/api/mocs/moc-002")
    call(target, "GET", "/api/mocs/nope")
    call(target, "POST", "/v1/events", {"type": "x"})
    call(target, "GET", "/health")
    call(target, "GET", "/_surge/config")
    expected = {
        "requests": 5,
        "by_route": {"GET /api/mocs": 1, "GET /api/mocs/{id}": 3, "POST /v1/events": 1},
        "by_status": {"200": 3, "404": 1, "202": 1},
    }
    assert target.stats() == expected
    assert call(target, "GET", "/_surge/stats") == (200, expected)

    call(target, "GET", "/no/such/path")
    assert target.stats()["by_route"]["GET (unmatched)"] == 1

    assert call(target, "POST", "/_surge/reset")[0] == 200
    assert target.stats() == {"requests": 0, "by_route": {}, "by_status": {}}
    call(target, "GET", "/api/wishlist")
    assert call(target, "GET", "/_surge/stats")[1]["requests"] == 1
    target.reset_stats()
    assert target.stats()["requests"] == 0


def test_config_changes_at_run_time_over_http(target: DemoTarget) -> None:
    status, body = call(target, "POST", "/_surge/config", {"error_rate": 1.0, "latency_ms": 2})
    assert status == 200 and body["error_rate"] == 1.0 and body["latency_ms"] == 2.0
    assert target.config.error_rate == 1.0
    assert call(target, "GET", "/api/mocs")[0] == 500
    assert call(target, "GET", "/_surge/config")[1]["error_rate"] == 1.0

    call(target, "POST", "/_surge/config", {"error_rate": 0})
    assert call(target, "GET", "/api/mocs")[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        {"nope": 1},
        {"latency_ms": "fast"},
        {"latency_ms": True},
        {"seed": 1.5},
        {"error_rate": 2},
        {"latency_ms": -1},
        {"stall_every_s": 1, "stall_ms": 1000},
        [1],
    ],
)
def test_config_rejects_unknown_fields_wrong_types_and_bad_values(target: DemoTarget, body: Any) -> None:
    before = target.config
    status, answer = call(target, "POST", "/_surge/config", body)
    assert status == 400 and isinstance(answer["error"], str)
    assert target.config == before


def test_set_config_from_python(target: DemoTarget) -> None:
    assert target.set_config(error_rate=1.0).error_rate == 1.0
    assert call(target, "GET", "/api/wishlist")[0] == 500
    with pytest.raises(ValueError, match="unknown config field"):
        target.set_config(latency=3)
    with pytest.raises(TypeError, match="latency_ms"):
        target.set_config(latency_ms="3")


def test_demo_config_validates_on_construction() -> None:
    assert DemoConfig(latency_ms=3).latency_ms == 3.0
    with pytest.raises(ValueError, match="error_rate"):
        DemoConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="stall_ms"):
        DemoConfig(stall_every_s=0.5, stall_ms=600)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"), running_demo_target(host=host):
        pass  # pragma: no cover
    with pytest.raises(ValueError, match="loopback"):
        serve(host=host, port=0)


def test_localhost_is_allowed_and_reported_with_its_port() -> None:
    with running_demo_target(host="localhost") as target:
        assert target.url == f"http://127.0.0.1:{target.port}" and target.port > 0
        assert call(target, "GET", "/health")[0] == 200


def test_server_stops_on_exit() -> None:
    with running_demo_target() as target:
        url = target.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=2)
