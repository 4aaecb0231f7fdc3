"""The CLI end to end against the demo target: report files, exit codes, Ctrl-C, abort-on-fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from surge.demo_target import DemoTarget

pytestmark = pytest.mark.slow


def write_plan(tmp_path: Path, target: str, **overrides: object) -> Path:
    plan: dict[str, object] = {
        "name": "cli-test",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 20}]},
        "scenarios": [
            {"name": "browse", "flow": [{"get": "/api/mocs"}]},
            {"name": "ingest", "flow": [{"post": {"url": "/v1/events", "json": {"type": "x"}}}]},
        ],
        "workers": 1,
        "thresholds": ["http.latency.p95 < 500ms", "http.error_rate < 1%"],
    }
    plan.update(overrides)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def surge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_passing_run_writes_reports_and_exits_0(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url)
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: PASS" in proc.stdout
    for name in ("report.json", "report.md", "report.html", "junit.xml", "results.json", "plan.yaml"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert report["totals"]["requests"] == 40
    assert demo_target.stats()["requests"] == 40
    assert [c["status"] for c in report["checks"]] == ["pass"] * 7  # 2 thresholds, 5 validity checks
    assert "| PASS |" in (out / "report.md").read_text()


def test_failing_threshold_exits_1(tmp_path: Path, demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=30.0)
    plan = write_plan(tmp_path, demo_target.url, thresholds=["http.latency.p95 < 10ms"])
    proc = surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] == "fail"
    assert report["checks"][0]["status"] == "fail"
    assert report["checks"][0]["measured"] >= 30


def test_bad_plan_exits_2_with_field_paths_and_sends_nothing(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "2s", "rate": 20, "rampTo": 50}]},
        thresholds=["http.latency.p95 < 5%"],
    )
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "load.phases[0].rampTo: unknown field" in proc.stderr
    assert demo_target.stats()["requests"] == 0
    assert not (tmp_path / "surge-runs").exists()


def test_unreachable_target_exits_2(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, "http://127.0.0.1:9")
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr


def test_target_override(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, "http://127.0.0.1:9")
    proc = surge("run", str(plan), "--target", demo_target.url, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert demo_target.stats()["requests"] == 40


def test_validate_and_init(tmp_path: Path) -> None:
    proc = surge("init", "starter.yaml", cwd=tmp_path)
    assert proc.returncode == 0
    proc = surge("validate", "starter.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "is valid" in proc.stdout
    assert surge("init", "starter.yaml", cwd=tmp_path).returncode == 2  # no silent overwrite


def test_abort_on_fail_stops_early(tmp_path: Path, demo_target: DemoTarget) -> None:
    demo_target.set_config(error_rate=0.5)
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "20s", "rate": 20}]},
        thresholds=[{"check": "http.error_rate < 5%", "abort_on_fail": True, "grace": "2s"}],
    )
    started = time.monotonic()
    proc = surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 15
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["partial"] is True
    assert report["aborted_by"] == "http.error_rate < 5%"
    assert report["verdict"] == "fail"


def test_ctrl_c_writes_a_partial_report(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url, load={"phases": [{"duration": "30s", "rate": 20}]})
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "surge.cli", "run", str(plan), "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is True
    assert 0 < report["totals"]["requests"] < 600
    assert report["duration_s"] < 10
    assert "Traceback" not in stderr


def test_report_rerenders_from_stored_histograms(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url)
    out = tmp_path / "out"
    assert surge("run", str(plan), "--out", str(out), cwd=tmp_path).returncode == 0
    strict = write_plan(tmp_path, demo_target.url, thresholds=["http.latency.p50 < 0.01ms"])
    proc = surge("report", str(out), "--plan", str(strict), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    assert report["checks"][0]["name"] == "http.latency.p50 < 0.01ms"
    assert report["totals"]["requests"] == 40


def test_report_rerenders_a_run_whose_plan_reads_a_data_file(tmp_path: Path, demo_target: DemoTarget) -> None:
    (tmp_path / "users.csv").write_text("user\nalice\nbob\n")
    plan = write_plan(
        tmp_path,
        demo_target.url,
        data={"file": "users.csv"},
        scenarios=[{"name": "browse", "flow": [{"get": "/api/gallery?search={{ user }}"}]}],
    )
    out = tmp_path / "out"
    assert surge("run", str(plan), "--out", str(out), cwd=tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = surge("report", str(out), cwd=elsewhere)  # the stored plan, re-validated from another folder
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_setup_and_teardown_are_reported_apart_and_a_failed_setup_sends_nothing(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    seed = {
        "post": {
            "url": "/v1/events",
            "json": {"type": "seed"},
            "capture": [{"json": "$.id", "as": "seed_id"}],
        }
    }
    plan = write_plan(
        tmp_path,
        demo_target.url,
        setup=[seed],
        teardown=[{"post": "/v1/inbox/{{ seed_id }}/ack"}],
        scenarios=[{"name": "read", "flow": [{"get": "/v1/inbox/{{ seed_id }}"}]}],
    )
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [f["name"] for f in report["flows"]] == ["setup", "teardown"]
    assert report["totals"]["requests"] == 40  # the load only
    assert "Setup and teardown" in (out / "report.html").read_text()
    assert "## Setup and teardown" in (out / "report.md").read_text()

    # A re-evaluation keeps every section of the original: the figures, and what ran around them.
    proc = surge("report", str(out), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert set(report) <= set(again), set(report) - set(again)
    assert again["flows"] == report["flows"]
    assert again["generator"]["notes"] == report["generator"]["notes"]
    assert "## Setup and teardown" in (tmp_path / "again" / "report.md").read_text()

    broken = write_plan(
        tmp_path, demo_target.url, setup=[{"get": {"url": "/api/mocs/nope", "expect": [{"status": 200}]}}]
    )
    before = demo_target.stats()["requests"]
    proc = surge("run", str(broken), "--out", str(tmp_path / "never"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "setup failed at GET /api/mocs/nope: http_4xx x1 (status 404); no load was sent" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert demo_target.stats()["requests"] == before + 1  # the setup's one request, no load
    assert not (tmp_path / "never").exists()


def test_a_failing_run_says_what_failed_with_secrets_masked(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        scenarios=[
            {
                "name": "lookup",
                "flow": [
                    {"get": {"url": "/api/mocs/nope?token={{ $env.SURGE_E2E_TOKEN }}", "name": "lookup"}}
                ],
            }
        ],
    )
    out = tmp_path / "out"
    env_token = "tok-5ecret-e2e-123"
    proc = subprocess.run(
        [sys.executable, "-m", "surge.cli", "run", str(plan), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SURGE_E2E_TOKEN": env_token},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "what failed" in proc.stdout and "lookup http_4xx x40: status 404" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    (group,) = report["failures"]
    assert group["endpoint"] == "lookup" and group["count"] == 40
    assert group["samples"][0]["request"].endswith("/api/mocs/nope?token=***")
    for name in ("report.json", "report.md", "report.html", "results.json"):
        assert env_token not in (out / name).read_text(), name
    assert "## Failures" in (out / "report.md").read_text()
    assert 'id="failures"' in (out / "report.html").read_text()


def test_debug_prints_the_first_exchanges_with_credentials_masked(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        scenarios=[
            {
                "name": "s",
                "flow": [
                    {
                        "post": {
                            "url": "/v1/events?key={{ $env.SURGE_E2E_KEY }}",
                            "headers": {"Authorization": "Bearer {{ $env.SURGE_E2E_KEY }}"},
                            "json": {"type": "debugged"},
                            "expect": [{"status": 200}],
                        }
                    }
                ],
            }
        ],
        workers=2,
    )
    key = "k3y-for-debug-only"
    proc = subprocess.run(
        [sys.executable, "-m", "surge.cli", "run", str(plan), "--out", str(tmp_path / "out"), "--debug", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SURGE_E2E_KEY": key},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 202 is not the 200 the plan expects
    shown = [line for line in proc.stderr.splitlines() if line.startswith("--- local-")]
    # The run's first two exchanges, no more, whichever worker sent them (two workers: one each).
    assert sorted(shown) == ["--- local-0 POST /v1/events", "--- local-1 POST /v1/events"], proc.stderr
    assert "> POST " in proc.stderr and "/v1/events?key=***" in proc.stderr
    assert "> Authorization: ***" in proc.stderr
    assert '"type": "debugged"' in proc.stderr and "< 202 in" in proc.stderr
    assert "[expect: status 202, expected 200]" in proc.stderr
    # The answer as the target sent it: its headers and body, the target's reason included.
    assert "< Content-Type: application/json" in proc.stderr and '"accepted_at"' in proc.stderr, proc.stderr
    assert key not in proc.stderr + proc.stdout


def test_the_load_from_the_command_line_is_what_runs_and_what_is_stored(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    plan = write_plan(tmp_path, demo_target.url)  # 2 s at 20/s as written
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--rate", "15", "-t", "3s", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the load from the command line: 15 arrivals/s, for 3s" in proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["requests"] == 45  # exactly what the flags asked, not the plan's 40
    stored = yaml.safe_load((out / "plan.yaml").read_text())
    assert [(p["duration"], p["rate"]) for p in stored["load"]["phases"]] == [(3.0, 15.0)]
    # Flags that cannot go together, or a value that is not one, stop before any traffic.
    before = demo_target.stats()["requests"]
    proc = surge("run", str(plan), "--users", "5", "--rate", "3", cwd=tmp_path)
    assert proc.returncode == 2 and "give one" in proc.stderr and "Traceback" not in proc.stderr
    proc = surge("run", str(plan), "--vus", "5", "--duration", "soon", cwd=tmp_path)
    assert proc.returncode == 2 and "--duration" in proc.stderr and "Traceback" not in proc.stderr
    proc = surge("validate", str(plan), "-u", "10", "-r", "2", "-t", "1m", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # One field of one phase (--set): by the phase's name; a phase that is not there is named.
    proc = surge("validate", str(plan), "--set", "load.phases[nope].rate=5", cwd=tmp_path)
    assert proc.returncode == 2 and "has no item [nope] (its items: steady)" in proc.stderr
    proc = surge("validate", str(plan), "--set", "load.phases[steady].rate=-5", cwd=tmp_path)
    assert proc.returncode == 2 and "load.phases[0].rate" in proc.stderr  # the plan's own check
    assert demo_target.stats()["requests"] == before
    out = tmp_path / "set"
    proc = surge("run", str(plan), "--set", "load.phases[steady].rate=12", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "set from the command line: load.phases[steady].rate=12" in proc.stderr
    assert json.loads((out / "report.json").read_text())["totals"]["requests"] == 24  # 2 s at 12/s
    assert yaml.safe_load((out / "plan.yaml").read_text())["load"]["phases"][0]["rate"] == 12
