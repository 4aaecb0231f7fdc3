"""Memory of a worker receiving huge responses: peak RSS stays bounded whatever the body size.

    python bench/body_memory.py --mb 400 --rate 1 --duration 3

A loopback server streams --mb MiB per response (never holding it itself); `surge run` sends
--rate requests/s for --duration seconds, each with a regex capture (so the body would have to be
read), through the fast client and through aiohttp (a Connection header sends it there). Printed:
the peak RSS of the largest process of the run (surge or its worker), the error classes (bodies over
defaults.max_body fail their capture as too_large) and the bytes counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import yaml
from aiohttp import web


def serve(mb: int) -> tuple[int, threading.Event]:
    started, stop = threading.Event(), threading.Event()
    port: list[int] = []

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * (1 << 20)
        for _ in range(mb):
            await resp.write(chunk)
        await resp.write(b"token=found")
        await resp.write_eof()
        return resp

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/big", big)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(runner.addresses[0][1])
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    started.wait(10)
    return port[0], stop


def run(port: int, headers: dict[str, str], rate: float, duration: float) -> dict[str, object]:
    plan = {
        "name": "body-memory",
        "target": f"http://127.0.0.1:{port}",
        "workers": 1,
        "defaults": {"timeout": "60s"},
        "load": {"phases": [{"duration": f"{duration}s", "rate": rate}]},
        "scenarios": [
            {
                "name": "big",
                "flow": [
                    {
                        "get": {
                            "url": "/big",
                            "headers": headers,
                            "capture": [{"regex": "token=(\\w+)", "as": "t"}],
                        }
                    }
                ],
            }
        ],
        "thresholds": ["http.error_rate < 100%"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        path.write_text(yaml.safe_dump(plan))
        # A wrapper process per run: its children's ru_maxrss is this run's peak alone.
        measure = "import resource,subprocess,sys; subprocess.run(sys.argv[1:], capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                measure,
                sys.executable,
                "-m",
                "surge.cli",
                "run",
                str(path),
                "--out",
                str(Path(tmp) / "out"),
                "--history",
                str(Path(tmp) / "h.sqlite"),
            ],
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        peak_kib = int(out.stdout.strip())
        report = json.loads((Path(tmp) / "out" / "report.json").read_text())
    return {
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "requests": report["totals"]["requests"],
        "errors": {c: n for e in report["endpoints"].values() for c, n in e["errors_by_class"].items()},
        "bytes_received": report["totals"]["bytes_received"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=3.0)
    args = ap.parse_args()
    port, stop = serve(args.mb)
    try:
        for name, headers in (("fast client", {}), ("aiohttp", {"Connection": "keep-alive"})):
            print(
                f"{name:12s} {args.mb} MiB responses:",
                json.dumps(run(port, headers, args.rate, args.duration)),
            )
    finally:
        stop.set()


if __name__ == "__main__":
    main()
