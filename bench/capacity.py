"""Per-worker capacity for the planner: the highest open-model rate one worker process sustains.

    python bench/capacity.py --duration 10
    python bench/capacity.py --duration 2 --start 2000 --max-steps 2 --clients fast

"Sustains" means, over the whole run: no dropped arrivals, achieved rate within 1 % of the plan,
and event-loop lag p99 under 10 ms. The rate grows by --step until a run fails; the last one that
passed is the capacity. One worker process, pinned to --gen-core, against nginx on --target-core
(/fixed: 5 ms, so requests overlap as they do against a real service; "/" for no latency).
Both HTTP clients are measured: the fast path, and aiohttp (what requests the fast path does not
support fall back to).
"""

from __future__ import annotations

import argparse

import _lib

LAG_LIMIT_MS = 10.0


def flow_scenarios(path: str) -> list[dict[str, object]]:
    """A plan-like iteration: a templated GET with an expectation and a capture, then a POST of a
    templated JSON body that uses the capture (two requests per iteration)."""
    return [
        {
            "name": "flow",
            "flow": [
                {
                    "get": {
                        "url": path + "?item={{ $randint(1, 1000) }}",
                        "headers": {"X-Request-Id": "{{ $uuid }}"},
                        "expect": [{"status": 200, "body_contains": "ok"}],
                        "capture": [{"regex": "(o)k", "as": "word"}],
                    }
                },
                {"post": {"url": path, "json": {"word": "{{ word }}", "n": "{{ $iteration }}"}}},
            ],
        }
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--path", default="/fixed")
    ap.add_argument("--start", type=float, default=4000.0)
    ap.add_argument("--step", type=float, default=1.2, help="rate multiplier between runs")
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--clients", default="fast,aiohttp")
    ap.add_argument(
        "--flow", choices=("get", "flow"), default="get", help="get: one GET; flow: see flow_scenarios"
    )
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    args = ap.parse_args()
    print(
        f"# capacity: open model, {args.flow} iterations, {args.duration:g} s per step, {args.path}, pass = no drops, ±1 % rate, lag p99 < {LAG_LIMIT_MS:g} ms"
    )
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, generator on core {args.gen_core}")
    summary = []
    with _lib.nginx_target(args.target_core, tls=False) as target:
        path = args.path if target.has_echo or args.path == "/" else "/"
        for client in args.clients.split(","):
            rows = []
            rate, best = args.start, None
            for _ in range(args.max_steps):
                r = _lib.run_surge(
                    target.http,
                    core=args.gen_core,
                    duration_s=args.duration,
                    rate=rate,
                    connections=2000,
                    max_in_flight=20_000,
                    path=path,
                    fast=client == "fast",
                    extra={"scenarios": flow_scenarios(path)} if args.flow == "flow" else None,
                )
                h = r["health"]
                achieved = r["iterations"] / args.duration  # iterations: what PER_WORKER_RATE counts
                ok = r["dropped"] == 0 and achieved >= 0.99 * rate and h["loop_lag_p99_ms"] < LAG_LIMIT_MS
                ok = ok and r["errors"] == 0
                rows.append(
                    [
                        client,
                        rate,
                        achieved,
                        r["dropped"],
                        h["loop_lag_p99_ms"],
                        h["cpu_pct"],
                        r["st_p99_ms"],
                        r["rt_p99_ms"],
                        r["errors"],
                        "pass" if ok else "FAIL",
                    ]
                )
                print(f"# {client} {rate:,.0f}/s: {'pass' if ok else 'FAIL'}", flush=True)
                if not ok:
                    break
                best = rate
                rate *= args.step
            print(
                _lib.table(
                    [
                        "client",
                        "planned/s",
                        "achieved/s",
                        "dropped",
                        "lag p99 ms",
                        "cpu %",
                        "st p99",
                        "rt p99",
                        "errors",
                        "",
                    ],
                    rows,
                )
            )
            summary.append([client, path, best, best / 2 if best else None])
    print()
    print(_lib.table(["client", "path", "capacity/s (last pass)", "half of it"], summary))


if __name__ == "__main__":
    main()
