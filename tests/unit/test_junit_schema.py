"""junit.xml against the JUnit schema CI systems read (Jenkins' junit-10.xsd shape, tests/data/),
with one test case per check, for a passing, a failing and an errored run."""

from __future__ import annotations

import math
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from reports import render_junit
from surge.report_model import Report
from tests.report_fixtures import errored_report, passing_report, sample_report

if TYPE_CHECKING:
    from xmlschema import XMLSchema
else:
    XMLSchema = pytest.importorskip("xmlschema", reason="xmlschema is a dev dependency").XMLSchema

SCHEMA_PATH = pathlib.Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema() -> XMLSchema:
    return XMLSchema(str(SCHEMA_PATH))


def schema_errors(schema: XMLSchema, text: str) -> list[str]:
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(text)]


REPORTS: dict[str, Callable[[], Report]] = {
    "pass": passing_report,
    "fail": sample_report,
    "error": lambda: errored_report(error="worker 3 crashed: OOM\nTraceback ..."),
    "error-with-checks": lambda: sample_report(verdict="error", partial=True, error="segment 2 timed out"),
}


@pytest.mark.parametrize("kind", list(REPORTS))
def test_junit_validates_against_the_schema(schema: XMLSchema, kind: str) -> None:
    text = render_junit(REPORTS[kind]())
    assert schema_errors(schema, text) == []


@pytest.mark.parametrize("kind", list(REPORTS))
def test_one_testcase_per_check_and_counts_that_add_up(kind: str) -> None:
    report: Report = REPORTS[kind]()
    root = ET.fromstring(render_junit(report))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    errored = report["verdict"] == "error"
    check_cases = cases[:-1] if errored else cases
    assert [c.get("name") for c in check_cases] == [c["name"] for c in report["checks"]]
    if errored:
        assert cases[-1].get("name") == "run" and cases[-1].find("error") is not None
    failed = [c for c in report["checks"] if c["status"] != "pass"]
    assert [c.get("name") for c in check_cases if c.find("failure") is not None] == [
        c["name"] for c in failed
    ]
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(failed))
        assert element.get("errors") == str(int(errored))


def test_hostile_text_and_odd_numbers_still_validate(schema: XMLSchema) -> None:
    nasty = 'boom \x1b[31m</failure><x a="1"> & \x00 \ud800'
    report = sample_report(plan=f"p<&>{nasty}", error=nasty, verdict="error", duration_s=math.nan)
    report["checks"][0]["name"] = nasty
    text = render_junit(report)
    assert schema_errors(schema, text) == []
    assert ET.fromstring(text).get("time") == "0.000"


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ('<testsuites skipped="0"><testsuite name="s" tests="0"/></testsuites>', "skipped"),
        ('<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>', "name"),
        ('<testsuites><testsuite name="s" tests="one"/></testsuites>', "tests"),
        (
            '<testsuites><testsuite name="s" tests="1"><testcase name="c"/><properties>'
            '<property name="a" value="b"/></properties></testsuite></testsuites>',
            "properties",
        ),
        (
            '<testsuites><testsuite name="s" tests="1"><testcase name="c"><note/></testcase>'
            "</testsuite></testsuites>",
            "note",
        ),
    ],
)
def test_the_schema_rejects_what_junit_10_rejects(schema: XMLSchema, document: str, why: str) -> None:
    errors = schema_errors(schema, document)
    assert errors and why in " ".join(errors), errors
