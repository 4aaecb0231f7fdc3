"""Telling another tool's script from a surge plan, so `surge run` on one says what to do."""

from __future__ import annotations

import re
from typing import NamedTuple


class ForeignTool(NamedTuple):
    command: str  # surge import COMMAND
    title: str  # "an Artillery", for the message


ARTILLERY = ForeignTool("artillery", "an Artillery")
K6 = ForeignTool("k6", "a k6")
LOCUST = ForeignTool("locust", "a Locust")


def looks_like_artillery(data: object) -> bool:
    """A YAML document in Artillery's shape: `config` (target or phases) beside `scenarios`."""
    if not isinstance(data, dict):
        return False
    config = data.get("config")
    return isinstance(config, dict) and ("phases" in config or "target" in config) and "scenarios" in data


def foreign_script(name: str, raw: bytes, data: object = None) -> ForeignTool | None:
    """The tool whose script this is, from its name and bytes (and its YAML, once parsed)."""
    if data is not None:
        return ARTILLERY if looks_like_artillery(data) else None
    head = raw[:65536].decode("utf-8", "replace")
    if name.endswith((".js", ".ts", ".mjs")) and re.search(
        r"""from\s+['"]k6(/[\w-]+)?['"]|require\(['"]k6""", head
    ):
        return K6
    if name.endswith(".py") and re.search(r"^\s*(from|import)\s+locust\b", head, re.M):
        return LOCUST
    return None
