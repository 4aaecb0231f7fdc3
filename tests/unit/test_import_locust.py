"""Locustfiles as surge plans, read as Python's syntax tree (nothing in them runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.importers import ScriptError, render
from surge.importers.locust import import_locust
from surge.plan_load import parse_plan

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
        ("ShopUser.item", 1),
        ("Reader.account", 2),
    ]
    # item_id = 7; self.client.get(f"/api/mocs/{item_id}"): the local's value is read into the URL.
    assert plan["scenarios"][2]["flow"] == [{"get": {"url": "/api/mocs/7"}}]
    assert plan["scenarios"][0]["flow"] == [
        {"get": {"url": "/api/mocs", "name": "browse"}},
        {"get": {"url": "/api/gallery", "query": {"search": "lego"}}},
    ]
    assert plan["on_start"] == [{"post": {"url": "/api/login", "name": "login", "query": {"user": "alice"}}}]
    joined = "\n".join(notes)
    assert "catch_response" in joined
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


STORY = """
from locust import HttpUser, task, between
import random, time, uuid

class Ingest(HttpUser):
    wait_time = between(0.001, 0.01)

    def on_start(self):
        self.api_key = "sk_test_abc123"
        self.count = 0

    @task
    def ingest(self):
        event_id = str(uuid.uuid4())
        payload = {
            "type": "order.created",
            "id": event_id,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "order": f"order_{self.count}",
            "shard": f"s_{self.count % 10}",
            "size": random.choice(["S", "M", "L"]),
            "n": random.randint(1, 5),
        }
        headers = {"X-API-Key": self.api_key}
        self.client.post("/v1/events", json=payload, headers=headers, name="POST /events")
        self.count += 1
"""


def test_values_the_task_builds_in_python_are_read_where_a_template_can_write_them() -> None:
    result = import_locust(STORY, "story.py")
    plan = yaml.safe_load(render(result))
    (step,) = plan["scenarios"][0]["flow"]
    assert step["post"]["headers"] == {"X-API-Key": "sk_test_abc123"}  # from on_start
    assert step["post"]["json"] == {
        "type": "order.created",
        "id": "{{ $uuid }}",
        "at": "{{ $isotime }}",
        "order": "order_{{ $iteration }}",
        "shard": "<python: f's_{self.count % 10}'>",  # no template for it: a visible stand-in
        "size": "{{ $choice(S, M, L) }}",
        "n": "{{ $randint(1, 5) }}",
    }
    joined = "\n".join(result.notes)
    assert "stand-in for `f's_{self.count % 10}'`" in joined and "{{ $iteration }}" in joined
    assert "Python surge does not run" not in joined  # the assignments were read, not skipped
    assert result.lost == 1
    parse_plan(plan)


def test_an_import_that_left_parts_of_requests_out_does_not_say_it_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    script = tmp_path / "story.py"
    script.write_text(STORY)
    assert main(["import", "locust", str(script), "-o", str(tmp_path / "plan.yaml")]) == 0
    said = capsys.readouterr().err
    assert "it validates, but 1 part(s) of the script were left out, stood in for or given a default" in said
    assert "it validates: `surge run" not in said
