"""The journey examples run against the demo target as written (shortened): setup, pagination,
on_start, loops, think ranges, the LEGO story's multipart upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from surge.demo_target import DemoTarget
from surge.plan_load import parse_plan
from surge.runner import run_local
from surge.stats import aggregate, merge_results
from tests.helpers import run_in_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def shortened(name: str, target: str, **changes: Any) -> Any:
    data = yaml.safe_load((EXAMPLES / name).read_text())
    data["target"] = target
    data["workers"] = 1
    data["load"]["phases"] = [{"duration": "2s", "users": 4}]
    data["load"]["think_time"] = "50ms..150ms"
    data.update(changes)
    return parse_plan(data, base_dir=EXAMPLES)


def test_inbox_pagination_seeds_pages_and_cleans_up(demo_target: DemoTarget) -> None:
    run = run_local(shortened("inbox-pagination.yaml", demo_target.url), run_id="ex-pages", base_dir=EXAMPLES)
    report = run.report
    assert report["totals"]["errors"] == 0
    assert [f["name"] for f in report["flows"]] == ["setup", "teardown"] and all(
        f["ok"] for f in report["flows"]
    )
    by_route = demo_target.stats()["by_route"]
    assert by_route["POST /v1/events"] == 1001 and by_route["POST /v1/inbox/{id}/ack"] == 1
    # 1001 events at 100 a page: every pass reads the first page and then ten more.
    first, later = report["endpoints"]["first page"]["requests"], report["endpoints"]["next page"]["requests"]
    assert first > 0 and later == 10 * first


def test_shoppers_sign_in_once_and_loop_over_what_they_browsed(demo_target: DemoTarget) -> None:
    run = run_local(shortened("shoppers.yaml", demo_target.url), run_id="ex-shop", base_dir=EXAMPLES)
    report = run.report
    assert report["totals"]["errors"] == 0
    assert report["endpoints"]["login"]["requests"] == 4  # once per user
    endpoints = report["endpoints"]
    assert endpoints["GET /api/mocs/{id}"]["requests"] == 3 * endpoints["browse"]["requests"]


def test_the_lego_upload_scenario_sends_the_real_file(demo_target: DemoTarget) -> None:
    data = yaml.safe_load((EXAMPLES / "migration-validation.yaml").read_text())
    upload = next(s for s in data["scenarios"] if s["name"] == "upload image")
    plan = parse_plan(
        {
            "name": "lego-upload",
            "target": demo_target.url,
            "variables": data["variables"],
            "load": {"phases": [{"duration": "1s", "rate": 5}]},
            "scenarios": [upload],
        },
        base_dir=EXAMPLES,
    )
    total = aggregate(merge_results([run_in_process(plan, base_dir=EXAMPLES)]))
    assert total.requests == 5 and total.errors == {}
