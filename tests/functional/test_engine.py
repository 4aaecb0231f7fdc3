"""The engine against real HTTP servers on loopback: arrival accuracy, errors, captures, coordinated omission."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from surge.demo_target import DemoConfig, DemoTarget, running_demo_target
from surge.runner import run_local
from surge.stats import aggregate, merge_results, percentile_ms
from tests.helpers import make_plan, run_in_process


class CountingServer:
    """Records the wall-clock arrival of every request: counts are taken at the target."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.time())
        return web.json_response({"ok": True, "id": "a1"})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> CountingServer:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


@pytest.mark.slow
def test_achieved_arrivals_per_phase_within_one_percent(counting_server: CountingServer) -> None:
    phases = [
        {"name": "constant", "duration": "2s", "rate": 200},
        {"name": "ramp", "duration": "2s", "rate": 200, "ramp_to": 600},
        {"name": "peak", "duration": "2s", "rate": 600},
    ]
    plan = make_plan(counting_server.url, load={"phases": phases}, workers=2)
    run = run_local(plan, run_id="arrivals", base_dir=Path.cwd())
    t0 = run.stats["t0"]
    expected = {"constant": 400, "ramp": 800, "peak": 1200}
    bounds = {"constant": (0, 2), "ramp": (2, 4), "peak": (4, 6)}
    for name, (a, b) in bounds.items():
        counted = sum(1 for t in counting_server.arrivals if a <= t - t0 < b)
        assert abs(counted - expected[name]) <= expected[name] * 0.01, (name, counted)
    assert len(counting_server.arrivals) == 2400
    assert run.report["totals"]["requests"] == 2400
    assert run.stats["workers"] == 2 and run.stats["workers_failed"] == 0
    # Both workers shared the rate: each produced half of the arrivals.
    assert [sum(p["requests"] for p in run.report["phases"])] == [2400]


def test_a_shard_whose_arrivals_end_early_measures_its_whole_window(demo_target: DemoTarget) -> None:
    # 2/s over 1 s on 2 shards: shard 0's only arrival is at 0 s. Its load window is still 1 s;
    # measured over the arrival alone, its CPU read ~100% and a 2-request run failed as saturated.
    plan = make_plan(demo_target.url, load={"phases": [{"duration": "1s", "rate": 2}]})
    result = run_in_process(plan, shard=0, shards=2)
    assert result["health"]["arrivals"] == 1
    # (lag and lateness depend on this test process, which also serves the target: not asserted)
    assert result["health"]["cpu_pct"] < 50
    assert not any("CPU" in note for note in result["health"]["notes"])
    assert result["ended_at"] - result["started_at"] >= 1.0


