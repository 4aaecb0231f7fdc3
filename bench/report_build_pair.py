"""Report building of two builds side by side: seconds, memory, and whether they build one report.

    python bench/report_build_pair.py --ref ee6cb48                  # this checkout against a commit
    python bench/report_build_pair.py --ref ee6cb48 --endpoints 60 --minutes 5 --rounds 3

Each build runs in its own process with only its own checkout on sys.path (the reference is
exported once with git archive, as bench/engine_guard.py does), on the same synthesized results
(its own bench/aggregation.py's synth_worker: seeded lognormal latencies, 0.2 % errors), merged
once and built --repeat times: the best time, and the peak of what the build allocates (tracemalloc,
one more build). The builds alternate for --rounds. Their report.json are compared key by key,
the version keys aside; keys only one build writes are listed, not failed (a schema may add some).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Two phases and checks that read means and percentiles of the run, of service time and of a phase:
# every kind of scope a report reads, with its intervals.
PLAN_CHECKS = [
    "http.latency.p95 < 250ms",
    "http.error_rate < 1%",
    "http.latency.mean < 100ms",
    "http.service_time.mean < 100ms",
    "http.throughput > 10/s",
    'phase["b"].latency.p90 < 100ms',
]


def _one(root: Path, endpoints: int, minutes: float, repeat: int, out: Path) -> None:
    """In the child process: build ``root``'s report, print {"best": s, "peak_mb": MB}."""
    root = root.resolve()
    sys.path[:0] = [str(root), str(root / "bench")]
    import importlib.util
    import time
    import tracemalloc

    from aggregation import synth_worker  # type: ignore[import-not-found]

    import surge
    from surge.stats import merge_results

    def ours(module: str) -> bool:
        """The build has this module (an installed surge must not stand in for a missing one)."""
        spec = importlib.util.find_spec(module)
        return spec is not None and spec.origin is not None and Path(spec.origin).is_relative_to(root)

    assert Path(surge.__file__).resolve().is_relative_to(root), surge.__file__
    if ours("surge.plan_load"):
        from surge.plan_load import parse_plan
    else:  # a build before plan.py was split
        from surge.plan import parse_plan  # type: ignore[attr-defined,no-redef]
    if ours("surge.finish"):
        from surge.finish import build_report
        from surge.run_facts import RunFacts

        def build() -> dict[str, object]:
            return dict(build_report(plan, stats, RunFacts(run_id="bench")))
    else:  # a build before surge.finish
        from surge.summary import build_report as old_build

        def build() -> dict[str, object]:
            return dict(old_build(plan, stats, run_id="bench"))  # type: ignore[call-arg]

    half = f"{int(minutes * 30)}s"
    stats = merge_results(synth_worker(w, minutes, endpoints, 100.0) for w in range(2))
    plan = parse_plan(
        {
            "name": "report-bench",
            "target": "http://127.0.0.1:8080",
            "load": {
                "phases": [
                    {"name": "a", "duration": half, "rate": 100},
                    {"name": "b", "duration": half, "rate": 100},
                ]
            },
            "scenarios": [{"name": "s", "flow": [{"get": "/api/endpoint-0"}]}],
            "thresholds": PLAN_CHECKS,
        }
    )
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        report = build()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    build()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for key in ("surge_version", "schema_version"):
        report.pop(key, None)
    out.write_text(json.dumps(report, sort_keys=True, indent=1))
    print(json.dumps({"best": min(times), "peak_mb": peak / 2**20}))


def _differences(a: object, b: object, where: str = "") -> tuple[list[str], list[str]]:
    """(values that differ, keys only one side has), by path."""
    if isinstance(a, dict) and isinstance(b, dict):
        differ: list[str] = []
        one_side = [f"{where}.{k}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            d, o = _differences(a[k], b[k], f"{where}.{k}")
            differ += d
            one_side += o
        return differ, one_side
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        differ, one_side = [], []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d, o = _differences(x, y, f"{where}[{i}]")
            differ += d
            one_side += o
        return differ, one_side
    return ([] if a == b else [where or "."]), []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", help="a commit, or a build's folder (required)")
    ap.add_argument("--build", default=str(HERE.parent), help="the build beside it (this checkout)")
    ap.add_argument("--endpoints", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child: build this root's report
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(Path(args.one), args.endpoints, args.minutes, args.repeat, Path(args.out))
        return
    if not args.ref:
        ap.error("--ref is required: a commit, or a build's folder")
    sys.path.insert(0, str(HERE))
    from engine_guard import export

    ref = Path(args.ref) if Path(args.ref).is_dir() else export(args.ref)
    builds = {"ref": ref, "build": Path(args.build)}
    print(
        f"ref {ref}, build {builds['build']}: {args.endpoints} endpoints x {args.minutes:g} min x 2 workers"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(1, args.rounds + 1):
            line = []
            for name, root in builds.items():
                out = Path(tmp) / f"{name}.json"
                done = subprocess.run(
                    [sys.executable, __file__, "--one", str(root), "--out", str(out),
                     "--endpoints", str(args.endpoints), "--minutes", str(args.minutes),
                     "--repeat", str(args.repeat)],
                    capture_output=True, text=True, check=True, cwd=tmp,
                )  # fmt: skip
                got = json.loads(done.stdout.strip().splitlines()[-1])
                line.append(f"{name} {got['best']:.3f} s, peak {got['peak_mb']:.0f} MB")
            print(f"round {r}: " + "; ".join(line))
        differ, one_side = _differences(
            json.loads((Path(tmp) / "ref.json").read_text()),
            json.loads((Path(tmp) / "build.json").read_text()),
        )
    print(
        "reports: " + ("the same" if not differ else f"{len(differ)} values differ: {', '.join(differ[:8])}")
    )
    if one_side:
        print(
            f"keys only one build writes: {', '.join(one_side[:8])}" + (" ..." if len(one_side) > 8 else "")
        )
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
