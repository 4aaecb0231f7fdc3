"""`surge import TOOL SCRIPT [-o PLAN]`: read the script, write the plan, say what was not mapped and
whether the plan validates."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from surge.errors import PlanError, UserError
from surge.importers import Imported, ScriptError, rebase_paths, render

MAX_SCRIPT_BYTES = 1 << 20


def read_script(tool: str, path: Path) -> Imported:
    """The script at ``path`` imported (UserError: unreadable, or not that tool's script)."""
    try:
        raw = path.read_bytes()[: MAX_SCRIPT_BYTES + 1]
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SCRIPT_BYTES:
        raise UserError(f"{path} is over 1 MiB; a test script is a few KB")
    try:
        if tool == "k6":
            from surge.importers.k6 import import_k6

            try:
                return import_k6(raw.decode("utf-8"), path.name)
            except UnicodeDecodeError:
                raise UserError(f"{path} is not text (UTF-8)") from None
        if tool == "locust":
            from surge.importers.locust import import_locust

            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path} is not text (UTF-8)") from None
            return import_locust(text, path.name)
        from surge.importers.artillery import import_artillery
        from surge.plan_document import parse_document

        try:
            data = parse_document(raw, str(path))
        except PlanError as exc:
            raise UserError(f"{path} is not YAML an Artillery script can be: {exc}") from None
        return import_artillery(data, path.name)
    except ScriptError as exc:
        raise UserError(str(exc)) from None


def cmd_import(args: argparse.Namespace) -> int:
    from surge.plan_document import parse_document
    from surge.plan_load import parse_plan

    script = Path(args.script)
    imported = read_script(args.tool, script)
    out = Path(args.output) if args.output else None
    plan_dir = (out.parent if out else Path.cwd()).resolve()
    script_dir = script.parent.resolve()
    if plan_dir != script_dir:

        def move(ref: str) -> str:
            if os.path.isabs(ref):
                return ref
            return os.path.relpath(script_dir / ref, plan_dir).replace(os.sep, "/")

        rebase_paths(imported.plan, move)
    text = render(imported)
    if out is not None:
        if out.exists() and not args.force:
            raise UserError(f"{out} already exists; pass --force to overwrite it")
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    where = str(out) if out else "the plan"
    mapped = f"{len(imported.notes)} note(s) at its top to read" if imported.notes else "everything mapped"
    try:
        parse_plan(parse_document(text.encode(), where), base_dir=plan_dir)
    except PlanError as exc:
        print(f"surge import: wrote {where} ({mapped}); it does not validate yet:\n{exc}", file=sys.stderr)
        return 1  # written, not valid: the caller's next edit
    run = f"`surge run {out}`" if out else "save it (-o plan.yaml) and `surge run` it"
    if imported.lost:
        # Valid, but not yet what the script sends: say so, not "it works".
        print(
            f"surge import: wrote {where} ({mapped}); it validates, but {imported.lost} part(s) of the "
            "script were left out, stood in for or given a default (the notes say which): the plan does "
            f"not yet do what the script does; write those parts in it, then {run}",
            file=sys.stderr,
        )
        return 0
    print(f"surge import: wrote {where} ({mapped}); it validates: {run}", file=sys.stderr)
    return 0