def test_think_times_and_pauses_are_drawn_per_user_as_the_plan_says(
    demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surge.engine.worker import Worker

    slept: list[float] = []
    real_sleep = Worker._sleep

    async def recording_sleep(self: Worker, seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(self, seconds)

    monkeypatch.setattr(Worker, "_sleep", recording_sleep)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1.5s", "users": 4}], "think_time": "20ms..60ms"},
        scenarios=[
            {"name": "s", "flow": [{"get": "/api/mocs"}, {"think": {"mean": "30ms", "stddev": "10ms"}}]}
        ],
    )
    result = run_in_process(plan)
    assert aggregate(merge_results([result])).requests > 20
    # Users out of step with each other, as Locust's between() makes them: no two pauses alike.
    pauses = [s for s in slept if 0 < s < 0.2]
    assert len(pauses) > 20 and len(set(pauses)) == len(pauses)
    between = [s for s in pauses if 0.02 <= s <= 0.06]
    assert len(between) >= len(pauses) // 3  # the think_time draws (the rest: the flow's normal ones)


def test_json_and_latency_expectations_on_requests(demo_target: DemoTarget) -> None:
    def run(*steps: dict[str, object]) -> dict[str, int]:
        plan = make_plan(
            demo_target.url,
            load={"phases": [{"duration": "1s", "rate": 5}]},
            scenarios=[{"name": "s", "flow": list(steps)}],
        )
        return aggregate(merge_results([run_in_process(plan)])).errors

    post = {"url": "/v1/events", "json": {"type": "order.created", "n": "{{ $iteration }}"}}
    ok = run(
        {
            "post": {
                **post,
                "capture": [{"json": "$.id", "as": "id"}],
                "expect": [{"status": 202}, {"json": "$.id", "exists": True}],
            }
        },
        # A templated expectation: the event read back is the one this iteration posted.
        {
            "get": {
                "url": "/v1/inbox/{{ id }}",
                "expect": [
                    {"json": "$.id", "equals": "{{ id }}"},
                    {"json": "$.type", "contains": "order"},
                    {"max": "2s"},
                ],
            }
        },
    )
    assert ok == {}
    assert run({"post": {**post, "expect": [{"json": "$.accepted_at", "exists": False}]}}) == {"expect": 5}
    assert run({"post": {**post, "expect": [{"json": "$.id", "equals": "not-this-one"}]}}) == {"expect": 5}
    # A capture that finds nothing is its own class, apart from unmet expectations.
    assert run({"post": {**post, "capture": [{"json": "$.nope", "as": "x"}]}}) == {"capture": 5}
    demo_target.set_config(latency_ms=30.0)
    assert run({"post": {**post, "expect": [{"max": "5ms"}]}}) == {"expect": 5}  # slower than allowed


@pytest.mark.parametrize("headers", [{}, {"Connection": "keep-alive"}], ids=["fast-client", "aiohttp"])
def test_query_form_and_multipart_bodies_arrive_as_sent(
    demo_target: DemoTarget, tmp_path: Path, headers: dict[str, str]
) -> None:
    image = tmp_path / "test-image.jpg"
    image.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 3}]},
        scenarios=[
            {
                "name": "bodies",
                "flow": [
                    {
                        "get": {
                            "url": "/_surge/echo?fixed=1",
                            "headers": headers,
                            "query": {"q": "a b&c", "tag": ["x", "y"], "n": "{{ $iteration }}", "on": True},
                            "expect": [
                                {"json": "$.query.q[0]", "equals": "a b&c"},
                                {"json": "$.query.tag[1]", "equals": "y"},
                                {"json": "$.query.fixed[0]", "equals": "1"},
                                {"json": "$.query.on[0]", "equals": "true"},
                            ],
                        }
                    },
                    {
                        "post": {
                            "url": "/_surge/echo",
                            "headers": headers,
                            "form": {"user": "ana@example.com", "n": "{{ $iteration }}"},
                            "expect": [
                                {"json": "$.content_type", "equals": "application/x-www-form-urlencoded"},
                                {"json": "$.form.user[0]", "equals": "ana@example.com"},
                            ],
                        }
                    },
                    {
                        "post": {
                            "url": "/api/gallery/img-001/image",
                            "headers": headers,
                            "multipart": {
                                "title": "castle {{ $iteration }}",
                                "image": {"path": str(image), "content_type": "image/jpeg"},
                            },
                            "expect": [
                                {"status": 200},
                                {"json": "$.bytes", "equals": image.stat().st_size},
                                {"json": "$.parts[0].value", "contains": "castle"},
                                {"json": "$.parts[1].filename", "equals": "test-image.jpg"},
                                {"json": "$.parts[1].content_type", "equals": "image/jpeg"},
                            ],
                        }
                    },
                ],
            }
        ],
    )
    total = aggregate(merge_results([run_in_process(plan)]))
    assert total.errors == {} and total.requests == 9


def test_errors_are_classified_and_counted(demo_target: DemoTarget) -> None:
    demo_target.set_config(error_rate=1.0)
    plan = make_plan(demo_target.url)
    result = run_in_process(plan)
    agg = aggregate(merge_results([result]))
    assert agg.requests == 40
    assert agg.errors == {"http_5xx": 40}
    assert agg.status == {"500": 40}


def test_connection_refused_is_a_connect_error() -> None:
    plan = make_plan("http://127.0.0.1:9", load={"phases": [{"duration": "1s", "rate": 10}]})
    result = run_in_process(plan)
    agg = aggregate(merge_results([result]))
    assert agg.requests == 10
    assert agg.errors == {"connect": 10}


def test_timeout_is_classified(demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=400.0)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[{"name": "slow", "flow": [{"get": {"url": "/api/mocs", "timeout": "100ms"}}]}],
    )
    agg = aggregate(merge_results([run_in_process(plan)]))
    assert agg.errors == {"timeout": 5}


def test_captures_feed_later_steps_and_expectations_fail_as_expect(demo_target: DemoTarget) -> None:
    flow = [
        {"get": {"url": "/api/mocs", "capture": [{"json": "$.data[3].id", "as": "mocId"}]}},
        {"get": {"url": "/api/mocs/{{ mocId }}", "name": "one", "expect": [{"body_contains": "{"}]}},
        {"get": {"url": "/api/wishlist", "expect": [{"body_contains": "no such text"}]}},
        {"get": {"url": "/api/mocs", "name": "never reached"}},
    ]
    plan = make_plan(demo_target.url, scenarios=[{"name": "flow", "flow": flow}])
    result = run_in_process(plan)
    stats = merge_results([result])
    assert aggregate(stats, endpoint="one").requests == 40
    assert aggregate(stats, endpoint="one").errors == {}
    assert aggregate(stats, endpoint="GET /api/wishlist").errors == {"expect": 40}
    assert aggregate(stats, endpoint="never reached").requests == 0
    routes = demo_target.stats()["by_route"]
    assert routes["GET /api/mocs/{id}"] == 40


