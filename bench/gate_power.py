"""Gate power: does the regression rule stay quiet on identical runs and catch a slower target?

Runs `surge run` against the demo target as a pipeline runs it, each run judged against the one
before it. The runs alternate: R0, S0, R1, S1, ... R(n). Each R(i) is run against the unchanged
target with R(i-1) as its baseline (an identical pair); each S(i) restarts the target with its
latency and jitter made SLOWER times larger and is judged against R(i) (a slowed pair), recorded in
a copy of the history, as a pipeline's first slow run is. Every B is judged by two rules (the
README's `regression: {max_worse_pct: 5}`, and one on p99 alone: `surge report B --plan`).

Two plans: `quickstart` (examples/quickstart.yaml, the README's example, 30 s) with the earlier run
as the baseline; `migration` (examples/migration-validation.yaml with its 14 minutes scaled by
`--duration`) with the earlier run's figures exported as the story's ECS baseline file, mapped as
the example maps it (its requestRate compared with the phase that offered it).

    python bench/gate_power.py                               # 20 + 20 pairs (~25 min)
    python bench/gate_power.py --plan migration --duration 45s --pairs 10

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
PLANS = {
    "quickstart": ROOT / "examples" / "quickstart.yaml",
    "migration": ROOT / "examples" / "migration-validation.yaml",
}
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


def _plan(work: Path, kind: str, port: int, rule: str, baseline: dict[str, Any] | None) -> Path:
    """The plan as the pipeline runs it: against the local target, judged against ``baseline`` (the
    earlier run's report) by ``rule``: as a run id (quickstart) or as the ECS file (migration)."""
    data: dict[str, Any] = yaml.safe_load(PLANS[kind].read_text())
    data["target"] = f"http://127.0.0.1:{port}"
    data["name"] = f"gate-power-{kind}"
    data.pop("baseline", None)
    data.pop("regression", None)
    tag = "none"
    if baseline is not None:
        tag = baseline["run_id"]
        if kind == "migration":
            src: dict[str, Any] = yaml.safe_load(PLANS[kind].read_text())["baseline"]
            name = f"ecs-{tag}.json"
            (work / name).write_text(json.dumps(_ecs_figures(baseline)))
            data["baseline"] = {"file": name, "map": src["map"]}
        else:
            data["baseline"] = tag
        data["regression"] = RULES[rule]
    path = work / f"plan-{kind}-{rule}-{tag}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _ecs_figures(report: dict[str, Any]) -> dict[str, Any]:
    """An earlier run's figures in the story's ECS export format (what the old system measured)."""
    lat = report["latency_ms"]
    sustained = next(p for p in report["phases"] if p["name"] == "sustained")
    return {
        "testDate": report["started_at"][:10],
        "environment": f"run {report['run_id']}",
        "requestRate": sustained["throughput_rps"],
        "responseTime": {"median": lat["p50"], "p95": lat["p95"], "p99": lat["p99"]},
        "errorRate": report["totals"]["error_rate"] * 100.0,
        # Figures of services a local run cannot collect: their checks have no data either way.
        "cacheHitRate": 85,
        "s3Latency": {"p95": 180},
        "openSearchLatency": {"p95": 280},
        "databaseConnections": {"max": 50},
        "monthlyCost": {"total": 950},
    }


def _run(plan: Path, history: Path, out: Path, duration: str | None) -> dict[str, Any]:
    subprocess.run(
        [SURGE, "run", str(plan), "--history", str(history), "--out", str(out)]
        + ([] if duration is None else ["--duration", duration]),
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
    parser.add_argument("--plan", choices=sorted(PLANS), default="quickstart")
    parser.add_argument("--duration", help="the plan's length, its shape kept (surge run --duration)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gate-power-"))
    if args.plan == "migration":
        shutil.copytree(ROOT / "examples" / "fixtures", work / "fixtures")
    history = work / "history.sqlite"
    target = Target(_free_port())
    alarms = {rule: 0 for rule in RULES}
    caught = {rule: 0 for rule in RULES}
    seen: dict[str, list[float]] = {"http.latency.p95": [], "http.latency.p99": []}

    def judge(kind: str, i: int, a: dict[str, Any], b_dir: Path, b: dict[str, Any], b_history: Path) -> None:
        judged = {"readme": b}
        judged["p99"] = _reevaluate(
            b_dir,
            _plan(work, args.plan, target.port, "p99", a),
            b_history,
            b_dir.with_name(b_dir.name + "-p99"),
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

    try:
        earlier: dict[str, Any] | None = None
        for i in range(args.pairs + 1):
            target.start(1.0)
            r_dir = work / f"r{i}"
            r = _run(_plan(work, args.plan, target.port, "readme", earlier), history, r_dir, args.duration)
            if earlier is not None:
                judge("identical", i - 1, earlier, r_dir, r, history)
            earlier = r
            if i == args.pairs:
                break
            target.start(args.slower)
            s_dir = work / f"s{i}"
            s_history = work / f"s{i}-history.sqlite"
            shutil.copy(history, s_history)
            s = _run(_plan(work, args.plan, target.port, "readme", r), s_history, s_dir, args.duration)
            judge("slowed", i, r, s_dir, s, s_history)
    finally:
        target.stop()
    n = args.pairs
    length = f", --duration {args.duration}" if args.duration else ""
    print(f"\n{n} identical pairs, {n} pairs with the target {args.slower:g}x slower ({args.plan}{length})")
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
