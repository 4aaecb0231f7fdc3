"""One surge worker, as a Lambda worker runs it, for the benchmarks: prints one JSON line.

Usage: python bench/_surge_run.py '{"url": ..., "duration": 10, "users": 50, ...}'
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from surge.engine.worker import run_worker
from surge.engine.worker_spec import WorkerSpec
from surge.plan_load import parse_plan
from surge.stats import aggregate, merge_results, percentile_ms

LEAD_S = 0.3


def build_plan(spec: dict[str, Any]) -> Any:
    if spec.get("phases"):
        phases = spec["phases"]
    elif spec.get("users"):
        phases = [{"duration": spec["duration"], "users": spec["users"]}]
    else:
        phases = [{"duration": spec["duration"], "rate": spec["rate"]}]
    data = {
        "name": "bench",
        "target": spec["url"],
        "load": {
            "phases": phases,
            "connections": spec.get("connections", 50),
            "max_in_flight": spec.get("max_in_flight", 10_000),
            "warm_connections": spec.get("warm_connections", True),
        },
        "scenarios": spec.get("scenarios") or [{"name": "get", "flow": [{"get": spec.get("path", "/")}]}],
        "limits": {"max_rate": 1e7, "max_users": 100_000},
        "seed": 1,
    }
    return parse_plan(data, base_dir=Path.cwd())


def main() -> None:
    spec = json.loads(sys.argv[1])
    if "gc_threshold" in spec:  # experiments: how much of the tail is the cyclic GC's
        import gc

        if spec["gc_threshold"]:
            gc.set_threshold(*spec["gc_threshold"])
        else:
            gc.disable()
    if "pacer" in spec:  # A/B: "loop" (the loop's millisecond timer) or the timerfd's early window in s
        import functools

        import surge.engine.worker as worker_mod

        how = spec["pacer"]
        kw = {"precise": False} if how == "loop" else {"early_s": float(how)}
        worker_mod.make_pacer = functools.partial(worker_mod.make_pacer, **kw)  # type: ignore[assignment]
    plan = build_plan(spec)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    t0 = time.time() + LEAD_S
    ws = WorkerSpec(plan, 0, 1, t0, None, "bench")
    with runner:
        result = runner.run(run_worker(ws))
    stats = merge_results([result])
    agg = aggregate(stats)
    duration = plan.load.duration_s
    per_s = {
        int(k): sum(e["requests"] for e in v["endpoints"].values()) for k, v in result["intervals"].items()
    }
    iters = {int(k): v["iterations"] for k, v in result["intervals"].items()}
    out = {
        "requests": agg.requests,
        "errors": agg.error_count,
        "error_classes": agg.errors,
        "iterations": agg.iterations,
        "dropped": agg.dropped,
        "rps": agg.requests / duration,
        "st_p50_ms": percentile_ms(agg.st, 50),
        "st_p99_ms": percentile_ms(agg.st, 99),
        "rt_p50_ms": percentile_ms(agg.rt, 50),
        "rt_p99_ms": percentile_ms(agg.rt, 99),
        "health": result["health"],
        "per_second": [per_s.get(i, 0) for i in range(int(duration))],
        "iterations_per_second": [iters.get(i, 0) for i in range(int(duration))],
        "worker_error": result["error"],
        "t0": t0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
