"""Baselines and the regression rule (surge.baseline), and the plan fields that ask for them."""

from __future__ import annotations

import builtins
import json
import math
from pathlib import Path
from typing import Any

import pytest

from surge.baseline import (
    REGRESSION_HEADLINE,
    Baseline,
    BaselineError,
    Noise,
    OfferedLoad,
    apply_baseline,
    baseline_from_file,
    default_direction,
    delta_pct,
    is_regression,
    metric_unit,
    noise_between,
    parse_figures,
    regression_limit,
    regression_metrics,
    resolve_baseline,
)
from surge.errors import PlanError
from surge.evaluate import verdict
from surge.plan import BaselineFile, Plan, Regression
from surge.plan_load import parse_plan
from surge.report_model import Check, CheckStatus, Report
from surge.store.history import RunRecord
from surge.uncertainty import Interval

TARGET = "http://127.0.0.1:8080"


def check(
    metric: str,
    op: str,
    target: float,
    measured: float | None,
    unit: str = "ms",
    status: CheckStatus = "pass",
) -> Check:
    return Check(
        name=f"{metric} {op} {target:g}",
        metric=metric,
        op=op,
        target=target,
        unit=unit,
        measured=measured,
        baseline=None,
        delta_pct=None,
        status=status,
        abort_on_fail=False,
        kind="threshold",
    )


def file_baseline(figures: dict[str, float]) -> Baseline:
    return Baseline(spec="file:b.json", source="file", ref="b.json", label="file b.json", figures=figures)


def run_baseline(figures: dict[str, float]) -> Baseline:
    return Baseline(spec="last-pass", source="run", ref="r1", label="run r1", figures=figures)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c["name"]: c for c in checks}


# --- delta and the regression rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "baseline", "expected"),
    [
        (450.0, 400.0, 12.5),
        (300.0, 400.0, -25.0),
        (400.0, 400.0, 0.0),
        (0.0, 0.0, 0.0),
        (None, 400.0, None),
        (400.0, None, None),
        (0.01, 0.0, None),  # a change from zero has no percentage
    ],
)
def test_delta_pct_is_percent_change_against_baseline(
    measured: float | None, baseline: float | None, expected: float | None
) -> None:
    got = delta_pct(measured, baseline)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("measured", "baseline", "direction", "limit", "regressed"),
    [
        # "<" checks (latency, error rate): higher is worse.
        (104.0, 100.0, "higher", 5.0, False),
        (105.0, 100.0, "higher", 5.0, False),  # exactly at the limit passes
        (105.01, 100.0, "higher", 5.0, True),
        (50.0, 100.0, "higher", 5.0, False),  # better is never a regression
        (1.05, 1.0, "higher", 5.0, False),  # (1.05 - 1) / 1 is 5.000000000000004 % in floating point
        (0.0105, 0.01, "higher", 5.0, False),  # likewise
        (441.0, 420.0, "higher", 5.0, False),
        # ">" checks (throughput): lower is worse.
        (96.0, 100.0, "lower", 5.0, False),
        (95.0, 100.0, "lower", 5.0, False),
        (94.99, 100.0, "lower", 5.0, True),
        (500.0, 100.0, "lower", 5.0, False),
        (2.7, 3.0, "lower", 10.0, False),  # while 3 * 0.9 is 2.7000000000000002: compare percentages
        # Zero limit: any worsening fails, equality passes.
        (100.0, 100.0, "higher", 0.0, False),
        (100.001, 100.0, "higher", 0.0, True),
    ],
)
def test_regression_in_the_direction_of_the_check(
    measured: float, baseline: float, direction: Any, limit: float, regressed: bool
) -> None:
    assert is_regression(measured, baseline, direction, limit) is regressed


@pytest.mark.parametrize(
    ("measured", "direction", "regressed"),
    [
        (0.0, "higher", False),
        (0.0001, "higher", True),  # errors from none at all: worse by more than any percentage
        (5.0, "lower", False),
        (0.0, "lower", False),
    ],
)
def test_zero_baseline(measured: float, direction: Any, regressed: bool) -> None:
    assert is_regression(measured, 0.0, direction, 5.0) is regressed


def test_regression_limit_moves_the_worse_way() -> None:
    assert regression_limit(400.0, "higher", 5.0) == pytest.approx(420.0)
    assert regression_limit(100.0, "lower", 5.0) == pytest.approx(95.0)
    assert regression_limit(0.0, "higher", 5.0) == 0.0


# --- applying a baseline to checks ----------------------------------------------------------------


