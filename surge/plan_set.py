"""One field of the plan set from the command line (`surge run plan.yaml --set
'load.phases[sustained].rate=200'`), as Helm's --set and Artillery's --overrides do: put into the
plan's data before it is validated, so the plan that runs, is checked, stored and hashed is the one
the command line describes. Pure.

A path walks mappings by key and lists by index or by the ``name`` of their items
(``load.phases[sustained]``, ``scenarios[browse].weight``); the value is read as YAML (``200``,
``2s``, ``true``, ``[a, b]``, ``{status: 200}``)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

_PART = re.compile(r"([^.\[\]]+)|\[([^\[\]]+)\]")


@dataclass(frozen=True)
class PlanSetting:
    text: str  # as given: shown back to the user
    path: tuple[str, ...]  # keys and [selectors] in order; a selector keeps its brackets
    value: object


def parse_setting(text: str) -> PlanSetting:
    """``PATH=VALUE`` read; ValueError saying what is wrong and how it is written."""
    path_text, sep, value_text = text.partition("=")
    example = "e.g. --set 'load.phases[sustained].rate=200'"
    if not sep or not path_text.strip():
        raise ValueError(f"--set {text}: give PATH=VALUE, {example}")
    parts: list[str] = []
    at = 0
    path_text = path_text.strip()
    while at < len(path_text):
        if path_text[at] == "." and parts and at + 1 < len(path_text):
            at += 1
        found = _PART.match(path_text, at)
        if found is None:
            raise ValueError(f"--set {text}: '{path_text}' is not a field path, {example}")
        key, selector = found.groups()
        parts.append(key if key is not None else f"[{selector.strip()}]")
        at = found.end()
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError:
        value = value_text  # not YAML: the text as written
    return PlanSetting(text, tuple(parts), value)


def apply_settings(data: Mapping[str, Any], settings: tuple[PlanSetting, ...]) -> dict[str, Any]:
    """The plan's data with each setting put in (a copy; later settings win). ValueError naming
    the setting when its path does not lead anywhere in this plan."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for setting in settings:
        _put(out, setting)
    return out


def _put(data: dict[str, Any], setting: PlanSetting) -> None:
    node: Any = data
    walked = ""
    for i, part in enumerate(setting.path):
        last = i == len(setting.path) - 1
        if part.startswith("["):
            selector = part[1:-1]
            if not isinstance(node, list):
                raise ValueError(f"--set {setting.text}: {walked or 'the plan'} is not a list")
            index = _index(node, selector)
            if index is None:
                names = [
                    str(item.get("name")) for item in node if isinstance(item, Mapping) and item.get("name")
                ]
                known = f" (its items: {', '.join(names)})" if names else f" ({len(node)} items, from 0)"
                raise ValueError(f"--set {setting.text}: {walked} has no item {part}{known}")
            if last:
                node[index] = setting.value
                return
            node = node[index]
        else:
            if not isinstance(node, dict):
                raise ValueError(f"--set {setting.text}: {walked or 'the plan'} is not a mapping")
            if last:
                node[part] = setting.value
                return
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        walked += part if part.startswith("[") or not walked else f".{part}"


def _index(items: list[Any], selector: str) -> int | None:
    if re.fullmatch(r"-?[0-9]+", selector):
        i = int(selector)
        return i if -len(items) <= i < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and str(item.get("name")) == selector:
            return i
    return None
