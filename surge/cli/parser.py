"""The command line: the argument tree and the types that check each value before any work."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from surge import __version__
from surge.cli.common import HISTORY_HELP

if TYPE_CHECKING:
    from surge.plan_set import PlanSetting


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    """A whole number of at least 0 (--debug N, --workers N...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _finite_number(text: str, *, zero: bool) -> float:
    """A finite number above 0 (or 0 too, with ``zero``): nan or inf would make a wait, a rate or
    a gate meaningless."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise argparse.ArgumentTypeError(
            f"'{text}' must be a finite number, 0 or more" if zero else f"'{text}' is not a number above 0"
        )
    return value


def _non_negative_number(text: str) -> float:
    """Seconds, milliseconds, a percentage: 0 or more."""
    return _finite_number(text, zero=True)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 picks a free one)")
    return value


def _share(text: str) -> float:
    """A share: 0.02, or 2% (as plans write them)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share (0.02 or 2%)") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share between 0 and 1 (0.02 or 2%)")
    return value


def _setting(text: str) -> PlanSetting:
    from surge.plan_set import parse_setting

    try:
        return parse_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    """A positive duration: 90s, 10m, 1h30m, 500ms, or seconds (--duration)."""
    from surge.units import parse_duration_s

    try:
        value = parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive duration (e.g. 30s, 10m, 1h)")
    return value


