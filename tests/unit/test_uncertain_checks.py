"""Checks that know their figure's uncertainty: the interval on every check and headline figure, a
target inside it marked "within the uncertainty", the plan's choice of what that means, and every
renderer saying so."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reports import render_html, render_markdown
from reports.markdown import format_interval
from surge.evaluate import WithinUncertainty, evaluate
from surge.thresholds import MetricRef, parse_threshold
from surge.uncertainty import Interval
from tests.report_fixtures import sample_report


class Source:
    """p95 measured 480 ms, its interval 455-510 ms; the error rate 0.2 % [0.1-0.4 %]."""

    def value(self, ref: MetricRef) -> float | None:
        return {"latency": 480.0, "error_rate": 0.002}.get(ref.path[0])

    def interval(self, ref: MetricRef) -> Interval | None:
        return {"latency": Interval(455.0, 510.0), "error_rate": Interval(0.001, 0.004)}.get(ref.path[0])


@pytest.mark.parametrize(
    ("within", "status"),
    [("measured", "pass"), ("pass", "pass"), ("fail", "fail")],
)
def test_a_target_inside_the_interval_is_marked_and_the_plan_decides(
    within: WithinUncertainty, status: str
) -> None:
    (check,) = evaluate([parse_threshold("http.latency.p95 < 500ms")], Source(), within)
    assert check["interval"] == [455.0, 510.0]
    assert check.get("uncertain") is True
    assert check["status"] == status
    assert "within the uncertainty" in check.get("detail", "")


def test_a_target_outside_the_interval_is_decided_by_the_figure_whatever_the_plan_says() -> None:
    for within in ("measured", "pass", "fail"):
        over, under = evaluate(
            [parse_threshold("http.latency.p95 < 450ms"), parse_threshold("http.error_rate < 1%")],
            Source(),
            within,  # type: ignore[arg-type]
        )
        assert (over["status"], under["status"]) == ("fail", "pass")
        assert "uncertain" not in over and "uncertain" not in under


def test_a_benefit_of_the_doubt_never_passes_what_is_surely_over() -> None:
    (check,) = evaluate([parse_threshold("http.latency.p95 < 400ms")], Source(), "pass")
    assert check["status"] == "fail" and "uncertain" not in check


def _with_uncertainty() -> Any:
    report = copy.deepcopy(sample_report())
    report["uncertainty"] = {"http.latency.p95": [455.0, 510.0], "http.latency.p99": [700.0, None]}
    check = report["checks"][0]
    check.update(
        interval=[455.0, 510.0], uncertain=True, detail="within the uncertainty: the target lies inside"
    )
    return report


def test_markdown_and_html_show_the_intervals_and_the_doubt() -> None:
    report = _with_uncertainty()
    md = render_markdown(report)
    assert "| Statistic | Response time (corrected) | 95% interval | Service time |" in md
    assert "[455–510 ms]" in md and "(within the uncertainty)" in md
    html = render_html(report)
    assert "95% interval" in html and "455–510 ms" in html and "within the uncertainty" in html


def test_an_open_upper_end_is_said_as_open() -> None:
    assert format_interval([700.0, None], "ms").endswith("–?]")
    assert format_interval([455.0, 510.0], "ms") == "[455–510 ms]"
