"""Gate power: does the regression rule stay quiet on identical runs and catch a slower target?

Runs pairs of `surge run` against the demo target as a user runs them: run A, then run B with A as
its baseline. Identical pairs change nothing; slowed pairs restart the demo target with its latency
and jitter made SLOWER times larger for B. Each B is judged by two rules (the README's
`regression: {max_worse_pct: 5}`, and one on p99 alone), B's own judgement and a re-evaluation
(`surge report B --plan`) with the other rule. Runs of unchanged targets go to one history (the
noise the rule learns); a slowed B is recorded in a copy of it, as a pipeline's first slow run is.

    python bench/gate_power.py                       # 20 identical and 20 slowed pairs (~45 min)
    python bench/gate_power.py --pairs 5 --slower 1.2

Prints false alarms and detections per rule and the smallest change each B's checks could tell
from noise (median over pairs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "quickstart.yaml"
RULES = {
    "readme": {"max_worse_pct": 5},
    "p99": {"max_worse_pct": 5, "metrics": ["http.latency.p99"]},
}
SURGE = str(Path(sys.executable).parent / "surge")  # the console script beside this interpreter
LATENCY_MS, JITTER_MS = 8.0, 6.0  # what scripts/demo.sh starts the demo target with


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Target:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, factor: float) -> None:
        self.stop()
        self.proc = subprocess.Popen(
            [
                SURGE,
                "demo-target",
                "--port",
                str(self.port),
                "--latency-ms",
                f"{LATENCY_MS * factor:g}",
                "--jitter-ms",
                f"{JITTER_MS * factor:g}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the demo target did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def _plan(work: Path, port: int, rule: str, baseline: str | None) -> Path:
    data: dict[str, Any] = yaml.safe_load(PLAN.read_text())
    data["target"] = f"http://127.0.0.1:{port}"
    data["name"] = "gate-power"
    if baseline is not None:
        data["baseline"] = baseline
        data["regression"] = RULES[rule]
    path = work / f"plan-{rule}-{baseline or 'none'}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(plan: Path, history: Path, out: Path) -> dict[str, Any]:
    subprocess.run(
        [SURGE, "run", str(plan), "--history", str(history), "--out", str(out)],
        cwd=plan.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def _reevaluate(run_dir: Path, plan: Path, history: Path, out: Path) -> dict[str, Any]:
    subprocess.run(
        [
            SURGE,
            "report",
            str(run_dir),
            "--plan",
            str(plan),
            "--history",
            str(history),
            "--out",
            str(out),
        ],
        cwd=plan.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    found = sorted(out.rglob("report.json"))
    report: dict[str, Any] = json.loads(found[-1].read_text())
    return report


def _regressed(report: dict[str, Any]) -> bool:
    return any(c.get("kind") == "regression" and c["status"] == "fail" for c in report["checks"])


def _detectable(report: dict[str, Any], metric: str) -> float | None:
    for c in report["checks"]:
        if c.get("kind") == "regression" and c["metric"] == metric:
            value = c.get("detectable_pct")
            return None if value is None else float(value)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--slower", type=float, default=1.2, help="B's latency factor in slowed pairs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gate-power-"))
    history = work / "history.sqlite"
    target = Target(_free_port())
    alarms = {rule: 0 for rule in RULES}
    caught = {rule: 0 for rule in RULES}
    seen: dict[str, list[float]] = {"http.latency.p95": [], "http.latency.p99": []}
    try:
        for kind, factor in (("identical", 1.0), ("slowed", args.slower)):
            for i in range(args.pairs):
                target.start(1.0)
                a = _run(_plan(work, target.port, "readme", None), history, work / f"{kind}-{i}-a")
                target.start(factor)
                b_history = history
                if kind == "slowed":
                    b_history = work / f"{kind}-{i}-history.sqlite"
                    shutil.copy(history, b_history)
                readme = _plan(work, target.port, "readme", a["run_id"])
                b = _run(readme, b_history, work / f"{kind}-{i}-b")
                judged = {"readme": b}
                judged["p99"] = _reevaluate(
                    work / f"{kind}-{i}-b",
                    _plan(work, target.port, "p99", a["run_id"]),
                    b_history,
                    work / f"{kind}-{i}-b-p99",
                )
                for rule, report in judged.items():
                    hit = _regressed(report)
                    if kind == "identical":
                        alarms[rule] += hit
                    else:
                        caught[rule] += hit
                for metric in seen:
                    d = _detectable(b, metric)
                    if d is not None:
                        seen[metric].append(d)
                p95 = (b["latency_ms"]["p95"] or 0) / max(a["latency_ms"]["p95"] or 1e-9, 1e-9) - 1
                print(
                    f"{kind} pair {i + 1}: p95 {a['latency_ms']['p95']} -> {b['latency_ms']['p95']} ms "
                    f"({p95:+.1%}); regression: "
                    + ", ".join(f"{r} {'FAIL' if _regressed(rep) else 'pass'}" for r, rep in judged.items()),
                    flush=True,
                )
    finally:
        target.stop()
    n = args.pairs
    print(
        f"\n{n} identical pairs, {n} pairs with the target {args.slower:g}x slower (quickstart.yaml, 30 s runs)"
    )
    for rule in RULES:
        print(f"  rule {rule:<6}: false alarms {alarms[rule]} of {n}; detected {caught[rule]} of {n}")
    for metric, values in seen.items():
        if values:
            print(
                f"  {metric}: the checks could tell a change of {statistics.median(values):.1f}% (median over pairs)"
            )
    print(f"(runs kept in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