def test_checks_get_baseline_and_delta_and_keep_their_status() -> None:
    checks = [
        check("http.latency.p95", "<", 500, 450.0),
        check("http.throughput", ">", 100, 120.0, "per_s"),
    ]
    out = apply_baseline(
        checks,
        spec="file:b.json",
        baseline=file_baseline({"http.latency.p95": 400.0, "http.throughput": 150.0}),
        regression=None,
        measured={},
    )
    p95, rps = out.checks
    assert (p95["baseline"], p95["delta_pct"], p95["status"]) == (400.0, 12.5, "pass")
    assert (rps["baseline"], rps["delta_pct"], rps["status"]) == (150.0, -20.0, "pass")
    assert len(out.checks) == 2  # no regression rule: no extra checks
    assert out.info is not None
    assert out.info["source"] == "file" and out.info["max_worse_pct"] is None
    assert out.info["figures"] == {"http.latency.p95": 400.0, "http.throughput": 150.0}


def test_regression_fails_latency_higher_and_throughput_lower() -> None:
    checks = [
        check("http.latency.p95", "<", 500, 450.0),  # +12.5 %: worse than 5 %
        check("http.throughput", ">", 100, 140.0, "per_s"),  # -6.7 %: worse than 5 %
    ]
    figures = {
        "http.latency.p95": 400.0,
        "http.latency.p99": 900.0,
        "http.error_rate": 0.01,
        "http.throughput": 150.0,
    }
    measured = {
        "http.latency.p95": 450.0,
        "http.latency.p99": 800.0,  # better
        "http.error_rate": 0.0105,  # exactly 5 % worse
        "http.throughput": 140.0,
    }
    out = apply_baseline(
        checks,
        spec="last-pass",
        baseline=run_baseline(figures),
        regression=Regression(max_worse_pct=5),
        measured=measured,
    )
    reg = by_name(out.checks)
    p95 = reg["regression: http.latency.p95 within 5% of baseline"]
    assert (p95["status"], p95["op"], p95["target"], p95["delta_pct"]) == ("fail", "<=", 420.0, 12.5)
    rps = reg["regression: http.throughput within 5% of baseline"]
    assert (rps["status"], rps["op"], rps["target"], rps["unit"]) == ("fail", ">=", 142.5, "per_s")
    assert reg["regression: http.latency.p99 within 5% of baseline"]["status"] == "pass"
    err = reg["regression: http.error_rate within 5% of baseline"]
    assert (err["status"], err["unit"]) == ("pass", "ratio")
    # The threshold checks themselves still say what their expression says.
    assert out.checks[0]["status"] == "pass"
    assert verdict(out.checks) == "fail"
    assert out.info is not None and out.info["max_worse_pct"] == 5


