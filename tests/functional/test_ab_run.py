"""A/B in one run against two real demo targets with different configured latencies: each gets its
load (the whole schedule, or its share), the report puts them side by side, and a comparison check
fails when the new one is slower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.cli import main
from surge.demo_target import DemoConfig, DemoTarget, running_demo_target
from surge.plan_load import parse_plan
from surge.runner import run_local

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slow_target() -> Iterator[DemoTarget]:
    with running_demo_target(DemoConfig(latency_ms=30.0, seed=11)) as target:
        yield target


def test_the_example_ab_plan_fails_when_the_new_system_is_slower(
    tmp_path: Path,
    demo_target: DemoTarget,
    slow_target: DemoTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "ab-migration.yaml").read_text())
    # "sst", the replacement, is the slow one here: the cutover checks must say no.
    data["targets"] = {"ecs": demo_target.url, "sst": slow_target.url}
    data["load"]["phases"] = [
        {"name": "warm-up", "duration": "1s", "rate": 20},
        {"name": "steady", "duration": "2s", "rate": 30},
    ]
    (tmp_path / "ab.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "ab.yaml"]) == 1
    out = capsys.readouterr()
    assert "2 targets, each with the whole load" in out.err
    assert "sst vs ecs" in out.out and "worse" in out.out
    (run_dir,) = [p for p in (tmp_path / "surge-runs").iterdir() if p.is_dir()]
    report = json.loads((run_dir / "report.json").read_text())
    targets = report["targets"]
    assert list(targets) == ["ecs", "sst"] and report["target_load"] == "each"
    # Each target got the whole schedule (80 iterations of 1-2 requests): what it counted is reported.
    for name, target in (("ecs", demo_target), ("sst", slow_target)):
        assert targets[name]["totals"]["requests"] == target.stats()["requests"] > 80
        assert targets[name]["totals"]["iterations"] == 80
    # The same seed, the same scenario picks on each target: the same requests by endpoint.
    assert {n: e["requests"] for n, e in targets["ecs"]["endpoints"].items()} == {
        n: e["requests"] for n, e in targets["sst"]["endpoints"].items()
    }
    assert targets["sst"]["latency_ms"]["p50"] >= 30 > targets["ecs"]["latency_ms"]["p50"] + 10
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks['target["sst"].http.latency.p95 < target["ecs"].http.latency.p95 * 1.05'] == "fail"
    assert checks['target["sst"].http.error_rate <= target["ecs"].http.error_rate + 0.001'] == "pass"
    assert checks['target["ecs"].http.latency.p95 < 500ms'] == "pass"
    assert report["verdict"] == "fail"
    html = (run_dir / "report.html").read_text()
    assert "Targets compared" in html and "sst vs ecs" in html and "Response time by target" in html
    assert "## Targets compared" in (run_dir / "report.md").read_text()


def test_split_shares_the_arrivals_among_the_targets(
    tmp_path: Path, demo_target: DemoTarget, slow_target: DemoTarget
) -> None:
    data = {
        "name": "ab-split",
        "targets": {"old": demo_target.url, "new": slow_target.url},
        "target_load": "split",
        "workers": 2,
        "load": {"phases": [{"duration": "2s", "rate": 40}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        # The slow target adds 30 ms to every answer: its fastest is slower than the other's plus 20 ms.
        "thresholds": ['target["new"].http.latency.min < target["old"].http.latency.min + 20'],
    }
    run = run_local(parse_plan(data, base_dir=tmp_path), run_id="split", base_dir=tmp_path)
    targets = run.report["targets"]
    # 80 arrivals, every other one to each target.
    assert targets["old"]["totals"]["requests"] == demo_target.stats()["requests"] == 40
    assert targets["new"]["totals"]["requests"] == slow_target.stats()["requests"] == 40
    assert run.report["totals"]["requests"] == 80
    assert run.report["verdict"] == "fail"
    (comparison,) = [c for c in run.report["checks"] if c["kind"] == "threshold"]
    assert comparison["status"] == "fail" and comparison["measured"] >= 30


def test_the_closed_model_runs_its_users_on_each_target(
    tmp_path: Path, demo_target: DemoTarget, slow_target: DemoTarget
) -> None:
    data = {
        "name": "ab-users",
        "targets": {"old": demo_target.url, "new": slow_target.url},
        "load": {"phases": [{"duration": "2s", "users": 2}], "think_time": "50ms"},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        "thresholds": ["http.error_rate < 1%"],
    }
    run = run_local(parse_plan(data, base_dir=tmp_path), run_id="users", base_dir=tmp_path)
    targets = run.report["targets"]
    assert targets["old"]["totals"]["requests"] == demo_target.stats()["requests"] > 0
    assert targets["new"]["totals"]["requests"] == slow_target.stats()["requests"] > 0
    # 30 ms more per request: the slow target's two users get through fewer iterations.
    assert targets["new"]["totals"]["requests"] < targets["old"]["totals"]["requests"]
    assert max(p.get("users", 0) for p in targets["new"]["timeseries"]) == 2
    assert run.report["verdict"] == "pass"


def test_setup_and_teardown_run_once_per_target_and_each_targets_workers_read_their_own(
    tmp_path: Path, demo_target: DemoTarget, slow_target: DemoTarget
) -> None:
    seed = {
        "post": {
            "url": "/v1/events",
            "name": "seed",
            "json": {"type": "x"},
            "capture": [{"json": "$.id", "as": "eventId"}],
        }
    }
    read = {
        "get": {"url": "/v1/inbox/{{ eventId }}", "name": "GET /v1/inbox/{id}", "expect": [{"status": 200}]}
    }
    data = {
        "name": "ab-setup",
        "targets": {"old": demo_target.url, "new": slow_target.url},
        "load": {"phases": [{"duration": "1s", "rate": 10}]},
        # Each system gets its own setup: an event made on each, which only that system has; every
        # iteration reads it back, which would answer 404 (an expectation failure) on the other one.
        "setup": [seed],
        "scenarios": [{"name": "s", "flow": [read]}],
        "teardown": [{"post": {"url": "/api/logout", "name": "logout"}}],
        "thresholds": ["http.error_rate < 1%"],
    }
    run = run_local(parse_plan(data, base_dir=tmp_path), run_id="setup", base_dir=tmp_path)
    flows = [(f["name"], f.get("target"), f["ok"]) for f in run.report["flows"]]
    assert flows == [
        ("setup", "old", True),
        ("setup", "new", True),
        ("teardown", "old", True),
        ("teardown", "new", True),
    ]
    for target in (demo_target, slow_target):
        routes = target.stats()["by_route"]
        assert routes["POST /v1/events"] == 1 and routes["POST /api/logout"] == 1
        assert routes["GET /v1/inbox/{id}"] == 10
    for name in ("old", "new"):  # every read found the event its own target's setup made
        assert run.report["targets"][name]["totals"]["errors"] == 0
    assert run.report["verdict"] == "pass"
    from reports.markdown import render_markdown

    assert "| setup (old) | seed |" in render_markdown(run.report)
