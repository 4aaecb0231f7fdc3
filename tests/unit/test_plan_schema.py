"""The plan's JSON Schema (for editors) accepts every plan surge accepts, in the forms users write
them, and refuses what surge refuses by shape; docs/plans.md is generated from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from surge.plan_schema import plan_schema, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = plan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_plan_is_valid_by_the_schema(validator: Any, path: Path) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(yaml.safe_load(path.read_text()))
    ]
    assert not errors, errors


def test_the_forms_users_write_are_in_the_schema(validator: Any) -> None:
    plan = {
        "name": "forms",
        "target": "http://127.0.0.1:8080",
        "load": {"phases": [{"duration": "1m30s", "rate": 5}], "think_time": "1s..3s"},
        "scenarios": [
            {
                "name": "s",
                "flow": [
                    {"get": "/a"},
                    {"post": {"url": "/b", "json": {"x": 1}, "expect": [{"max": "200ms"}]}},
                    {"think": {"mean": "2s", "stddev": "500ms"}},
                    {"loop": {"count": 2}, "steps": [{"get": "/c"}]},
                    {"if": {"var": "x", "exists": True}, "steps": [{"delete": "/d"}]},
                    {"poll": {"get": "/e", "until": {"status": 200}, "every": "250ms"}},
                ],
            }
        ],
        "thresholds": ["http.latency.p95 < 300ms", {"check": "http.error_rate < 1%", "abort_on_fail": True}],
        "validity": {"max_dropped": "1%", "max_workers_lost": 1},
        "defaults": {"max_body": "10MB", "timeout": 5},
    }
    assert not list(validator.iter_errors(plan))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p["load"]["phases"][0].update(rampTo=10), ["load", "phases", 0]),
        (lambda p: p["load"]["phases"][0].update(duration="soon"), ["load", "phases", 0, "duration"]),
        (
            lambda p: p["scenarios"][0]["flow"].append({"loop": {"count": "many"}, "steps": []}),
            ["scenarios", 0, "flow", 1],
        ),
    ],
)
def test_mistakes_are_flagged_where_they_are(validator: Any, change: Any, path: list[object]) -> None:
    plan: dict[str, Any] = {
        "name": "p",
        "target": "http://127.0.0.1:1",
        "load": {"phases": [{"duration": "1m", "rate": 1}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
    }
    change(plan)
    errors = list(validator.iter_errors(plan))
    assert errors
    assert any(list(e.absolute_path)[: len(path)] == path for e in errors), [
        list(e.absolute_path) for e in errors
    ]


def test_docs_plans_md_is_generated_from_the_models() -> None:
    expected = reference_markdown()
    assert (ROOT / "docs" / "plans.md").read_text() == expected, (
        "docs/plans.md is out of date: run `python -m surge.plan_schema --markdown > docs/plans.md`"
    )
    for section in ("### Loop", "### VarCondition", "### Request", "### Expect", "### Phase"):
        assert section in expected


def test_the_starter_plan_names_the_schema_and_is_valid_by_it(validator: Any) -> None:
    from surge.cli.commands import STARTER_PLAN
    from surge.plan_schema import SCHEMA_FILE

    assert STARTER_PLAN.startswith(f"# yaml-language-server: $schema=./{SCHEMA_FILE}\n")
    assert not list(validator.iter_errors(yaml.safe_load(STARTER_PLAN)))
