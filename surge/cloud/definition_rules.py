"""The state machine definition checked as AWS checks it, before anything is deployed.

moto, asl-validator and cfn-lint accept definitions that CreateStateMachine refuses (two Map labels
alike did). This module encodes the rules of AWS's own validation that apply to an Amazon States
Language (JSONPath) definition, each under the diagnostic code AWS gives it (Step Functions API
Reference, "ValidateStateMachineDefinitionDiagnostic"; CreateStateMachine applies the same checks),
and the Step Functions quotas the definition itself can break. docs/workflow.md ("The definition,
checked as AWS checks it") cites the page behind each rule.

Pure: a definition (the parsed JSON) in, a list of violations out. The infra refuses to synthesize
a definition with any, and the test suite breaks each rule on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# --- what AWS documents ---------------------------------------------------------------------------
# Amazon States Language specification: "State names MUST have length of less than or equal to 80
# Unicode characters." Names also may not hold the characters AWS refuses in names (Step Functions
# API Reference, e.g. StateEnteredEventDetails.name): whitespace, brackets, wildcards, these special
# characters and control characters.
MAX_STATE_NAME = 80
# "Using Map state in Distributed mode", Label: at most 40 characters, unique in the definition,
# none of the characters above (aws-cdk-lib's DistributedMap validates the same).
MAX_LABEL = 40
FORBIDDEN_NAME_CHARS = re.compile(r"[\s?*<>{}\[\]:;,\\|^~$#%&`\"/]|[\x00-\x1f\x7f-\x9f]")
STATE_TYPES = frozenset({"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"})
TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
# "Intrinsic functions" (Step Functions Developer Guide): the whole list.
INTRINSICS = frozenset(
    {
        "States.Format",
        "States.StringToJson",
        "States.JsonToString",
        "States.Array",
        "States.ArrayPartition",
        "States.ArrayContains",
        "States.ArrayRange",
        "States.ArrayGetItem",
        "States.ArrayLength",
        "States.ArrayUnique",
        "States.Base64Encode",
        "States.Base64Decode",
        "States.Hash",
        "States.JsonMerge",
        "States.MathRandom",
        "States.MathAdd",
        "States.StringSplit",
        "States.UUID",
    }
)
# Fields whose value is a path (JSONPath definitions). Input/Output/ResultPath may be null.
PATH_FIELDS = frozenset(
    {
        "InputPath",
        "OutputPath",
        "ResultPath",
        "ItemsPath",
        "TimestampPath",
        "SecondsPath",
        "CausePath",
        "ErrorPath",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Variable",
    }
)
NULLABLE_PATHS = frozenset({"InputPath", "OutputPath", "ResultPath"})
# Choice comparators that take a path ("...Path" operators).
_CHOICE_PATH_OPERATORS = re.compile(r"^(String|Numeric|Boolean|Timestamp)\w*Path$")
# Task resources: an optimized or SDK integration ("arn:aws:states:::service:api[.sync|...]"), a
# Lambda function or an activity ARN. A ${Placeholder} is a DefinitionSubstitution filled at deploy.
_TASK_RESOURCE = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):states:::[a-z0-9-]+(:[A-Za-z0-9.:-]+)?"
    r"(\.sync(:2)?|\.waitForTaskToken)?$"
    r"|^arn:(aws|aws-cn|aws-us-gov):(lambda|states):[a-z0-9-]+:\d{12}:(function|activity):.+$"
    r"|^\$\{[A-Za-z0-9_]+\}$"
)
MAX_TIMEOUT_SECONDS = 99_999_999  # "TimeoutSeconds ... a positive integer" (States Language spec)
# Quotas ("Step Functions service quotas"): concurrent child executions of one Distributed Map run.
MAX_DISTRIBUTED_CONCURRENCY = 10_000


@dataclass(frozen=True)
class Violation:
    """One rule the definition breaks: AWS's diagnostic code (or the quota), where, and why."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} at {self.where}: {self.message}"


@dataclass(frozen=True)
class _Scope:
    """A set of states that transition among themselves: the machine, a branch, an item processor."""

    where: str
    start_at: object
    states: Mapping[str, Any]


