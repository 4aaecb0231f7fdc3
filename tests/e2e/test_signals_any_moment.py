"""A stop at any moment of a run's life: start-up, setup, the load (with or without a hook that
blocks its worker), teardown, writing the report.
Whenever SIGTERM, SIGINT or SIGHUP (once or twice) arrives, `surge run` ends within seconds with the
code the README documents, never a traceback; what it leaves is a whole run (report and results,
readable) or nothing at all; and no worker outlives it.

The moments are generated (hypothesis, derandomized in CI: SURGE_SIGNAL_EXAMPLES=N explores N new
ones), the run is a real process against the demo target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.demo_target import DemoConfig, DemoTarget, running_demo_target
from surge.store.local import read_report, read_results

pytestmark = pytest.mark.slow

EXIT_FOR = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
STOPPED_BY = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
EXPLORE = os.environ.get("SURGE_SIGNAL_EXAMPLES")
# The README: "a stopped run stops its workers within a few seconds"; a busy CI machine gets room.
STOPS_WITHIN_S = 15.0
# The load's requests (setup and teardown ask other routes): what a stop before the load never sends.
LOAD_ROUTE = "GET /api/gallery"


@pytest.fixture(scope="module")
def target() -> DemoTarget:
    with running_demo_target(DemoConfig(latency_ms=2.0, seed=11)) as found:
        yield found


# A hook that blocks its worker (user code may): before each of the load's requests, 1.5 s asleep.
BLOCKING_HOOK = "import time\n\n\ndef slow(request):\n    time.sleep(1.5)\n"


def _plan(folder: Path, url: str, blocking_hook: bool) -> Path:
    request: dict[str, object] = {"url": LOAD_ROUTE.split()[1]}
    plan: dict[str, object] = {
        "name": "stops",
        "target": url,
        "workers": 2,
        "setup": [{"get": "/api/mocs"}],
        "teardown": [{"get": "/api/wishlist"}],
        "load": {"phases": [{"name": "steady", "duration": "3s", "rate": 2 if blocking_hook else 20}]},
        "scenarios": [{"name": "browse", "flow": [{"get": request}]}],
        "thresholds": ["http.latency.p95 < 5s"],
    }
    if blocking_hook:
        (folder / "hooks.py").write_text(BLOCKING_HOOK)
        plan["hooks"] = "hooks.py"
        request["before"] = "slow"
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def _session_left(sid: int) -> list[psutil.Process]:
    left = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return left


@settings(
    max_examples=int(EXPLORE or 6),
    deadline=None,
    derandomize=EXPLORE is None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    at=st.floats(0.0, 7.0),
    sig=st.sampled_from(sorted(EXIT_FOR)),
    again=st.one_of(st.none(), st.floats(0.0, 1.5)),
    blocking_hook=st.booleans(),
)
def test_a_stop_at_any_moment_ends_the_run_whole_or_leaves_nothing(
    target: DemoTarget,
    tmp_path_factory: pytest.TempPathFactory,
    at: float,
    sig: signal.Signals,
    again: float | None,
    blocking_hook: bool,
) -> None:
    folder = tmp_path_factory.mktemp("stop")
    plan = _plan(folder, target.url, blocking_hook)
    out = folder / "out"
    load_before = target.stats()["by_route"].get(LOAD_ROUTE, 0)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "surge.cli",
            "run",
            str(plan),
            "--out",
            str(out),
            "--history",
            str(folder / "h.sqlite"),
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(at)
        sent = proc.poll() is None
        if sent:
            os.kill(proc.pid, sig)
            if again is not None:
                time.sleep(again)
                if proc.poll() is None:
                    os.kill(proc.pid, sig)
        t = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    said = (
        f"signal {sig.name} at {at:.2f}s (again {again}, blocking hook {blocking_hook}): "
        f"exit {proc.returncode} after {took:.1f}s\n{stderr}"
    )
    assert "Traceback" not in stderr and "Traceback" not in stdout, said
    assert took < STOPS_WITHIN_S, said
    # Killed by the signal itself (before the interpreter ran surge's code): the shell sees the
    # same 128+N.
    codes = {0, 1, 2, EXIT_FOR[sig], -sig} if sent else {0, 1}
    assert proc.returncode in codes, said
    if not out.exists():
        # Stopped before the load: no run folder (the claimed one given back), no load sent.
        assert proc.returncode in (2, EXIT_FOR[sig], -sig), said
        assert target.stats()["by_route"].get(LOAD_ROUTE, 0) == load_before, said
        if proc.returncode == 2:
            assert "nothing was sent" in stderr, said
    else:
        # A run that got to its load leaves a whole run: a report and the results behind it.
        assert proc.returncode != 2, said
        report = read_report(out)
        read_results(out)
        if proc.returncode == EXIT_FOR[sig]:
            assert report["end"]["stopped_by"] == STOPPED_BY[sig] or not report["partial"], said
    deadline = time.monotonic() + 5.0  # "within a few seconds"; a starved machine gets them
    while _session_left(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session_left(proc.pid), said  # no worker outlives the run
