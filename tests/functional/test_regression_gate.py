"""The regression gate as a pipeline uses it: runs of one plan recorded in a history, each compared
with the last passing one. Identical runs must not fail it; a target made twice as slow must."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.cli import main
from surge.demo_target import DemoConfig, running_demo_target

pytestmark = pytest.mark.slow


def _plan(tmp_path: Path, url: str) -> Path:
    plan = {
        "name": "gate",
        "target": url,
        "workers": 1,
        "load": {"phases": [{"name": "steady", "duration": "5s", "rate": 60}]},
        "interval": 0.25,  # twenty batches: what a run's own interval is read from
        "scenarios": [{"name": "read", "flow": [{"get": "/api/mocs"}]}],
        "thresholds": ["http.latency.p95 < 2s", "http.error_rate < 5%"],
        "baseline": "last-pass",
        "regression": {"max_worse_pct": 5},
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def _run(tmp_path: Path, plan: Path, name: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / name
    code = main(["run", str(plan), "--history", str(tmp_path / "history.sqlite"), "--out", str(out)])
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return code, report


def _regression(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["metric"]: c for c in report["checks"] if c.get("kind") == "regression"}


def test_identical_runs_pass_the_gate_and_a_slower_target_fails_it(tmp_path: Path) -> None:
    # The target's own time dominates what the runs measure: a busy machine (another test on the
    # other core, which shares the target's process) adds a few ms to every answer, which at 20 ms
    # read as a 37 % slower target between two of these "identical" runs; at 100 ms it is noise.
    with running_demo_target(DemoConfig(latency_ms=100.0, jitter_ms=40.0, seed=3)) as target:
        plan = _plan(tmp_path, target.url)
        for i in range(4):  # the first has no baseline; three more build the plan's history
            code, report = _run(tmp_path, plan, f"same-{i}")
            assert code == 0, [c for c in report["checks"] if c["status"] != "pass"]
        checks = _regression(report)
        p95 = checks["http.latency.p95"]
        # Judged against the noise, which the report states with what this pair could detect.
        assert p95.get("noise_pct") is not None and p95.get("detectable_pct") is not None
        lo, hi = report["uncertainty"]["http.latency.p95"]
        assert lo <= report["latency_ms"]["p95"] <= hi
        assert report["baseline"]["noise_runs"] >= 3

        target.set_config(latency_ms=200.0, jitter_ms=80.0)
        code, report = _run(tmp_path, plan, "slower")
    assert code == 1
    checks = _regression(report)
    assert checks["http.latency.p95"]["status"] == "fail"
    assert "beyond the noise" in checks["http.latency.p95"]["detail"]
    md = (tmp_path / "slower" / "report.md").read_text()
    assert "beyond 5% and beyond the noise" in md and "95% interval" in md
