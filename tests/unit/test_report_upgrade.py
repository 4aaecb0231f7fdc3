"""A report.json of an older schema reads as the current one, through its upgrade steps.

The v1 runs under tests/fixtures/v1-runs were made by earlier builds (d5cf62a, the end of the first
turn: no check kinds, no end, no intervals; 43b3506: most keys, some not yet always written), with a
plan of two phases and three checks against the demo target."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from surge.errors import UserError
from surge.report_model import REPORT_SCHEMA_VERSION
from surge.report_upgrade import ReportVersionError, upgrade_report
from surge.store.local import read_report
from tests.report_fixtures import sample_report

V1_RUNS = Path(__file__).parent.parent / "fixtures" / "v1-runs"
BUILDS = ("d5cf62a", "43b3506")


def _raw(build: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((V1_RUNS / build / "report.json").read_text())
    return data


@pytest.mark.parametrize("build", BUILDS)
def test_a_v1_report_reads_as_the_current_schema_with_its_figures_unchanged(build: str) -> None:
    raw = _raw(build)
    assert raw["schema_version"] == 1
    report = read_report(V1_RUNS / build)
    assert report["schema_version"] == REPORT_SCHEMA_VERSION
    # What the old build measured is what the reader sees.
    for key in ("run_id", "verdict", "totals", "latency_ms", "timeseries", "status_codes", "partial"):
        assert report[key] == raw[key]  # type: ignore[literal-required]
    assert [c["measured"] for c in report["checks"]] == [c["measured"] for c in raw["checks"]]
    # The plan's three thresholds, then (43b3506) the validity checks every run carries.
    kinds = [c["kind"] for c in report["checks"]]
    assert kinds[:3] == ["threshold"] * 3
    assert all(k == "validity" for k in kinds[3:])
    assert all(c["name"].startswith("validity: ") for c in report["checks"][3:])
    assert report["end"] == raw.get("end", {"stopped_by": None, "workers_lost": 0, "lost_reasons": []})
    assert report["baseline"] is None
    assert all(p["status"] == "ran" for p in report["phases"])
    assert all("status_codes" in e for e in report["endpoints"].values())
    # Keys the old build wrote are kept as written; keys it never wrote and cannot be known stay out.
    assert report["uncertainty"] == raw.get("uncertainty", {})
    assert ("bytes_sent" in report["totals"]) == ("bytes_sent" in raw["totals"])


@pytest.mark.parametrize("build", BUILDS)
def test_every_renderer_renders_an_upgraded_v1_report(build: str) -> None:
    report = read_report(V1_RUNS / build)
    md = render_markdown(report)
    assert '| `endpoint["GET /api/mocs"].latency.p99` | < 1.00 ms |' in md
    assert "FAIL" in md
    assert "<html" in render_html(report)
    assert 'failures="1"' in render_junit(report)


def test_a_v1_check_kind_comes_from_its_name() -> None:
    raw = _raw("d5cf62a")
    first = raw["checks"][0]
    raw["checks"] = [
        first,
        first | {"name": "validity: every worker reported", "metric": "run.workers_lost"},
        first | {"name": "regression: http.latency.p95 within 5% of baseline"},
    ]
    assert [c["kind"] for c in upgrade_report(raw)["checks"]] == ["threshold", "validity", "regression"]


@pytest.mark.parametrize(
    ("aborted_by", "partial", "said"),
    [
        ("http.error_rate < 20%", True, "aborted by check 'http.error_rate < 20%'"),
        (None, True, "stopped early"),
        (None, False, None),
    ],
)
def test_a_v1_run_says_how_it_was_stopped_as_its_report_tells(
    aborted_by: str | None, partial: bool, said: str | None
) -> None:
    raw = _raw("d5cf62a") | {"aborted_by": aborted_by, "partial": partial}
    assert upgrade_report(raw)["end"] == {"stopped_by": said, "workers_lost": 0, "lost_reasons": []}


def test_a_current_report_is_read_as_written() -> None:
    report = json.loads(json.dumps(sample_report()))
    assert upgrade_report(report) == report


@pytest.mark.parametrize("build", BUILDS)
def test_upgrading_leaves_what_it_was_given_untouched(build: str) -> None:
    raw = _raw(build)
    before = copy.deepcopy(raw)
    upgrade_report(raw)
    assert raw == before


def test_a_report_of_a_newer_schema_is_refused_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(V1_RUNS / "d5cf62a", run)
    (run / "report.json").write_text(
        json.dumps(_raw("d5cf62a") | {"schema_version": REPORT_SCHEMA_VERSION + 1})
    )
    with pytest.raises(UserError) as err:
        read_report(run)
    said = str(err.value)
    assert str(run / "report.json") in said
    assert f"report schema {REPORT_SCHEMA_VERSION + 1}" in said
    assert "upgrade surge" in said


@given(st.one_of(st.none(), st.booleans(), st.integers(max_value=0), st.text(max_size=3), st.floats()))
def test_a_report_without_a_schema_version_is_no_report(version: object) -> None:
    with pytest.raises(ReportVersionError):
        upgrade_report({"schema_version": version})


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_PARTS = ("checks", "endpoints", "phases", "targets", "end", "baseline", "partial", "aborted_by")


@given(st.dictionaries(st.sampled_from(_PARTS), _JSON, max_size=6))
def test_a_v1_report_of_any_shape_upgrades_without_an_error_of_its_own(parts: dict[str, Any]) -> None:
    # A damaged file is the reader's type check's to name; the upgrade only must not fail first.
    out = upgrade_report({"schema_version": 1, **parts})
    assert out["schema_version"] == REPORT_SCHEMA_VERSION


@pytest.mark.parametrize("build", BUILDS)
def test_surge_report_re_evaluates_a_v1_run_and_keeps_its_figures(
    build: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    run = tmp_path / "run"
    shutil.copytree(V1_RUNS / build, run)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SURGE_HISTORY", str(tmp_path / "history.sqlite"))
    assert main(["report", str(run)]) == 1  # the p99 < 1 ms check failed then, and fails again
    (again,) = (run / "reevaluations").iterdir()
    report = read_report(again)
    original = _raw(build)
    assert report["totals"]["requests"] == original["totals"]["requests"]
    assert report["reevaluation"]["original_verdict"] == original["verdict"]
    assert "verdict: FAIL" in capsys.readouterr().out
