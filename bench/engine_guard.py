"""The engine beside a pinned reference build, in the same minutes: a change that costs more than
a few percent per CPU-second shows at once.

    python bench/engine_guard.py                       # against REFERENCE, 3 alternating rounds
    python bench/engine_guard.py --ref 2cccf9a --rounds 5 --duration 5 --fail-below 0.95
    python bench/engine_guard.py --ref /tmp/pure --build /tmp/compiled   # two builds on disk
    python bench/engine_guard.py --via cli     # `surge run` as a user runs it, the whole CLI pinned

--via cli runs each build's `surge run` (CLI, live view, worker process, report) on a closed-model
plan, every process pinned to --gen-core, and counts the requests in its report.json.

The reference commit is exported once (git archive) to /tmp/surge-ref-<commit>; each round runs
the reference's engine, then this checkout's, against the same nginx (pinned to --target-core),
one worker pinned to --gen-core, closed model, GET / answered with 11 bytes. Requests per
CPU-second (the worker's own user + sys time) stay comparable when the machine is shared; the
ratio of the medians is printed, and with --fail-below the exit code is 1 below it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _lib

# The build the engine is held against: the last one whose figures are in bench/RESULTS.md.
REFERENCE = "43b3506"


def export(commit: str) -> Path:
    sha = subprocess.run(
        ["git", "-C", str(_lib.REPO), "rev-parse", "--short=12", commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = Path(f"/tmp/surge-ref-{sha}")
    if not (dest / "surge").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(_lib.REPO), "archive", sha], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def per_cpu_second(build: Path, url: str, args: argparse.Namespace) -> tuple[float, float]:
    """(requests/s, requests per CPU-second) of one run of ``build``'s engine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = _lib.run_surge(
        url,
        core=args.gen_core,
        duration_s=args.duration,
        users=args.connections,
        connections=args.connections,
        build=build,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return float(r["rps"]), float(r["requests"]) / cpu if cpu > 0 else 0.0


def per_cpu_second_cli(build: Path, url: str, args: argparse.Namespace) -> tuple[float, float]:
    """(requests/s, requests per CPU-second) of ``build``'s `surge run`, all of it on one core."""
    with tempfile.TemporaryDirectory(prefix="surge-guard-cli-") as d:
        plan = Path(d) / "plan.yaml"
        plan.write_text(
            json.dumps(
                {
                    "name": "guard-cli",
                    "target": url,
                    "workers": 1,
                    "load": {"phases": [{"duration": args.duration, "users": args.connections}]},
                    "scenarios": [{"name": "get", "flow": [{"get": "/"}]}],
                }
            )
        )
        out = Path(d) / "out"
        cmd = [sys.executable, "-m", "surge.cli", "run", str(plan), "--out", str(out)]
        cmd += ["--history", str(Path(d) / "h.sqlite")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = _lib.run(
            _lib.pinned(args.gen_core, cmd), timeout_s=args.duration + 90, env={"PYTHONPATH": str(build)}
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not (out / "report.json").is_file():
            raise RuntimeError(f"surge run failed ({proc.returncode}): {proc.stderr[-400:]}")
        totals = json.loads((out / "report.json").read_text())["totals"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return float(totals["throughput_rps"]), float(totals["requests"]) / cpu if cpu > 0 else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--ref", default=REFERENCE, help=f"the reference: a commit or a build's folder (default {REFERENCE})"
    )
    ap.add_argument("--build", type=Path, default=_lib.REPO, help="the build held against it (this checkout)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument(
        "--via", choices=("engine", "cli"), default="engine", help="the worker alone, or `surge run`"
    )
    ap.add_argument("--fail-below", type=float, help="exit 1 when this build / the reference is below it")
    args = ap.parse_args()
    ref = Path(args.ref) if Path(args.ref).is_dir() else export(args.ref)
    print(f"# {_lib.machine_note()}; reference {args.ref} in {ref}")
    figures: dict[str, list[float]] = {"reference": [], "this build": []}
    with _lib.nginx_target(args.target_core, tls=False) as target:
        for i in range(args.rounds):
            for name, build in (("reference", ref), ("this build", args.build)):
                measure = per_cpu_second_cli if args.via == "cli" else per_cpu_second
                rps, per_cpu = measure(build, target.http, args)
                figures[name].append(per_cpu)
                print(
                    f"round {i + 1} {name:<10}: {rps:10,.0f} req/s  {per_cpu:10,.0f} req per CPU-s",
                    flush=True,
                )
    ratios = [b / a for a, b in zip(figures["reference"], figures["this build"], strict=True) if a > 0]
    median = statistics.median(ratios) if ratios else 0.0
    print(
        f"\nthis build / {args.ref} per CPU-second: "
        + ", ".join(f"{r:.3f}" for r in ratios)
        + f" (median {median:.3f})"
    )
    if args.fail_below is not None and median < args.fail_below:
        print(f"below {args.fail_below:g}: the engine got slower than the reference")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