def test_direction_comes_from_the_check_operator() -> None:
    # A count that must stay high ("requests > 100") regresses when it falls.
    checks = [check("http.requests", ">", 100, 180.0, "count")]
    out = apply_baseline(
        checks,
        spec="last-pass",
        baseline=run_baseline({"http.requests": 200.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.requests"]),
        measured={"http.requests": 180.0},
    )
    reg = out.checks[-1]
    assert (reg["metric"], reg["op"], reg["status"]) == ("http.requests", ">=", "fail")


def test_missing_baseline_metrics_are_noted_never_failed() -> None:
    checks = [
        check("http.latency.p95", "<", 500, 450.0),
        check('endpoint["GET /x"].latency.p99', "<", 800, 700.0),
    ]
    out = apply_baseline(
        checks,
        spec="file:b.json",
        baseline=file_baseline({"http.latency.p95": 440.0, "cost.monthly_usd": 950.0}),
        regression=Regression(max_worse_pct=5),
        measured={"http.latency.p95": 450.0, "http.latency.p99": 990.0, "http.error_rate": 0.5},
    )
    names = by_name(out.checks)
    assert names['endpoint["GET /x"].latency.p99 < 800']["baseline"] is None
    assert names['endpoint["GET /x"].latency.p99 < 800']["delta_pct"] is None
    # Only the metric the baseline knows gets a regression check, and it is within 5 %.
    assert [c["name"] for c in out.checks if c["name"].startswith("regression:")] == [
        "regression: http.latency.p95 within 5% of baseline"
    ]
    assert verdict(out.checks) == "pass"
    assert out.info is not None
    notes = " ".join(out.info["notes"])
    for metric in (
        'endpoint["GET /x"].latency.p99',
        "http.latency.p99",
        "http.error_rate",
        "http.throughput",
    ):
        assert metric in notes
    assert "cost.monthly_usd" in notes  # a figure no check uses: likely a typo in the file


def test_zero_baseline_error_rate_regresses_on_any_error() -> None:
    checks = [check("http.error_rate", "<", 0.01, 0.0002, "ratio")]
    out = apply_baseline(
        checks,
        spec="last-pass",
        baseline=run_baseline({"http.error_rate": 0.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.error_rate"]),
        measured={"http.error_rate": 0.0002},
    )
    threshold, reg = out.checks
    assert (threshold["baseline"], threshold["delta_pct"], threshold["status"]) == (0.0, None, "pass")
    assert (reg["status"], reg["target"], reg["delta_pct"]) == ("fail", 0.0, None)


def test_unmeasured_metric_is_no_data() -> None:
    out = apply_baseline(
        [],
        spec="last-pass",
        baseline=run_baseline({"http.latency.p95": 100.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p95"]),
        measured={"http.latency.p95": None},
    )
    assert [c["status"] for c in out.checks] == ["no-data"]


def test_equality_checks_are_skipped_by_the_rule() -> None:
    checks = [check("http.errors", "==", 0, 0.0, "count")]
    out = apply_baseline(
        checks,
        spec="last-pass",
        baseline=run_baseline({"http.errors": 0.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.errors"]),
        measured={"http.errors": 0.0},
    )
    # "errors" has a natural direction (more is worse) even when its check says ==.
    assert out.checks[-1]["name"] == "regression: http.errors within 5% of baseline"
    requests = [check("http.requests", "==", 40, 40.0, "count")]
    out = apply_baseline(
        requests,
        spec="last-pass",
        baseline=run_baseline({"http.requests": 40.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.requests"]),
        measured={"http.requests": 40.0},
    )
    assert len(out.checks) == 1
    assert out.info is not None and "skips http.requests" in " ".join(out.info["notes"])


def test_regression_metrics_default_and_restricted() -> None:
    checks = [check('endpoint["GET /x"].latency.p99', "<", 800, 1.0), check("http.latency.p95", "<", 1, 1.0)]
    assert regression_metrics(checks, None) == []
    assert regression_metrics(checks, Regression(max_worse_pct=5)) == [
        'endpoint["GET /x"].latency.p99',
        *REGRESSION_HEADLINE,
    ]
    assert regression_metrics(checks, Regression(max_worse_pct=5, metrics=["http.throughput"])) == [
        "http.throughput"
    ]


def test_last_pass_without_a_run_leaves_checks_alone_and_says_why() -> None:
    checks = [check("http.latency.p95", "<", 500, 450.0)]
    out = apply_baseline(
        checks,
        spec="last-pass",
        baseline=None,
        regression=Regression(max_worse_pct=5),
        measured={},
        notes=["no earlier passing run"],
    )
    assert out.checks == checks
    assert out.info is not None
    assert (out.info["source"], out.info["ref"], out.info["notes"]) == (
        None,
        None,
        ["no earlier passing run"],
    )


def test_no_baseline_in_plan_means_no_info() -> None:
    checks = [check("http.latency.p95", "<", 500, 450.0)]
    out = apply_baseline(checks, spec=None, baseline=None, regression=None, measured={})
    assert out.checks == checks and out.info is None


def test_stored_info_rebuilds_the_same_baseline() -> None:
    original = file_baseline({"http.latency.p95": 420.0})
    out = apply_baseline([], spec=original.spec, baseline=original, regression=None, measured={})
    assert out.info is not None
    assert Baseline.from_info(out.info) == original


# --- figures files ----------------------------------------------------------------------------------


def test_figures_file_as_the_seed_writes_it() -> None:
    figures = parse_figures(
        {
            "http.latency.p95": 420,
            "http.error_rate": 0.004,
            "http.throughput": 130,
            'elasticache["sessions"].hit_rate': 0.82,
            "cost.monthly_usd": 950,
            'endpoint["GET /x"].p99': "1.2s",
            "http.latency.p50": "180ms",
            "http.latency.p99": None,  # not measured on the old platform
        },
        "b.json",
    )
    assert figures == {
        "http.latency.p95": 420.0,
        "http.error_rate": 0.004,
        "http.throughput": 130.0,
        'elasticache["sessions"].hit_rate': 0.82,
        "cost.monthly_usd": 950.0,
        'endpoint["GET /x"].latency.p99': 1200.0,  # the thresholds' canonical path and unit
        "http.latency.p50": 180.0,
    }
    assert parse_figures({"http.error_rate": "0.4%"}, "b.json") == {"http.error_rate": 0.004}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"http.error_rate": 4}, "not a fraction"),
        ({"http.latency.p95": -1}, "negative"),
        ({"http.latency.p95": True}, "expected a number"),
        ({"http.latency.p95": "fast"}, "http.latency.p95"),
        ({"http.latency.p95": "5%"}, "duration"),
        ({"legacy.monthly_bill": 12}, "names no metric"),  # would silently compare nothing
        ({"p95": 450}, "did you mean http.latency.p95?"),
        ({"errorRate": 0.5}, "did you mean http.error_rate?"),
        ({"requestRate": 166.67}, "did you mean http.throughput?"),
        ({"responseTime.p95": 450}, "did you mean http.latency.p95?"),
        ({"http.latency.p95": math.inf}, "finite"),
        ({'endpoint["a"].p99': 1, 'endpoint["a"].latency.p99': 2}, "twice"),
        ({}, "no figures"),
        ([420], "JSON object"),
    ],
)
def test_invalid_figures(data: object, message: str) -> None:
    with pytest.raises(BaselineError) as err:
        parse_figures(data, "b.json")
    assert message in str(err.value)


def test_units_of_metric_paths() -> None:
    assert metric_unit("http.latency.p95") == "ms"
    assert metric_unit("http.error_rate") == "ratio"
    assert metric_unit("http.throughput") == "per_s"
    assert metric_unit("http.requests") == "count"
    assert metric_unit("cost.monthly_usd") == "usd"
    assert metric_unit('elasticache["sessions"].hit_rate') == "ratio"
    assert metric_unit('opensearch["logs"].p95') == "ms"
    assert default_direction('elasticache["sessions"].hit_rate') == "lower"
    assert default_direction("cost.monthly_usd") == "higher"
    assert default_direction("http.requests") is None


# --- resolving a plan's baseline ------------------------------------------------------------------


class FakeHistory:
    """An in-memory RunHistory: enough for resolution, which only reads."""

    def __init__(self, *records: RunRecord) -> None:
        self.records = list(records)

    @property
    def where(self) -> str:
        return "memory"

    def record(self, report: Report, location: str) -> RunRecord:
        raise NotImplementedError

    def get(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.records if r.run_id == run_id), None)

    def list(self, plan: str | None = None, limit: int = 20) -> builtins.list[RunRecord]:
        mine = [r for r in self.records if plan is None or r.plan == plan]
        return sorted(mine, key=lambda r: r.started_at, reverse=True)[:limit]

    def last_pass(self, plan: str, before: str | None = None) -> RunRecord | None:
        for r in self.list(limit=1000):
            if r.plan == plan and r.complete_pass and (before is None or r.started_at < before):
                return r
        return None


def record(run_id: str, started_at: str, verdict: str = "pass", plan: str = "p") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        plan=plan,
        plan_hash="h",
        started_at=started_at,
        ended_at=started_at,
        verdict=verdict,
        partial=False,
        location="/x",
        metrics={"http.latency.p95": 10.0},
    )


def plan_with(*, cloud: bool = False, **fields: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "p",
        "target": TARGET,
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 5}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/api/mocs"}]}],
        **fields,
    }
    return parse_plan(data, base_dir=Path.cwd(), cloud=cloud)


def test_resolve_last_pass_finds_the_newest_passing_run_of_the_plan() -> None:
    history = FakeHistory(
        record("old", "2025-01-01T00:00:00Z"),
        record("new", "2025-01-02T00:00:00Z"),
        record("failed", "2025-01-03T00:00:00Z", verdict="fail"),
        record("other", "2025-01-04T00:00:00Z", plan="q"),
    )
    baseline, notes = resolve_baseline(plan_with(baseline="last-pass"), history, base_dir=Path.cwd())
    assert baseline is not None and baseline.ref == "new" and notes == []
    assert baseline.figures == {"http.latency.p95": 10.0}
    # Re-rendering "new" itself must not compare it to itself.
    again, _ = resolve_baseline(
        plan_with(baseline="last-pass"),
        history,
        base_dir=Path.cwd(),
        before="2025-01-02T00:00:01Z",
        exclude_run="new",
    )
    assert again is not None and again.ref == "old"


def test_resolve_last_pass_with_no_passing_run_is_a_note_not_an_error() -> None:
    history = FakeHistory(record("failed", "2025-01-03T00:00:00Z", verdict="fail"))
    baseline, notes = resolve_baseline(plan_with(baseline="last-pass"), history, base_dir=Path.cwd())
    assert baseline is None
    assert "no earlier complete, passing run of plan 'p'" in notes[0]


def test_resolve_run_id() -> None:
    history = FakeHistory(record("r-1", "2025-01-01T00:00:00Z", verdict="fail", plan="q"))
    baseline, notes = resolve_baseline(plan_with(baseline="r-1"), history, base_dir=Path.cwd())
    assert baseline is not None and baseline.source == "run" and baseline.ref == "r-1"
    assert "plan 'q'" in notes[0]  # allowed (comparing plans), but said
    with pytest.raises(BaselineError, match="no run 'r-2'"):
        resolve_baseline(plan_with(baseline="r-2"), history, base_dir=Path.cwd())


def test_resolve_file_relative_to_the_plan(tmp_path: Path) -> None:
    (tmp_path / "ecs.json").write_text(json.dumps({"http.latency.p95": 420}))
    plan = plan_with(baseline={"file": "ecs.json"})
    baseline, notes = resolve_baseline(plan, FakeHistory(), base_dir=tmp_path)
    assert baseline is not None and baseline.figures == {"http.latency.p95": 420.0} and notes == []
    with pytest.raises(BaselineError, match="cannot read"):
        resolve_baseline(plan, FakeHistory(), base_dir=tmp_path / "elsewhere")
    (tmp_path / "ecs.json").write_text("{not json")
    with pytest.raises(BaselineError, match="not valid JSON"):
        resolve_baseline(plan, FakeHistory(), base_dir=tmp_path)


def test_resolve_s3_file_with_the_reader_given() -> None:
    plan = plan_with(cloud=True, baseline={"file": "s3://b/runs/r1/inputs/baseline/ecs.json"})
    with pytest.raises(BaselineError) as info:
        resolve_baseline(plan, FakeHistory(), base_dir=Path.cwd())
    assert str(info.value) == (
        "baseline.file: s3://b/runs/r1/inputs/baseline/ecs.json is read by cloud runs only; use a local file"
    )
    asked: list[tuple[str, str]] = []

    def read(source: BaselineFile, spec: str) -> Baseline:
        uri = source.file
        asked.append((uri, spec))
        text = json.dumps({"http.latency.p95": "420ms"})
        return baseline_from_file(
            text, source, where=f"baseline file {uri}", spec=spec, ref=uri, name="ecs.json"
        )

    baseline, notes = resolve_baseline(plan, FakeHistory(), base_dir=Path.cwd(), read_remote=read)
    assert asked == [
        ("s3://b/runs/r1/inputs/baseline/ecs.json", "file:s3://b/runs/r1/inputs/baseline/ecs.json")
    ]
    assert baseline is not None and baseline.figures == {"http.latency.p95": 420.0} and notes == []
    assert baseline.label == "file ecs.json" and baseline.source == "file"


SOURCE = BaselineFile(file="s3://b/x.json")


def test_baseline_content_is_checked_the_same_from_any_source() -> None:
    with pytest.raises(BaselineError) as info:
        baseline_from_file(
            b"{not json", SOURCE, where="s3://b/x.json", spec="", ref="s3://b/x.json", name="x.json"
        )
    assert str(info.value).startswith("s3://b/x.json is not valid JSON: ")
    with pytest.raises(BaselineError) as info:
        baseline_from_file(
            b"\xff", SOURCE, where="s3://b/x.json", spec="", ref="s3://b/x.json", name="x.json"
        )
    assert str(info.value) == "s3://b/x.json is not text (UTF-8)"
    with pytest.raises(BaselineError) as info:
        baseline_from_file("{}", SOURCE, where="s3://b/x.json", spec="", ref="s3://b/x.json", name="x.json")
    assert str(info.value) == "s3://b/x.json has no figures"


def test_no_baseline_resolves_to_nothing() -> None:
    assert resolve_baseline(plan_with(), FakeHistory(), base_dir=Path.cwd()) == (None, [])


# --- plan validation of the new fields --------------------------------------------------------------


def test_plan_baseline_forms() -> None:
    assert plan_with(baseline="last-pass").baseline_spec == "last-pass"
    assert plan_with(baseline="20250101-120000-p-1a2b").baseline_spec == "20250101-120000-p-1a2b"
    plan = plan_with(baseline={"file": "ecs.json"}, regression={"max_worse_pct": 5})
    assert isinstance(plan.baseline, BaselineFile)
    assert plan.baseline_spec == "file:ecs.json"
    assert plan.regression is not None and plan.regression.max_worse_pct == 5
    assert plan.regression.metrics is None
    assert plan_with().baseline is None and plan_with().regression is None
    # As stored in a run folder and read back by `surge report`.
    again = Plan.model_validate(plan.model_dump(mode="json", by_alias=True))
    assert again.baseline_spec == "file:ecs.json" and again.regression == plan.regression


def test_plan_regression_metrics_are_canonical_and_unique() -> None:
    plan = plan_with(
        baseline="last-pass",
        regression={
            "max_worse_pct": 0,
            "metrics": ['endpoint["GET /api/mocs"].p99', "http.rps", "http.throughput"],
        },
    )
    assert plan.regression is not None
    assert plan.regression.metrics == ['endpoint["GET /api/mocs"].latency.p99', "http.throughput"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"baseline": "ecs.json"},
            "baseline: 'ecs.json' looks like a file; write baseline: {file: ecs.json}",
        ),
        ({"baseline": "last pass"}, "baseline: 'last pass' is not a baseline"),
        ({"baseline": ""}, "baseline: '' is not a baseline"),
        ({"baseline": 42}, "baseline: 42 is not a baseline"),
        ({"baseline": {"fil": "x.json"}}, "unknown field"),
        ({"baseline": {"file": ""}}, "baseline.file"),
        ({"regression": {"max_worse_pct": 5}}, "regression: compares against a baseline: add 'baseline'"),
        ({"baseline": "last-pass", "regression": {"max_worse_pct": -1}}, "regression.max_worse_pct"),
        ({"baseline": "last-pass", "regression": {}}, "regression.max_worse_pct: required field is missing"),
        (
            {"baseline": "last-pass", "regression": {"max_worse_pct": 5, "metrics": ["http.latncy.p95"]}},
            "regression.metrics[0]: unknown metric 'http.latncy.p95'",
        ),
        (
            {"baseline": "last-pass", "regression": {"max_worse_pct": 5, "metrics": []}},
            "regression.metrics",
        ),
        (
            {"baseline": "last-pass", "regression": {"max_worse_pct": 5, "metric": ["http.latency.p95"]}},
            "regression.metric: unknown field",
        ),
        (
            {
                "baseline": "last-pass",
                "regression": {"max_worse_pct": 5, "metrics": ['endpoint["nope"].p95']},
            },
            'regression.metrics[0]: no endpoint named "nope"',
        ),
        (
            {
                "baseline": "last-pass",
                "regression": {"max_worse_pct": 5, "metrics": ['phase["nope"].latency.p95']},
            },
            'regression.metrics[0]: no phase named "nope"',
        ),
    ],
)
def test_plan_rejects_bad_baseline_and_regression(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_with(**fields)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_a_bad_baseline_is_reported_once() -> None:
    with pytest.raises(PlanError) as err:
        plan_with(baseline="x y", regression={"max_worse_pct": 5})
    assert len(err.value.problems) == 1, err.value.problems


def test_empty_sections_read_as_absent() -> None:
    plan = plan_with(baseline=None, regression=None)
    assert plan.baseline is None and plan.regression is None


# --- how reports show it ----------------------------------------------------------------------------


def test_reports_name_regression_checks_and_the_baseline() -> None:
    from reports import render_html, render_junit, render_markdown
    from tests.report_fixtures import sample_report

    outcome = apply_baseline(
        [check("http.latency.p95", "<", 500, 450.0)],
        spec="last-pass",
        baseline=run_baseline({"http.latency.p95": 400.0}),
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p95", "http.latency.p99"]),
        measured={"http.latency.p95": 450.0},
    )
    report = sample_report(checks=outcome.checks, baseline=outcome.info, verdict=verdict(outcome.checks))
    md = render_markdown(report)
    assert (
        "| `regression: http.latency.p95 within 5% of baseline` | <= 420 ms | 400 ms | 450 ms | +12.5% (worse) | **FAIL** |"
        in md
    )
    assert "| `http.latency.p95` | < 500 ms | 400 ms | 450 ms | +12.5% (worse) | PASS |" in md
    assert "- Baseline: run r1." in md
    assert "- Regression rule: no metric worse than the baseline by more than 5%." in md
    assert (
        "- Note: the baseline has no figure for http.latency.p99: shown without a delta, not compared." in md
    )
    page = render_html(report)
    assert "<code>regression: http.latency.p95 within 5% of baseline</code>" in page
    assert "<li>Baseline: run r1.</li>" in page
    assert 'name="regression: http.latency.p95 within 5% of baseline"' in render_junit(report)


# --- the regression rule knows the noise -----------------------------------------------------------


def test_a_change_within_both_runs_intervals_is_not_a_regression() -> None:
    # p99 +18.8 % (the issue's identical runs), but both runs' intervals are wide: noise, not a change.
    baseline = Baseline(
        spec="last-pass",
        source="run",
        ref="r1",
        label="run r1",
        figures={"http.latency.p99": 50.8},
        intervals={"http.latency.p99": (44.0, 60.0)},
    )
    out = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p99"]),
        measured={"http.latency.p99": 60.3},
        intervals={"http.latency.p99": Interval(52.0, 71.0)},
    )
    (reg,) = out.checks
    assert reg["status"] == "pass"
    assert "beyond 5% but within the noise" in reg.get("detail", "")
    assert "both runs' 95% intervals" in reg.get("detail", "")
    noise = reg.get("noise_pct")
    detectable = reg.get("detectable_pct")
    assert noise is not None and 8 < noise < 14
    assert detectable is not None and detectable > 18.8  # this pair could not have told 18.8 % apart


