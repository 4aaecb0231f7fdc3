"""Where a worker's CPU goes: py-spy samples one surge worker at full speed against nginx.

    python bench/cpu_profile.py --duration 5                  # the fast path
    python bench/cpu_profile.py --duration 5 --client aiohttp # every request through aiohttp
    python bench/cpu_profile.py --model open --rate 20000
    python bench/cpu_profile.py --tls                          # over HTTPS

Prints the functions with the most samples, by own time and including callees ("self" and
"total"). Time in a system call shows on the Python line that made it (transport.write, the
event loop's own line for epoll/recv). Needs py-spy (pip install py-spy) and, in containers,
the permission to ptrace a child (it runs as the parent of the profiled process).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import _lib


def summarize(folded: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    n = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        n += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            total[f] += c
    # Own time by package: "which library's code is the request loop made of".
    by_pkg: collections.Counter[str] = collections.Counter()
    for f, c in own.items():
        loc = f.rpartition("(")[2]
        by_pkg[loc.split("/")[0].split(".")[0].rstrip(")") if "/" in loc else "(interpreter, C code)"] += c
    pkgs = [[f"{c / n * 100:.1f}", pkg] for pkg, c in by_pkg.most_common(8)]
    rows = [[f"{c / n * 100:.1f}", f] for f, c in own.most_common(top)]
    rows2 = [[f"{c / n * 100:.1f}", f] for f, c in total.most_common(top)]
    return (
        f"{n} samples\n\n"
        + _lib.table(["self %", "package"], pkgs)
        + "\n\n"
        + _lib.table(["self %", "function (file:line)"], rows)
        + "\n\n"
        + _lib.table(["total %", "function (file:line)"], rows2)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--client", choices=("fast", "aiohttp"), default="fast")
    ap.add_argument("--model", choices=("closed", "open"), default="closed")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--rate", type=float, default=20000.0)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--target-core", type=int, default=1)
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument("--tls", action="store_true", help="over HTTPS (nginx with a throwaway CA)")
    args = ap.parse_args()
    if _lib.py_spy_path() is None:
        print("py-spy is not installed (pip install py-spy): skipped")
        return
    print(f"# profile: {args.client} client, {args.model} model, {args.duration:g} s; {_lib.machine_note()}")
    with _lib.nginx_target(args.target_core, tls=args.tls) as target, tempfile.TemporaryDirectory() as d:
        out = Path(d) / "profile.folded"
        r = _lib.run_surge(
            target.https if args.tls and target.https else target.http,
            ca_file=target.ca_file if args.tls else None,
            core=args.gen_core,
            duration_s=args.duration,
            users=args.users if args.model == "closed" else None,
            rate=args.rate if args.model == "open" else None,
            connections=max(args.users, 200),
            fast=args.client == "fast",
            profile=str(out),
        )
        print(f"# {r['rps']:,.0f} req/s while sampled (py-spy slows the process a little)\n")
        print(summarize(out, args.top))


if __name__ == "__main__":
    main()