def _positive_number(text: str) -> float:
    """A rate: above 0 (--rate, --spawn-rate)."""
    return _finite_number(text, zero=False)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load on the command line, as k6 (--vus, --duration) and Locust (-u, -r, -t) take it."""
    group = parser.add_argument_group(
        "the plan from the command line (in place of its phases or fields; the run stores the plan as it ran)"
    )
    group.add_argument(
        "-u",
        "--users",
        "--vus",
        type=_positive_int,
        metavar="N",
        help="N virtual users for the whole run (closed model), as k6's --vus and Locust's -u",
    )
    group.add_argument(
        "--rate",
        type=_positive_number,
        metavar="R",
        help="R arrivals per second for the whole run (open model)",
    )
    group.add_argument(
        "-t",
        "--duration",
        type=_duration,
        metavar="D",
        help="the run's length (30s, 10m, 1h): with --users or --rate, theirs; alone, the plan's phases "
        "stretched or shrunk to it, their shape kept",
    )
    group.add_argument(
        "-r",
        "--spawn-rate",
        type=_positive_number,
        metavar="R",
        help="with --users: start R users per second (a ramp from 0 first), as Locust's -r",
    )
    group.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set one field of the plan, e.g. 'load.phases[sustained].rate=200' or 'defaults.timeout=5s' "
        "(lists by index or by their items' name; the value read as YAML; repeatable; as Artillery's "
        "--overrides)",
    )


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command's function, imported when the command runs: `surge --help` (and every other
    command) loads no other command's module."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(f"surge.cli.{module}"), name)(args))

    return run


def build_parser() -> argparse.ArgumentParser:
    from surge.cli.cloud import add_cloud_options

    p = argparse.ArgumentParser(
        prog="surge", description="Load tests with a verdict, locally or on AWS Lambda."
    )
    p.add_argument("--version", action="version", version=f"surge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a plan and write its report; exit 0 pass, 1 fail, 2 error")
    run.add_argument("plan", help="the plan file (YAML), e.g. examples/quickstart.yaml")
    run.add_argument(
        "--target", help="override the plan's target base URL (an A/B plan's: NAME=URL[,NAME=URL])"
    )
    run.add_argument("-o", "--out", help="report folder (default ./surge-runs/<run-id>)")
    run.add_argument(
        "--workers",
        type=_positive_int,
        help="workers that share the load: local processes (default: the plan's, else one per core); "
        "with --cloud, at least this many Lambda workers per segment",
    )
    run.add_argument(
        "--debug",
        type=_count,
        default=0,
        metavar="N",
        help="print the run's first N requests and answers, headers and bodies, to stderr (secrets masked)",
    )
    run.add_argument(
        "--repeat",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run the plan N times, one after another, and print how much each metric moved",
    )
    run.add_argument("--history", help=HISTORY_HELP)
    run.add_argument(
        "--cloud", action="store_true", help="run in the deployed AWS stack (Step Functions + Lambda)"
    )
    run.add_argument(
        "--wait", action="store_true", help="with --cloud: follow the run and exit with its verdict"
    )
    run.add_argument(
        "--lead-seconds", type=_count, help="with --cloud: time for workers' cold starts (default 30)"
    )
    run.add_argument(
        "--drill-crash-shard",
        type=_count,
        metavar="N",
        help="with --cloud, a drill: shard N of the first segment fails 2 s into its load without a "
        "result, to see a lost worker handled in your account (the run then fails its validity check)",
    )
    run.add_argument(
        "--metrics-delay",
        type=_non_negative_number,
        default=90.0,
        help="seconds to wait for CloudWatch before reading service metrics (default 90)",
    )
    run.add_argument(
        "--publish-metrics",
        action="store_true",
        help="send the run's headline metrics to CloudWatch (namespace Surge), as cloud runs do, "
        "so runs from CI machines chart on the stack's dashboard",
    )
    _add_load_options(run)
    add_cloud_options(run)
    run.set_defaults(func=_command("run", "_cmd_run"))

    val = sub.add_parser("validate", help="check a plan without sending traffic")
    val.add_argument("plan", help="the plan file (YAML) to check")
    val.add_argument(
        "--target", help="override the plan's target base URL (an A/B plan's: NAME=URL[,NAME=URL])"
    )
    val.add_argument(
        "--cloud",
        action="store_true",
        help="check it as a cloud run: s3:// data and baseline files are read when the run starts",
    )
    _add_load_options(val)
    val.set_defaults(func=_command("run", "_cmd_validate"))

    rep = sub.add_parser(
        "report", help="re-evaluate a stored run from its histograms, beside its own files (never over them)"
    )
    rep.add_argument("run", help="run folder or run id under ./surge-runs")
    rep.add_argument("--plan", help="evaluate with this plan's thresholds instead of the stored plan")
    rep.add_argument(
        "--other-plan",
        action="store_true",
        help="allow --plan to name a plan other than the one the run ran",
    )
    rep.add_argument("--history", help=HISTORY_HELP)
    rep.add_argument("--cloud", action="store_true", help="download a cloud run's reports from S3")
    rep.add_argument(
        "--out",
        help="where to write the re-evaluation (default RUN/reevaluations/<time>-<plan>/); "
        "with --cloud: where to put the downloaded files (default ./surge-runs/<run>)",
    )
    rep.add_argument("--open", action="store_true", help="with --cloud: open report.html in a browser")
    add_cloud_options(rep)
    rep.set_defaults(func=_command("reevaluate", "_cmd_report"))

    runs = sub.add_parser("runs", help="list recorded runs, newest first")
    runs.add_argument("--plan", help="only runs of this plan (by name)")
    runs.add_argument("--limit", type=_positive_int, default=20, help="at most this many (default 20)")
    runs.add_argument("--history", help=HISTORY_HELP)
    runs.add_argument("--cloud", action="store_true", help="list runs from the deployed stack's table")
    add_cloud_options(runs)
    runs.set_defaults(func=_command("history", "_cmd_runs"))

    status = sub.add_parser("status", help="a cloud run's status and progress")
    status.add_argument("run", help="the cloud run's id (surge runs --cloud lists them)")
    status.add_argument("--wait", action="store_true", help="follow it to the end; exit with its verdict")
    add_cloud_options(status)
    status.set_defaults(func=_command("commands", "_cmd_status"))

    stop = sub.add_parser("stop", help="stop a cloud run within seconds, keeping what was measured")
    stop.add_argument("run", help="the cloud run's id to stop (its partial report is kept)")
    add_cloud_options(stop)
    stop.set_defaults(func=_command("commands", "_cmd_stop"))

    cmp = sub.add_parser("compare", help="two runs side by side, printed and written as HTML")
    cmp.add_argument("run_a", metavar="RUN_A", help="run id in the history, or a run folder")
    cmp.add_argument("run_b", metavar="RUN_B", help="run id in the history, or a run folder")
    cmp.add_argument("-o", "--out", help="HTML file (default surge-runs/compare-<A>-vs-<B>.html)")
    cmp.add_argument("--history", help=HISTORY_HELP)
    cmp.add_argument(
        "--fail-if-worse",
        type=_non_negative_number,  # a finite percentage, 0 or more (nan would be a gate that never fails)
        metavar="PCT",
        help="exit 1 when B is worse than A by more than PCT percent (and beyond the metric's noise)",
    )
    cmp.add_argument(
        "--noise-runs",
        type=_positive_int,
        default=10,
        metavar="N",
        help="earlier runs of A's plan the noise band is read from (default 10)",
    )
    cmp.set_defaults(func=_command("history", "_cmd_compare"))

    doctor = sub.add_parser(
        "doctor", help="check the deployed stack against this CLI, and the caller's access"
    )
    doctor.add_argument("--cloud", action="store_true", help="check the AWS stack (the only check so far)")
    doctor.add_argument(
        "--plan",
        help="also what a run of this plan needs of the account (concurrency, Lambda's scaling, "
        "the workflow's quotas) and whether the deployment allows its hosts",
    )
    doctor.add_argument("--target", help="with --plan: the plan's target base URL, as surge run takes it")
    doctor.add_argument(
        "--workers", type=_positive_int, help="with --plan: at least this many workers per segment"
    )
    doctor.add_argument("--lead-seconds", type=_count, help="with --plan: the lead time the run would use")
    add_cloud_options(doctor)
    doctor.set_defaults(func=_command("commands", "_cmd_doctor"))

    secret = sub.add_parser("secret", help="store a value plans read as {{ $secret.NAME }}")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True, help="put: store a secret")
    put = secret_sub.add_parser("put", help="store NAME as surge/NAME (value from stdin)")
    put.add_argument("name", metavar="NAME", help="e.g. checkout/api-token")
    put.add_argument("--from-env", metavar="VAR", help="take the value from this environment variable")
    put.add_argument("--ssm", action="store_true", help="a SecureString parameter /surge/NAME instead")
    add_cloud_options(put)
    put.set_defaults(func=_command("commands", "_cmd_secret"))

    init = sub.add_parser("init", help="write a commented starter plan")
    init.add_argument(
        "path", nargs="?", default="surge-plan.yaml", help="the plan to write (default surge-plan.yaml)"
    )
    init.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    init.set_defaults(func=_command("commands", "_cmd_init"))

    imp = sub.add_parser(
        "import",
        help="write a surge plan from an Artillery script, a k6 script or a locustfile (docs/migrating.md)",
        description="Write the surge plan that does what the script declares. What cannot be mapped "
        "is listed as comments at the top of the plan. Exit 0: written and valid; 1: written, but "
        "`surge validate` finds problems (printed); 2: the script cannot be read.",
    )
    imp.add_argument("tool", choices=["artillery", "k6", "locust"], help="the tool the script is for")
    imp.add_argument("script", help="the tool's script: load-test.yml, script.js, locustfile.py")
    imp.add_argument(
        "-o", "--out", "--output", dest="output", help="the plan file to write (default: print it)"
    )
    imp.add_argument("--force", action="store_true", help="overwrite the output file")
    imp.set_defaults(func=_command("commands", "_cmd_import"))

    schema = sub.add_parser(
        "schema", help="print the plan's JSON Schema (for editors: yaml-language-server's $schema)"
    )
    schema.add_argument("-o", "--out", "--output", dest="output", help="write it to this file")
    schema.add_argument("--markdown", action="store_true", help="the plan reference (docs/plans.md) instead")
    schema.set_defaults(func=_command("commands", "_cmd_schema"))

    demo = sub.add_parser(
        "demo-target",
        help="serve the demo API on loopback for trying surge",
        description="The demo API, on loopback only. Endpoints: GET / and /health; GET /api/mocs, "
        "/api/mocs/{id}, /api/gallery?search=, /api/wishlist; POST /api/gallery/{id}/image "
        "(multipart); POST /api/login, GET /api/account, POST /api/logout (a session cookie); "
        "POST /v1/events, GET /v1/inbox, /v1/inbox/{id}, POST /v1/inbox/{id}/ack (the Triggers "
        "story); /_surge/echo (what a request carried), /_surge/stats, /_surge/config (GET, or POST "
        "to change the settings below while it runs), POST /_surge/reset.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    demo.add_argument(
        "--latency-ms",
        type=_non_negative_number,
        default=5.0,
        help="median latency added to every API answer",
    )
    demo.add_argument(
        "--jitter-ms",
        type=_non_negative_number,
        default=0.0,
        help="latency becomes lognormal, its 84th percentile at latency + jitter (ms; 0: fixed)",
    )
    demo.add_argument(
        "--error-rate", type=_share, default=0.0, help="share of API answers that are 500s: 0.02 or 2%%"
    )
    demo.add_argument(
        "--stall-every", type=_non_negative_number, default=0.0, help="seconds between stalls (0: none)"
    )
    demo.add_argument(
        "--stall-ms",
        type=_non_negative_number,
        default=0.0,
        help="how long each stall lasts (ms): the API answers nothing meanwhile",
    )
    demo.add_argument(
        "--delivery-delay-ms",
        type=_non_negative_number,
        default=0.0,
        help="how long a posted event takes to show up in /v1/inbox",
    )
    demo.add_argument(
        "--capacity",
        type=float,
        default=0.0,
        help="API requests worked on at once; the rest queue (0: no limit)",
    )
    demo.add_argument("--slow-path", default="", help="API paths starting with this take --slow-ms more")
    demo.add_argument(
        "--slow-ms", type=_non_negative_number, default=0.0, help="extra latency of --slow-path answers"
    )
    demo.set_defaults(func=_command("commands", "_cmd_demo_target"))
    return p
