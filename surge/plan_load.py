"""Loading a plan: a file or data to a Plan, every problem named (structure, then cross-field
checks), with the command line's --target, load flags and --set put in first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import (
    ValidationError,
)

from surge.errors import PlanError
from surge.load_override import LoadOverride
from surge.plan import Plan
from surge.plan_checks import pydantic_problems, semantic_problems
from surge.plan_set import PlanSetting, apply_settings


def plan_model(
    data: object,
    *,
    target: str | None = None,
    load: LoadOverride | None = None,
    settings: tuple[PlanSetting, ...] = (),
) -> Plan:
    """The plan's structure only (fields, types, limits), no cross-field checks and no files read.
    ``target``: a URL for the plan's one target, or for an A/B plan NAME=URL pairs separated by
    commas (``--target ecs=https://old,sst=https://new``). ``load``: the load given on the command
    line, put in place of the plan's. ``settings``: fields set on the command line (--set), put in
    first. Raises PlanError listing every problem."""
    if not isinstance(data, dict):
        raise PlanError("the plan must be a YAML mapping with name, target, load and scenarios")
    if settings:
        try:
            data = apply_settings(data, settings)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    if load and isinstance(data.get("load"), Mapping):
        data = {**data, "load": load.apply(data["load"])}
    if target is not None and isinstance(data.get("targets"), dict) and data["targets"]:
        data = {**data, "targets": _override_targets(data["targets"], target)}
    elif target is not None:
        data = {**data, "target": target}
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError("the plan is invalid:", pydantic_problems(exc)) from None


def _override_targets(targets: Mapping[str, object], given: str) -> dict[str, object]:
    """An A/B plan's targets with --target's NAME=URL pairs put in (the others stay as written)."""
    out = dict(targets)
    for pair in (p.strip() for p in given.split(",") if p.strip()):
        name, sep, url = pair.partition("=")
        if not sep or name.strip() not in targets:
            raise PlanError(
                f"--target {given}: this plan names its targets ({', '.join(targets)}); give each new URL "
                f"as NAME=URL, e.g. --target {next(iter(targets))}=https://api.example.com"
            )
        out[name.strip()] = url.strip()
    return out


def parse_plan(
    data: object,
    *,
    base_dir: Path | None = None,
    target: str | None = None,
    environ: Mapping[str, str] | None = None,
    cloud: bool = False,
    load: LoadOverride | None = None,
    settings: tuple[PlanSetting, ...] = (),
) -> Plan:
    """Validate a plan's data. Raises PlanError listing every problem found. ``cloud``: see
    :func:`semantic_problems`."""
    plan = plan_model(data, target=target, load=load, settings=settings)
    problems = semantic_problems(plan, base_dir or Path.cwd(), environ, cloud=cloud)
    if problems:
        raise PlanError("the plan is invalid:", problems)
    return plan


def load_plan(
    path: Path,
    *,
    target: str | None = None,
    environ: Mapping[str, str] | None = None,
    cloud: bool = False,
    load: LoadOverride | None = None,
    settings: tuple[PlanSetting, ...] = (),
) -> Plan:
    from surge.plan_document import MAX_PLAN_BYTES, parse_document

    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PLAN_BYTES + 1)  # never read a huge file whole to refuse it
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    from surge.foreign_script import foreign_script

    tool = foreign_script(path.name, raw)
    if tool is None:
        data = parse_document(raw, str(path), size=size)
        tool = foreign_script(path.name, raw, data)
    if tool is not None:
        raise PlanError(
            f"{path} looks like {tool.title} script, not a surge plan; write the plan that does the "
            f"same with `surge import {tool.command} {path} -o plan.yaml` (docs/migrating.md)"
        )
    return parse_plan(
        data, base_dir=path.parent, target=target, environ=environ, cloud=cloud, load=load, settings=settings
    )
