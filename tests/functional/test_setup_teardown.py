"""Setup and teardown flows around a local run's load, and each virtual user's on_start: against
the demo target, through the real runner (worker processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from surge.demo_target import DemoTarget
from surge.runner import run_local
from tests.helpers import make_plan

SEED = {
    "loop": {"count": 30},
    "steps": [
        {
            "post": {
                "url": "/v1/events",
                "json": {"type": "seed", "n": "{{ $index }}"},
                "capture": [{"json": "$.id", "as": "seed_id"}],
            }
        }
    ],
}


def plan(target: str, **extra: Any) -> Any:
    data: dict[str, Any] = {
        "load": {"phases": [{"duration": "2s", "rate": 10}]},
        "scenarios": [
            {
                "name": "read",
                "flow": [
                    {
                        "get": {
                            "url": "/v1/inbox/{{ seed_id }}",
                            "name": "read seed",
                            "expect": [{"status": 200}],
                        }
                    }
                ],
            }
        ],
        "setup": [SEED],
        "teardown": [{"post": {"url": "/v1/inbox/{{ seed_id }}/ack", "name": "ack seed"}}],
        "workers": 1,
    }
    data.update(extra)
    return make_plan(target, **data)


def test_setup_seeds_once_iterations_read_its_capture_and_teardown_cleans_up(demo_target: DemoTarget) -> None:
    run = run_local(plan(demo_target.url), run_id="setup-ok", base_dir=Path.cwd())
    by_route = demo_target.stats()["by_route"]
    assert by_route["POST /v1/events"] == 30  # setup's, once for the run
    assert by_route["POST /v1/inbox/{id}/ack"] == 1  # teardown's
    report = run.report
    # The load's figures are the load's: 20 reads of the seeded event, nothing of setup or teardown.
    assert report["totals"]["requests"] == by_route["GET /v1/inbox/{id}"] == 20
    assert report["totals"]["errors"] == 0 and set(report["endpoints"]) == {"read seed"}
    flows = {f["name"]: f for f in report["flows"]}
    assert flows["setup"]["ok"] and flows["setup"]["requests"] == 30
    assert flows["teardown"]["ok"] and flows["teardown"]["endpoints"][0]["name"] == "ack seed"


def test_teardown_runs_after_an_abort(demo_target: DemoTarget) -> None:
    aborting = plan(
        demo_target.url,
        load={"phases": [{"duration": "10s", "rate": 10}]},
        thresholds=[{"check": "http.latency.p95 < 1us", "abort_on_fail": True}],
    )
    run = run_local(aborting, run_id="abort-teardown", base_dir=Path.cwd())
    assert run.stopped_by is not None and "aborted" in run.stopped_by
    assert demo_target.stats()["by_route"]["POST /v1/inbox/{id}/ack"] == 1
    assert [f["name"] for f in run.report["flows"]] == ["setup", "teardown"]


def test_on_start_runs_once_per_virtual_user_and_its_session_lasts(demo_target: DemoTarget) -> None:
    users = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "2s", "users": 3}], "think_time": "100ms"},
        on_start=[{"post": {"url": "/api/login?user=u{{ $worker }}", "name": "login"}}],
        scenarios=[
            {
                "name": "account",
                "flow": [{"get": {"url": "/api/account", "name": "account", "expect": [{"status": 200}]}}],
            }
        ],
        workers=1,
    )
    run = run_local(users, run_id="on-start", base_dir=Path.cwd())
    by_route = demo_target.stats()["by_route"]
    assert by_route["POST /api/login"] == 3  # once per user
    assert by_route["GET /api/account"] > 10
    assert run.report["totals"]["errors"] == 0
    # on_start is the users' load: its endpoint is in the report, beside the flow's.
    assert {"login", "account"} <= set(run.report["endpoints"])
