"""A small IAM evaluator over a synthesized template, for "can role X do Y on Z" assertions.

Resources are rendered in a readable notation (``<LogicalId.Arn>/runs/*``, ``<AWS::Region>``) and
matched with IAM's wildcard semantics (``*`` spans ``/``), Allow statements only (the stack has no
Deny in identity policies). Conditions are returned for the caller to assert, not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(render(part) for part in arg[1])
    raise ValueError(f"cannot render {value!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: dict[str, Any]

    def allows(self, action: str, resource: str) -> bool:
        return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions) and any(
            fnmatchcase(resource, pattern) for pattern in self.resources
        )


def statements_of_role(template: dict[str, Any], role_id: str) -> list[Statement]:
    """Every Allow statement attached to the role: inline Policies and AWS::IAM::Policy resources."""
    documents: list[dict[str, Any]] = []
    role = template["Resources"][role_id]["Properties"]
    documents += [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get(
            "Roles", []
        ):
            documents.append(resource["Properties"]["PolicyDocument"])
    result = []
    for document in documents:
        for raw in document["Statement"]:
            assert raw["Effect"] == "Allow", f"unexpected {raw['Effect']} in {role_id}"
            result.append(
                Statement(
                    actions=tuple(_as_list(raw["Action"])),
                    resources=tuple(render(r) for r in _as_list(raw["Resource"])),
                    conditions=raw.get("Condition", {}),
                )
            )
    return result


def allowed(statements: list[Statement], action: str, resource: str) -> list[Statement]:
    """The statements that allow ``action`` on ``resource`` (empty: denied)."""
    return [statement for statement in statements if statement.allows(action, resource)]


def actions_of(statements: list[Statement]) -> set[str]:
    return {action for statement in statements for action in statement.actions}


def conditions_hold(conditions: dict[str, Any], context: dict[str, Any]) -> bool:
    """IAM's condition operators this stack uses, evaluated on a request's context keys:
    String(Equals|Like), their ...IfExists forms, and the ForAllValues/ForAnyValue qualifiers
    (ForAllValues holds when the request has no value for the key, as in IAM)."""
    for operator, block in conditions.items():
        for key, expected in block.items():
            patterns = [str(p) for p in _as_list(expected)]
            base = operator.removesuffix("IfExists")
            value = context.get(key)
            if value is None and base != operator:
                continue  # ...IfExists: no such key in the request, nothing to check
            qualifier, _, comparison = base.rpartition(":")
            if comparison == "StringLike":
                match = fnmatchcase
            elif comparison == "StringEquals":
                match = str.__eq__
            else:
                raise ValueError(f"operator {operator} is not modelled")
            values = [str(v) for v in _as_list(value)] if value is not None else []
            if qualifier == "ForAllValues":
                ok = all(any(match(v, p) for p in patterns) for v in values)
            elif qualifier == "ForAnyValue":
                ok = any(match(v, p) for v in values for p in patterns)
            else:
                ok = len(values) == 1 and any(match(values[0], p) for p in patterns)
            if not ok:
                return False
    return True


def allowed_request(statements: list[Statement], action: str, resource: str, context: dict[str, Any]) -> bool:
    """Whether some statement allows ``action`` on ``resource`` for a request with ``context``."""
    return any(conditions_hold(s.conditions, context) for s in allowed(statements, action, resource))
