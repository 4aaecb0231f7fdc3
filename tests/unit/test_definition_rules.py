"""The definition checked as AWS's ValidateStateMachineDefinition checks it: the shipped definition
conforms, and each rule, broken on purpose in a copy of it, is refused under AWS's diagnostic code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from surge.cloud.definition_rules import check_definition, intrinsic_problem, path_problem

DEFINITION = json.loads(
    (Path(__file__).resolve().parents[2] / "statemachine" / "surge.asl.json").read_text(encoding="utf-8")
)


def _branch(d: dict[str, Any], i: int) -> dict[str, Any]:
    states: dict[str, Any] = d["States"]["RunSegments"]["Branches"][i]["States"]
    return states


def _codes(d: dict[str, Any]) -> set[str]:
    return {v.code for v in check_definition(d)}


def test_the_shipped_definition_conforms() -> None:
    assert [str(v) for v in check_definition(DEFINITION)] == []


def test_the_two_distributed_maps_have_distinct_labels() -> None:
    labels = [_branch(DEFINITION, i)[f"RunShards{b}"]["Label"] for i, b in enumerate(("Even", "Odd"))]
    assert len(set(labels)) == 2


def _same_label(d: dict[str, Any]) -> None:
    # What was shipped before: both Distributed Maps labelled "Shards" (cdk deploy would fail).
    _branch(d, 0)["RunShardsEven"]["Label"] = "Shards"
    _branch(d, 1)["RunShardsOdd"]["Label"] = "Shards"


def _long_label(d: dict[str, Any]) -> None:
    _branch(d, 0)["RunShardsEven"]["Label"] = "S" * 41


def _label_with_space(d: dict[str, Any]) -> None:
    _branch(d, 0)["RunShardsEven"]["Label"] = "Shards Even"


def _label_on_inline_map(d: dict[str, Any]) -> None:
    _branch(d, 0)["MergeShardsEven"]["Label"] = "Merge"


def _rename(d: dict[str, Any], scope: dict[str, Any], old: str, new: str) -> None:
    """Rename a state and every transition to it in its scope."""
    scope[new] = scope.pop(old)
    text = (
        json.dumps(scope)
        .replace(f'"Next": "{old}"', f'"Next": "{new}"')
        .replace(f'"Default": "{old}"', f'"Default": "{new}"')
    )
    scope.clear()
    scope.update(json.loads(text))


def _duplicate_state_name(d: dict[str, Any]) -> None:
    # A branch's state named as a top-level one: names are unique in the whole definition.
    _rename(d, _branch(d, 1), "NextOdd", "Collect")


def _long_state_name(d: dict[str, Any]) -> None:
    _rename(d, d["States"], "Collect", "C" * 81)
    d["States"]["RunSegments"]["Catch"][0]["Next"] = "C" * 81


def _state_name_with_bracket(d: dict[str, Any]) -> None:
    _rename(d, d["States"], "Verdict", "Verdict[1]")
    d["States"]["EmitRunCompleted"]["Next"] = "Verdict[1]"


def _next_into_another_scope(d: dict[str, Any]) -> None:
    # A branch state may only move within its branch.
    _branch(d, 0)["NextEven"]["Next"] = "Collect"


def _catch_to_nowhere(d: dict[str, Any]) -> None:
    d["States"]["Prepare"]["Catch"][0]["Next"] = "PrepareFailedd"


def _start_at_nowhere(d: dict[str, Any]) -> None:
    d["StartAt"] = "Begin"


def _no_end_in_a_branch(d: dict[str, Any]) -> None:
    branch = _branch(d, 0)
    branch["DoneEven"] = {"Type": "Pass", "Next": "MoreEven"}
    branch["AbortRunEven"] = {"Type": "Pass", "Next": "MoreEven"}


def _unreachable_state(d: dict[str, Any]) -> None:
    d["States"]["Orphan"] = {"Type": "Succeed"}


def _next_and_end(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["End"] = True


def _bad_resource(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["Resource"] = "lambda:invoke"


def _bad_intrinsic(d: dict[str, Any]) -> None:
    _branch(d, 0)["NextEven"]["Parameters"]["k.$"] = "States.MathPlus($.k, 2)"


def _unbalanced_intrinsic(d: dict[str, Any]) -> None:
    _branch(d, 0)["NextEven"]["Parameters"]["k.$"] = "States.MathAdd($.k, 2"


def _dollar_field_without_path(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["Parameters"]["Payload"]["run_id.$"] = "run.run_id"


def _path_without_dollar_field(d: dict[str, Any]) -> None:
    payload = d["States"]["Collect"]["Parameters"]["Payload"]
    payload["run_id"] = payload.pop("run_id.$")


def _filter_in_result_path(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["ResultPath"] = "$.collect[?(@.x)]"


def _choice_variable_not_a_path(d: dict[str, Any]) -> None:
    d["States"]["Verdict"]["Choices"][0]["Variable"] = "outcome.verdict"


def _path_in_pass_result(d: dict[str, Any]) -> None:
    d["States"]["PrepareFailed"]["Result"] = {"state": "$.failed_state"}


def _states_all_not_last(d: dict[str, Any]) -> None:
    catches = d["States"]["RunSegments"]["Catch"]
    catches.reverse()


def _zero_retry_interval(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["Retry"][0]["IntervalSeconds"] = 0


def _fractional_timeout(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["TimeoutSeconds"] = 12.5


def _tolerance_above_100(d: dict[str, Any]) -> None:
    _branch(d, 0)["RunShardsEven"]["ToleratedFailurePercentage"] = 101


def _wait_with_two_times(d: dict[str, Any]) -> None:
    _branch(d, 0)["WaitForLaunchEven"]["Seconds"] = 5


def _unknown_type(d: dict[str, Any]) -> None:
    d["States"]["Collect"]["Type"] = "Job"


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "two maps with one label": (_same_label, "DUPLICATE_LABEL_NAME"),
    "a label of 41 characters": (_long_label, "INVALID_LABEL_NAME"),
    "a label with a space": (_label_with_space, "INVALID_LABEL_NAME"),
    "a label on an inline map": (_label_on_inline_map, "SCHEMA_VALIDATION_FAILED"),
    "a state name used twice": (_duplicate_state_name, "DUPLICATE_STATE_NAME"),
    "a state name of 81 characters": (_long_state_name, "INVALID_STATE_NAME"),
    "a state name with a bracket": (_state_name_with_bracket, "INVALID_STATE_NAME"),
    "a branch moving to a top-level state": (_next_into_another_scope, "MISSING_TRANSITION_TARGET"),
    "a catcher naming no state": (_catch_to_nowhere, "MISSING_TRANSITION_TARGET"),
    "StartAt naming no state": (_start_at_nowhere, "MISSING_TRANSITION_TARGET"),
    "a branch with no end": (_no_end_in_a_branch, "MISSING_END_STATE"),
    "a state nothing reaches": (_unreachable_state, "SCHEMA_VALIDATION_FAILED"),
    "Next and End together": (_next_and_end, "SCHEMA_VALIDATION_FAILED"),
    "a task resource that is no ARN": (_bad_resource, "INVALID_RESOURCE"),
    "an unknown intrinsic function": (_bad_intrinsic, "SCHEMA_VALIDATION_FAILED"),
    "an intrinsic with a parenthesis missing": (_unbalanced_intrinsic, "SCHEMA_VALIDATION_FAILED"),
    "a .$ field holding no path": (_dollar_field_without_path, "SCHEMA_VALIDATION_FAILED"),
    "a path in a field without .$": (_path_without_dollar_field, "NO_DOLLAR"),
    "a filter in ResultPath": (_filter_in_result_path, "SCHEMA_VALIDATION_FAILED"),
    "a choice variable that is no path": (_choice_variable_not_a_path, "SCHEMA_VALIDATION_FAILED"),
    "a path in a Pass state's Result": (_path_in_pass_result, "PASS_RESULT_IS_STATIC"),
    "States.ALL before another catcher": (_states_all_not_last, "SCHEMA_VALIDATION_FAILED"),
    "a retry interval of 0": (_zero_retry_interval, "SCHEMA_VALIDATION_FAILED"),
    "a timeout of 12.5 s": (_fractional_timeout, "SCHEMA_VALIDATION_FAILED"),
    "a tolerated failure above 100 %": (_tolerance_above_100, "SCHEMA_VALIDATION_FAILED"),
    "a wait with two times": (_wait_with_two_times, "SCHEMA_VALIDATION_FAILED"),
    "an unknown state type": (_unknown_type, "SCHEMA_VALIDATION_FAILED"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_rule_broken_on_purpose_is_refused(case: str) -> None:
    breaker, code = BROKEN[case]
    broken = copy.deepcopy(DEFINITION)
    breaker(broken)
    assert code in _codes(broken), [str(v) for v in check_definition(broken)]


def test_a_violation_names_where_and_why() -> None:
    broken = copy.deepcopy(DEFINITION)
    _same_label(broken)
    (violation,) = check_definition(broken)
    assert violation.where == "RunSegments/Branches[1]/RunShardsOdd"
    assert "RunSegments/Branches[0]/RunShardsEven" in violation.message
    assert str(violation).startswith("DUPLICATE_LABEL_NAME at ")


def test_a_definition_that_is_not_an_object_is_refused() -> None:
    assert [v.code for v in check_definition([])] == ["MISSING_DESCRIPTION"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("$", True),
        ("$.run.segments", True),
        ("$$.Execution.Name", True),
        ("$['a b'].c", True),
        ("run.segments", False),
        ("", False),
        (3, False),
    ],
)
def test_paths(value: object, ok: bool) -> None:
    assert (path_problem(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("States.MathAdd($.k, 2)", True),
        ("States.Format('RUN#{}', $$.Execution.Name)", True),
        ("States.Format('a ) b', $.x)", True),  # a parenthesis inside quotes is text
        ("States.ArrayGetItem($.segments, States.MathAdd($.k, 1))", True),
        ("States.Mathadd($.k, 2)", False),
        ("States.MathAdd($.k, 2", False),
        ("States.Format('open, $.x)", False),
        ("MathAdd($.k, 2)", False),
    ],
)
def test_intrinsic_functions(value: str, ok: bool) -> None:
    assert (intrinsic_problem(value) is None) is ok