def test_a_change_beyond_the_noise_and_the_limit_fails_and_says_both() -> None:
    baseline = Baseline(
        spec="last-pass",
        source="run",
        ref="r1",
        label="run r1",
        figures={"http.latency.p95": 100.0},
        intervals={"http.latency.p95": (98.0, 102.0)},
    )
    out = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5),
        measured={"http.latency.p95": 120.0},
        intervals={"http.latency.p95": Interval(117.0, 123.0)},
    )
    reg = by_name(out.checks)["regression: http.latency.p95 within 5% of baseline"]
    assert reg["status"] == "fail"
    assert "worse by 20.0%: beyond 5% and beyond the noise" in reg.get("detail", "")
    # A change inside the limit passes whatever the noise.
    small = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5),
        measured={"http.latency.p95": 104.0},
        intervals={"http.latency.p95": Interval(103.0, 105.0)},
    )
    assert by_name(small.checks)["regression: http.latency.p95 within 5% of baseline"]["status"] == "pass"


def test_the_spread_between_earlier_runs_widens_the_noise_when_it_is_larger() -> None:
    narrow = {"http.latency.p95": (99.0, 101.0)}
    quiet = Baseline("last-pass", "run", "r1", "run r1", {"http.latency.p95": 100.0}, narrow)
    noisy = Baseline(
        "last-pass", "run", "r1", "run r1", {"http.latency.p95": 100.0}, narrow, {"http.latency.p95": 0.08}, 6
    )
    kwargs: dict[str, Any] = {
        "spec": "last-pass",
        "regression": Regression(max_worse_pct=5, metrics=["http.latency.p95"]),
        "measured": {"http.latency.p95": 115.0},
        "intervals": {"http.latency.p95": Interval(113.5, 116.5)},
    }
    (strict,) = apply_baseline([], baseline=quiet, **kwargs).checks
    (lenient,) = apply_baseline([], baseline=noisy, **kwargs).checks
    assert strict["status"] == "fail"
    assert lenient["status"] == "pass"
    assert "the spread between 6 earlier runs of the plan" in lenient.get("detail", "")


