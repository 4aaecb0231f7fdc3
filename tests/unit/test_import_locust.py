"""Locustfiles as surge plans, read as Python's syntax tree (nothing in them runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.importers import ScriptError, render
from surge.importers.locust import import_locust
from surge.plan import parse_plan

LOCUSTFILE = Path(__file__).resolve().parents[1] / "fixtures" / "foreign" / "locustfile.py"


def imported(text: str) -> tuple[dict[str, Any], list[str]]:
    result = import_locust(text, "locustfile.py")
    return yaml.safe_load(render(result)), result.notes


def test_users_tasks_weights_wait_time_and_on_start() -> None:
    plan, notes = imported(LOCUSTFILE.read_text())
    assert plan["target"] == "http://127.0.0.1:8080"
    assert plan["load"] == {"phases": [{"duration": "60s", "users": 10}], "think_time": "1s..3s"}
    assert [(s["name"], s.get("weight", 1)) for s in plan["scenarios"]] == [
        ("ShopUser.browse", 3),
        ("ShopUser.wishlist", 1),
        ("Reader.account", 2),
    ]
    assert plan["scenarios"][0]["flow"] == [
        {"get": {"url": "/api/mocs", "name": "browse"}},
        {"get": {"url": "/api/gallery", "query": {"search": "lego"}}},
    ]
    assert plan["on_start"] == [{"post": {"url": "/api/login", "name": "login", "query": {"user": "alice"}}}]
    joined = "\n".join(notes)
    assert "catch_response" in joined and "a URL computed in Python" in joined
    assert "ShopUser.item: no request could be read from this task; left out" in joined
    assert "2 user classes" in joined and "-u, -r, -t" in joined
    parse_plan(plan)


@pytest.mark.parametrize(
    ("wait", "load"),
    [
        ("constant(2)", {"think_time": "2s"}),
        ("constant_pacing(1.5)", {"pace": "1500ms"}),
        ("between(0.5, 2)", {"think_time": "500ms..2s"}),
    ],
)
def test_wait_times(wait: str, load: dict[str, str]) -> None:
    text = f"""
from locust import HttpUser, task, between, constant, constant_pacing
class U(HttpUser):
    wait_time = {wait}
    @task
    def t(self):
        self.client.post("/v1/events", json={{"type": "x"}}, headers={{"X-A": "1"}})
"""
    plan, notes = imported(text)
    assert {k: v for k, v in plan["load"].items() if k != "phases"} == load
    assert plan["scenarios"] == [
        {
            "name": "t",
            "flow": [{"post": {"url": "/v1/events", "headers": {"X-A": "1"}, "json": {"type": "x"}}}],
        }
    ]
    assert any("host" in n for n in notes)  # no host: target to set


def test_what_is_not_a_locustfile() -> None:
    with pytest.raises(ScriptError, match="no HttpUser or FastHttpUser class"):
        import_locust("x = 1\n", "f.py")
    with pytest.raises(ScriptError, match="is not Python: line 1"):
        import_locust("def (:\n", "f.py")
