"""`surge ...`: argument parsing only; the work is done by the core modules."""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

from surge import __version__
from surge.errors import UserError


class ExitStatus(IntEnum):
    OK = 0  # every check passed
    CHECKS_FAILED = 1
    ERROR = 2  # usage, plan, target or environment error
    INTERRUPTED = 130  # Ctrl-C: the report is written and marked partial


STARTER_PLAN = """\
# A surge test plan. Validate it with `surge validate plan.yaml`, run it with `surge run plan.yaml`.
name: my-service
# Base URL of the service under test. Requests go only to this host unless allow_hosts says otherwise.
target: http://127.0.0.1:8080
# allow_hosts: [api.internal.example.com]

defaults:
  headers: {Accept: application/json}
  timeout: 10s

load:
  # Open model: `rate` = scenario iterations started per second (ramp with ramp_to).
  # Closed model instead: `users: 50` (virtual users), with `think_time` between iterations.
  phases:
    - {name: warm-up, duration: 10s, rate: 5}
    - {name: ramp, duration: 20s, rate: 5, ramp_to: 50}
    - {name: sustained, duration: 30s, rate: 50}
  # Iterations that cannot start because this many are already in flight are counted as dropped.
  max_in_flight: 1000

variables:
  # token: "Bearer {{ $env.API_TOKEN }}"   # read from the environment, never written to reports

scenarios:
  - name: browse
    weight: 3
    flow:
      - get:
          url: /api/mocs
          capture: [{json: "$.data[0].id", as: mocId}]
          expect: [{status: 200}, {content_type: json}]
      - think: 500ms
      - get:
          url: /api/mocs/{{ mocId }}
          name: GET /api/mocs/{id}
  - name: ingest
    weight: 1
    flow:
      - post:
          url: /v1/events
          json: {type: order.created, id: "{{ $uuid }}", amount: "{{ $randint(1, 500) }}"}
          expect: [{status: 202}]

# Checks: the run fails (exit 1) when one does not hold.
thresholds:
  - http.latency.p95 < 500ms
  - http.error_rate < 1%
  - http.throughput > 10/s
  - 'endpoint["POST /v1/events"].p99 < 300ms'
  - {check: http.error_rate < 10%, abort_on_fail: true, grace: 10s}
"""


def _cmd_validate(args: argparse.Namespace) -> int:
    from surge.plan import load_plan

    plan = load_plan(Path(args.plan), target=args.target)
    phases = ", ".join(
        f"{p.name or f'phase {i + 1}'} {p.duration:g}s" for i, p in enumerate(plan.load.phases)
    )
    print(f"plan '{plan.name}' is valid: {plan.load.model} model, {plan.load.duration_s:g}s ({phases}),")
    print(f"  {len(plan.scenarios)} scenario(s), {len(plan.thresholds)} threshold(s), target {plan.target}")
    return ExitStatus.OK


def _cmd_run(args: argparse.Namespace) -> int:
    from surge.plan import load_plan
    from surge.progress import ProgressPrinter
    from surge.runner import run_local
    from surge.store.local import new_run_id, write_run

    plan_path = Path(args.plan)
    plan = load_plan(plan_path, target=args.target)
    run_id = new_run_id(plan.name)
    out_dir = Path(args.out) if args.out else Path("surge-runs") / run_id
    printer = ProgressPrinter(plan.load.duration_s)
    print(f"surge {__version__}: running '{plan.name}' against {plan.target} (run {run_id})", file=sys.stderr)
    try:
        run = run_local(
            plan, run_id=run_id, base_dir=plan_path.parent, workers=args.workers, progress=printer
        )
    finally:
        printer.finish()
    paths = write_run(out_dir, plan, run.stats, run.report)
    _print_summary(run.report, paths)
    if run.interrupted:
        return ExitStatus.INTERRUPTED
    return _exit_for(run.report["verdict"])


def _exit_for(verdict: str) -> int:
    return {"pass": ExitStatus.OK, "fail": ExitStatus.CHECKS_FAILED}.get(verdict, ExitStatus.ERROR)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "per_s":
        return f"{value:.1f}/s"
    if unit == "usd":
        return f"${value:,.2f}"
    return f"{value:g}"


