"""A plan file's bytes to plain data, refusing what would crash or hang whatever reads it next.

A plan is small, hand-written YAML (or JSON). Four things a YAML library accepts are refused here
with a message naming the place: a file too big to be a plan, bytes that are not UTF-8, a key
given twice in one mapping (YAML's "last one wins" hides a typo), and a document whose aliases
expand beyond any real plan (an alias bomb: nine lines that stand for a billion nodes, which every
walk over the plan would then visit). Nesting is bounded too, so no later recursion can overflow.
"""

from __future__ import annotations

from typing import Any

import yaml

from surge.errors import PlanError

MAX_PLAN_BYTES = 1 << 20  # 1 MiB: plans of real suites are a few KB; data belongs in data files
# Nodes the document stands for once every alias is expanded; a large real plan has a few thousand.
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 64


class _PlanLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, naming both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base constructor says so
                break
            # Two key nodes, not two lines: {rate: 5, rate: 6} on one line is a duplicate too.
            if first is not key_node:
                raise PlanError(
                    f"line {key_node.start_mark.line + 1}: key {key!r} is given twice in one mapping "
                    f"(first at line {first.start_mark.line + 1}"
                    + (
                        f", column {first.start_mark.column + 1}"
                        if first.start_mark.line == key_node.start_mark.line
                        else ""
                    )
                    + "); YAML would keep only the last one"
                )
        return super().construct_mapping(node, deep=deep)


def _check_size(root: yaml.Node) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or expanding beyond MAX_EXPANDED_NODES.
    Each distinct node is visited once (memoised), so an alias bomb costs its own size to check."""
    expanded: dict[int, int] = {}

    def walk(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise PlanError(f"line {line}: the plan is nested more than {MAX_DEPTH} levels deep")
        known = expanded.get(id(node))
        if known is not None:
            return known
        expanded[id(node)] = 1  # a cycle (a recursive alias) counts once, never loops
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(walk(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(walk(k, depth + 1) + walk(v, depth + 1) for k, v in node.value)
        if total > MAX_EXPANDED_NODES:
            raise PlanError(
                f"line {node.start_mark.line + 1}: the plan's aliases expand to more than "
                f"{MAX_EXPANDED_NODES:,} values; a plan that large is refused (an alias bomb?)"
            )
        expanded[id(node)] = total
        return total

    walk(root, 0)


def parse_document(
    raw: bytes, source: str, *, max_bytes: int = MAX_PLAN_BYTES, size: int | None = None
) -> object:
    """The data of a plan file (YAML or JSON). Raises PlanError naming ``source`` and the place.
    ``size``: the whole file's size, when only its first ``max_bytes + 1`` bytes were read."""
    if len(raw) > max_bytes:
        raise PlanError(
            f"{source} is {size if size is not None else len(raw):,} bytes; a plan may be at most "
            f"{max_bytes:,} (put request data in a data file)"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"{source} is not UTF-8 text (byte {exc.start:,} is 0x{raw[exc.start]:02x}): "
            "is it a plan file? Save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise PlanError(f"{source} contains NUL bytes: it is not a text plan file")
    loader: _PlanLoader | None = None
    try:
        loader = _PlanLoader(text)  # reading starts here: it refuses control characters
        root = loader.get_single_node()
        if root is None:
            return None
        _check_size(root)
        return loader.construct_document(root)
    except PlanError as exc:
        raise PlanError(f"{source}: {exc.message}", exc.problems) from None
    except RecursionError:
        raise PlanError(f"{source}: the plan is nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlanError(
            f"{source} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
