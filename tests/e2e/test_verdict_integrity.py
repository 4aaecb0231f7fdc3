"""A verdict a pipeline can gate on: runs that proved nothing fail, and no result is ever lost.

Each test is a case that passed (or lost its results) before validity checks existed, run as a
user runs it: `surge run` in its own process against a real target on loopback, with real signals.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from surge.demo_target import DemoConfig, DemoTarget, running_demo_target

pytestmark = pytest.mark.slow


def write_plan(tmp_path: Path, target: str, file: str = "plan.yaml", **overrides: Any) -> Path:
    plan: dict[str, Any] = {
        "name": "integrity",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 20}]},
        "scenarios": [{"name": "browse", "flow": [{"get": "/api/mocs"}]}],
        "workers": 1,
        "thresholds": ["http.latency.p95 < 5s"],
    }
    plan.update(overrides)
    path = tmp_path / file
    path.write_text(yaml.safe_dump(plan))
    return path


def surge(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start_surge(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "surge.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def worker_processes(pid: int) -> list[psutil.Process]:
    """The run's load-generator processes (spawned workers, not the resource tracker)."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_for_workers(pid: int, n: int, timeout: float = 30) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = worker_processes(pid)
        if len(procs) >= n:
            return procs
        time.sleep(0.1)
    raise AssertionError(f"{n} workers did not start")


def wait_for_requests(target: DemoTarget, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while target.stats()["requests"] < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"the target did not receive {at_least} requests")
        time.sleep(0.05)


def report_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    return data


def checks_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def validity(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"].startswith("validity: " + prefix)]
    assert found, [c["name"] for c in report["checks"]]
    return found[0]


def test_a_passing_run_carries_every_validity_check(tmp_path: Path, demo_target: DemoTarget) -> None:
    out = tmp_path / "out"
    proc = surge("run", str(write_plan(tmp_path, demo_target.url)), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = report_of(out)
    kinds = [c.get("kind") for c in report["checks"]]
    assert kinds == ["threshold"] + ["validity"] * 5
    assert all(c["status"] == "pass" for c in report["checks"])
    junit = (out / "junit.xml").read_text()
    assert "validity: every worker reported" in junit
    assert "validity: every worker reported" in (out / "report.md").read_text()


def test_a_lost_worker_fails_the_run(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url, workers=2, load={"phases": [{"duration": "9s", "rate": 30}]})
    out = tmp_path / "out"
    proc = start_surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    workers = wait_for_workers(proc.pid, 2)
    wait_for_requests(demo_target, 90)  # ~3 s into the load
    workers[0].kill()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    report = report_of(out)
    check = validity(report, "every worker reported")
    assert check["status"] == "fail"
    assert "killed by signal 9" in check["detail"]
    assert "of the planned iterations are in no figure" in check["detail"]
    assert report["verdict"] == "fail"
    # What the lost worker streamed before it died is kept: more than the survivor's half.
    assert report["totals"]["requests"] > 135 + 20
    assert "validity: every worker reported" in stdout


def test_a_saturated_generator_fails_the_run(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "2s", "rate": 50000}]},
        limits={"max_rate": 100000},
        defaults={"timeout": "1s"},
        thresholds=["http.throughput > 100/s", "http.latency.p95 < 10s"],
    )
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = report_of(out)
    failed = [c["name"] for c in report["checks"] if c.get("kind") == "validity" and c["status"] == "fail"]
    assert any("planned iterations dropped" in n or "kept up" in n for n in failed), failed
    dropped = validity(report, "at most 1% of the planned iterations dropped")
    if dropped["status"] == "fail":
        assert "understate" in dropped["detail"]


def test_every_request_timing_out_is_no_pass(tmp_path: Path, demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=30000.0)
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "2s", "rate": 5}]},
        defaults={"timeout": "1s"},
        thresholds=["http.latency.p95 < 5s"],
    )
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = report_of(out)
    p95 = checks_by_name(report)["http.latency.p95 < 5s"]
    assert p95["status"] == "fail"
    assert p95["at_least"] is True and p95["measured"] >= 1000
    assert "p95" in report["latency_ms"]["at_least"]
    assert validity(report, "something was measured")["status"] == "fail"
    assert "≥" in (out / "report.md").read_text()
    assert ">= " in proc.stdout


def test_no_thresholds_and_only_errors_fails(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path,
        demo_target.url,
        scenarios=[{"name": "x", "flow": [{"get": "/no/such/path"}]}],
        thresholds=[],
    )
    out = tmp_path / "out"
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "can fail only for validity" in proc.stderr
    check = validity(report_of(out), "something was measured")
    assert check["status"] == "fail"
    assert "http_4xx" in check["detail"]
    validated = surge("validate", str(plan), cwd=tmp_path)
    assert validated.returncode == 0 and "can fail only for validity" in validated.stderr


