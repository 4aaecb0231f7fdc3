"""Fidelity: how far surge's latencies are from the truth at 25, 50 and 90 % of its capacity.

    python bench/fidelity.py --duration 10
    python bench/fidelity.py --duration 2 --levels 0.25 --endpoints dist

The target is nginx with known delays (echo_sleep, the echo module): /fixed sleeps 5 ms and /dist
draws 1, 2, 4, 8 or 20 ms with weights 40/30/20/8.5/1.5 % (true p50 2 ms, p99 20 ms, plus nginx's
millisecond timer). nginx's timer adds its own jitter, so the reference ("truth") is what wrk — a
C client whose own cost per request is a few microseconds — measures on the same endpoint at the
same rate: wrk runs with round(rate x mean latency) connections, which makes its closed loop
arrive at that rate. surge runs the open model at the planned rate (one worker, pinned).

"Δ" columns are surge minus wrk: the generator's own contribution. Service time (send → last
byte) is what wrk measures too; the corrected response time also counts any delay in starting a
request after its intended instant (surge's scheduling).
"""

from __future__ import annotations

import argparse

import _lib

NOMINAL = {"fixed": (_lib.FIXED_DELAY_S * 1000, _lib.FIXED_DELAY_S * 1000), "dist": (2.0, 20.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--levels", default="0.25,0.5,0.9")
    ap.add_argument("--endpoints", default="fixed,dist")
    ap.add_argument("--capacity", type=float, default=None, help="req/s; default: measured (closed model)")
    ap.add_argument("--capacity-users", type=int, default=400)
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    args = ap.parse_args()
    print(f"# fidelity: {args.duration:g} s per run, levels {args.levels} of surge's capacity")
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, generators on core {args.gen_core}")
    with _lib.nginx_target(args.target_core, tls=False) as target:
        if not target.has_echo:
            print("nginx's echo module is missing (apt-get install libnginx-mod-http-echo): skipped")
            return
        for ep in args.endpoints.split(","):
            path = f"/{ep}"
            capacity = args.capacity
            if capacity is None:
                cap = _lib.run_surge(
                    target.http,
                    core=args.gen_core,
                    duration_s=args.duration,
                    users=args.capacity_users,
                    connections=args.capacity_users,
                    path=path,
                )
                capacity = float(cap["rps"])
            calib = _lib.run_wrk(target.http + path, core=args.gen_core, connections=10, duration_s=2)
            mean_ms = float(calib.extra.get("avg_ms") or NOMINAL[ep][0])
            print(
                f"# {path}: capacity {capacity:,.0f} req/s (closed model, {args.capacity_users} users); mean latency {mean_ms:.2f} ms"
            )
            rows = []
            for level in (float(x) for x in args.levels.split(",")):
                rate = level * capacity
                conns = max(1, round(rate * mean_ms / 1000))
                s = _lib.run_surge(
                    target.http,
                    core=args.gen_core,
                    duration_s=args.duration,
                    rate=rate,
                    connections=max(1000, conns * 4),
                    max_in_flight=50_000,
                    path=path,
                )
                w = _lib.run_wrk(
                    target.http + path, core=args.gen_core, connections=conns, duration_s=args.duration
                )
                d50 = s["st_p50_ms"] - w.p50_ms if w.p50_ms is not None else None
                d99 = s["st_p99_ms"] - w.p99_ms if w.p99_ms is not None else None
                drt99 = s["rt_p99_ms"] - w.p99_ms if w.p99_ms is not None else None
                h = s["health"]
                rows.append(
                    [
                        path,
                        f"{level:.0%}",
                        rate,
                        s["rps"],
                        w.rps,
                        s["st_p50_ms"],
                        w.p50_ms,
                        d50,
                        s["st_p99_ms"],
                        w.p99_ms,
                        d99,
                        s["rt_p99_ms"],
                        drt99,
                        f"dropped {s['dropped']}, lag p99 {h['loop_lag_p99_ms']:.1f} ms, cpu {h['cpu_pct']:.0f}%",
                    ]
                )
                print(
                    f"# {path} {level:.0%}: surge st p99 {s['st_p99_ms']} ms, wrk p99 {w.p99_ms} ms",
                    flush=True,
                )
            print(
                _lib.table(
                    [
                        "endpoint",
                        "load",
                        "planned/s",
                        "surge/s",
                        "wrk/s",
                        "surge p50",
                        "wrk p50",
                        "Δp50",
                        "surge p99",
                        "wrk p99",
                        "Δp99",
                        "surge rt p99",
                        "Δrt p99",
                        "generator",
                    ],
                    rows,
                )
            )
            print(
                f"(nominal {path}: p50 {NOMINAL[ep][0]:g} ms, p99 {NOMINAL[ep][1]:g} ms, before nginx's timer)\n"
            )


if __name__ == "__main__":
    main()
