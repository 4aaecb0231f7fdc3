"""Helpers for reading the synthesized template by construct rather than by guessed logical id."""

from __future__ import annotations

from typing import Any


def logical_id(construct: Any) -> str:
    from aws_cdk import CfnElement, Stack

    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    stack = Stack.of(element)
    return str(stack.resolve(stack.get_logical_id(element)))


def resources_of_type(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]