def test_post_json_with_generated_payloads(demo_target: DemoTarget) -> None:
    body = {"type": "order.created", "id": "{{ $uuid }}", "amount": "{{ $randint(1, 9) }}"}
    flow = [{"post": {"url": "/v1/events", "json": body, "expect": [{"status": 202}]}}]
    plan = make_plan(demo_target.url, scenarios=[{"name": "ingest", "flow": flow}])
    agg = aggregate(merge_results([run_in_process(plan)]))
    assert agg.requests == 40 and agg.errors == {}
    assert demo_target.stats()["by_status"] == {"202": 40}


@pytest.mark.slow
def test_coordinated_omission_closed_model() -> None:
    """A 1 s stall every 3 s: corrected p99 shows it, service time p99 does not."""
    config = DemoConfig(latency_ms=0.0, stall_every_s=3.0, stall_ms=1000.0)
    with running_demo_target(config) as target:
        plan = make_plan(target.url, load={"phases": [{"duration": "8s", "users": 4}]})
        agg = aggregate(merge_results([run_in_process(plan)]))
    assert agg.requests > 2000
    service_p99 = percentile_ms(agg.st, 99)
    corrected_p99 = percentile_ms(agg.rt, 99)
    assert service_p99 is not None and corrected_p99 is not None
    assert service_p99 < 100, service_p99
    assert corrected_p99 > 400, corrected_p99
    # The stalled requests themselves are in the service-time tail.
    assert (agg.st.get_max_value() / 1000) > 500


@pytest.mark.slow
def test_coordinated_omission_open_model_with_in_flight_cap() -> None:
    config = DemoConfig(latency_ms=0.0, stall_every_s=3.0, stall_ms=1000.0)
    with running_demo_target(config) as target:
        plan = make_plan(
            target.url,
            load={"phases": [{"duration": "8s", "rate": 400}], "connections": 4, "max_in_flight": 150},
        )
        stats = merge_results([run_in_process(plan)])
    agg = aggregate(stats)
    service_p99 = percentile_ms(agg.st, 99)
    corrected_p99 = percentile_ms(agg.rt, 99)
    assert service_p99 is not None and corrected_p99 is not None
    assert service_p99 < 100, service_p99
    assert corrected_p99 > 400, corrected_p99
    # Arrivals beyond the cap were dropped and counted, not delayed.
    assert agg.dropped > 0
    assert agg.iterations + agg.dropped == 3200


@pytest.mark.parametrize(
    ("load", "flow"),
    [
        ({"phases": [{"duration": "20s", "users": 2}]}, [{"get": "/api/mocs"}, {"think": "30s"}]),
        ({"phases": [{"duration": "20s", "users": 2}], "pace": "15s"}, [{"get": "/api/mocs"}]),
        ({"phases": [{"duration": "20s", "rate": 0.1}]}, [{"get": "/api/mocs"}]),  # next arrival at 10 s
        ({"phases": [{"duration": "20s", "rate": 1}]}, [{"get": "/api/mocs"}, {"think": "30s"}]),
    ],
    ids=["think", "pace", "slow-arrivals", "open-think"],
)
def test_a_stop_does_not_wait_for_think_pace_or_the_next_arrival(
    demo_target: DemoTarget, load: dict[str, object], flow: list[dict[str, object]]
) -> None:
    from surge.engine.worker import run_worker
    from surge.engine.worker_spec import WorkerSpec

    plan = make_plan(demo_target.url, load=load, scenarios=[{"name": "s", "flow": flow}])
    t0 = time.time()
    stop_at = t0 + 1.0
    result = asyncio.run(
        run_worker(WorkerSpec(plan, 0, 1, t0 + 0.2, None, "w"), should_stop=lambda: time.time() > stop_at)
    )
    took = time.time() - t0
    assert result["stopped_early"] and result["error"] is None
    # Before: 30 s (think), 15 s (pace), 10 s (the next arrival), 6 s (drain grace) after the stop.
    assert took < 5.0, took


def test_users_thinking_count_as_active_users(demo_target: DemoTarget) -> None:
    # 20 users each sending one request then thinking 1.5 s: at any moment most are thinking, and
    # every one of them is a user of the run (the live line and the charts said 6 of 50).
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "3s", "users": 20}], "think_time": "1500ms"},
    )
    stats = merge_results([run_in_process(plan)])
    users = [stats["intervals"][k].get("users", 0) for k in sorted(stats["intervals"], key=int)]
    in_flight = [stats["intervals"][k]["in_flight"] for k in sorted(stats["intervals"], key=int)]
    assert users[:3] == [20, 20, 20], (users, in_flight)
