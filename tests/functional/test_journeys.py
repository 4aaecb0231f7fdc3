"""User journeys against the demo target: loops (count, over a list, a captured array, a data
column, while a cursor lasts) and conditional blocks, with their item and index as variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from surge.demo_target import DemoTarget
from surge.stats import aggregate, merge_results
from tests.helpers import make_plan, run_in_process


def run_once(target: str, flow: list[dict[str, Any]], **extra: Any) -> Any:
    """One iteration of ``flow`` (1 arrival in 1 s), merged."""
    plan = make_plan(
        target,
        load={"phases": [{"duration": "1s", "rate": 1}]},
        scenarios=[{"name": "journey", "flow": flow}],
        **extra,
    )
    return aggregate(merge_results([run_in_process(plan)]))


def page(name: str, url: str) -> dict[str, Any]:
    return {
        "get": {
            "url": url,
            "name": name,
            "expect": [{"status": 200}],
            # The last page has no next cursor: an optional capture leaves `cursor` empty.
            "capture": [{"json": "$.next_cursor", "as": "cursor", "optional": True}],
        }
    }


def test_seed_then_page_through_the_inbox_while_a_cursor_lasts(demo_target: DemoTarget) -> None:
    flow = [
        {
            "loop": {"count": 25},
            "steps": [{"post": {"url": "/v1/events", "json": {"type": "seed", "n": "{{ $index }}"}}}],
        },
        page("GET /v1/inbox (first page)", "/v1/inbox?limit=10"),
        {
            "loop": {"while": {"var": "cursor", "exists": True}, "max": 20},
            "steps": [page("GET /v1/inbox (next page)", "/v1/inbox?limit=10&cursor={{ cursor }}")],
        },
        {"if": {"var": "cursor", "exists": True}, "steps": [{"get": "/api/mocs?never=1"}]},
    ]
    total = run_once(demo_target.url, flow)
    assert total.errors == {}
    by_route = demo_target.stats()["by_route"]
    assert by_route["POST /v1/events"] == 25
    # 25 events at 10 a page: the first page, then two more; the last has no cursor and ends the loop.
    assert by_route["GET /v1/inbox"] == 3
    assert "GET /api/mocs" not in by_route  # the if's condition did not hold: its steps did not run


def test_over_a_captured_array_a_literal_list_and_a_data_column(
    demo_target: DemoTarget, tmp_path: Path
) -> None:
    data = tmp_path / "skus.csv"
    data.write_text("sku\nA-1\nB-2\nC-3\nD-4\n")
    flow = [
        {"get": {"url": "/api/mocs?limit=5", "capture": [{"json": "$.data", "as": "mocs"}]}},
        {
            "loop": {"over": {"var": "mocs", "json": "$[*].id"}, "as": "moc_id", "max": 3},
            "steps": [
                {
                    "get": {
                        "url": "/api/mocs/{{ moc_id }}",
                        "expect": [{"json": "$.id", "equals": "{{ moc_id }}"}],
                    }
                }
            ],
        },
        {
            "loop": {"over": ["red", "green"]},
            "steps": [
                {
                    "get": {
                        "url": "/_surge/echo?colour={{ item }}&i={{ $index }}",
                        "expect": [
                            {"json": "$.query.colour[0]", "equals": "{{ item }}"},
                            {"json": "$.query.i[0]", "equals": "{{ $index }}"},
                        ],
                    }
                }
            ],
        },
        {
            "loop": {"over": {"column": "sku"}, "as": "code"},
            "steps": [{"get": {"url": "/_surge/echo?sku={{ code }}", "name": "echo sku"}}],
        },
    ]
    total = run_once(demo_target.url, flow, data={"file": str(data)})
    assert total.errors == {}
    by_route = demo_target.stats()["by_route"]
    assert by_route["GET /api/mocs/{id}"] == 3  # capped by max: the page had 5
    # 2 colours + 4 skus through the echo endpoint (not counted by the target's stats: a control route)
    assert total.requests == 1 + 3 + 2 + 4


def test_a_failure_inside_a_loop_ends_the_iteration(demo_target: DemoTarget) -> None:
    flow = [
        {
            "loop": {"count": 3},
            "steps": [
                {
                    "get": {
                        "url": "/api/mocs/{{ item }}",
                        "expect": [{"status": 200}],
                        "name": "GET moc by pass",
                    }
                }
            ],
        },
        {"get": "/api/wishlist"},
    ]
    total = run_once(demo_target.url, flow)
    # Pass 0 asks for moc "0", which does not exist: 404 fails the expectation, nothing after runs.
    assert total.errors == {"http_4xx": 1}
    assert "GET /api/wishlist" not in demo_target.stats()["by_route"]


def login_flow() -> list[dict[str, Any]]:
    return [
        # The login answers 302 with the session cookie; the redirect hop must already send it.
        {
            "post": {
                "url": "/api/login?user=ana",
                "name": "login",
                "expect": [{"json": "$.user", "equals": "ana"}],
            }
        },
        {"get": {"url": "/api/account", "name": "account", "expect": [{"status": 200}]}},
        {"post": {"url": "/api/logout", "name": "logout"}},
        {"get": {"url": "/api/account", "name": "account after logout", "expect": [{"status": 401}]}},
    ]


@pytest.mark.parametrize("headers", [{}, {"Connection": "keep-alive"}], ids=["fast-client", "aiohttp"])
def test_each_user_keeps_its_own_cookies_through_redirects(
    demo_target: DemoTarget, headers: dict[str, str]
) -> None:
    flow = login_flow()
    for step in flow:
        next(iter(step.values()))["headers"] = headers
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "users": 3}]},
        scenarios=[{"name": "session", "flow": flow}],
    )
    total = aggregate(merge_results([run_in_process(plan)]))
    assert total.requests >= 12 and total.errors == {}


def test_with_cookies_off_nothing_is_sent_back(demo_target: DemoTarget) -> None:
    total = run_once(demo_target.url, login_flow()[:1], cookies=False)
    assert total.errors == {"http_4xx": 1}  # the login's redirect reached the account page without its cookie
