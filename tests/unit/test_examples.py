"""Every bundled example plan validates, so what the README points to keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.plan_load import load_plan

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "quickstart.yaml",
        "migration-validation.yaml",
        "triggers-ingestion.yaml",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    plan = load_plan(path)
    assert plan.thresholds, "an example without checks shows nothing"
