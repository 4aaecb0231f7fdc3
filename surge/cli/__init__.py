"""`surge ...`: the command line's entry point. Each command lives in its own module here: `run`
(validate and run), `reevaluate` (report RUN), `history` (runs, compare), `cloud` (the cloud
commands), `commands` (the smaller ones); `parser` builds the argument tree and `terminal` prints
a run's outcome."""

from __future__ import annotations

import sys

from surge.cli.common import ExitStatus
from surge.cli.parser import build_parser
from surge.errors import UserError

__all__ = ["ExitStatus", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    try:
        # A Ctrl-C while the parser and the command's modules load is an interrupt like any other.
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UserError as exc:
        from surge.redact import NO_REDACTION

        print(f"surge: {NO_REDACTION.text(str(exc))}", file=sys.stderr)  # userinfo in a URL it names
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        print("surge: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
