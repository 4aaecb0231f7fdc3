"""The HTML report's charts as a reviewer reads them: intervals the load ran in, the plan's load
beside what was answered, targets labelled with their values, axes fitted to the data."""

from __future__ import annotations

from reports.charts import chart_data
from surge.finish import build_report
from surge.report_model import Report
from surge.run_facts import RunFacts
from tests.unit.test_stats import report_plan, report_stats


def report(thresholds: tuple[object, ...] = ()) -> Report:
    return build_report(report_plan(thresholds), report_stats(), RunFacts(run_id="c"))


def chart(data: dict[str, object], chart_id: str) -> dict[str, object]:
    charts = data["charts"]
    assert isinstance(charts, list)
    return next(c for c in charts if c["id"] == chart_id)


def test_the_answers_after_the_plans_end_are_no_interval_and_a_cut_interval_has_its_own_rate() -> None:
    rep = report()
    last = rep["timeseries"][-1]
    tail = {**last, "t": rep["duration_s"], "requests": 2, "rps": 2.0, "p50": 900.0}
    cut = {**last, "t": rep["duration_s"] - 0.5, "requests": 5, "rps": 5.0}
    rep["timeseries"] = [*rep["timeseries"][:-1], cut, tail]
    data = chart_data(rep)
    assert data["t"][-1] == rep["duration_s"] - 0.5  # the straggling answers are not an interval
    assert data["columns"]["rps"][-1] == 10.0  # 5 requests in the half second the interval covered
    assert 900.0 not in data["columns"]["p50"]


def test_the_plans_load_is_drawn_beside_what_was_answered() -> None:
    data = chart_data(report())
    rate = chart(data, "chart-rps")
    labels = [s["label"] for s in rate["series"]]
    assert labels[0] == "requests/s answered" and labels[1].startswith("planned")
    # Two requests an iteration in this plan (GET /a, then B): 10 arrivals/s plan 20 requests/s.
    assert set(data["columns"]["planned_rps"]) == {20.0}


def test_targets_are_labelled_with_their_values_once_each_and_a_far_target_keeps_the_axis_on_the_data() -> (
    None
):
    rep = report(
        (
            "http.latency.p95 < 50s",  # far above the data: the axis stays on the data
            "http.error_rate < 1%",
            {"check": "http.error_rate < 20%", "abort_on_fail": True},
            "http.error_rate < 1%",
        )
    )
    data = chart_data(rep)
    errors = chart(data, "chart-errors")
    assert [lv["label"] for lv in errors["levels"]] == ["error_rate < 1%", "error_rate < 20% (abort guard)"]
    latency = chart(data, "chart-latency")
    (axis,) = latency["axes"]
    assert axis["max"] < 1000  # fitted to the data (ms), not stretched to the 50 s target
    assert [lv["label"] for lv in latency["levels"]] == ["p95 < 50 s"]
