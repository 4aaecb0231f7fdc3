"""What every command shares: exit codes, the history a command reads, AWS sessions."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge.errors import UserError

if TYPE_CHECKING:
    from surge.plan import Plan
    from surge.store.history import RunHistory


class ExitStatus(IntEnum):
    OK = 0  # every check passed
    CHECKS_FAILED = 1
    ERROR = 2  # usage, plan, target or environment error
    INTERRUPTED = 130  # Ctrl-C: the report is written and marked partial


HISTORY_HELP = (
    "run history: a SQLite file or dynamodb://TABLE (default: $SURGE_HISTORY, else the project's "
    "surge-runs/history.sqlite: the nearest folder above the plan that has one or is a git root)"
)


def history_for(args: argparse.Namespace, plan_path: Path | None = None) -> RunHistory:
    """--history, else SURGE_HISTORY, else the history of the plan's project (or the current
    folder's project, for commands without a plan)."""
    from surge.store.history import open_history

    return open_history(args.history, start=plan_path.parent if plan_path is not None else Path.cwd())


def targets_text(plan: Plan, mask: Callable[[str], str]) -> str:
    if not plan.targets:
        return mask(plan.target)
    each = ", ".join(f"{name} {mask(url)}" for name, url in plan.targets.items())
    how = "each with the whole load" if plan.target_load == "each" else "sharing the load"
    return f"{len(plan.targets)} targets, {how}: {each}"


def aws_session(args: argparse.Namespace, purpose: str) -> Any:
    """A boto3 session with credentials and a region, or a usage error naming what is missing."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from surge.metrics.aws import credentials_available

    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        raise UserError(f"{purpose}: {exc}") from None
    if not credentials_available(session):
        raise UserError(
            f"{purpose}: no AWS credentials found: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        )
    if not session.region_name:
        raise UserError(f"{purpose}: no AWS region set: pass --region or set AWS_REGION")
    return session


def exit_for(verdict: str) -> int:
    return {"pass": ExitStatus.OK, "fail": ExitStatus.CHECKS_FAILED}.get(verdict, ExitStatus.ERROR)
