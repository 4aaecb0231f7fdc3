"""The benchmark scripts still run: each for a second or two with tiny settings.

No figure is asserted (timings belong in bench/RESULTS.md, not in tests); only that every script
finishes, prints its table and that surge's own rows carry numbers. Peers that are not installed
(Locust, Artillery, autocannon) are reported as such by the scripts and skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"

needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("openssl") is None, reason="nginx and openssl are needed"
)


def run_script(name: str, *args: str, timeout: float = 240) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def table_rows(out: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


@pytest.mark.slow
@needs_nginx
def test_throughput_script() -> None:
    out = run_script("throughput.py", "--duration", "1", "--connections", "4")
    assert "## HTTP " in out and "## HTTPS " in out
    surge = table_rows(out, "surge")
    assert len(surge) == 2 and all(r[1] != "–" for r in surge), out
    assert len(table_rows(out, "surge-aiohttp")) == 2


@pytest.mark.slow
@needs_nginx
def test_fidelity_script() -> None:
    out = run_script(
        "fidelity.py", "--duration", "1", "--levels", "0.25", "--endpoints", "fixed", "--capacity", "400"
    )
    assert table_rows(out, "/fixed") or "echo module is missing" in out


@pytest.mark.slow
@needs_nginx
def test_rate_accuracy_script() -> None:
    out = run_script("rate_accuracy.py", "--rate", "50", "--phase-s", "1")
    rows = table_rows(out, "constant")
    assert rows and rows[-1][1] != "–"


@pytest.mark.slow
@needs_nginx
def test_capacity_script() -> None:
    out = run_script("capacity.py", "--duration", "1", "--start", "100", "--max-steps", "1", "--path", "/")
    assert len(table_rows(out, "fast")) == 2 and len(table_rows(out, "aiohttp")) == 2


@pytest.mark.slow
def test_aggregation_script() -> None:
    out = run_script(
        "aggregation.py", "--workers", "2,3", "--minutes", "0.05", "--endpoints", "2", "--rate", "20"
    )
    assert len(table_rows(out, "2")) == 2 and len(table_rows(out, "3")) == 2
    assert "merge check: identical" in out


@pytest.mark.slow
@needs_nginx
def test_profile_script() -> None:
    out = run_script("cpu_profile.py", "--duration", "1", "--top", "5")
    assert "self %" in out or "py-spy is not installed" in out


@pytest.mark.slow
@needs_nginx
def test_health_cpu_script() -> None:
    out = run_script("health_cpu.py", "--duration", "1", "--lead", "0.5", "--users", "4")
    assert "cpu_pct now" in out


@pytest.mark.slow
@needs_nginx
def test_engine_guard_script() -> None:
    # HEAD against itself: the export, both builds' runs and the ratio line.
    out = run_script(
        "engine_guard.py", "--ref", "HEAD", "--rounds", "1", "--duration", "1", "--connections", "4"
    )
    assert "round 1 reference" in out and "round 1 this build" in out
    assert "per CPU-second:" in out and "(median " in out


@pytest.mark.slow
@needs_nginx
def test_vu_memory_script() -> None:
    out = run_script("vu_memory.py", "--users", "5,40", "--hold", "1", "--spawn-rate", "100")
    assert "40 users: peak RSS" in out and "KiB per user" in out


@pytest.mark.slow
def test_report_build_pair_script() -> None:
    # HEAD against this checkout: both builds' times and memory, and their reports compared.
    out = run_script(
        "report_build_pair.py",
        "--ref",
        "HEAD",
        "--endpoints",
        "3",
        "--minutes",
        "0.5",
        "--rounds",
        "1",
        "--repeat",
        "1",
    )
    assert "round 1: ref " in out and "; build " in out and " MB" in out
    assert "reports: the same" in out