def _print_summary(report: object, paths: dict[str, Path]) -> None:
    from surge.report_model import Report

    rep: Report = report  # type: ignore[assignment]
    t = rep["totals"]
    lat = rep["latency_ms"]
    print()
    print(
        f"requests {t['requests']}  errors {t['errors']} ({t['error_rate'] * 100:.2f}%)  "
        f"throughput {t['throughput_rps']:.1f}/s  dropped {t['dropped_iterations']}"
    )
    print(
        f"latency (corrected) p50 {_fmt(lat['p50'], 'ms')}  p95 {_fmt(lat['p95'], 'ms')}  p99 {_fmt(lat['p99'], 'ms')}"
    )
    if rep["generator"]["saturated"]:
        print("WARNING: the load generator saturated; latencies may include its own queueing:")
        for note in rep["generator"]["notes"]:
            print(f"  - {note}")
    for c in rep["checks"]:
        mark = {"pass": "PASS", "fail": "FAIL", "no-data": "NO DATA"}[c["status"]]
        print(f"  [{mark:>7}] {c['name']:<45} measured {_fmt(c['measured'], c['unit'])}")
    verdict = rep["verdict"].upper()
    if rep["partial"]:
        why = f"aborted: {rep['aborted_by']}" if rep["aborted_by"] else "stopped early"
        verdict += f" (partial, {why})"
    print(f"verdict: {verdict}")
    if rep["error"]:
        print(f"error: {rep['error']}")
    print(f"report: {paths.get('html', paths.get('json'))}")
    print(f"        {paths.get('md')}  {paths.get('json')}  {paths.get('junit')}")


def _cmd_report(args: argparse.Namespace) -> int:
    """Re-render a stored run from its merged histograms (e.g. after changing thresholds)."""
    from surge.plan import load_plan
    from surge.store.local import PLAN_FILE, read_report, read_results, write_run
    from surge.summary import build_report

    run_dir = Path(args.run)
    if not (run_dir / "results.json").exists():
        run_dir = Path("surge-runs") / args.run
    if not (run_dir / "results.json").exists():
        raise UserError(f"no stored run at '{args.run}': pass a run folder or an id under ./surge-runs")
    plan = load_plan(Path(args.plan) if args.plan else run_dir / PLAN_FILE)
    old = read_report(run_dir)
    stats = read_results(run_dir)
    report = build_report(
        plan, stats, run_id=old["run_id"], partial=old["partial"], aborted_by=old["aborted_by"]
    )
    paths = write_run(run_dir, plan, stats, report)
    _print_summary(report, paths)
    return _exit_for(report["verdict"])


def _cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    path.write_text(STARTER_PLAN)
    print(f"wrote {path}; start the demo API with `surge demo-target`, then `surge run {path}`")
    return ExitStatus.OK


def _cmd_demo_target(args: argparse.Namespace) -> int:
    from surge.demo_target import DemoConfig, serve

    config = DemoConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        stall_every_s=args.stall_every,
        stall_ms=args.stall_ms,
        delivery_delay_ms=args.delivery_delay_ms,
    )
    try:
        serve(args.host, args.port, config)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return ExitStatus.OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="surge", description="Load tests with a verdict, locally or on AWS Lambda."
    )
    p.add_argument("--version", action="version", version=f"surge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a plan and write its report; exit 0 pass, 1 fail, 2 error")
    run.add_argument("plan")
    run.add_argument("--target", help="override the plan's target base URL")
    run.add_argument("--out", help="report folder (default ./surge-runs/<run-id>)")
    run.add_argument(
        "--workers", type=int, help="local worker processes (default: plan's, else one per core)"
    )
    run.set_defaults(func=_cmd_run)

    val = sub.add_parser("validate", help="check a plan without sending traffic")
    val.add_argument("plan")
    val.add_argument("--target", help="override the plan's target base URL")
    val.set_defaults(func=_cmd_validate)

    rep = sub.add_parser("report", help="re-render a stored run's reports from its histograms")
    rep.add_argument("run", help="run folder or run id under ./surge-runs")
    rep.add_argument("--plan", help="evaluate with this plan's thresholds instead of the stored plan")
    rep.set_defaults(func=_cmd_report)

    init = sub.add_parser("init", help="write a commented starter plan")
    init.add_argument("path", nargs="?", default="surge-plan.yaml")
    init.add_argument("--force", action="store_true")
    init.set_defaults(func=_cmd_init)

    demo = sub.add_parser("demo-target", help="serve the demo API on loopback for trying surge")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--latency-ms", type=float, default=5.0)
    demo.add_argument("--jitter-ms", type=float, default=0.0)
    demo.add_argument("--error-rate", type=float, default=0.0)
    demo.add_argument("--stall-every", type=float, default=0.0, help="seconds between stalls (0: none)")
    demo.add_argument("--stall-ms", type=float, default=0.0)
    demo.add_argument("--delivery-delay-ms", type=float, default=0.0)
    demo.set_defaults(func=_cmd_demo_target)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"surge: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        print("surge: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
