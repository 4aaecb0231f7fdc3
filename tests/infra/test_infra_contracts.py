"""The workflow definition and functions/contracts.py describe the same events (no CDK needed).

The ASL sends each handler a Payload and selects fields of its result by name: both sides are
checked against the TypedDicts the core implements, so a rename on either side fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions import contracts

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachine" / "surge.asl.json").read_text())


def _all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = dict(states)
    for state in states.values():
        if "ItemProcessor" in state:
            found.update(_all_states(state["ItemProcessor"]["States"]))
        for branch in state.get("Branches", []):
            found.update(_all_states(branch["States"]))
    return found


STATES = _all_states(DEFINITION["States"])
BRANCHES = ("Even", "Odd")  # RunSegments' two branches: segments 0, 2, 4, ... and 1, 3, 5, ...


def _keys(template: dict[str, Any]) -> set[str]:
    return {key.removesuffix(".$") for key in template}


@pytest.mark.parametrize(
    ("state", "event", "result"),
    [
        ("Prepare", contracts.PrepareEvent, None),
        ("AggregateEven", contracts.AggregateEvent, contracts.AggregateResult),
        ("AggregateOdd", contracts.AggregateEvent, contracts.AggregateResult),
        ("Collect", contracts.CollectEvent, contracts.CollectResult),
        ("Report", contracts.ReportEvent, contracts.Outcome),
        ("RecordError", contracts.RecordErrorEvent, contracts.Outcome),
    ],
)
def test_payloads_and_selected_results_match_the_contract(state: str, event: Any, result: Any) -> None:
    task = STATES[state]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert _keys(task["Parameters"]["Payload"]) == set(event.__annotations__)
    assert event.__required_keys__ == set(event.__annotations__), "events always carry every key"
    if result is None:  # Prepare's whole result is kept
        assert task["ResultSelector"]["run.$"] == "$.Payload"
        return
    selected = {value.removeprefix("$.Payload.") for value in task["ResultSelector"].values()}
    assert selected == set(result.__annotations__) == result.__required_keys__


def test_worker_gets_the_shard_item_unchanged_and_its_result_is_discarded() -> None:
    for b in BRANCHES:
        worker = STATES[f"Worker{b}"]
        assert worker["Parameters"]["Payload.$"] == "$"
        assert worker["OutputPath"] is None
        shards = STATES[f"RunShards{b}"]
        assert shards["ResultPath"] is None, "results are read from S3, never from the map"
        assert shards["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}


def test_merge_tasks_get_their_slice_and_their_failure_only_costs_time() -> None:
    for b in BRANCHES:
        merge = STATES[f"MergeShards{b}"]
        assert STATES[f"RunShards{b}"]["Next"] == f"MergeShards{b}"
        assert merge["ItemsPath"] == "$.segment.merge_slices"
        assert merge["ItemProcessor"]["ProcessorConfig"]["Mode"] == "INLINE"
        assert merge["MaxConcurrency"] <= 40  # an inline map's most iterations at once
        assert _keys(merge["ItemSelector"]) == set(contracts.MergeSliceEvent.__annotations__)
        assert merge["ItemSelector"]["mode"] == "merge"
        task = STATES[f"MergeSlice{b}"]
        assert task["Parameters"]["Payload.$"] == "$"
        assert task["Parameters"]["FunctionName"] == STATES[f"Aggregate{b}"]["Parameters"]["FunctionName"]
        # Partials are read from S3 by Aggregate, never from the map; a lost task or map goes on to it.
        assert merge["ResultPath"] is None and task["OutputPath"] is None
        assert STATES[task["Catch"][0]["Next"]]["Type"] == "Pass"
        assert [c["Next"] for c in merge["Catch"]] == [f"Aggregate{b}"] == [merge["Next"]]


@pytest.mark.parametrize(
    ("prefix", "typed_dict"),
    [
        ("$.segment.", contracts.SegmentSpec),
        ("$.run.", contracts.PrepareResult),
        ("$.aggregate.", contracts.AggregateResult),
        ("$.outcome.", contracts.Outcome),
    ],
)
def test_paths_into_handler_results_name_contract_fields(prefix: str, typed_dict: Any) -> None:
    text = json.dumps(DEFINITION)
    used = set(re.findall(re.escape(prefix) + r"([a-z_]+)", text))
    assert used, prefix
    assert used <= set(typed_dict.__annotations__), used - set(typed_dict.__annotations__)


def test_every_task_error_reaches_record_error_or_is_deliberately_tolerated() -> None:
    tolerated = {"Collect": "Report", "EmitRunCompleted": "Verdict", "RecordError": "MarkRunErrored"}
    for name, state in STATES.items():
        if state["Type"] not in {"Task", "Map"} or name.endswith(BRANCHES):
            continue  # inside RunSegments' branches: caught by RunSegments
        catch_all = [c for c in state.get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert catch_all, f"{name} has no catch-all"
        target = catch_all[0]["Next"]
        if name in tolerated:
            assert target == tolerated[name]
        elif name == "MarkRunErrored":
            assert target == "FallbackOutcome"
        else:
            assert STATES[target]["Next"] == "RecordError", (name, target)


def test_final_states_and_error_names() -> None:
    assert STATES["ChecksFailed"] == {
        "Type": "Fail",
        "Error": "surge.ChecksFailed",
        "CausePath": "$.outcome.cause",
    }
    assert STATES["RunFailed"]["Error"] == "surge.RunError"
    assert all(STATES[f"AbortRun{b}"]["Error"] == "surge.Aborted" for b in BRANCHES)
    assert STATES["Passed"]["Type"] == "Succeed"
    verdicts = {c["StringEquals"]: c["Next"] for c in STATES["Verdict"]["Choices"]}
    assert verdicts == {"pass": "Passed", "fail": "ChecksFailed"}
    assert STATES["Verdict"]["Default"] == "RunFailed"


def test_segments_overlap_by_design() -> None:
    segments = STATES["RunSegments"]
    # Two branches of a Parallel state, each a loop over every other segment: two segments in
    # flight, the next launching before this one ends. A Distributed Map in a Parallel branch is a
    # shape AWS deploys; one inside an inline Map's iteration is not documented anywhere.
    assert segments["Type"] == "Parallel" and len(segments["Branches"]) == 2
    for first, (b, branch) in enumerate(zip(BRANCHES, segments["Branches"], strict=True)):
        assert branch["StartAt"] == f"Start{b}"
        assert STATES[f"Start{b}"]["Parameters"]["k"] == first
        assert STATES[f"Next{b}"]["Parameters"]["k.$"] == "States.MathAdd($.k, 2)"
        assert STATES[f"More{b}"]["Choices"][0]["NumericLessThanPath"] == "$.launched"
        assert STATES[f"Pick{b}"]["Parameters"]["segment.$"] == "States.ArrayGetItem($.segments, $.k)"
        assert STATES[f"WaitForLaunch{b}"]["TimestampPath"] == "$.segment.launch_at"
        shards = STATES[f"RunShards{b}"]
        assert shards["ItemProcessor"]["ProcessorConfig"] == {
            "Mode": "DISTRIBUTED",
            "ExecutionType": "STANDARD",
        }
        assert shards["MaxConcurrencyPath"] == "$.segment.shard_count"
        # Every worker failure is tolerated: under AWS's semantics a map past its tolerance fails at
        # once while its workers keep running, and the run would be judged before their results exist.
        assert shards["ToleratedFailurePercentage"] == 100
        assert "ToleratedFailurePercentagePath" not in shards and "ToleratedFailureCount" not in shards
    # The branches are one loop written twice: identical but for their names and first segment.
    even, odd = (
        json.dumps(branch).replace(b, "") for b, branch in zip(BRANCHES, segments["Branches"], strict=True)
    )
    assert even.replace('"k": 0', '"k": 1').replace("segments 0, 2, 4", "segments 1, 3, 5") == odd
    assert [c["Next"] for c in segments["Catch"]] == ["Collect", "SegmentsFailed"]
    assert segments["Catch"][0]["ErrorEquals"] == ["surge.Aborted"]
