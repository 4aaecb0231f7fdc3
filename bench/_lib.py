"""Shared pieces of the benchmarks: a pinned nginx target, pinned peer runs, output parsers, tables.

Every benchmark runs the target on one core and the generator on another (``taskset``), on
127.0.0.1 only, and every process it starts is bounded in time and stopped by the script.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
# Where `npm install --prefix` put autocannon and artillery (see bench/README in RESULTS.md).
NODE_PREFIXES = (BENCH_DIR / "node_modules", Path("/tmp/benchnode/node_modules"))
# A separate virtualenv for Locust keeps its gevent stack out of surge's environment.
LOCUST_CANDIDATES = (Path("/tmp/locust-venv/bin/locust"),)

# The known latency distribution served at /dist: (weight %, delay s). p50 falls inside the
# 2 ms step and p99 inside the 20 ms step, so both have an unambiguous true value.
DIST_STEPS: tuple[tuple[float, float], ...] = (
    (40, 0.001),
    (30, 0.002),
    (20, 0.004),
    (8.5, 0.008),
    (1.5, 0.020),
)
FIXED_DELAY_S = 0.005

if str(REPO) not in sys.path:  # the scripts run as files: make `surge` importable from the checkout
    sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def pinned(core: int | None, cmd: Sequence[str]) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if core is not None and shutil.which("taskset") else list(cmd)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def node_bin(name: str) -> Path | None:
    for prefix in NODE_PREFIXES:
        p = prefix / ".bin" / name
        if p.exists():
            return p
    return None


def locust_bin() -> Path | None:
    for p in LOCUST_CANDIDATES:
        if p.exists():
            return p
    found = shutil.which("locust")
    return Path(found) if found else None


@dataclass
class Target:
    http: str
    https: str | None
    ca_file: Path | None
    workdir: Path
    count_log: Path
    has_echo: bool
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def count_arrivals(self) -> list[float]:
        """Wall-clock arrival instants of the requests /count received (nginx's $msec)."""
        # nginx flushes its buffered log on reopen (USR1); give it a moment to write.
        if self.proc is not None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.3)
        if not self.count_log.exists():
            return []
        out = []
        for line in self.count_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(float(line.strip()))
        return out


