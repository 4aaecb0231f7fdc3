"""The smaller commands: init, import, schema, demo-target, doctor, secret, status, stop."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from surge import __version__
from surge.cli.common import ExitStatus, aws_session
from surge.errors import UserError

if TYPE_CHECKING:
    pass


STARTER_PLAN = """\
# yaml-language-server: $schema=./surge-plan.schema.json
# A surge test plan. Validate it with `surge validate plan.yaml`, run it with `surge run plan.yaml`.
# Every field: docs/plans.md; editors complete and check it with the schema named above.
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
  # Connections are opened before the load starts; false measures cold connections (handshakes).
  # warm_connections: false

variables:
  # token: "Bearer {{ $env.API_TOKEN }}"   # read from the environment, never written to reports
  # key: "{{ $secret.my-service/api-key }}" # or from Secrets Manager (`surge secret put my-service/api-key`)

scenarios:
  - name: browse
    weight: 3
    flow:
      - get:
          url: /api/mocs
          capture: [{json: "$.data[0].id", as: mocId}]
          expect: [{status: 200}, {content_type: json}]
      - think: 300ms..1s           # varied, as users do (or {mean: 600ms, stddev: 200ms})
      - get:
          url: /api/mocs/{{ mocId }}
          name: GET /api/mocs/{id}
          expect: [{json: "$.id", equals: "{{ mocId }}"}, {max: 2s}]
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


def _cmd_doctor(args: argparse.Namespace) -> int:
    """`surge doctor --cloud`: the deployed stack against this CLI, and what this caller may do."""
    if not args.cloud:
        raise UserError("surge doctor checks the deployed stack: pass --cloud (with --region/--stack)")
    from surge.cloud.doctor import diagnose, local_definition

    plan = options = None
    if args.plan:
        from surge.cloud.execution_input import parse_options
        from surge.plan_load import load_plan

        plan = load_plan(Path(args.plan), target=args.target, cloud=True)
        given: dict[str, object] = {}
        if args.workers is not None:
            given["min_workers"] = args.workers
        if args.lead_seconds is not None:
            given["lead_seconds"] = args.lead_seconds
        options = parse_options(given)
    session = aws_session(args, "surge doctor")
    services = ("sts", "cloudformation", "stepfunctions", "lambda", "iam")
    clients = {name: session.client(name) for name in services}
    failed = 0
    findings = diagnose(
        clients,
        stack=args.stack,
        cli_version=__version__,
        template=local_definition(),
        plan=plan,
        options=options,
    )
    for finding in findings:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[finding.ok]
        print(f"{mark} {finding.check}: {finding.detail}")
        if finding.fix and finding.ok is not True:
            print(f"     -> {finding.fix}")
        failed += finding.ok is False
    return ExitStatus.OK if not failed else ExitStatus.ERROR


def _cmd_secret(args: argparse.Namespace) -> int:
    """`surge secret put NAME`: the value from stdin (or --from-env VAR), stored as surge/NAME."""
    from surge.secrets import put_secret

    if args.from_env:
        if args.from_env not in os.environ:
            raise UserError(f"--from-env {args.from_env}: the variable is not set")
        value = os.environ[args.from_env]
    else:
        if sys.stdin.isatty():
            print(f"value for {args.name} (then Enter, Ctrl-D):", file=sys.stderr)
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise UserError(f"no value for {args.name}: pipe it on stdin or pass --from-env VAR")
    session = aws_session(args, f"surge secret put {args.name}")
    client = session.client("ssm" if args.ssm else "secretsmanager")
    stored = put_secret(
        args.name, value, ssm=client if args.ssm else None, secretsmanager=None if args.ssm else client
    )
    kind = "ssm" if args.ssm else "secret"
    print(f"stored {stored}; plans read it as {{{{ ${kind}.{args.name} }}}}")
    return ExitStatus.OK


def _cmd_status(args: argparse.Namespace) -> int:
    from surge.cli.cloud import cmd_status

    return cmd_status(args)


def _cmd_stop(args: argparse.Namespace) -> int:
    from surge.cli.cloud import cmd_stop

    return cmd_stop(args)


def write_file(path: Path, text: str) -> None:
    """Write a file the user named, or say why not (exit 2), never a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}; name a file in a folder you can write"
        ) from None


def _cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    from surge.plan_schema import SCHEMA_FILE, schema_json

    write_file(path, STARTER_PLAN)
    # The schema the plan's first line names, beside it: editors with yaml-language-server use it.
    schema = path.parent / SCHEMA_FILE
    write_file(schema, schema_json())
    print(
        f"wrote {path} (and {schema}, for your editor); start the demo API with `surge demo-target`, "
        f"then `surge run {path}`"
    )
    return ExitStatus.OK


def _cmd_import(args: argparse.Namespace) -> int:
    from surge.importers.cli import cmd_import

    return cmd_import(args)


def _cmd_schema(args: argparse.Namespace) -> int:
    from surge.plan_schema import reference_markdown, schema_json

    text = reference_markdown() if args.markdown else schema_json()
    if args.output:
        write_file(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
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
        capacity=args.capacity,
        slow_path=args.slow_path,
        slow_ms=args.slow_ms,
    )
    try:
        serve(args.host, args.port, config)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # the port is taken, or not ours to bind
        reason = exc.strerror or str(exc)
        raise UserError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port}: {reason}; "
            "pick another port (--port 0 picks a free one)"
        ) from None
    return ExitStatus.OK
