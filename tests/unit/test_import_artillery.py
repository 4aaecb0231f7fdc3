"""Artillery scripts as surge plans: each mapping, and what is noted instead of mapped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.foreign_script import looks_like_artillery
from surge.importers import ScriptError, render
from surge.importers.artillery import import_artillery
from surge.plan_load import parse_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def imported(script: str | dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    data = yaml.safe_load(script) if isinstance(script, str) else script
    result = import_artillery(data, "test.yml")
    # What is written is what is read back: the YAML text, not the dict.
    return yaml.safe_load(render(result)), result.notes


def script(flow: list[Any], **config: Any) -> dict[str, Any]:
    return {
        "config": {
            "target": "http://127.0.0.1:8080",
            "phases": [{"duration": 10, "arrivalRate": 2}],
            **config,
        },
        "scenarios": [{"name": "s", "flow": flow}],
    }


def test_the_story_script_maps_phases_scenarios_weights_and_checks() -> None:
    plan, notes = imported((EXAMPLES / "artillery-load-test.yml").read_text())
    assert plan["target"] == "https://api.lego-mocs.com"
    assert plan["load"]["phases"] == [
        {"name": "Warm-up", "duration": "60s", "rate": 10},
        {"name": "Ramp-up to 100 users", "duration": "120s", "rate": 10, "ramp_to": 100},
        {"name": "Sustained load (1000 concurrent users)", "duration": "600s", "rate": 100},
        {"name": "Ramp-down", "duration": "60s", "rate": 100, "ramp_to": 10},
    ]
    assert [(s["name"], s["weight"]) for s in plan["scenarios"]] == [
        ("List MOCs", 40),
        ("Get MOC by ID", 30),
        ("Search Gallery", 20),
        ("Get Wishlist", 10),
        ("Upload Image", 5),
    ]
    assert plan["variables"]["authToken"] == "Bearer {{ $env.TEST_AUTH_TOKEN }}"
    first = plan["scenarios"][0]["flow"][0]["get"]
    assert first == {
        "url": "/api/mocs",
        "headers": {"Authorization": "{{ authToken }}"},
        "capture": [{"json": "$.data[0].id", "as": "mocId"}],
        "expect": [{"status": 200}, {"content_type": "json"}],
    }
    upload = plan["scenarios"][4]["flow"][0]["post"]
    # formData -> multipart; the fixed multipart Content-Type (it lacks the boundary) is dropped
    assert upload["multipart"] == {"image": {"path": "fixtures/test-image.jpg", "content_type": "image/jpeg"}}
    assert upload["headers"] == {"Authorization": "{{ authToken }}"}
    joined = "\n".join(notes)
    assert "config.processor: ./test-processor.js holds JavaScript functions" in joined
    assert 'scenario "Get MOC by ID": {{ mocId }} is set by nothing in this scenario' in joined
    assert plan["variables"]["mocId"] == "" and plan["variables"]["galleryImageId"] == ""
    assert "surge secret put TEST_AUTH_TOKEN" in joined


def test_the_notes_are_comments_at_the_top_of_the_plan() -> None:
    text = render(
        import_artillery(yaml.safe_load((EXAMPLES / "artillery-load-test.yml").read_text()), "load-test.yml")
    )
    lines = text.splitlines()
    assert lines[0] == "# Imported from the Artillery script load-test.yml by `surge import artillery`."
    assert lines[1].startswith("# Notes (4):")
    assert all(line.startswith("#") for line in lines[: lines.index("name: load-test")])


def test_phase_forms() -> None:
    plan, notes = imported(
        {
            "config": {
                "target": "http://127.0.0.1:1",
                "phases": [
                    {"duration": "2m", "arrivalCount": 60, "name": "count"},
                    {"pause": 5},
                    {"duration": 30, "arrivalRate": 1, "rampTo": 5, "maxVusers": 50},
                ],
            },
            "scenarios": [{"flow": [{"get": {"url": "/"}}]}],
        }
    )
    assert plan["load"] == {
        "phases": [
            {"name": "count", "duration": "120s", "rate": 0.5},
            {"duration": "5s", "rate": 0},
            {"duration": "30s", "rate": 1, "ramp_to": 5},
        ],
        "max_in_flight": 50,
    }
    assert plan["scenarios"][0]["name"] == "scenario 1" and notes == []


def test_bodies_query_and_cookies() -> None:
    plan, notes = imported(
        script(
            [
                {
                    "post": {
                        "url": "/a",
                        "json": {"id": "{{ $randomNumber(1, 9) }}", "s": "{{ $randomString(4) }}"},
                    }
                },
                {"put": {"url": "/b", "body": "raw {{ $uuid }}"}},
                {"post": {"url": "/c", "form": {"user": "x", "n": 2}}},
                {"get": {"url": "/d", "qs": {"page": 2, "q": "a b"}, "cookie": {"sid": "abc"}}},
                {"post": {"url": "/e", "formData": {"title": "castle", "f": {"fromFile": "./x.png"}}}},
            ]
        )
    )
    flow = plan["scenarios"][0]["flow"]
    assert flow[0]["post"]["json"] == {"id": "{{ $randint(1, 9) }}", "s": "{{ $randstr(4) }}"}
    assert flow[1]["put"]["body"] == "raw {{ $uuid }}"
    assert flow[2]["post"]["form"] == {"user": "x", "n": 2}
    assert flow[3]["get"]["query"] == {"page": 2, "q": "a b"}
    assert flow[3]["get"]["headers"] == {"Cookie": "sid=abc"}
    assert flow[4]["post"]["multipart"] == {
        "title": "castle",
        "f": {"path": "x.png", "content_type": "image/png"},
    }
    assert notes == []


def test_captures_and_expectations() -> None:
    plan, notes = imported(
        script(
            [
                {
                    "get": {
                        "url": "/x",
                        "capture": [
                            {"json": "$.id", "as": "id"},
                            {"regexp": "token=(\\w+)", "as": "tok", "group": 1},
                            {"header": "etag", "as": "etag", "strict": False},
                            {"xpath": "//a", "as": "a"},
                        ],
                        "expect": [
                            {"statusCode": [200, 201]},
                            {"hasProperty": "data.items"},
                            {"notHasProperty": "error"},
                            {"matchesRegexp": "ok"},
                        ],
                    }
                },
                {"get": {"url": "/y", "capture": {"json": "$.n", "as": "n"}}},
            ]
        )
    )
    req = plan["scenarios"][0]["flow"][0]["get"]
    assert req["capture"] == [
        {"json": "$.id", "as": "id"},
        {"regex": "token=(\\w+)", "group": 1, "as": "tok"},
        {"header": "etag", "as": "etag", "optional": True},
    ]
    assert req["expect"] == [
        {"status": [200, 201]},
        {"json": "$.data.items", "exists": True},
        {"json": "$.error", "exists": False},
    ]
    assert plan["scenarios"][0]["flow"][1]["get"]["capture"] == [{"json": "$.n", "as": "n"}]
    assert any("capture by xpath" in n for n in notes) and any("expect matchesRegexp" in n for n in notes)


def test_think_and_loops() -> None:
    plan, notes = imported(
        script(
            [
                {"think": 2},
                {"loop": [{"post": "/cart"}], "count": 3},
                {"loop": [{"get": "/items/{{ $loopElement }}"}], "over": ["a", "b"]},
                {"loop": [{"get": "/ids/{{ $loopElement }}"}], "over": "ids"},
                {"function": "makeBody"},
                {"log": "here"},
            ],
            variables={"ids": [1]},
        )
    )
    flow = plan["scenarios"][0]["flow"]
    assert flow[0] == {"think": "2s"}
    assert flow[1] == {"loop": {"count": 3}, "steps": [{"post": {"url": "/cart"}}]}
    assert flow[2]["loop"] == {"over": ["a", "b"], "as": "loopElement", "max": 1000}
    assert flow[2]["steps"] == [{"get": {"url": "/items/{{ loopElement }}"}}]
    assert flow[3]["loop"]["over"] == {"var": "ids"}
    assert len(flow) == 4
    assert any("JavaScript function makeBody" in n for n in notes) and any("log 'here'" in n for n in notes)


def test_ensure_thresholds_conditions_and_error_rate() -> None:
    plan, notes = imported(
        script(
            [{"get": "/"}],
            plugins={"ensure": {}, "metrics-by-endpoint": {}, "publish-metrics": [{}]},
            ensure={
                "thresholds": [{"http.response_time.p99": 250}, {"http.response_time.p95": 100}],
                "conditions": [
                    {"expression": "http.response_time.p95 < 250 and http.request_rate > 600"},
                    {"expression": "vusers.failed == 0", "strict": False},
                    {"expression": "http.response_time.p99 < 1 or http.requests > 5"},
                ],
                "maxErrorRate": 1,
            },
        )
    )
    assert plan["thresholds"] == [
        "http.latency.p99 < 250ms",
        "http.latency.p95 < 100ms",
        "http.latency.p95 < 250ms",
        "http.throughput > 600/s",
        "http.errors == 0",
        "http.error_rate <= 1%",
    ]
    assert any("strict: false" in n for n in notes) and any(
        "config.plugins.publish-metrics" in n for n in notes
    )
    assert any("' or '" not in n and "surge checks are each one comparison" in n for n in notes)


def test_every_imported_plan_validates() -> None:
    for text in [(EXAMPLES / "artillery-load-test.yml").read_text()]:
        plan, _ = imported(text)
        plan["scenarios"] = [s for s in plan["scenarios"] if s["name"] != "Upload Image"]  # its file
        parse_plan(plan, environ={"TEST_AUTH_TOKEN": "t"})


def test_what_is_not_artillery_is_refused() -> None:
    assert not looks_like_artillery({"name": "x", "scenarios": []})
    with pytest.raises(ScriptError, match="is not an Artillery script"):
        import_artillery({"name": "plan"}, "plan.yaml")


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        (
            {
                "config": {"target": "http://x", "phases": "soon"},
                "scenarios": [{"flow": [{"get": {"url": "/"}}]}],
            },
            "config.phases is str 'soon'",
        ),
        (
            {
                "config": {"target": "http://x", "phases": [{"duration": 5, "arrivalRate": 1}]},
                "scenarios": [{"flow": 42}],
            },
            "flow is int 42",
        ),
    ],
)
def test_a_broken_artillery_script_is_refused_never_given_an_invented_load(
    doc: dict[str, Any], said: str
) -> None:
    with pytest.raises(ScriptError) as exc:
        import_artillery(doc, "broken.yml")
    assert said in str(exc.value)
