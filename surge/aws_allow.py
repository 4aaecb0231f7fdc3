"""The AWS allow-list: a plan names the resources its ``aws:`` steps may touch; nothing else is called.

Entries are ARNs (``arn:aws:lambda:us-east-1:123456789012:function:orders``) or
``service:name`` (``lambda:orders``, ``sqs:jobs``, ``kinesis:clicks``, ``dynamodb:orders``,
``s3:bucket`` or ``s3:bucket/prefix*``, ``states:checkout`` or ``stepfunctions:checkout``,
``athena:primary``), and may hold globs (``*``, ``?``, ``[...]``).

- ``service:name`` compares names, whatever the account and region (those come from the run's
  credentials); an ARN entry compares full ARNs when the step names its resource by ARN, and the
  name inside the ARN otherwise.
- ``s3:bucket`` allows every key of the bucket; ``s3:bucket/prefix*`` only keys under the prefix.
  A templated part of a key (``x/{{ $uuid }}``) is matched only by a ``*``.
- A Lambda qualifier (``orders:prod``) is an alias of the same function: ``lambda:orders`` allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from surge.plan_aws import AwsStepSpec, Resource, arn_resource_name, split_arn

SERVICE_ALIASES = {
    "lambda": "lambda",
    "sqs": "sqs",
    "kinesis": "kinesis",
    "dynamodb": "dynamodb",
    "s3": "s3",
    "states": "states",
    "stepfunctions": "states",
    "athena": "athena",
}
FIELD = "allow_resources"


@dataclass(frozen=True)
class AllowRule:
    text: str  # as written in the plan
    service: str  # canonical: lambda | sqs | kinesis | dynamodb | s3 | states | athena
    pattern: str | None  # glob over the resource's name (s3: "bucket" or "bucket/key")
    arn_pattern: str | None = None  # glob over full ARNs, when written as an ARN

    def allows(self, res: Resource) -> bool:
        if res.service != self.service:
            return False
        if self.arn_pattern is not None and res.arn is not None:
            return fnmatchcase(res.arn, self.arn_pattern) or fnmatchcase(
                _unqualified(res.arn), self.arn_pattern
            )
        if self.pattern is None:
            return False
        name = res.match_name
        if res.service == "s3" and "/" not in self.pattern:
            return fnmatchcase(name.split("/", 1)[0], self.pattern)
        return fnmatchcase(name, self.pattern)


def _unqualified(arn: str) -> str:
    """A Lambda ARN without its version or alias."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 and parts[2] == "lambda" else arn


def _parse_entry(entry: str) -> AllowRule | str:
    """A rule, or what is wrong with the entry."""
    text = entry.strip()
    if text.startswith("arn:"):
        parsed = split_arn(text)
        if parsed is None:
            return f"'{entry}' is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"
        service = SERVICE_ALIASES.get(parsed[0])
        if service is None:
            return f"'{entry}': no aws step calls the service '{parsed[0]}'"
        name = "*" if parsed[3] == "*" else arn_resource_name(service, parsed[3])
        return AllowRule(entry, service, name, text)
    prefix, sep, name = text.partition(":")
    service = SERVICE_ALIASES.get(prefix.lower())
    if not sep or service is None:
        known = ", ".join(f"{s}:NAME" for s in ("lambda", "sqs", "kinesis", "dynamodb", "states", "athena"))
        return f"'{entry}' is neither an ARN nor SERVICE:NAME ({known}, s3:BUCKET[/KEY])"
    if not name:
        return f"'{entry}' names no resource; use '{prefix}:*' to allow every one"
    return AllowRule(entry, service, name)


def _parse(entries: Sequence[str]) -> tuple[list[AllowRule], list[str]]:
    rules: list[AllowRule] = []
    problems: list[str] = []
    for i, entry in enumerate(entries):
        parsed = _parse_entry(entry) if isinstance(entry, str) else f"{entry!r} is not a string"
        if isinstance(parsed, str):
            problems.append(f"{FIELD}[{i}]: {parsed}")
        else:
            rules.append(parsed)
    return rules, problems


def parse_allow_resources(entries: Sequence[str]) -> list[AllowRule]:
    """Parse a plan's allow_resources; raises ValueError naming every malformed entry."""
    rules, problems = _parse(entries)
    if problems:
        raise ValueError("; ".join(problems))
    return rules


def is_allowed(res: Resource, rules: Sequence[AllowRule]) -> bool:
    return any(rule.allows(res) for rule in rules)


def check_allowed(steps: list[AwsStepSpec], allow: list[str], where: list[str]) -> list[str]:
    """Problems, one per refused resource (and per malformed allow entry), before any call.

    ``where[i]`` is the field path of ``steps[i]``, e.g. "scenarios[0].flow[2].aws".
    """
    if len(steps) != len(where):
        raise ValueError("check_allowed needs one field path per step")
    rules, problems = _parse(allow)
    for step, path in zip(steps, where, strict=True):
        res = step.resource()
        if not is_allowed(res, rules):
            problems.append(
                f"{path}: {res.noun} is not in {FIELD}; add '{res.suggestion}' (or its ARN) to allow it"
            )
    return problems