def _make_certs(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl."""
    ca_key, ca, key, csr, crt, ext = (
        d / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "san")
    )
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run = [
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key)],
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-out",
            str(ca),
            "-days",
            "2",
            "-subj",
            "/CN=surge bench CA",
        ],
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
        ["openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(crt),
            "-days",
            "2",
            "-extfile",
            str(ext),
        ],
    ]
    for cmd in run:
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    return ca, crt, key


def nginx_conf(d: Path, http_port: int, https_port: int | None, certs: tuple[Path, Path, Path] | None) -> str:
    has_echo = ECHO_MODULE.exists()
    split = " ".join(f"{w}% {s};" for w, s in DIST_STEPS[:-1]) + f" * {DIST_STEPS[-1][1]};"
    delays = (
        f"""
    location = /fixed {{ default_type text/plain; echo_sleep {FIXED_DELAY_S}; echo ok; }}
    location = /dist {{ default_type text/plain; echo_sleep $bench_delay; echo ok; }}"""
        if has_echo
        else ""
    )
    locations = f"""
    location = / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    location = /count {{
      access_log {d / "count.log"} arrivals buffer=256k flush=1s;
      default_type application/json; return 200 '{{"ok":true}}';
    }}{delays}"""
    tls = ""
    if https_port is not None and certs is not None:
        tls = f"""
  server {{
    listen 127.0.0.1:{https_port} ssl;
    ssl_certificate {certs[1]};
    ssl_certificate_key {certs[2]};
    {locations}
  }}"""
    return f"""{"load_module " + str(ECHO_MODULE) + ";" if has_echo else ""}
worker_processes 1;
daemon off;
error_log {d / "error.log"} warn;
pid {d / "nginx.pid"};
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  log_format arrivals '$msec';
  split_clients "${{request_id}}" $bench_delay {{ {split} }}
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{http_port};
    {locations}
  }}{tls}
}}
"""


@contextlib.contextmanager
def nginx_target(core: int | None = 1, *, tls: bool = True) -> Iterator[Target]:
    """Debian's nginx pinned to ``core`` on 127.0.0.1, plain HTTP and (optionally) HTTPS."""
    if not have("nginx"):
        raise RuntimeError("nginx is not installed (apt-get install nginx libnginx-mod-http-echo)")
    d = Path(tempfile.mkdtemp(prefix="surge-bench-nginx-"))
    certs = _make_certs(d) if tls and have("openssl") else None
    http_port = free_port()
    https_port = free_port() if certs else None
    conf = d / "nginx.conf"
    conf.write_text(nginx_conf(d, http_port, https_port, certs))
    proc = subprocess.Popen(
        pinned(core, ["nginx", "-c", str(conf), "-p", str(d), "-e", str(d / "error.log")]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_port(http_port)
            if https_port:
                wait_port(https_port)
        except RuntimeError:
            proc.kill()
            _, err = proc.communicate(timeout=5)
            raise RuntimeError(f"nginx did not start: {err.decode(errors='replace')[-500:]}") from None
        yield Target(
            http=f"http://127.0.0.1:{http_port}",
            https=f"https://127.0.0.1:{https_port}" if https_port else None,
            ca_file=certs[0] if certs else None,
            workdir=d,
            count_log=d / "count.log",
            has_echo=ECHO_MODULE.exists(),
            proc=proc,
        )
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: nginx's master stops its worker too
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(d, ignore_errors=True)


# -- running tools ---------------------------------------------------------------------------------


def run(
    cmd: Sequence[str], timeout_s: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one bounded command; on timeout its whole process group is killed."""
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise RuntimeError(f"{cmd[0]} ran past {timeout_s:.0f} s: {err[-400:]}") from None
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


@dataclass
class ToolResult:
    tool: str
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    requests: int | None = None
    errors: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> ToolResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    avg = re.search(r"^\s+Latency\s+(\S+)", out, re.M)
    n_err = int(errs.group(1)) if errs else 0
    if sock:
        n_err += sum(int(g) for g in sock.groups())
    return ToolResult(
        "wrk",
        float(rps.group(1)) if rps else None,
        _ms(p50.group(1)) if p50 else None,
        _ms(p99.group(1)) if p99 else None,
        int(total.group(1)) if total else None,
        n_err,
        extra={"avg_ms": _ms(avg.group(1)) if avg else None},
    )


def run_wrk(url: str, *, core: int | None, connections: int, duration_s: float) -> ToolResult:
    if not have("wrk"):
        return ToolResult("wrk", None, None, None, note="not installed (apt-get install wrk)")
    cmd = pinned(
        core, ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency", url]
    )
    res = run(cmd, duration_s + 30)
    return parse_wrk(res.stdout)


def run_autocannon(url: str, *, core: int | None, connections: int, duration_s: float) -> ToolResult:
    exe = node_bin("autocannon")
    if exe is None:
        return ToolResult(
            "autocannon", None, None, None, note="not installed (npm install --prefix bench autocannon)"
        )
    cmd = pinned(
        core, [str(exe), "-c", str(connections), "-d", str(max(1, round(duration_s))), "--json", url]
    )
    # autocannon does not verify certificates by default; the variable makes sure of it.
    res = run(cmd, duration_s + 60, env={"NODE_TLS_REJECT_UNAUTHORIZED": "0"})
    try:
        data = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ToolResult("autocannon", None, None, None, note=f"no result: {res.stderr[-200:]}")
    total = int(data["requests"]["total"])
    dur = float(data.get("duration") or duration_s)
    errors = int(data.get("errors", 0)) + int(data.get("non2xx", 0)) + int(data.get("timeouts", 0))
    return ToolResult(
        "autocannon", total / dur, data["latency"]["p50"], data["latency"]["p99"], total, errors
    )


LOCUSTFILE = """
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser


class Bench(FastHttpUser):
    wait_time = constant(0)
    insecure = True  # the bench target's certificate is self-signed

    @task
    def get(self):
        self.client.get("/")
"""


def _num(text: str) -> float | None:
    """A figure from a CSV cell; Locust writes N/A when it has none (a very short run)."""
    try:
        return float(text)
    except ValueError:
        return None


def run_locust(base_url: str, *, core: int | None, users: int, duration_s: float) -> ToolResult:
    exe = locust_bin()
    if exe is None:
        return ToolResult("locust", None, None, None, note="not installed (pip install locust)")
    with tempfile.TemporaryDirectory(prefix="surge-bench-locust-") as d:
        lf = Path(d) / "locustfile.py"
        lf.write_text(LOCUSTFILE)
        csv = Path(d) / "out"
        # Users start at once (-r = users), a single process (no --processes): one core's worth.
        cmd = pinned(
            core,
            [
                str(exe),
                "-f",
                str(lf),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{max(1, round(duration_s))}s",
                "-H",
                base_url,
                "--csv",
                str(csv),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "1",
            ],
        )
        started = time.monotonic()
        res = run(cmd, duration_s + 60)
        elapsed = time.monotonic() - started
        stats = csv.with_name("out_stats.csv")
        if not stats.exists():
            return ToolResult(
                "locust", None, None, None, note=f"no result: {res.stderr.strip().splitlines()[-1:]}"
            )
        import csv as csvmod

        rows = list(csvmod.DictReader(stats.open()))
    agg = next((r for r in rows if r["Name"] == "Aggregated"), rows[-1])
    total = int(agg["Request Count"])
    return ToolResult(
        "locust",
        _num(agg["Requests/s"]),
        _num(agg["50%"]),
        _num(agg["99%"]),
        total,
        int(agg["Failure Count"]),
        note=f"wall {elapsed:.1f} s incl. start",
    )


ARTILLERY_PROCESSOR = """
// Each virtual user loops until the deadline, so N users hold N busy connections (closed model),
// the same shape as the other tools' -c N.
let deadline = null;
module.exports = {
  untilDeadline(context, next) {
    if (deadline === null) deadline = Date.now() + Number(process.env.BENCH_DURATION_MS);
    return next(Date.now() < deadline);
  },
};
"""


def run_artillery(base_url: str, *, core: int | None, users: int, duration_s: float) -> ToolResult:
    exe = node_bin("artillery")
    if exe is None:
        return ToolResult(
            "artillery", None, None, None, note="not installed (npm install --prefix bench artillery)"
        )
    with tempfile.TemporaryDirectory(prefix="surge-bench-artillery-") as d:
        proc_js = Path(d) / "proc.js"
        proc_js.write_text(ARTILLERY_PROCESSOR)
        script = {
            "config": {
                "target": base_url,
                "processor": str(proc_js),
                "phases": [{"duration": 1, "arrivalCount": users}],
                "tls": {"rejectUnauthorized": False},
                "http": {"timeout": 30, "pool": users},
            },
            "scenarios": [{"flow": [{"loop": [{"get": {"url": "/"}}], "whileTrue": "untilDeadline"}]}],
        }
        sp = Path(d) / "script.json"
        sp.write_text(json.dumps(script))
        out = Path(d) / "report.json"
        env = {
            "BENCH_DURATION_MS": str(int(duration_s * 1000)),
            "ARTILLERY_DISABLE_TELEMETRY": "true",
            "ARTILLERY_TELEMETRY_DEFAULTS": "{}",
            "NODE_TLS_REJECT_UNAUTHORIZED": "0",
        }
        # Artillery runs its virtual users in worker threads; one core's worth: one worker.
        env["WORKERS"] = "1"
        res = run(
            pinned(core, [str(exe), "run", "--quiet", "--output", str(out), str(sp)]), duration_s + 120, env
        )
        if not out.exists():
            return ToolResult(
                "artillery", None, None, None, note=f"did not run: {(res.stderr or res.stdout)[-300:]}"
            )
        data = json.loads(out.read_text())
    agg = data["aggregate"]
    counters = agg.get("counters", {})
    total = int(counters.get("http.responses", 0))
    errors = sum(int(v) for k, v in counters.items() if k.startswith("errors."))
    rt = agg.get("summaries", {}).get("http.response_time", {})
    # Throughput over the time the users were looping (the deadline), not Artillery's start-up.
    return ToolResult("artillery", total / duration_s, rt.get("median"), rt.get("p99"), total, errors)


# -- surge ------------------------------------------------------------------------------------------


def run_surge(
    url: str,
    *,
    core: int | None,
    duration_s: float,
    users: int | None = None,
    rate: float | None = None,
    phases: list[dict[str, Any]] | None = None,
    connections: int = 50,
    max_in_flight: int = 10_000,
    path: str = "/",
    fast: bool = True,
    ca_file: Path | None = None,
    profile: str | None = None,
    extra: dict[str, Any] | None = None,
    build: Path = REPO,
) -> dict[str, Any]:
    """One surge worker process (the engine as a Lambda worker runs it), pinned to ``core``;
    ``build``: the checkout whose engine (and whose own driver) runs, this one by default."""
    spec: dict[str, Any] = {
        "url": url,
        "path": path,
        "duration": duration_s,
        "users": users,
        "rate": rate,
        "phases": phases,
        "connections": connections,
        "max_in_flight": max_in_flight,
        **(extra or {}),
    }
    env = {"SURGE_FAST_CLIENT": "1" if fast else "0", "PYTHONPATH": str(build)}
    if ca_file is not None:
        env["SSL_CERT_FILE"] = str(ca_file)  # trust the bench CA, the way a user trusts theirs
    driver = build / "bench" / "_surge_run.py"
    cmd = [sys.executable, str(driver), json.dumps(spec)]
    if profile:
        cmd = [py_spy_path() or "py-spy", "record", "-r", "250", "-o", profile]
        fmt = (
            "raw"
            if profile.endswith(".folded")
            else "speedscope"
            if profile.endswith(".json")
            else "flamegraph"
        )
        cmd += ["-f", fmt, "--nonblocking", "--", sys.executable]
        cmd += [str(driver), json.dumps(spec)]
    res = run(pinned(core, cmd), duration_s + 60, env)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"surge run failed ({res.returncode}): {res.stderr[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- output ----------------------------------------------------------------------------------------


def run_surge_cli(
    url: str, *, core: int | None, duration_s: float, rate: float, path: str = "/", interval_s: float = 1.0
) -> dict[str, Any]:
    """`surge run` as a user runs it (the CLI, its worker process, the live view, the report), one
    worker pinned to ``core``; returns what the generator's own pauses show in its report."""
    with tempfile.TemporaryDirectory(prefix="surge-bench-cli-") as d:
        plan = Path(d) / "plan.yaml"
        plan.write_text(
            json.dumps(
                {
                    "name": "bench-cli",
                    "target": url,
                    "workers": 1,
                    "interval": interval_s,
                    "load": {"phases": [{"duration": duration_s, "rate": rate}], "max_in_flight": 50_000},
                    "scenarios": [{"name": "get", "flow": [{"get": path}]}],
                    "limits": {"max_rate": 1e7},
                    "seed": 1,
                    "thresholds": ["http.requests > 0"],
                }
            )
        )
        out = Path(d) / "out"
        cmd = pinned(core, [sys.executable, "-m", "surge.cli", "run", str(plan), "--out", str(out)])
        cmd += ["--history", str(Path(d) / "h.sqlite")]
        proc = run(cmd, timeout_s=duration_s + 60, env={"PYTHONPATH": str(REPO)})
        if not (out / "report.json").is_file():
            raise RuntimeError(f"surge run failed ({proc.returncode}): {proc.stderr[-400:]}")
        rep = json.loads((out / "report.json").read_text())
    lat, st, gen = rep["latency_ms"], rep["service_time_ms"], rep["generator"]
    return {
        "rps": rep["totals"]["throughput_rps"],
        "rt_minus_st_p50_ms": lat["p50"] - st["p50"],
        "rt_minus_st_p99_ms": lat["p99"] - st["p99"],
        "st_p99_ms": st["p99"],
        "max_loop_lag_ms": gen["max_loop_lag_ms"],
        "cpu_pct": gen["cpu_pct"],
        "dropped": rep["totals"]["dropped_iterations"],
        "verdict": rep["verdict"],
    }


def fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return " ".join(v.split())[:160]  # a tool's multi-line error stays on its table row
    if isinstance(v, float):
        return f"{v:,.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pastes into RESULTS.md as is)."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def machine_note() -> str:
    load = os.getloadavg()[0]
    cpu = ""
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else ""
    return (
        f"{os.cpu_count()} cores ({cpu}), load average {load:.2f} at start, python {sys.version.split()[0]}"
    )


def py_spy_path() -> str | None:
    """py-spy beside this interpreter (a venv's), else on PATH; None when not installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")
