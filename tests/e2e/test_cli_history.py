"""The CLI end to end with history and baselines: last-pass catching a regression, `surge runs`,
`surge compare`, baseline files, and baselines that cannot be found (exit 2 before any traffic)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from surge.demo_target import DemoTarget
from tests.e2e.test_cli_local import surge, write_plan

pytestmark = pytest.mark.slow


def run_id_of(proc: Any) -> str:
    m = re.search(r"\(run (\S+)\)", proc.stderr)
    assert m, proc.stderr
    return m.group(1)


def read_report(tmp_path: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "surge-runs" / run_id / "report.json").read_text())
    return data


def test_last_pass_baseline_catches_a_latency_regression(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        baseline="last-pass",
        regression={"max_worse_pct": 20},
    )

    first = surge("run", str(plan), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no earlier complete, passing run of plan 'cli-test'" in first.stderr  # said on the terminal
    a = run_id_of(first)
    rep_a = read_report(tmp_path, a)
    assert rep_a["baseline"]["source"] is None
    assert "no earlier complete, passing run" in rep_a["baseline"]["notes"][0]  # and in the report
    assert all(c["baseline"] is None for c in rep_a["checks"])
    assert (tmp_path / "surge-runs" / "history.sqlite").is_file()

    demo_target.set_config(latency_ms=100.0)
    second = surge("run", str(plan), cwd=tmp_path)
    assert second.returncode == 1, second.stdout + second.stderr
    b = run_id_of(second)
    rep_b = read_report(tmp_path, b)
    assert rep_b["verdict"] == "fail"
    assert rep_b["baseline"]["source"] == "run" and rep_b["baseline"]["ref"] == a
    checks = {c["name"]: c for c in rep_b["checks"]}
    # The threshold still holds (100 ms < 500 ms): the regression rule is what fails the run.
    p95 = checks["http.latency.p95 < 500ms"]
    assert p95["status"] == "pass"
    assert p95["baseline"] == rep_a["checks"][0]["measured"]
    assert p95["delta_pct"] > 100
    regression = checks["regression: http.latency.p95 within 20% of baseline"]
    assert regression["status"] == "fail"
    assert regression["measured"] >= 100
    assert regression["target"] == pytest.approx(p95["baseline"] * 1.2, abs=1e-6)
    assert checks["regression: http.throughput within 20% of baseline"]["status"] == "pass"
    assert checks["regression: http.error_rate within 20% of baseline"]["status"] == "pass"
    junit = (tmp_path / "surge-runs" / b / "junit.xml").read_text()
    assert "regression: http.latency.p95 within 20% of baseline" in junit
    assert f"Baseline: run {a}" in (tmp_path / "surge-runs" / b / "report.md").read_text()
    assert "baseline" in second.stdout and "FAIL" in second.stdout

    # Re-rendering compares to the same run, not to whatever last-pass means now.
    rerender = surge("report", b, cwd=tmp_path)
    assert rerender.returncode == 1, rerender.stdout + rerender.stderr
    assert read_report(tmp_path, b)["baseline"]["ref"] == a

    runs = surge("runs", cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert lines[0].split()[:4] == ["RUN", "PLAN", "STARTED", "VERDICT"]
    assert [line.split()[0] for line in lines[1:]] == [b, a]  # newest first, each once
    assert lines[1].split()[3] == "FAIL" and lines[2].split()[3] == "PASS"
    assert f"surge-runs/{a}" in lines[2]
    assert "no runs of plan 'other'" in surge("runs", "--plan", "other", cwd=tmp_path).stdout
    assert len(surge("runs", "--limit", "1", cwd=tmp_path).stdout.splitlines()) == 2

    compare = surge("compare", a, b, "--out", "cmp.html", cwd=tmp_path)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    assert re.search(r"Response time p95 .* \(worse\)", compare.stdout), compare.stdout
    page = (tmp_path / "cmp.html").read_text()
    assert a in page and b in page and "Response time p95" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page

    unknown = surge("compare", a, "no-such-run", cwd=tmp_path)
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr


def test_unresolvable_baselines_exit_2_before_any_traffic(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url, baseline="20990101-000000-nope-0000")
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no run '20990101-000000-nope-0000' in the history" in proc.stderr
    assert "Traceback" not in proc.stderr

    plan = write_plan(tmp_path, demo_target.url, baseline={"file": "ecs-baseline.json"})
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2 and "ecs-baseline.json: cannot read it" in proc.stderr

    (tmp_path / "ecs-baseline.json").write_text(json.dumps({"http.error_rate": 4}))
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2 and "not a fraction" in proc.stderr
    assert surge("validate", str(plan), cwd=tmp_path).returncode == 2

    assert demo_target.stats()["requests"] == 0
    assert not (tmp_path / "surge-runs").exists()


def test_baseline_file_from_another_system(tmp_path: Path, demo_target: DemoTarget) -> None:
    figures = {
        "http.latency.p95": "400ms",
        "http.error_rate": 0.004,
        "http.throughput": 20,  # the old platform's rate: the plan's phase offers the same
        "cost.monthly_usd": 950,
    }
    (tmp_path / "ecs-baseline.json").write_text(json.dumps(figures))
    plan = write_plan(
        tmp_path,
        demo_target.url,
        baseline={"file": "ecs-baseline.json"},
        regression={"max_worse_pct": 5, "metrics": ["http.latency.p95", "http.throughput"]},
    )
    assert "baseline: file ecs-baseline.json (4 figures)" in surge("validate", str(plan), cwd=tmp_path).stdout
    proc = surge("run", str(plan), "--history", "hist.sqlite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = read_report(tmp_path, run_id_of(proc))
    checks = {c["name"]: c for c in rep["checks"]}
    assert checks["http.latency.p95 < 500ms"]["baseline"] == 400.0
    assert checks["http.latency.p95 < 500ms"]["delta_pct"] < 0  # faster than the old platform
    assert checks["http.error_rate < 1%"]["baseline"] == 0.004
    # In the open model the plan sets the rate: the old platform's throughput is compared with
    # the phase that offered that load, not with the run's average.
    (throughput,) = [c for c in rep["checks"] if c["name"].endswith(".throughput within 5% of baseline")]
    assert throughput["metric"].startswith("phase[") and throughput["status"] == "pass"
    assert "cost.monthly_usd" in " ".join(rep["baseline"]["notes"])  # a figure no check uses
    assert (tmp_path / "hist.sqlite").is_file()
    assert run_id_of(proc) in surge("runs", "--history", "hist.sqlite", cwd=tmp_path).stdout
