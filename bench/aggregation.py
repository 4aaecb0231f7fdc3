"""Aggregation: time and peak memory to merge N workers' results of a long, many-endpoint run.

    python bench/aggregation.py                        # 10, 100, 1000 workers of 10 min x 10 endpoints
    python bench/aggregation.py --workers 10 --minutes 1 --endpoints 2   # a quick look

Worker results are synthesized with surge's own Recorder (lognormal latencies, the per-worker
rate the planner gives a worker) and serialized to JSON as a worker writes them to S3. Each size
runs in a fresh process, so its peak RSS (getrusage) is its own. Two ways of feeding the merge:
``list`` loads every result first (what a handler that reads all shards, then merges, does) and
``stream`` hands merge_results a generator that loads one result at a time.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import _lib

from surge.stats import (
    RESULT_VERSION,
    Recorder,
    WorkerResult,
    add_encoded,
    aggregate,
    encode,
    merge_encoded,
    merge_results,
    new_histogram,
    percentile_ms,
)

TEMPLATES = 4  # distinct synthetic workers; the others are fresh copies of these (parsed anew)


def synth_worker(seed: int, minutes: float, endpoints: int, rate: float) -> WorkerResult:
    rng = random.Random(seed)
    rec = Recorder(0.0, 1.0)
    names = [f"GET /api/endpoint-{i}" for i in range(endpoints)]
    seconds = int(minutes * 60)
    per_s = max(1, int(rate))
    for sec in range(seconds):
        for k in range(per_s):
            now = sec + k / per_s
            st = int(rng.lognormvariate(10.3, 0.6))  # median ~30 ms, a long tail
            rt = st + int(rng.expovariate(1 / 300))
            err = "http_5xx" if rng.random() < 0.002 else None
            rec.iteration_started(now, 5)
            rec.record(names[k % endpoints], now, rt, st, 500 if err else 200, err, 700)
        rec.close_before(sec + 1.0)
    rec.close_all()
    return WorkerResult(
        version=RESULT_VERSION,
        worker=f"w{seed}",
        shard=seed,
        shards=1,
        interval_s=1.0,
        t0=1.7e9,
        window=[0.0, float(seconds)],
        started_at=1.7e9,
        ended_at=1.7e9 + seconds,
        stopped_early=False,
        error=None,
        intervals=rec.intervals,
        health={
            "worker": f"w{seed}",
            "max_loop_lag_ms": 2.0,
            "loop_lag_p99_ms": 1.0,
            "cpu_pct": 30.0,
            "saturated": False,
            "notes": [],
        },
    )


def check_merge(results: list[WorkerResult]) -> str:
    """The fast merge against hdrh's own decode_and_add, histogram by histogram."""
    checked = 0
    for key in list(results[0]["intervals"])[:20]:
        for name in results[0]["intervals"][key]["endpoints"]:
            for field in ("rt", "st"):
                encs = [r["intervals"][key]["endpoints"][name][field] for r in results]  # type: ignore[literal-required]
                ref = new_histogram()
                for e in encs:
                    add_encoded(ref, e)
                nested = merge_encoded([merge_encoded(encs[:2]), *encs[2:]])  # dense + sparse path
                if encode(ref) != merge_encoded(encs) or encode(ref) != nested:
                    return f"DIFFERS from hdrh decode_and_add at interval {key}, {name} {field}"
                checked += 1
    return f"identical to hdrh decode_and_add on {checked} merged histograms"


def child(files: list[str], workers: int, mode: str) -> None:
    blobs = [Path(f).read_bytes() for f in files]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def load(i: int) -> WorkerResult:
        r: WorkerResult = json.loads(blobs[i % len(blobs)])
        r["shard"] = i
        r["worker"] = f"w{i}"
        return r

    t = time.perf_counter()
    if mode == "list":
        results = [load(i) for i in range(workers)]
        loaded = time.perf_counter() - t
        t = time.perf_counter()
        stats = merge_results(results)
        merge_s = time.perf_counter() - t
    else:
        stats = merge_results(load(i) for i in range(workers))
        loaded = 0.0
        merge_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    agg = aggregate(stats)
    print(
        json.dumps(
            {
                "workers": workers,
                "mode": mode,
                "load_s": loaded,
                "merge_s": merge_s,
                "peak_rss_mb": peak / 1024,
                "base_rss_mb": base_rss / 1024,
                "requests": agg.requests,
                "p99_ms": percentile_ms(agg.rt, 99),
                "intervals": len(stats["intervals"]),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="10,100,1000", help="comma-separated worker counts")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--rate", type=float, default=250.0, help="iterations/s per worker")
    ap.add_argument("--modes", default="stream,list", help="stream and/or list")
    ap.add_argument("--max-list-workers", type=int, default=100, help="list mode holds all results: cap it")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per size, seconds")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        child(json.loads(args._child[0]), int(args._child[1]), args._child[2])
        return
    print(f"# aggregation: {args.minutes:g} min x {args.endpoints} endpoints, {args.rate:g} it/s per worker")
    print(f"# {_lib.machine_note()}")
    with tempfile.TemporaryDirectory(prefix="surge-bench-agg-") as d:
        t = time.perf_counter()
        files = []
        for i in range(TEMPLATES):
            p = Path(d) / f"w{i}.json"
            p.write_text(json.dumps(synth_worker(i, args.minutes, args.endpoints, args.rate)))
            files.append(str(p))
        size_mb = sum(Path(f).stat().st_size for f in files) / len(files) / 1e6
        print(f"# merge check: {check_merge([json.loads(Path(f).read_text()) for f in files])}")
        print(
            f"# synthesized {TEMPLATES} distinct results in {time.perf_counter() - t:.1f} s, {size_mb:.2f} MB JSON each"
        )
        rows = []
        for mode in args.modes.split(","):
            for n in (int(x) for x in args.workers.split(",")):
                if mode == "list" and n > args.max_list_workers:
                    rows.append(
                        [
                            n,
                            mode,
                            None,
                            None,
                            None,
                            None,
                            f"skipped (> --max-list-workers {args.max_list_workers})",
                        ]
                    )
                    continue
                cmd = [sys.executable, __file__, "--_child", json.dumps(files), str(n), mode]
                try:
                    res = _lib.run(cmd, args.timeout)
                except RuntimeError as exc:
                    rows.append([n, mode, None, None, None, None, str(exc)[:60]])
                    continue
                if res.returncode != 0:
                    rows.append([n, mode, None, None, None, None, f"failed: {res.stderr.strip()[-80:]}"])
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append(
                    [
                        n,
                        mode,
                        r["merge_s"],
                        r["merge_s"] / n * 1000,
                        r["peak_rss_mb"],
                        n * size_mb,
                        f"{r['requests']:,} requests, p99 {r['p99_ms']:.1f} ms",
                    ]
                )
                print(
                    f"# {n} workers, {mode}: {r['merge_s']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    print(
        _lib.table(
            ["workers", "feed", "merge s", "ms per worker", "peak RSS MB", "input JSON MB", "check"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
