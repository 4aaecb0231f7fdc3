"""Throughput per generator core: surge's engine against wrk, autocannon, Locust and Artillery.

    python bench/throughput.py --duration 10                 # plain HTTP and HTTPS, every tool
    python bench/throughput.py --duration 2 --tools surge,wrk --schemes http

nginx (Debian's, one worker) runs pinned to --target-core and every generator to --gen-core, in
turn, on the same target, for the same duration with the same number of connections (closed
model: N connections each sending its next request when the last one is answered). Each tool's
own p50/p99 is reported as it prints them. CPU seconds are the generator process's own (user +
sys, from getrusage of the finished child), so "req per CPU-s" stays comparable when the machine
is shared; "surge/x" compares requests per second.
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Callable

import _lib

TOOLS = ("surge", "surge-aiohttp", "wrk", "autocannon", "locust", "artillery")


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(fn: Callable[[], _lib.ToolResult]) -> tuple[_lib.ToolResult, float]:
    before = child_cpu()
    res = fn()
    return res, child_cpu() - before


def surge_tool(name: str, url: str, args: argparse.Namespace, ca: object) -> _lib.ToolResult:
    fast = name == "surge"
    r = _lib.run_surge(
        url,
        core=args.gen_core,
        duration_s=args.duration,
        users=args.connections,
        connections=args.connections,
        fast=fast,
        ca_file=ca,  # type: ignore[arg-type]
    )
    h = r["health"]
    return _lib.ToolResult(
        name,
        r["rps"],
        r["st_p50_ms"],
        r["st_p99_ms"],
        r["requests"],
        r["errors"],
        note=f"cpu {h['cpu_pct']:.0f}%, loop lag p99 {h['loop_lag_p99_ms']:.1f} ms",
    )


def _median(runs: list[tuple[_lib.ToolResult, float]]) -> tuple[_lib.ToolResult, float]:
    ok = sorted((r for r in runs if r[0].rps), key=lambda r: r[0].rps or 0.0)
    return ok[len(ok) // 2] if ok else runs[0]


def run_tool(name: str, base: str, args: argparse.Namespace, ca: object) -> _lib.ToolResult:
    url = base + "/"
    core, c, d = args.gen_core, args.connections, args.duration
    if name.startswith("surge"):
        return surge_tool(name, base, args, ca)
    if name == "wrk":
        return _lib.run_wrk(url, core=core, connections=c, duration_s=d)
    if name == "autocannon":
        return _lib.run_autocannon(url, core=core, connections=c, duration_s=d)
    if name == "locust":
        return _lib.run_locust(base, core=core, users=c, duration_s=d)
    if name == "artillery":
        return _lib.run_artillery(base, core=core, users=c, duration_s=d)
    raise ValueError(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per tool")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--schemes", default="http,https")
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the median round is reported")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    print(
        f"# throughput: {args.connections} connections, {args.duration:g} s per tool, {args.repeat} round(s)"
    )
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, generators on core {args.gen_core}")
    with _lib.nginx_target(args.target_core) as target:
        for scheme in args.schemes.split(","):
            base = target.http if scheme == "http" else target.https
            if base is None:
                print(f"\n## {scheme}: no target (openssl missing)")
                continue
            runs: dict[str, list[tuple[_lib.ToolResult, float]]] = {name: [] for name in tools}
            # Rounds go through every tool in turn, so a noisy neighbour hurts them alike; the
            # table shows each tool's median round (by req/s) and the spread.
            for rnd in range(args.repeat):
                for name in tools:
                    try:
                        res, cpu = measure(lambda n=name, b=base: run_tool(n, b, args, target.ca_file))  # type: ignore[misc]
                    except (RuntimeError, ValueError, KeyError, IndexError) as exc:  # a peer's odd output
                        res, cpu = _lib.ToolResult(name, None, None, None, note=f"failed: {exc}"[:120]), 0.0
                    runs[name].append((res, cpu))
                    print(
                        f"# {scheme} round {rnd + 1} {name}: {_lib.fmt(res.rps)} req/s {res.note}", flush=True
                    )
            results = [_median(runs[name]) for name in tools]
            surge_rps = next((r.rps for r, _ in results if r.tool == "surge" and r.rps), None)
            rows = []
            for r, cpu in results:
                per_cpu = r.requests / cpu if r.requests and cpu > 0 else None
                ratio = surge_rps / r.rps if surge_rps and r.rps and r.tool != "surge" else None
                rates = sorted(x.rps for x, _ in runs[r.tool] if x.rps)
                spread = f"{rates[0]:,.0f}–{rates[-1]:,.0f}/s; " if len(rates) > 1 else ""
                rows.append([r.tool, r.rps, per_cpu, r.p50_ms, r.p99_ms, r.errors, ratio, spread + r.note])
            print(f"\n## {scheme.upper()} ({base})")
            print(
                _lib.table(
                    ["tool", "req/s", "req per CPU-s", "p50 ms", "p99 ms", "errors", "surge/x", "note"],
                    rows,
                )
            )


if __name__ == "__main__":
    main()