def test_noise_ignore_compares_the_figures_alone() -> None:
    baseline = Baseline(
        "last-pass", "run", "r1", "run r1", {"http.latency.p99": 50.8}, {"http.latency.p99": (40.0, 65.0)}
    )
    (reg,) = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p99"], noise="ignore"),
        measured={"http.latency.p99": 60.3},
        intervals={"http.latency.p99": Interval(52.0, 71.0)},
    ).checks
    assert reg["status"] == "fail" and "noise_pct" not in reg


def test_the_alarm_level_is_shared_among_the_metrics_compared() -> None:
    assert Noise(1.0, "").critical(1) == pytest.approx(1.645, abs=0.001)
    assert Noise(1.0, "").critical(4) == pytest.approx(2.241, abs=0.001)  # 5 % / 4 each, one-sided


def test_noise_between_runs_is_one_runs_spread_as_a_share_of_the_mean() -> None:
    runs = [{"m": 90.0, "rare": 1.0}, {"m": 100.0}, {"m": 110.0}]
    assert noise_between(runs) == {"m": pytest.approx(0.1)}
    assert noise_between(runs[:2]) == {}


def test_resolving_a_baseline_reads_the_noise_of_the_plans_earlier_complete_runs() -> None:
    plan = plan_with(baseline="last-pass", regression={"max_worse_pct": 5})
    digest = plan.plan_hash()

    def rec(run_id: str, p95: float, **kw: Any) -> RunRecord:
        base = record(run_id, f"2025-01-0{run_id[-1]}T00:00:00Z")
        fields = {**base.__dict__, "plan_hash": digest, "metrics": {"http.latency.p95": p95}, **kw}
        return RunRecord(**fields)

    history = FakeHistory(
        rec("r1", 90.0),
        rec("r2", 100.0, verdict="fail"),  # a failed check is still a measurement of the same plan
        rec("r3", 110.0, intervals={"http.latency.p95": [105.0, 115.0]}),
        rec("r4", 500.0, partial=True),  # stopped early: not a whole run
    )
    baseline, _ = resolve_baseline(plan, history, base_dir=Path.cwd())
    assert baseline is not None and baseline.ref == "r3"
    assert baseline.intervals == {"http.latency.p95": (105.0, 115.0)}
    assert baseline.noise_runs == 3 and baseline.noise["http.latency.p95"] == pytest.approx(0.1)
    # Three runs of another version of the plan say nothing about this one's noise.
    other = FakeHistory(*(rec(f"r{i}", 100.0 + i, plan_hash="old") for i in range(1, 4)))
    found, _ = resolve_baseline(plan, other, base_dir=Path.cwd())
    assert found is not None and found.noise_runs == 0