def test_a_foreign_baseline_is_refused_with_a_suggestion(tmp_path: Path, demo_target: DemoTarget) -> None:
    (tmp_path / "old.json").write_text(json.dumps({"requestRate": 166.67, "p95": 450, "errorRate": 0.5}))
    plan = write_plan(
        tmp_path, demo_target.url, baseline={"file": "old.json"}, regression={"max_worse_pct": 5}
    )
    for command in ("validate", "run"):
        proc = surge(command, str(plan), cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert "p95: names no metric" in proc.stderr
        assert "did you mean http.latency.p95?" in proc.stderr
        assert "did you mean http.throughput?" in proc.stderr
        assert "did you mean http.error_rate?" in proc.stderr
    assert demo_target.stats()["requests"] == 0


def test_a_regression_rule_that_checks_nothing_is_refused(tmp_path: Path, demo_target: DemoTarget) -> None:
    (tmp_path / "old.json").write_text(json.dumps({"cost.monthly_usd": 950}))
    plan = write_plan(
        tmp_path, demo_target.url, baseline={"file": "old.json"}, regression={"max_worse_pct": 5}
    )
    proc = surge("run", str(plan), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "it would check nothing" in proc.stderr
    assert demo_target.stats()["requests"] == 0


def test_sigterm_before_the_load_started_exits_promptly(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path, demo_target.url, workers=2, load={"phases": [{"duration": "30s", "rate": 20}]}
    )
    proc = start_surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    while banner and "running 'integrity'" not in banner:
        banner = proc.stderr.readline()
    os.kill(proc.pid, signal.SIGTERM)  # while the workers start: before the load
    t = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t < 15, stderr
    # Stopped before the load (exit 2, nothing sent), or just after it began (143, results kept).
    assert proc.returncode in (2, 143), stderr
    if proc.returncode == 2:
        assert "before the load started; nothing was sent" in stderr
        assert not (tmp_path / "out").exists()  # the folder it claimed is given back


def test_sigterm_during_a_hanging_setup_stops_at_once(tmp_path: Path, demo_target: DemoTarget) -> None:
    demo_target.set_config(slow_path="/api/wishlist", slow_ms=20_000.0)
    plan = write_plan(tmp_path, demo_target.url, setup=[{"get": "/api/wishlist"}])
    proc = start_surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    wait_for_requests(demo_target, 1)  # setup's request is in flight, hanging
    os.kill(proc.pid, signal.SIGTERM)
    t = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t < 5, stderr
    assert proc.returncode == 2, stderr
    assert "during setup, before the load started; nothing was sent" in stderr
    assert not (tmp_path / "out").exists()


def test_a_second_sigterm_cuts_a_hanging_teardown(tmp_path: Path, demo_target: DemoTarget) -> None:
    demo_target.set_config(slow_path="/api/wishlist", slow_ms=20_000.0)
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "30s", "rate": 20}]},
        teardown=[{"get": "/api/wishlist"}],
    )
    out = tmp_path / "out"
    proc = start_surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    wait_for_requests(demo_target, 20)
    os.kill(proc.pid, signal.SIGTERM)  # ends the load; teardown starts and hangs
    deadline = time.monotonic() + 20
    while "GET /api/wishlist" not in demo_target.stats()["by_route"] and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)  # the second one cuts it
    t = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t < 5, stderr
    assert proc.returncode == 143, stderr
    assert report_of(out)["end"]["stopped_by"] == "SIGTERM"  # the results were kept


