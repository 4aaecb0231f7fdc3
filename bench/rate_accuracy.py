"""Rate accuracy: planned vs achieved arrivals per second, counted at the target.

    python bench/rate_accuracy.py                 # 2000/s constant, ramp to 6000/s, spike 12000/s
    python bench/rate_accuracy.py --rate 200 --phase-s 1

One surge worker (open model) on --gen-core runs four phases against nginx on --target-core:
constant, a linear ramp to 3x, a spike to 6x and back to the base rate. nginx logs the arrival
instant of every request ($msec); arrivals are bucketed by second of plan time and compared with
the plan's own arrival curve (the integral of its rate over that second).
"""

from __future__ import annotations

import argparse
import math

import _lib

from surge.schedule import cumulative_arrivals, phase_index_at, shapes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=2000.0, help="base arrivals/s")
    ap.add_argument("--phase-s", type=float, default=5.0, help="seconds per phase (the spike lasts half)")
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    args = ap.parse_args()
    r, d = args.rate, args.phase_s
    spike = max(1.0, d / 2)
    phases = [
        {"name": "constant", "duration": d, "rate": r},
        {"name": "ramp", "duration": d, "rate": r, "ramp_to": 3 * r},
        {"name": "spike", "duration": spike, "rate": 6 * r},
        {"name": "after", "duration": spike, "rate": r},
    ]
    names = [str(p["name"]) for p in phases]
    shp = shapes(
        [(float(p["duration"]), float(p["rate"]), float(p.get("ramp_to", p["rate"]))) for p in phases]  # type: ignore[arg-type]
    )
    total_s = sum(float(p["duration"]) for p in phases)  # type: ignore[misc]
    print(f"# rate accuracy: base {r:g}/s, phases {', '.join(names)}; counted at the target (nginx $msec)")
    print(f"# {_lib.machine_note()}; target on core {args.target_core}, generator on core {args.gen_core}")
    with _lib.nginx_target(args.target_core, tls=False) as target:
        res = _lib.run_surge(
            target.http,
            core=args.gen_core,
            duration_s=total_s,
            phases=phases,
            connections=1000,
            max_in_flight=20_000,
            path="/count",
        )
        arrivals = target.count_arrivals()
    t0 = float(res["t0"])
    seconds = math.ceil(total_s)
    counted = [0] * seconds
    outside = 0
    for t in arrivals:
        i = math.floor(t - t0)
        if 0 <= i < seconds:
            counted[i] += 1
        else:
            outside += 1
    rows = []
    per_phase: dict[str, list[float]] = {n: [0.0, 0.0] for n in names}
    worst = 0.0
    for i in range(seconds):
        planned = cumulative_arrivals(shp, min(i + 1.0, total_s)) - cumulative_arrivals(shp, float(i))
        phase = names[phase_index_at(shp, i + 0.5)]
        per_phase[phase][0] += planned
        per_phase[phase][1] += counted[i]
        err = (counted[i] - planned) / planned * 100 if planned else None
        if err is not None:
            worst = max(worst, abs(err))
        rows.append([i, phase, planned, counted[i], err])
    print(_lib.table(["second", "phase", "planned", "at target", "error %"], rows))
    print()
    prow = [[n, p, c, (c - p) / p * 100 if p else None] for n, (p, c) in per_phase.items()]
    print(_lib.table(["phase", "planned", "at target", "error %"], prow))
    h = res["health"]
    print(
        f"\nworst second {worst:.2f} %, {outside} arrivals outside the plan window (drain), "
        f"dropped {res['dropped']}, errors {res['errors']}, loop lag p99 {h['loop_lag_p99_ms']:.1f} ms, "
        f"cpu {h['cpu_pct']:.0f}%"
    )


if __name__ == "__main__":
    main()
