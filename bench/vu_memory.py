"""Memory per virtual user: the run's resident memory with N users in the closed model.

    python bench/vu_memory.py                         # 10, 1,000 and 10,000 users, one worker
    python bench/vu_memory.py --users 10,1000 --workers 2

Each user asks nginx (pinned to core 1) for `/` and thinks 5 s (a realistic pace: 10,000 users make
2,000 requests/s), for --hold seconds after the last user started. The run's memory is the sum of
the resident set of `surge run` and its worker processes, sampled every 0.2 s; the figure per user
is the growth over the smallest run divided by the users added, so the interpreter, the modules
and the event loop every run pays once are not counted per user. (k6 documents ~2.7-3 MB per VU
for a small script.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
from _lib import nginx_target, pinned

SURGE = str(Path(sys.executable).parent / "surge")


def tree_rss(pid: int) -> int:
    """Resident bytes of the process and its children (the run's workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def measure(url: str, users: int, workers: int, hold_s: float, spawn_rate: float) -> tuple[int, int, str]:
    """(peak RSS bytes while every user was running, requests answered, verdict)."""
    ramp_s = max(users / spawn_rate, 1.0)
    with tempfile.TemporaryDirectory() as d:
        plan = Path(d) / "plan.yaml"
        plan.write_text(
            yaml.safe_dump(
                {
                    "name": "vu-memory",
                    "target": url,
                    "workers": workers,
                    "limits": {"max_users": max(users, 10)},
                    "load": {
                        "phases": [
                            {"name": "ramp", "duration": f"{ramp_s:g}s", "users": 1, "ramp_to": users},
                            {"name": "hold", "duration": f"{hold_s:g}s", "users": users},
                        ]
                    },
                    "scenarios": [{"name": "idle", "flow": [{"get": "/"}, {"think": "5s"}]}],
                    "validity": {"max_cpu": "100%", "max_loop_lag": "5s", "max_late": "100%"},
                }
            )
        )
        proc = subprocess.Popen(
            pinned(
                0,
                [SURGE, "run", str(plan), "--out", str(Path(d) / "out"), "--history", str(Path(d) / "h.db")],
            ),
            cwd=d,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak = 0
        started = time.monotonic()
        hold_from = started + ramp_s + 3.0  # start-up, then every user running
        while proc.poll() is None:
            if time.monotonic() >= hold_from:
                peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)
            if time.monotonic() - started > ramp_s + hold_s + 120:
                proc.kill()
                raise RuntimeError(f"the run with {users} users did not end")
        report = json.loads((Path(d) / "out" / "report.json").read_text())
        return peak, int(report["totals"]["requests"]), str(report["verdict"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="10,1000,10000")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--hold", type=float, default=12.0, help="seconds with every user running")
    parser.add_argument("--spawn-rate", type=float, default=2000.0, help="users started per second")
    args = parser.parse_args()
    counts = sorted(int(u) for u in args.users.split(","))
    rows = []
    with nginx_target(core=1, tls=False) as target:
        for users in counts:
            peak, requests, verdict = measure(target.http, users, args.workers, args.hold, args.spawn_rate)
            rows.append((users, peak, requests, verdict))
            print(
                f"{users:>7} users: peak RSS {peak / 2**20:8.1f} MiB  ({requests} requests, {verdict})",
                flush=True,
            )
    base_users, base_rss = rows[0][0], rows[0][1]
    print(f"\nper user, over the {base_users}-user run ({args.workers} worker(s), closed model, think 5 s):")
    for users, peak, _, _ in rows[1:]:
        per = (peak - base_rss) / (users - base_users)
        print(f"  {users:>7} users: {per / 1024:7.1f} KiB per user  (run total {peak / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