def test_sigterm_keeps_the_results_and_stops_the_load(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path, demo_target.url, workers=2, load={"phases": [{"duration": "30s", "rate": 20}]}
    )
    out = tmp_path / "out"
    proc = start_surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    wait_for_requests(demo_target, 40)
    os.kill(proc.pid, signal.SIGTERM)  # the parent only, as `timeout` does
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stdout + stderr
    after = demo_target.stats()["requests"]
    time.sleep(3)
    assert demo_target.stats()["requests"] == after, "load went on after the run stopped"
    report = report_of(out)
    assert report["partial"] is True and report["end"]["stopped_by"] == "SIGTERM"
    assert validity(report, "the whole plan ran")["status"] == "fail"
    assert report["totals"]["requests"] >= 40
    assert (out / "results.json").is_file()
    with sqlite3.connect(tmp_path / "surge-runs" / "history.sqlite") as db:
        rows = db.execute("SELECT run_id, partial FROM runs").fetchall()
    assert rows == [(report["run_id"], 1)]
    assert "Traceback" not in stderr


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path, demo_target.url, workers=2, load={"phases": [{"duration": "30s", "rate": 20}]}
    )
    proc = start_surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    workers = wait_for_workers(proc.pid, 2)
    wait_for_requests(demo_target, 40)
    proc.kill()
    proc.communicate(timeout=10)
    _gone, alive = psutil.wait_procs(workers, timeout=2.5)
    assert not alive, "workers outlived their parent"
    after = demo_target.stats()["requests"]
    time.sleep(3)
    assert demo_target.stats()["requests"] == after


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_unwritable_out_folder_is_refused_before_any_traffic(
    tmp_path: Path, demo_target: DemoTarget, where: str
) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "out" if where == "file" else Path("/proc/surge-out")
    proc = surge("run", str(write_plan(tmp_path, demo_target.url)), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot write the run's results" in proc.stderr and str(out) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert demo_target.stats()["requests"] == 0


def test_an_out_folder_holding_a_run_is_never_overwritten(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url)
    out = tmp_path / "out"
    assert surge("run", str(plan), "--out", str(out), cwd=tmp_path).returncode == 0
    before = (out / "report.json").read_bytes()
    demo_target.reset_stats()
    proc = surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2 and "never overwrites a run" in proc.stderr
    assert (out / "report.json").read_bytes() == before
    assert demo_target.stats()["requests"] == 0


def test_two_runs_started_at_once_with_one_out_folder_never_share_it(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    plan = write_plan(tmp_path, demo_target.url)
    out = tmp_path / "out"
    history = tmp_path / "history.sqlite"
    procs = [
        start_surge("run", str(plan), "--out", str(out), "--history", str(history), cwd=tmp_path)
        for _ in range(2)
    ]
    results = [(p.wait(120), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, (_, err) in results if code == 2)
    assert "taken by another run" in refused or "never overwrites a run" in refused
    # One run, whole, in the folder; one history row points at it.
    report = json.loads((out / "report.json").read_text())
    rows = sqlite3.connect(history).execute("SELECT run_id FROM runs").fetchall()
    assert rows == [(report["run_id"],)]


def test_a_run_with_hooks_is_reevaluated_from_anywhere(tmp_path: Path, demo_target: DemoTarget) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "hooks.py").write_text("def tag():\n    return 'x'\n")
    plan = write_plan(
        tmp_path / "plans",
        demo_target.url,
        hooks="hooks.py",
        scenarios=[{"name": "browse", "flow": [{"get": "/api/mocs?t={{ tag() }}"}]}],
    )
    out = tmp_path / "out"
    assert surge("run", str(plan), "--out", str(out), cwd=tmp_path).returncode == 0
    proc = surge("report", str(out), cwd=tmp_path / "plans")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cannot read" not in proc.stderr


@pytest.fixture(scope="module")
def two_stored_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two real runs in one history, made once for the damage cases (each damages its own copy)."""
    root = tmp_path_factory.mktemp("stored")
    with running_demo_target(DemoConfig(latency_ms=1.0, seed=7)) as target:
        plan = write_plan(root, target.url)
        history = str(root / "h.sqlite")
        for name in ("out", "other"):
            proc = surge("run", str(plan), "--out", str(root / name), "--history", history, cwd=root)
            assert proc.returncode == 0, proc.stderr
    yield root


@pytest.mark.parametrize(
    ("file", "damage", "said"),
    [
        ("results.json", lambda text: text[: len(text) // 2], "results.json is damaged (not JSON"),
        (
            "results.json",
            lambda text: json.dumps({**json.loads(text), "intervals": []}),
            "intervals should be a JSON object",
        ),
        ("results.json", lambda text: text.replace('"rt": "', '"rt": "x!', 1), "holds a damaged run"),
        ("report.json", lambda text: "\x00\xff garbage", "report.json is damaged"),
        ("report.json", lambda text: json.dumps([1, 2]), "report.json is damaged (the file is a list"),
    ],
)
def test_a_damaged_stored_run_is_named_never_a_traceback(
    tmp_path: Path, two_stored_runs: Path, file: str, damage: Any, said: str
) -> None:
    out, other = tmp_path / "out", two_stored_runs / "other"
    shutil.copytree(two_stored_runs / "out", out)
    history = str(tmp_path / "h.sqlite")
    shutil.copy(two_stored_runs / "h.sqlite", history)
    path = out / file
    path.write_text(damage(path.read_text()))
    proc = surge("report", str(out), "--history", history, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "reevaluations").exists() or not any((out / "reevaluations").iterdir())
    # The history and the other runs stay usable: compare reads what it can.
    ids = [json.loads((d / "report.json").read_text())["run_id"] for d in (other,)]
    proc = surge(
        "compare", ids[0], str(out), "--history", history, "--out", str(tmp_path / "c.html"), cwd=tmp_path
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert surge("runs", "--history", history, cwd=tmp_path).returncode == 0


def test_an_unwritable_history_is_refused_before_any_traffic(tmp_path: Path, demo_target: DemoTarget) -> None:
    (tmp_path / "a-file").write_text("")
    history = tmp_path / "a-file" / "history.sqlite"  # cannot be created, whoever runs the test
    plan = write_plan(tmp_path, demo_target.url)
    proc = surge("run", str(plan), "--history", str(history), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "run history" in proc.stderr and "Traceback" not in proc.stderr
    assert demo_target.stats()["requests"] == 0


def test_a_reevaluation_never_changes_the_run(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(tmp_path, demo_target.url)
    out = tmp_path / "out"
    assert surge("run", str(plan), "--out", str(out), cwd=tmp_path).returncode == 0
    originals = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    db = tmp_path / "surge-runs" / "history.sqlite"
    with sqlite3.connect(db) as conn:
        history = conn.execute("SELECT * FROM runs").fetchall()

    strict = write_plan(
        tmp_path, demo_target.url, file="strict.yaml", thresholds=["http.latency.p50 < 0.01ms"]
    )
    proc = surge("report", str(out), "--plan", str(strict), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == originals
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM runs").fetchall() == history
    (reeval,) = (out / "reevaluations").iterdir()
    report = report_of(reeval)
    assert report["reevaluation"]["of_run"] == report["run_id"]
    assert report["reevaluation"]["original_verdict"] == "pass"
    assert report["checks"][0]["name"] == "http.latency.p50 < 0.01ms"
    assert "Re-evaluation of run" in (reeval / "report.md").read_text()

    elsewhere = tmp_path / "elsewhere"
    proc = surge("report", str(out), "--plan", str(strict), "--out", str(elsewhere), cwd=tmp_path)
    assert proc.returncode == 1 and (elsewhere / "report.html").is_file()

    other = write_plan(tmp_path, demo_target.url, file="other.yaml", name="another-plan")
    proc = surge("report", str(out), "--plan", str(other), cwd=tmp_path)
    assert proc.returncode == 2 and "--other-plan" in proc.stderr
    proc = surge(
        "report", str(out), "--plan", str(other), "--other-plan", "--out", str(tmp_path / "o2"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM runs").fetchall() == history


def test_ctrl_c_with_hanging_requests_stops_fast_and_counts_them(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    demo_target.set_config(latency_ms=60000.0)
    plan = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "30s", "rate": 25}]},
        defaults={"timeout": "60s"},
    )
    out = tmp_path / "out"
    proc = start_surge("run", str(plan), "--out", str(out), cwd=tmp_path)
    wait_for_requests(demo_target, 50)
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    stdout, stderr = proc.communicate(timeout=30)
    took = time.monotonic() - started
    assert proc.returncode == 130, stdout + stderr
    assert took < 5, f"the stop took {took:.1f} s"
    report = report_of(out)
    assert report["errors_by_class"].get("interrupted", 0) >= 50
    assert report["totals"]["requests"] >= 50


def test_an_absurd_rate_is_refused_and_a_huge_one_still_ends(tmp_path: Path, demo_target: DemoTarget) -> None:
    absurd = write_plan(
        tmp_path,
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 1e9}]},
        limits={"max_rate": float("inf")},
    )
    proc = surge("validate", str(absurd), cwd=tmp_path)
    assert proc.returncode == 2 and "no generator fleet schedules" in proc.stderr
    huge = write_plan(
        tmp_path,
        demo_target.url,
        file="huge.yaml",
        load={"phases": [{"duration": "1s", "rate": 5e6}], "max_in_flight": 20},
        limits={"max_rate": 1e7},
        defaults={"timeout": "1s"},
    )
    out = tmp_path / "out"
    started = time.monotonic()
    proc = surge("run", str(huge), "--out", str(out), cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 45
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = report_of(out)
    assert report["totals"]["dropped_iterations"] > 1_000_000
    assert validity(report, "at most 1% of the planned iterations dropped")["status"] == "fail"


def test_the_live_line_shows_the_real_rate(tmp_path: Path, demo_target: DemoTarget) -> None:
    plan = write_plan(
        tmp_path, demo_target.url, workers=2, load={"phases": [{"duration": "7s", "rate": 100}]}
    )
    proc = surge("run", str(plan), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "req/s" in line]
    assert lines, proc.stderr
    rates = [float(line.split("req/s")[0].split()[-1]) for line in lines]
    # Every interval shown holds both workers' parts: never about half the rate.
    assert all(80 <= r <= 120 for r in rates), lines