# --- throughput in the open model is the plan's --------------------------------------------------


def _migration(figure: float, offered: OfferedLoad) -> list[Check]:
    return apply_baseline(
        [],
        spec="file:ecs.json",
        baseline=file_baseline({"http.throughput": figure, "http.latency.p95": 450.0}),
        regression=Regression(max_worse_pct=5),
        measured={
            "http.throughput": 123.9,
            "http.latency.p95": 440.0,
            'phase["sustained"].throughput': 166.0,
        },
        offered={None: offered},
    ).checks


def test_an_open_model_throughput_is_compared_only_with_the_phase_that_offered_that_load() -> None:
    offered = OfferedLoad(
        offered={"warm-up": 16.7, "sustained": 166.7},
        delivered={"warm-up": 16.7, "sustained": 166.0},
    )
    reg = {c["metric"]: c for c in _migration(166.67, offered)}
    # The old system's 166.7/s against the phase that offered it, not the run's average (123.9/s).
    matched = reg['phase["sustained"].throughput']
    assert matched["baseline"] == 166.67 and matched["measured"] == 166.0 and matched["status"] == "pass"
    assert "http.throughput" not in reg


def test_an_open_model_throughput_no_phase_offered_is_noted_not_failed() -> None:
    offered = OfferedLoad(offered={"sustained": 153.3}, delivered={"sustained": 153.0})
    out = apply_baseline(
        [],
        spec="file:ecs.json",
        baseline=file_baseline({"http.throughput": 166.67, "http.latency.p95": 450.0}),
        regression=Regression(max_worse_pct=5),
        measured={"http.throughput": 123.9, "http.latency.p95": 440.0},
        offered={None: offered},
    )
    assert [c["metric"] for c in out.checks] == ["http.latency.p95"]
    assert out.info is not None
    (note,) = [n for n in out.info["notes"] if "http.throughput is not compared" in n]
    assert "166.7 requests/s" in note and "sustained 153.3/s" in note