def _scopes(definition: Mapping[str, Any], where: str = "") -> Iterator[_Scope]:
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return
    yield _Scope(where or "(top)", definition.get("StartAt"), states)
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        here = f"{where}/{name}" if where else name
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, Mapping):
                yield from _scopes(branch, f"{here}/Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            processor = state.get(key)
            if isinstance(processor, Mapping):
                yield from _scopes(processor, f"{here}/{key}")


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every state of the definition, nested ones included: (its path, its name, the state)."""
    for scope in _scopes(definition):
        for name, state in scope.states.items():
            if isinstance(state, Mapping):
                yield (f"{scope.where}/{name}" if scope.where != "(top)" else name), name, state


def _name_problem(name: str, limit: int) -> str | None:
    if not name:
        return "is empty"
    if len(name) > limit:
        return f"has {len(name)} characters, more than {limit}"
    bad = FORBIDDEN_NAME_CHARS.search(name)
    if bad:
        return f"holds {bad.group()!r}, a character AWS refuses in names"
    return None


def _check_names(definition: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    seen: dict[str, str] = {}
    labels: dict[str, str] = {}
    for where, name, state in _states(definition):
        if name in seen:
            found.append(
                Violation(
                    "DUPLICATE_STATE_NAME",
                    where,
                    f"the state name {name!r} is also used at {seen[name]}: names are unique in the whole "
                    "definition, branches and item processors included",
                )
            )
        else:
            seen[name] = where
        problem = _name_problem(name, MAX_STATE_NAME)
        if problem:
            found.append(Violation("INVALID_STATE_NAME", where, f"the state name {problem}"))
        if state.get("Type") == "Map" and "Label" in state:
            label = state["Label"]
            if not isinstance(label, str):
                found.append(Violation("INVALID_LABEL_NAME", where, "Label must be a string"))
                continue
            problem = _name_problem(label, MAX_LABEL)
            if problem:
                found.append(Violation("INVALID_LABEL_NAME", where, f"the Map label {label!r} {problem}"))
            if label in labels:
                found.append(
                    Violation(
                        "DUPLICATE_LABEL_NAME",
                        where,
                        f"the Map label {label!r} is also the label of {labels[label]}: labels are unique "
                        "in the whole definition",
                    )
                )
            else:
                labels[label] = where
    return found


def _targets(state: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """Every transition a state can take: (which field, the target)."""
    if "Next" in state:
        yield "Next", state["Next"]
    if state.get("Type") == "Choice":
        for i, rule in enumerate(state.get("Choices") or []):
            if isinstance(rule, Mapping):
                yield f"Choices[{i}].Next", rule.get("Next")
        if "Default" in state:
            yield "Default", state["Default"]
    for i, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, Mapping):
            yield f"Catch[{i}].Next", catcher.get("Next")


def _check_transitions(definition: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    for scope in _scopes(definition):
        prefix = "" if scope.where == "(top)" else f"{scope.where}/"
        if scope.start_at not in scope.states:
            found.append(
                Violation(
                    "MISSING_TRANSITION_TARGET",
                    scope.where,
                    f"StartAt {scope.start_at!r} is no state of this scope",
                )
            )
        terminal = False
        for name, state in scope.states.items():
            if not isinstance(state, Mapping):
                found.append(
                    Violation("SCHEMA_VALIDATION_FAILED", prefix + name, "a state must be an object")
                )
                continue
            for field_name, target in _targets(state):
                if target not in scope.states:
                    found.append(
                        Violation(
                            "MISSING_TRANSITION_TARGET",
                            f"{prefix}{name}.{field_name}",
                            f"{target!r} is no state of this scope (a state can only move to a state of "
                            "its own branch or processor)",
                        )
                    )
            if state.get("Type") in TERMINAL_TYPES or state.get("End") is True:
                terminal = True
        if not terminal:
            found.append(
                Violation("MISSING_END_STATE", scope.where, "no state ends this scope (End, Succeed or Fail)")
            )
        # Every state is reachable from StartAt (an unreachable one is refused as a schema error).
        reached: set[str] = set()
        todo = [scope.start_at] if isinstance(scope.start_at, str) else []
        while todo:
            current = todo.pop()
            if current in reached or current not in scope.states:
                continue
            reached.add(current)
            state = scope.states[current]
            if isinstance(state, Mapping):
                todo.extend(t for _, t in _targets(state) if isinstance(t, str))
        for name in scope.states:
            if name not in reached:
                found.append(
                    Violation(
                        "SCHEMA_VALIDATION_FAILED", prefix + name, "the state is not reachable from StartAt"
                    )
                )
    return found


def _check_shapes(definition: Mapping[str, Any]) -> list[Violation]:
    """The fields each state type must, may and must not have (States Language specification)."""
    found: list[Violation] = []
    for where, _name, state in _states(definition):
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            found.append(Violation("SCHEMA_VALIDATION_FAILED", where, f"Type {kind!r} is no state type"))
            continue
        has_next, ends = "Next" in state, state.get("End") is True
        if kind in TERMINAL_TYPES or kind == "Choice":
            if has_next or "End" in state:
                found.append(
                    Violation("SCHEMA_VALIDATION_FAILED", where, f"a {kind} state has neither Next nor End")
                )
        elif has_next == ends:
            found.append(
                Violation("SCHEMA_VALIDATION_FAILED", where, "exactly one of Next and End (true) is required")
            )
        if kind == "Choice" and not state.get("Choices"):
            found.append(Violation("SCHEMA_VALIDATION_FAILED", where, "a Choice state needs Choices"))
        if kind == "Task":
            resource = state.get("Resource")
            if not isinstance(resource, str) or not _TASK_RESOURCE.match(resource):
                found.append(
                    Violation("INVALID_RESOURCE", where, f"Resource {resource!r} is no task resource")
                )
        if kind == "Parallel" and not state.get("Branches"):
            found.append(Violation("SCHEMA_VALIDATION_FAILED", where, "a Parallel state needs Branches"))
        if kind == "Map":
            found += _check_map(where, state)
        if kind == "Wait":
            given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in state]
            if len(given) != 1:
                found.append(
                    Violation(
                        "SCHEMA_VALIDATION_FAILED",
                        where,
                        "a Wait state has exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
                    )
                )
        for field_name in ("TimeoutSeconds", "HeartbeatSeconds"):
            value = state.get(field_name)
            if value is not None and not (
                isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TIMEOUT_SECONDS
            ):
                found.append(
                    Violation(
                        "SCHEMA_VALIDATION_FAILED",
                        f"{where}.{field_name}",
                        f"{value!r}: a positive integer up to {MAX_TIMEOUT_SECONDS} is required",
                    )
                )
        found += _check_errors(where, state)
    return found


def _check_map(where: str, state: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if not isinstance(processor, Mapping):
        return [Violation("SCHEMA_VALIDATION_FAILED", where, "a Map state needs an ItemProcessor")]
    config = processor.get("ProcessorConfig") or {}
    distributed = isinstance(config, Mapping) and config.get("Mode") == "DISTRIBUTED"
    if distributed and config.get("ExecutionType") not in ("STANDARD", "EXPRESS"):
        found.append(
            Violation(
                "SCHEMA_VALIDATION_FAILED",
                f"{where}.ItemProcessor.ProcessorConfig",
                "a Distributed Map needs ExecutionType STANDARD or EXPRESS",
            )
        )
    if not distributed:
        for field_name in (
            "Label",
            "ItemReader",
            "ResultWriter",
            "ItemBatcher",
            "ToleratedFailurePercentage",
        ):
            if field_name in state:
                found.append(
                    Violation(
                        "SCHEMA_VALIDATION_FAILED",
                        f"{where}.{field_name}",
                        f"{field_name} is a Distributed Map field; this Map is inline",
                    )
                )
    limit = MAX_DISTRIBUTED_CONCURRENCY if distributed else None
    concurrency = state.get("MaxConcurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or concurrency < 0 or (limit is not None and concurrency > limit)
    ):
        found.append(
            Violation(
                "SCHEMA_VALIDATION_FAILED", f"{where}.MaxConcurrency", f"{concurrency!r} is out of range"
            )
        )
    if "MaxConcurrency" in state and "MaxConcurrencyPath" in state:
        found.append(
            Violation(
                "SCHEMA_VALIDATION_FAILED", where, "give MaxConcurrency or MaxConcurrencyPath, not both"
            )
        )
    tolerated = state.get("ToleratedFailurePercentage")
    if tolerated is not None and (isinstance(tolerated, bool) or not 0 <= float(tolerated) <= 100):
        found.append(
            Violation(
                "SCHEMA_VALIDATION_FAILED",
                f"{where}.ToleratedFailurePercentage",
                f"{tolerated!r}: a percentage from 0 to 100 is required",
            )
        )
    if "ItemsPath" in state and "ItemReader" in state:
        found.append(Violation("SCHEMA_VALIDATION_FAILED", where, "give ItemsPath or ItemReader, not both"))
    return found


def _check_errors(where: str, state: Mapping[str, Any]) -> list[Violation]:
    """Retry and Catch: States.ALL alone and last; retry intervals, attempts and backoff in range."""
    found: list[Violation] = []
    for field_name in ("Retry", "Catch"):
        entries = state.get(field_name) or []
        for i, entry in enumerate(entries):
            here = f"{where}.{field_name}[{i}]"
            names = entry.get("ErrorEquals") if isinstance(entry, Mapping) else None
            if not isinstance(names, list) or not names:
                found.append(
                    Violation("SCHEMA_VALIDATION_FAILED", here, "ErrorEquals must be a non-empty list")
                )
                continue
            if "States.ALL" in names and (len(names) > 1 or i != len(entries) - 1):
                found.append(
                    Violation(
                        "SCHEMA_VALIDATION_FAILED",
                        here,
                        "States.ALL must appear alone in ErrorEquals, in the last retrier or catcher",
                    )
                )
            if field_name == "Retry" and isinstance(entry, Mapping):
                bounds = {
                    "IntervalSeconds": (1, MAX_TIMEOUT_SECONDS),
                    "MaxAttempts": (0, MAX_TIMEOUT_SECONDS),
                    "MaxDelaySeconds": (1, 31_622_400),
                    "BackoffRate": (1.0, float("inf")),
                }
                for key, (low, high) in bounds.items():
                    value = entry.get(key)
                    if value is not None and (isinstance(value, bool) or not low <= value <= high):
                        found.append(
                            Violation(
                                "SCHEMA_VALIDATION_FAILED", f"{here}.{key}", f"{value!r} is out of range"
                            )
                        )
    return found


# --- paths and intrinsic functions ---------------------------------------------------------------
_INTRINSIC_CALL = re.compile(r"(States\.[A-Za-z0-9]+)\s*\(")
_REFERENCE_PATH = re.compile(r"^\$(\.[A-Za-z_][\w-]*|\['[^']+'\]|\[\d+\])*$")


def path_problem(value: object, *, reference: bool = False) -> str | None:
    """Why ``value`` is no JSONPath (or, with ``reference``, no Reference Path: no filters,
    wildcards or slices, as ResultPath and Choice variables require); None when it is one."""
    if not isinstance(value, str):
        return f"{value!r} is not a path"
    if not (value == "$" or value.startswith(("$.", "$[", "$$"))):
        return f"{value!r} is not a path (it must start with $ or $$)"
    if reference and not value.startswith("$$") and not _REFERENCE_PATH.match(value):
        return f"{value!r} is not a reference path (no filters, wildcards or slices)"
    return None


def intrinsic_problem(value: str) -> str | None:
    """Why ``value`` is no well-formed intrinsic function call; None when it is one."""
    names = _INTRINSIC_CALL.findall(value)
    if not names or not value.startswith("States."):
        return f"{value!r} is neither a path nor an intrinsic function"
    unknown = sorted(set(names) - INTRINSICS)
    if unknown:
        return f"{', '.join(unknown)} is no intrinsic function"
    depth = 0
    quoted = False
    previous = ""
    for char in value:
        if char == "'" and previous != "\\":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                break
        previous = char
    if depth != 0 or quoted or not value.rstrip().endswith(")"):
        return f"{value!r} has unbalanced parentheses or quotes"
    return None


def _check_payload_templates(where: str, template: object) -> list[Violation]:
    """Parameters-like objects: a key ending in .$ holds a path or an intrinsic; a plain key whose
    string looks like one is AWS's NO_DOLLAR warning (almost always a forgotten .$)."""
    found: list[Violation] = []
    if isinstance(template, Mapping):
        for key, value in template.items():
            here = f"{where}.{key}"
            if isinstance(key, str) and key.endswith(".$"):
                if not isinstance(value, str):
                    found.append(Violation("SCHEMA_VALIDATION_FAILED", here, "a .$ field takes a string"))
                elif value.startswith("States."):
                    problem = intrinsic_problem(value)
                    if problem:
                        found.append(Violation("SCHEMA_VALIDATION_FAILED", here, problem))
                else:
                    problem = path_problem(value)
                    if problem:
                        found.append(Violation("SCHEMA_VALIDATION_FAILED", here, problem))
            elif isinstance(value, str) and (value.startswith("$.") or _INTRINSIC_CALL.match(value)):
                found.append(
                    Violation(
                        "NO_DOLLAR", here, f"{value!r} looks like a path but {key!r} does not end in .$"
                    )
                )
            else:
                found += _check_payload_templates(here, value)
    elif isinstance(template, list):
        for i, item in enumerate(template):
            found += _check_payload_templates(f"{where}[{i}]", item)
    return found


def _check_paths(definition: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    for where, _name, state in _states(definition):
        for key, value in state.items():
            if key in PATH_FIELDS:
                if value is None and key in NULLABLE_PATHS:
                    continue
                problem = path_problem(value, reference=key in ("ResultPath", "Variable"))
                if problem:
                    found.append(Violation("SCHEMA_VALIDATION_FAILED", f"{where}.{key}", problem))
            elif key.endswith("Path") and key not in ("ResultPath",) and isinstance(value, str):
                problem = path_problem(value)
                if problem:
                    found.append(Violation("SCHEMA_VALIDATION_FAILED", f"{where}.{key}", problem))
        for key in ("Parameters", "ResultSelector", "ItemSelector", "Arguments"):
            if key in state:
                found += _check_payload_templates(f"{where}.{key}", state[key])
        if state.get("Type") == "Pass" and "Result" in state:
            # PASS_RESULT_IS_STATIC: Result is taken as written; a path in it is never read.
            found += [
                Violation("PASS_RESULT_IS_STATIC", v.where, v.message)
                for v in _check_payload_templates(f"{where}.Result", state["Result"])
                if v.code == "NO_DOLLAR"
            ]
            if isinstance(state["Result"], Mapping) and any(
                isinstance(k, str) and k.endswith(".$") for k in state["Result"]
            ):
                found.append(
                    Violation(
                        "PASS_RESULT_IS_STATIC", f"{where}.Result", "a .$ field in Result is not evaluated"
                    )
                )
        reader = state.get("ItemReader")
        if isinstance(reader, Mapping):
            found += _check_payload_templates(f"{where}.ItemReader.Parameters", reader.get("Parameters"))
        if state.get("Type") == "Choice":
            for i, rule in enumerate(state.get("Choices") or []):
                found += _check_choice_rule(f"{where}.Choices[{i}]", rule)
        if state.get("Type") == "Fail":
            for plain, path in (("Error", "ErrorPath"), ("Cause", "CausePath")):
                if plain in state and path in state:
                    found.append(
                        Violation("SCHEMA_VALIDATION_FAILED", where, f"give {plain} or {path}, not both")
                    )
    return found


def _check_choice_rule(where: str, rule: object) -> list[Violation]:
    found: list[Violation] = []
    if not isinstance(rule, Mapping):
        return [Violation("SCHEMA_VALIDATION_FAILED", where, "a choice rule must be an object")]
    for key, value in rule.items():
        if key == "Variable" or _CHOICE_PATH_OPERATORS.match(key):
            problem = path_problem(value, reference=True)
        elif key in ("And", "Or"):
            for i, inner in enumerate(value or []):
                found += _check_choice_rule(f"{where}.{key}[{i}]", inner)
            continue
        elif key == "Not":
            found += _check_choice_rule(f"{where}.Not", value)
            continue
        else:
            continue
        if problem:
            found.append(Violation("SCHEMA_VALIDATION_FAILED", f"{where}.{key}", problem))
    return found


def check_definition(definition: object) -> list[Violation]:
    """Every rule of AWS's definition validation that ``definition`` breaks (empty: it conforms)."""
    if not isinstance(definition, Mapping):
        return [Violation("MISSING_DESCRIPTION", "(top)", "the definition must be a JSON object")]
    if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
        return [
            Violation("SCHEMA_VALIDATION_FAILED", "(top)", "these rules are written for JSONPath definitions")
        ]
    found = _check_names(definition) + _check_shapes(definition) + _check_transitions(definition)
    found += _check_paths(definition)
    timeout = definition.get("TimeoutSeconds")
    if timeout is not None and not (isinstance(timeout, int) and 0 < timeout <= MAX_TIMEOUT_SECONDS):
        found.append(
            Violation("SCHEMA_VALIDATION_FAILED", "(top).TimeoutSeconds", f"{timeout!r} is out of range")
        )
    return found


__all__ = ["Violation", "check_definition", "intrinsic_problem", "path_problem"]
