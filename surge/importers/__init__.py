"""Other tools' test scripts as surge plans: `surge import artillery|k6|locust FILE` (pure, text in,
plan text out).

Each importer reads what its tool's script declares and writes the surge plan that does the same.
What it cannot map (a JavaScript function, a plugin, a construct surge has no equal for) is never
dropped silently: it becomes a note, written as a comment at the top of the plan, saying where it
was, what it did and what to use instead. The plan is then checked as `surge validate` would; the
CLI prints the problems if the imported plan does not validate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

Tool = Literal["artillery", "k6", "locust"]
TOOLS: tuple[Tool, ...] = ("artillery", "k6", "locust")


class ScriptError(ValueError):
    """The file is not a script the importer can read at all (the message says why)."""


class Flow(dict[str, Any]):
    """A mapping written on one line ({duration: 60s, rate: 10}): phases, expectations, captures."""


@dataclass
class Imported:
    tool: Tool
    source: str  # the script's file name, for the header
    plan: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # "WHERE: what it was; what to use instead"
    # Notes about a part of a request that was left out or stood in for: a run of the plan as
    # written would not send what the script sends.
    lost: int = 0

    def note(self, where: str, text: str, *, lost: bool = False) -> None:
        self.notes.append(f"{where}: {text}" if where else text)
        self.lost += lost


def duration(seconds: float) -> str:
    """60 -> '60s', 0.5 -> '500ms': plain for reading, exact for the plan."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000, 3):g}ms"


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as plans are written by hand.
        super().increase_indent(flow, False)


def _flow(dumper: yaml.SafeDumper, data: Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


_Dumper.add_representer(Flow, _flow)
_Dumper.add_representer(dict, _mapping)


def render(imported: Imported) -> str:
    """The plan as YAML, the notes as a comment block above it."""
    tool = {"artillery": "Artillery", "k6": "k6", "locust": "Locust"}[imported.tool]
    head = [f"# Imported from the {tool} script {imported.source} by `surge import {imported.tool}`."]
    if imported.notes:
        head.append(
            f"# Notes ({len(imported.notes)}): what was not mapped as it is; read each before trusting the plan."
        )
        for note in imported.notes:
            lines = _wrap(note, 96)
            head.append(f"#  - {lines[0]}")
            head.extend(f"#    {line}" for line in lines[1:])
    else:
        head.append("# Everything in it was mapped.")
    body = yaml.dump(imported.plan, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def rebase_paths(plan: dict[str, Any], move: Callable[[str], str]) -> None:
    """Rewrite the plan's relative file paths (data file, multipart files) with ``move``: the script's
    paths are relative to the script, the plan's to the plan, which may be written elsewhere."""
    data = plan.get("data")
    if isinstance(data, dict) and isinstance(data.get("file"), str):
        data["file"] = move(data["file"])

    def walk(node: object) -> None:
        if isinstance(node, dict):
            multipart = node.get("multipart")
            if isinstance(multipart, dict):
                for part in multipart.values():
                    if isinstance(part, dict) and isinstance(part.get("path"), str):
                        part["path"] = move(part["path"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for section in ("scenarios", "setup", "teardown", "on_start"):
        walk(plan.get(section))