def test_a_figure_too_thin_to_bound_shows_no_regression_and_says_why() -> None:
    # The baseline run's p99 was open above too: how high it really was, nobody knows.
    baseline = Baseline(
        "last-pass", "run", "r1", "run r1", {"http.latency.p99": 25.3}, {"http.latency.p99": (20.0, None)}
    )
    (reg,) = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p99"]),
        measured={"http.latency.p99": 37.2},
        intervals={"http.latency.p99": Interval(24.0, None)},  # 200 requests: open above
    ).checks
    assert reg["status"] == "pass"
    assert "too few requests behind this figure" in reg.get("detail", "")
    assert reg.get("noise_pct") is None and reg.get("detectable_pct") is None


def test_a_regression_is_shown_from_the_measured_figures_better_side() -> None:
    # Skewed interval: far above, close below. Higher is worse: the lower side is what counts.
    baseline = Baseline(
        "last-pass", "run", "r1", "run r1", {"http.latency.p95": 100.0}, {"http.latency.p95": (90.0, 101.0)}
    )
    (reg,) = apply_baseline(
        [],
        spec="last-pass",
        baseline=baseline,
        regression=Regression(max_worse_pct=5, metrics=["http.latency.p95"]),
        measured={"http.latency.p95": 115.0},
        intervals={"http.latency.p95": Interval(113.0, 160.0)},
    ).checks
    assert reg["status"] == "fail"


def test_the_load_hash_ignores_the_checks_and_the_baseline() -> None:
    a = plan_with(thresholds=["http.latency.p95 < 1s"])
    b = plan_with(thresholds=["http.latency.p95 < 2s"], baseline="last-pass", regression={"max_worse_pct": 5})
    c = plan_with(load={"phases": [{"name": "steady", "duration": "3s", "rate": 5}]})
    assert a.load_hash() == b.load_hash() != c.load_hash()
    assert a.plan_hash() != b.plan_hash()
