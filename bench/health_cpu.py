"""Does health.cpu_pct tell the truth? A CPU-bound closed-model worker, measured three ways.

    python bench/health_cpu.py --duration 10 --lead 3

One worker (closed model, --users, no think time: as fast as it can) runs in this process,
pinned to --gen-core, against nginx on --target-core, after a lead time like the one every worker
sleeps before t0 (a Lambda worker sleeps off its cold start). Printed side by side:
- the old reading: the mean of one-second CPU samples taken from the moment the worker started
  (what health.py did before), re-implemented here as a probe running next to the worker;
- health.cpu_pct as the worker reports it now (CPU time over wall time of the load window);
- the kernel's figure for the load window (getrusage, user + sys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time

import _lib

from surge.engine.health import _runqueue_wait_s
from surge.engine.worker import run_worker
from surge.engine.worker_spec import WorkerSpec


def rusage_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def legacy_probe(stop: asyncio.Event, samples: list[float]) -> None:
    """health.py's former sampling: 1 s CPU samples from the worker's start, averaged."""
    last_wall, last_cpu = time.perf_counter(), time.process_time()
    next_cpu = last_wall + 1.0
    while not stop.is_set():
        await asyncio.sleep(0.05)
        now = time.perf_counter()
        if now >= next_cpu:
            cpu = time.process_time()
            samples.append((cpu - last_cpu) / (now - last_wall) * 100)
            last_wall, last_cpu, next_cpu = now, cpu, now + 1.0


async def main_async(url: str, args: argparse.Namespace) -> list[object]:
    import _surge_run

    plan = _surge_run.build_plan(
        {"url": url, "duration": args.duration, "users": args.users, "connections": args.users}
    )
    t0 = time.time() + args.lead
    stop = asyncio.Event()
    samples: list[float] = []
    probe = asyncio.create_task(legacy_probe(stop, samples))
    window: dict[str, float] = {}

    async def mark() -> None:
        await asyncio.sleep(max(0.0, t0 - time.time()))
        window["cpu0"], window["wall0"] = rusage_cpu(), time.perf_counter()
        window["wait0"] = _runqueue_wait_s() or 0.0
        await asyncio.sleep(args.duration)
        window["cpu1"], window["wall1"] = rusage_cpu(), time.perf_counter()
        window["wait1"] = _runqueue_wait_s() or 0.0

    marker = asyncio.create_task(mark())
    result = await run_worker(WorkerSpec(plan, 0, 1, t0, None, "cpu-check"))
    stop.set()
    await asyncio.gather(probe, marker)
    wall = window["wall1"] - window["wall0"]
    kernel = (window["cpu1"] - window["cpu0"]) / wall * 100
    waited = (window["wait1"] - window["wait0"]) / wall * 100
    legacy = sum(samples) / len(samples) if samples else 0.0
    reqs = sum(e["requests"] for iv in result["intervals"].values() for e in iv["endpoints"].values())
    h = result["health"]
    return [
        args.lead,
        args.duration,
        reqs / args.duration,
        legacy,
        h["cpu_pct"],
        kernel,
        waited,
        h["saturated"],
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--lead", type=float, default=3.0)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    args = ap.parse_args()
    print(f"# health cpu check: closed model, {args.users} users, lead {args.lead:g} s, {args.duration:g} s")
    print(f"# {_lib.machine_note()}")
    with _lib.nginx_target(args.target_core, tls=False) as target:
        os.sched_setaffinity(0, {args.gen_core})
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            row = runner.run(main_async(target.http, args))
    print(
        _lib.table(
            [
                "lead s",
                "load s",
                "req/s",
                "old cpu_pct (1 s samples from start)",
                "cpu_pct now",
                "kernel: on CPU %",
                "kernel: runnable, waiting %",
                "saturated",
            ],
            [row],
        )
    )


if __name__ == "__main__":
    main()
