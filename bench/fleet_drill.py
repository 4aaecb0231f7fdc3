"""The 1000-shard fleet drills (issue 24): a segment of N Lambda workers through the real state
machine, handlers and cloud workers, every AWS call held to AWS's documented request rates
(tests/aws_quotas.py), against the demo target in its own process; then the same with a stop, an
abort-on-fail breach and a tenth of the fleet crashing.

    python bench/fleet_drill.py                      # the four drills at 1000 shards in real time (~4 min each here)
    python bench/fleet_drill.py --shards 200 --drills whole,crash

Each worker's load is reduced to what one machine can hold (tests/fleet_drill.py: a few real
requests per worker, recorded as the engine records them) while every AWS read and write of the
cloud worker is kept. The test suite runs the same drills at 100 and 60 shards
(tests/functional/test_fleet_drill.py). Prints each drill's figures: the report's counts against
what the target served, lost workers, history events, the largest Lambda payload, the start skew of
the workers (threads of one process here, not Lambda), each state's time, and per quota the busiest
key's peak rate and what was refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402  (the harness takes a MonkeyPatch)

from tests.fleet_drill import TargetProcess, run_drill  # noqa: E402

DRILLS = {
    "whole": {},
    "stop": {"stop_after_s": 4, "seconds": 20},
    "abort": {"abort": True, "seconds": 20},
    "crash": {"crash_share": 0.1},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--drills", default=",".join(DRILLS), help="whole, stop, abort, crash")
    parser.add_argument(
        "--lead", type=int, default=90, help="lead seconds (threads start slower than Lambdas)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run this many times slower than real time (every call made, at 1/k of the rate; default 1)",
    )
    args = parser.parse_args()
    failed = 0
    for name in args.drills.split(","):
        monkeypatch = pytest.MonkeyPatch()
        started = time.monotonic()
        try:
            with TargetProcess() as target:
                figures = run_drill(
                    monkeypatch,
                    target,
                    shards=args.shards,
                    lead_s=args.lead,
                    run_id=f"drill-{name}",
                    time_scale=args.time_scale,
                    timeout_s=3600,
                    **DRILLS[name],
                )
        finally:
            monkeypatch.undo()
        counted = figures.requests_reported == figures.requests_served
        ok = counted and not figures.quotas.violations and figures.history_events < 25_000
        failed += not ok
        print(f"== {name} ({time.monotonic() - started:.0f} s): {'ok' if ok else 'NOT OK'}")
        for line in figures.lines():
            print(f"   {line}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
