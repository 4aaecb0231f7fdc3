"""Where a cloud run's data and baseline files are: keys under the run, URIs relative to the plan's."""

from __future__ import annotations

import pytest

from surge.cloud import layout
from surge.cloud.inputs import file_refs, with_file_refs
from surge.plan import BaselineFile
from surge.plan_load import plan_model

PLAN_URI = "s3://surge-bucket/plans/nightly/checkout.yaml"


def test_input_keys_are_under_the_run_one_folder_per_kind() -> None:
    assert layout.input_key("r1", "data", "users.csv") == "runs/r1/inputs/data/users.csv"
    assert layout.input_key("r1", "baseline", "users.csv") == "runs/r1/inputs/baseline/users.csv"
    assert layout.input_key("r1", "data", "x").startswith(layout.run_prefix("r1"))


@pytest.mark.parametrize(
    ("ref", "uri"),
    [
        ("users.csv", "s3://surge-bucket/plans/nightly/users.csv"),
        ("data/users.csv", "s3://surge-bucket/plans/nightly/data/users.csv"),
        ("./users.csv", "s3://surge-bucket/plans/nightly/users.csv"),
        ("../shared/ecs-baseline.json", "s3://surge-bucket/plans/shared/ecs-baseline.json"),
        ("s3://other-bucket/files/users.csv", "s3://other-bucket/files/users.csv"),
    ],
)
def test_a_file_resolves_against_the_plans_s3_folder(ref: str, uri: str) -> None:
    assert layout.resolve_file_uri(ref, PLAN_URI) == uri


def test_a_plan_at_the_bucket_root_resolves_beside_it() -> None:
    assert layout.resolve_file_uri("users.csv", "s3://b/plan.yaml") == "s3://b/users.csv"


def test_an_s3_uri_needs_no_plan_uri() -> None:
    assert layout.resolve_file_uri("s3://b/plans/users.csv", None) == "s3://b/plans/users.csv"


@pytest.mark.parametrize(
    ("ref", "plan_uri", "message"),
    [
        (
            "users.csv",
            None,
            "'users.csv' is a path relative to the plan, but the plan was given inline, not by "
            "plan_uri; name the file's s3:// URI",
        ),
        (
            "/home/me/users.csv",
            PLAN_URI,
            "'/home/me/users.csv' is a local path; name an s3:// URI or a path relative to the plan "
            "(s3://surge-bucket/plans/nightly/)",
        ),
        (
            "C:\\data\\users.csv",
            PLAN_URI,
            "'C:\\data\\users.csv' is a local path; name an s3:// URI or a path relative to the plan "
            "(s3://surge-bucket/plans/nightly/)",
        ),
        (
            "../../../users.csv",
            PLAN_URI,
            f"'../../../users.csv' relative to the plan ({PLAN_URI}) is not a file in its bucket",
        ),
        ("data/", PLAN_URI, f"'data/' relative to the plan ({PLAN_URI}) is not a file in its bucket"),
        ("s3://bucket-only", PLAN_URI, "'s3://bucket-only' is not an s3://bucket/key URI"),
        ("s3://b/folder/", PLAN_URI, "'s3://b/folder/' is not an s3://bucket/key URI of a file"),
        ("s3://b/folder/..", PLAN_URI, "'s3://b/folder/..' is not an s3://bucket/key URI of a file"),
    ],
)
def test_files_a_cloud_run_cannot_find(ref: str, plan_uri: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        layout.resolve_file_uri(ref, plan_uri)
    assert str(info.value) == message


def test_file_fields_are_read_and_replaced_leaving_the_rest() -> None:
    plan = plan_model(
        {
            "name": "p",
            "target": "http://127.0.0.1:8080",
            "load": {"phases": [{"duration": 1, "rate": 1}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "data": {"file": "users.csv", "order": "random"},
            "baseline": {"file": "ecs.json"},
        }
    )
    assert file_refs(plan) == {"data": "users.csv", "baseline": "ecs.json"}
    moved = with_file_refs(plan, {"data": "s3://b/runs/r1/inputs/data/users.csv"})
    assert moved.data is not None and moved.data.file == "s3://b/runs/r1/inputs/data/users.csv"
    assert moved.data.order == "random"
    assert moved.baseline == BaselineFile(file="ecs.json")
    assert plan.data is not None and plan.data.file == "users.csv"  # the original is left alone
    assert file_refs(with_file_refs(plan, {})) == file_refs(plan)


def test_run_and_last_pass_baselines_are_not_files() -> None:
    plan = plan_model(
        {
            "name": "p",
            "target": "http://127.0.0.1:8080",
            "load": {"phases": [{"duration": 1, "rate": 1}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
            "baseline": "last-pass",
        }
    )
    assert file_refs(plan) == {}
    assert with_file_refs(plan, {"baseline": "s3://b/x.json"}).baseline == "last-pass"
