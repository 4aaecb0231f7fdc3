"""Fidelity: how far surge's latencies are from the truth at 25, 50 and 90 % of its capacity.

    python bench/fidelity.py --duration 10
    python bench/fidelity.py --duration 2 --levels 0.25 --endpoints dist
    python bench/fidelity.py --cli --duration 20 --repeat 3 --endpoints fixed

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
import statistics
from typing import Any

import _lib

# "timerfd": the engine's default (sub-ms wake-ups, arrivals released in 0.5 ms batches);
# "loop": the event loop's own millisecond timer, what the engine used before. A "-cold" suffix
# turns off load.warm_connections (connections are then opened by the first arrivals);
# "timerfd:0.0001" sets another release window (seconds).
PACERS = {"timerfd": "0.0005", "loop": "loop"}
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
    ap.add_argument("--repeat", type=int, default=1, help="rounds per level (medians reported)")
    ap.add_argument(
        "--pacers", default="timerfd", help="comma-separated: timerfd (default), loop; -cold: no warm-up"
    )
    ap.add_argument(
        "--cli",
        action="store_true",
        help="instead: `surge run` as a user runs it (CLI, worker process, live view) at 100/s and at "
        "50%% of capacity; prints the generator's own pauses (max loop lag, corrected minus service)",
    )
    ap.add_argument(
        "--cli-rates", default="100,0.5", help="with --cli: rates per second, or shares of capacity (<= 1)"
    )
    args = ap.parse_args()
    if args.cli:
        cli_fidelity(args)
        return
    pacers = args.pacers.split(",")
    if unknown := [p for p in pacers if _pacer_spec(p) is None]:
        ap.error(f"unknown pacer {unknown[0]!r}: choose from {', '.join(PACERS)}, timerfd:SECONDS (+ -cold)")
    print(f"# fidelity: {args.duration:g} s per run, levels {args.levels} of surge's capacity")
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, generators on core {args.gen_core}")
    with _lib.nginx_target(args.target_core, tls=False) as target:
        if not target.has_echo:
            print("nginx's echo module is missing (apt-get install libnginx-mod-http-echo): skipped")
            return
        for ep in args.endpoints.split(","):
            path = f"/{ep}"
            capacity = _capacity(args, target.http, path, args.duration)
            calib = _lib.run_wrk(target.http + path, core=args.gen_core, connections=10, duration_s=2)
            mean_ms = float(calib.extra.get("avg_ms") or NOMINAL[ep][0])
            print(
                f"# {path}: capacity {capacity:,.0f} req/s (closed model, {args.capacity_users} users); mean latency {mean_ms:.2f} ms"
            )
            rows = []
            for level in (float(x) for x in args.levels.split(",")):
                rate = level * capacity
                conns = max(1, round(rate * mean_ms / 1000))
                runs: dict[str, list[dict[str, Any]]] = {p: [] for p in pacers}
                wrks: list[_lib.ToolResult] = []
                for _ in range(args.repeat):  # interleaved, so drift in the machine hits all alike
                    for pacer in pacers:
                        runs[pacer].append(
                            _lib.run_surge(
                                target.http,
                                core=args.gen_core,
                                duration_s=args.duration,
                                rate=rate,
                                connections=max(1000, conns * 4),
                                max_in_flight=50_000,
                                path=path,
                                extra={
                                    "pacer": _pacer_spec(pacer),
                                    "warm_connections": not pacer.endswith("-cold"),
                                },
                            )
                        )
                    wrks.append(
                        _lib.run_wrk(
                            target.http + path,
                            core=args.gen_core,
                            connections=conns,
                            duration_s=args.duration,
                        )
                    )
                w_rps = median([w.rps for w in wrks])
                w50 = median([w.p50_ms for w in wrks if w.p50_ms is not None])
                w99s = [w.p99_ms for w in wrks if w.p99_ms is not None]
                w99 = median(w99s)
                for pacer in pacers:
                    rs = runs[pacer]
                    s50, s99, rt99 = (
                        median([r[k] for r in rs]) for k in ("st_p50_ms", "st_p99_ms", "rt_p99_ms")
                    )
                    # Per round, against that round's wrk: the spread says how much is noise.
                    drt = [r["rt_p99_ms"] - w for r, w in zip(rs, w99s, strict=False)]
                    h = rs[len(rs) // 2]["health"]
                    rows.append(
                        [
                            path,
                            f"{level:.0%}",
                            pacer,
                            rate,
                            median([r["rps"] for r in rs]),
                            w_rps,
                            s50,
                            w50,
                            _delta(s50, w50),
                            s99,
                            w99,
                            _delta(s99, w99),
                            rt99,
                            _delta(rt99, w99),
                            f"{min(drt):.2f} … {max(drt):.2f}" if drt else None,
                            f"dropped {sum(r['dropped'] for r in rs)}, lag p99 {h['loop_lag_p99_ms']:.1f} ms, "
                            f"cpu {median([r['health']['cpu_pct'] for r in rs]):.0f}%",
                        ]
                    )
                    print(
                        f"# {path} {level:.0%} {pacer}: surge st p99 {s99} ms, rt p99 {rt99} ms, wrk p99 {w99} ms",
                        flush=True,
                    )
            print(
                _lib.table(
                    [
                        "endpoint",
                        "load",
                        "pacer",
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
                        "Δrt p99 per round",
                        "generator",
                    ],
                    rows,
                )
            )
            print(
                f"(nominal {path}: p50 {NOMINAL[ep][0]:g} ms, p99 {NOMINAL[ep][1]:g} ms, before nginx's timer)\n"
            )


def cli_fidelity(args: argparse.Namespace) -> None:
    """The generator's own pauses through the CLI path: what `surge run` adds to a known-latency
    endpoint (corrected response time minus service time) and its worst event-loop lag."""
    print(f"# fidelity through `surge run`: {args.duration:g} s per run, {args.repeat} round(s)")
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, surge on core {args.gen_core}")
    with _lib.nginx_target(args.target_core, tls=False) as target:
        if not target.has_echo:
            print("nginx's echo module is missing (apt-get install libnginx-mod-http-echo): skipped")
            return
        for ep in args.endpoints.split(","):
            path = f"/{ep}"
            capacity = _capacity(args, target.http, path, min(args.duration, 5.0))
            print(f"# {path}: capacity {capacity:,.0f} req/s (closed model, {args.capacity_users} users)")
            rows = []
            for x in (float(v) for v in args.cli_rates.split(",")):
                rate = round(capacity * x) if x <= 1 else x
                runs = [
                    _lib.run_surge_cli(
                        target.http, core=args.gen_core, duration_s=args.duration, rate=rate, path=path
                    )
                    for _ in range(args.repeat)
                ]
                for i, r in enumerate(runs):
                    rows.append(
                        [
                            path,
                            rate,
                            i + 1,
                            r["rps"],
                            r["rt_minus_st_p50_ms"],
                            r["rt_minus_st_p99_ms"],
                            r["max_loop_lag_ms"],
                            r["cpu_pct"],
                            r["dropped"],
                        ]
                    )
            print(
                _lib.table(
                    [
                        "endpoint",
                        "planned/s",
                        "round",
                        "surge/s",
                        "rt−st p50 ms",
                        "rt−st p99 ms",
                        "max loop lag ms",
                        "cpu %",
                        "dropped",
                    ],
                    rows,
                )
            )


def _capacity(args: argparse.Namespace, url: str, path: str, duration_s: float) -> float:
    """--capacity, or what one surge worker sustains in the closed model (req/s)."""
    if args.capacity is not None:
        return float(args.capacity)
    cap = _lib.run_surge(
        url,
        core=args.gen_core,
        duration_s=duration_s,
        users=args.capacity_users,
        connections=args.capacity_users,
        path=path,
    )
    return float(cap["rps"])


def _pacer_spec(name: str) -> str | None:
    """ "timerfd", "loop", or "timerfd:0.0001" (another release window); "-cold" is handled apart."""
    base = name.removesuffix("-cold")
    if base.startswith("timerfd:"):
        try:
            return str(float(base.split(":", 1)[1]))
        except ValueError:
            return None
    return PACERS.get(base)


def _delta(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


if __name__ == "__main__":
    main()
