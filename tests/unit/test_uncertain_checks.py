"""Checks that know their figure's uncertainty: the interval on every check and headline figure, a
target inside it marked "within the uncertainty", the plan's choice of what that means, and every
renderer saying so."""

from __future__ import annotations

import copy
import html
import random
from typing import Any

import pytest

from reports import render_html, render_markdown
from reports.terminal import endpoint_lines
from reports.view import format_interval
from surge.evaluate import WithinUncertainty, evaluate
from surge.finish import build_report
from surge.plan_load import parse_plan
from surge.run_facts import RunFacts
from surge.stats import Recorder, merge_results
from surge.thresholds import MetricRef, parse_threshold
from surge.uncertainty import Interval
from tests.report_fixtures import sample_report
from tests.unit.test_stats import T0_MONO, worker_result


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


def _varied_stats() -> Any:
    """2 workers, 10 s at 20 requests/s each: GET /a 20-60 ms (80-180 ms after 4 s), B 2-6 ms."""
    rng = random.Random(5)
    results = []
    for w in range(2):
        rec = Recorder(T0_MONO, 1.0)
        for s in range(10):
            for k in range(10):
                now = T0_MONO + s + k / 10
                rec.iteration_started(now, 2)
                slow = 80_000 if s >= 4 else 20_000
                rt = slow + int(rng.random() * slow * 1.25)
                rec.record("GET /a", now, rt, rt - 1_000, 200, None, 100)
                rt_b = 2_000 + int(rng.random() * 4_000)
                rec.record("B", now, rt_b, rt_b - 500, 200, None, 50)
        results.append(worker_result(rec, w, 2, ended_s=10.2))
    return merge_results(results)


def test_every_endpoint_and_phase_reports_its_p95_and_p99_with_an_interval() -> None:
    plan = parse_plan(
        {
            "name": "scoped",
            "target": "http://127.0.0.1:8080",
            "load": {
                "phases": [
                    {"name": "warm", "duration": "4s", "rate": 20},
                    {"name": "main", "duration": "6s", "rate": 20},
                ]
            },
            "scenarios": [{"name": "s", "flow": [{"get": "/a"}, {"post": {"url": "/b", "name": "B"}}]}],
        }
    )
    report = build_report(plan, _varied_stats(), RunFacts(run_id="r"))
    spans = report["uncertainty"]
    for scope, name, figures in (
        ("endpoint", "GET /a", report["endpoints"]["GET /a"]["latency_ms"]),
        ("endpoint", "B", report["endpoints"]["B"]["latency_ms"]),
        ("phase", "warm", report["phases"][0]["latency_ms"]),
        ("phase", "main", report["phases"][1]["latency_ms"]),
    ):
        for key in ("p95", "p99"):
            lo, hi = spans[f'{scope}["{name}"].latency.{key}']
            assert lo is not None and hi is not None and lo <= figures[key] <= hi, (scope, name, key)
    # The warm phase (20-45 ms) and the main one (80-180 ms): each phase's interval is its own.
    assert spans['phase["warm"].latency.p95'][1] < 50 < 80 < spans['phase["main"].latency.p95'][0]
    a95 = format_interval(spans['endpoint["GET /a"].latency.p95'], "ms")
    md = render_markdown(report)
    row = next(line for line in md.splitlines() if line.startswith("| GET /a |"))
    assert a95 in row and "95% intervals" in md
    phase_row = next(line for line in md.splitlines() if line.startswith("| main |") and " ms" in line)
    assert format_interval(spans['phase["main"].latency.p99'], "ms") in phase_row
    page = render_html(report)
    assert html.escape(a95) in page or a95 in page
    assert any(a95 in line for line in endpoint_lines(report))  # the terminal's endpoint table
