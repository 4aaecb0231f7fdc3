"""A failing run says what failed: per endpoint and error class, the first failures as they
happened (request, status, the expectation in words, the answer's first bytes)."""

from __future__ import annotations

from surge.demo_target import DemoTarget
from surge.finish import build_report
from surge.run_facts import RunFacts
from surge.stats import merge_results
from tests.helpers import make_plan, run_in_process


def test_each_failure_names_what_was_expected_and_what_came(demo_target: DemoTarget) -> None:
    flows = [
        {
            "name": "wrong status",
            "flow": [{"post": {"url": "/v1/events", "json": {"type": "x"}, "expect": [{"status": 200}]}}],
        },
        {
            "name": "missing field",
            "flow": [{"get": {"url": "/api/mocs", "capture": [{"json": "$.nope", "as": "x"}]}}],
        },
        {
            "name": "wrong value",
            "flow": [
                {
                    "get": {
                        "url": "/api/mocs?limit=2",
                        "name": "mocs page",
                        "expect": [{"json": "$.total", "equals": 3}],
                    }
                }
            ],
        },
        {"name": "not found", "flow": [{"get": "/api/mocs/no-such-moc"}]},
    ]
    plan = make_plan(demo_target.url, load={"phases": [{"duration": "1s", "rate": 20}]}, scenarios=flows)
    stats = merge_results([run_in_process(plan, shard=0, shards=2), run_in_process(plan, shard=1, shards=2)])
    report = build_report(plan, stats, RunFacts(run_id="failures"))
    groups = {(g["endpoint"], g["error"]): g for g in report["failures"]}
    assert set(groups) == {
        ("POST /v1/events", "expect"),
        ("GET /api/mocs", "capture"),
        ("mocs page", "expect"),
        ("GET /api/mocs/no-such-moc", "http_4xx"),
    }
    # Counts are every failure; samples the first few, merged across both workers.
    assert sum(g["count"] for g in groups.values()) == report["totals"]["errors"] == 20
    assert all(1 <= len(g["samples"]) <= 3 for g in groups.values())
    status = groups[("POST /v1/events", "expect")]["samples"][0]
    assert status["detail"] == "status 202, expected 200"
    assert status["request"] == f"POST {demo_target.url}/v1/events" and status["status"] == 202
    capture = groups[("GET /api/mocs", "capture")]["samples"][0]
    assert capture["detail"] == "capture x (json $.nope) found nothing"
    assert capture["body"] is not None and capture["body"].startswith('{"data"')
    value = groups[("mocs page", "expect")]["samples"][0]
    assert value["detail"].startswith("$.total: expected equals 3, got ")
    missing = groups[("GET /api/mocs/no-such-moc", "http_4xx")]["samples"][0]
    assert missing["detail"] == "status 404" and missing["body"] is None  # nothing read its body
