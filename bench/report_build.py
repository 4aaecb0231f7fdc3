"""Report building: seconds to build a run's report (every endpoint's figures, intervals, phases,
checks with their 95 % intervals, findings) from merged results, as the CLI, `surge report` and
the cloud Report Lambda all do.

    python bench/report_build.py                            # 30 endpoints, 10 min, 2 workers
    python bench/report_build.py --endpoints 5 --minutes 1  # a quick look

Worker results are synthesized with surge's own Recorder (bench/aggregation.py's synth_worker:
lognormal latencies, 0.2 % errors) and merged once; only the build is timed, best of --repeat.
To compare builds, run each build's own copy (bench/_lib.py puts the checkout it is in first on
sys.path, whatever PYTHONPATH says): cd <build>/bench && PYTHONPATH=<build> python report_build.py
"""

from __future__ import annotations

import argparse
import time

from aggregation import synth_worker

from surge.plan_load import parse_plan
from surge.stats import merge_results


def build(plan: object, stats: object) -> object:
    try:  # this build: one report builder for every caller
        from surge.finish import build_report
        from surge.run_facts import RunFacts

        return build_report(plan, stats, RunFacts(run_id="bench"))  # type: ignore[arg-type]
    except ImportError:  # an older build, before surge.finish
        from surge.summary import build_report as old_build

        return old_build(plan, stats, run_id="bench")  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=100.0, help="requests/s per worker")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    stats = merge_results(
        synth_worker(w, args.minutes, args.endpoints, args.rate) for w in range(args.workers)
    )
    plan = parse_plan(
        {
            "name": "report-bench",
            "target": "http://127.0.0.1:8080",
            "load": {"phases": [{"name": "steady", "duration": f"{seconds}s", "rate": args.rate}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/api/endpoint-0"}]}],
            "thresholds": ["http.latency.p95 < 250ms", "http.error_rate < 1%", "http.latency.mean < 100ms"],
        }
    )
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        report = build(plan, stats)
        times.append(time.perf_counter() - t)
    assert isinstance(report, dict) and len(report["endpoints"]) == args.endpoints
    print(
        f"{args.endpoints} endpoints, {seconds} s, {args.workers} workers: "
        f"build {min(times):.2f} s (best of {args.repeat}; all {', '.join(f'{x:.2f}' for x in times)})"
    )


if __name__ == "__main__":
    main()
