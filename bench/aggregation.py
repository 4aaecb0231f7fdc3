"""Aggregation: time and peak memory to merge N workers' results of a long, many-endpoint run.

    python bench/aggregation.py                        # 10, 100, 1000 workers of 10 min x 10 endpoints
    python bench/aggregation.py --workers 10 --minutes 1 --endpoints 2   # a quick look
    python bench/aggregation.py --modes tree --workers 100,1000          # the workflow's tree merge

Worker results are synthesized with surge's own Recorder (lognormal latencies, the per-worker
rate the planner gives a worker) and serialized to JSON as a worker writes them to S3. Each size
runs in a fresh process, so its peak RSS (getrusage) is its own. Two ways of feeding the merge:
``list`` loads every result first (what a handler that reads all shards, then merges, does) and
``stream`` hands merge_results a generator that loads one result at a time.

``tree`` merges as the workflow does a segment of that many shards (surge.cloud.planner.merge_slices):
one process per merge task folds its slice into a partial (as MergeSlice does), then one process
folds the partials (as Aggregate does). In the workflow the tasks run side by side in Lambda, so
the merge's wall time there is the slowest task plus the fold ("Lambda wall"); this machine runs
them as many at a time as it has cores. Every task's time and peak RSS is printed, and the tree's
result is compared with the single-process merge of the same inputs, histogram by histogram
(skip it with --no-verify).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _lib

from surge.cloud.planner import merge_slices
from surge.stats import (
    RESULT_VERSION,
    Recorder,
    RunStats,
    WorkerResult,
    add_encoded,
    aggregate,
    decode,
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


def _load(blobs: list[bytes], i: int) -> WorkerResult:
    r: WorkerResult = json.loads(blobs[i % len(blobs)])
    r["shard"] = i
    r["worker"] = f"w{i}"
    return r


def digest(stats: RunStats) -> str:
    """The merged counts of every histogram, request and error counter, hashed."""
    h = hashlib.sha256()
    for key in sorted(stats["intervals"], key=int):
        interval = stats["intervals"][key]
        h.update(f"{key}:{interval['iterations']}:{interval['dropped']}".encode())
        for name in sorted(interval["endpoints"]):
            ep = interval["endpoints"][name]
            h.update(
                f"{name}:{ep['requests']}:{sorted(ep['errors'].items())}:{sorted(ep['status'].items())}".encode()
            )
            for field in ("rt", "st"):
                hist = decode(ep[field])  # type: ignore[literal-required]
                h.update(
                    f"{field}:{hist.get_total_count()}:{hist.get_min_value()}:{hist.get_max_value()}".encode()
                )
                h.update(bytes(hist.counts))  # every bucket's count
    return h.hexdigest()[:16]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_leaf(files: list[str], first: int, count: int, out: str) -> None:
    blobs = [Path(f).read_bytes() for f in files]
    t = time.perf_counter()
    stats = merge_results(_load(blobs, i) for i in range(first, first + count))
    body = json.dumps(
        {"version": 1, "segment": 0, "shards": list(range(first, first + count)), "stats": stats}
    )
    Path(out).write_text(body)
    print(
        json.dumps({"task_s": time.perf_counter() - t, "peak_rss_mb": _rss_mb(), "out_mb": len(body) / 1e6})
    )


def child_fold(partials: list[str]) -> None:
    t = time.perf_counter()
    stats = merge_results(json.loads(Path(p).read_bytes())["stats"] for p in partials)
    task_s = time.perf_counter() - t
    agg = aggregate(stats)
    print(
        json.dumps(
            {
                "task_s": task_s,
                "peak_rss_mb": _rss_mb(),
                "digest": digest(stats),
                "requests": agg.requests,
                "p99_ms": percentile_ms(agg.rt, 99),
            }
        )
    )


def child_flat(files: list[str], workers: int) -> None:
    blobs = [Path(f).read_bytes() for f in files]
    t = time.perf_counter()
    stats = merge_results(_load(blobs, i) for i in range(workers))
    print(json.dumps({"task_s": time.perf_counter() - t, "peak_rss_mb": _rss_mb(), "digest": digest(stats)}))


def run_tree(files: list[str], workers: int, folder: Path, timeout: float, verify: bool) -> list[object]:
    """One tree merge of ``workers`` shards: its row of the table."""
    slices = merge_slices(workers) or [[0, workers]]
    here = [sys.executable, __file__]
    cores = max(os.cpu_count() or 1, 1)
    t = time.perf_counter()
    leaves: list[dict[str, float]] = []
    outs: list[str] = []
    pending = list(enumerate(slices))  # (task, slice)
    running: list[tuple[subprocess.Popen[str], str]] = []
    while pending or running:
        while pending and len(running) < cores:
            _, (first, count) = pending.pop(0)
            out = str(folder / f"partial-{first}.json")
            outs.append(out)
            cmd = [*here, "--_leaf", json.dumps(files), str(first), str(count), out]
            running.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True), out))
        proc, _ = running.pop(0)
        stdout, _err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"a merge task failed (exit {proc.returncode})")
        leaves.append(json.loads(stdout.strip().splitlines()[-1]))
    fold = json.loads(_lib.run([*here, "--_fold", json.dumps(outs)], timeout).stdout.strip().splitlines()[-1])
    machine_wall = time.perf_counter() - t
    check = f"{fold['requests']:,} requests, p99 {fold['p99_ms']:.1f} ms"
    if verify:
        flat = json.loads(
            _lib.run([*here, "--_flat", json.dumps(files), str(workers)], timeout * 4)
            .stdout.strip()
            .splitlines()[-1]
        )
        same = flat["digest"] == fold["digest"]
        check += f"; {'equal to' if same else 'DIFFERS from'} the single merge ({flat['task_s']:.1f} s)"
    slowest = max(leaf["task_s"] for leaf in leaves)
    print(
        f"# tree {workers}: {len(slices)} tasks of <= {max(c for _, c in slices)} shards: slowest "
        f"{slowest:.2f} s, peak RSS <= {max(leaf['peak_rss_mb'] for leaf in leaves):.0f} MB, partial "
        f"<= {max(leaf['out_mb'] for leaf in leaves):.1f} MB; fold {fold['task_s']:.2f} s, "
        f"{fold['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return [
        workers,
        len(slices),
        slowest,
        max(leaf["peak_rss_mb"] for leaf in leaves),
        fold["task_s"],
        fold["peak_rss_mb"],
        slowest + fold["task_s"],
        machine_wall,
        check,
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="10,100,1000", help="comma-separated worker counts")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--rate", type=float, default=250.0, help="iterations/s per worker")
    ap.add_argument("--modes", default="stream,list", help="stream and/or list")
    ap.add_argument("--max-list-workers", type=int, default=100, help="list mode holds all results: cap it")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per size, seconds")
    ap.add_argument("--no-verify", action="store_true", help="tree: skip the comparison with one merge")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--_leaf", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--_fold", nargs=1, help=argparse.SUPPRESS)
    ap.add_argument("--_flat", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        child(json.loads(args._child[0]), int(args._child[1]), args._child[2])
        return
    if args._leaf:
        child_leaf(json.loads(args._leaf[0]), int(args._leaf[1]), int(args._leaf[2]), args._leaf[3])
        return
    if args._fold:
        child_fold(json.loads(args._fold[0]))
        return
    if args._flat:
        child_flat(json.loads(args._flat[0]), int(args._flat[1]))
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
        tree_rows: list[list[object]] = []
        for mode in args.modes.split(","):
            if mode == "tree":
                for n in (int(x) for x in args.workers.split(",")):
                    with tempfile.TemporaryDirectory(prefix="surge-bench-tree-", dir=d) as folder:
                        tree_rows.append(run_tree(files, n, Path(folder), args.timeout, not args.no_verify))
                continue
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
    if rows:
        print(
            _lib.table(
                ["workers", "feed", "merge s", "ms per worker", "peak RSS MB", "input JSON MB", "check"],
                rows,
            )
        )
    if tree_rows:
        print(
            _lib.table(
                [
                    "shards",
                    "merge tasks",
                    "slowest task s",
                    "task peak RSS MB",
                    "fold s",
                    "fold peak RSS MB",
                    "Lambda wall s",
                    f"wall s here ({os.cpu_count()} cores)",
                    "check",
                ],
                tree_rows,
            )
        )


if __name__ == "__main__":
    main()
