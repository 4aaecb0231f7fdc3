"""Report renderers: Markdown sign-off, JUnit XML, the self-contained HTML page and the writer."""

from __future__ import annotations

import copy
import html
import json
import math
import pathlib
import random
import re
import xml.etree.ElementTree as ET
from typing import Any, cast

import pytest

from reports import render_html, render_junit, render_markdown, write_reports
from reports.formatting import format_delta, format_value
from reports.services import threshold_name
from surge.metrics.collect import skipped_metrics
from surge.metrics.report import report_key
from surge.report_model import Report
from surge.vocabulary import SERVICE_METRICS as METRICS
from tests.report_fixtures import (
    COST_SPEC,
    RUN_START,
    SERVICE_SPECS,
    errored_report,
    sample_report,
    sample_timeseries,
)

VENDOR = pathlib.Path(__file__).resolve().parents[2] / "reports" / "vendor"
SIZE_BUDGET = 300_000


def embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="surge-data">(.*?)</script>', page, re.S)
    assert match, "embedded JSON element not found"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


# --- formatting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.42, "ms", "0.42 ms"),
        (42.13, "ms", "42.1 ms"),
        (612.4, "ms", "612 ms"),
        (1234.6, "ms", "1,235 ms"),
        (0.0042, "ratio", "0.42%"),
        (0.862, "ratio", "86.2%"),
        (0.00001, "ratio", "<0.01%"),
        (0.0, "ratio", "0.00%"),
        (143.27, "per_s", "143.3/s"),
        (12_000.0, "per_s", "12,000/s"),
        (9.87, "usd", "$9.87"),
        (0.0042, "usd", "$0.0042"),
        (0.000011, "usd", "<$0.0001"),
        (0.0, "usd", "$0.00"),
        (-1.5, "usd", "-$1.50"),
        (1234.0, "count", "1,234"),
        (None, "ms", "—"),
        (None, "usd", "—"),
    ],
)
def test_format_value_uses_the_unit(value: float | None, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_format_delta_is_signed_percent_or_dash() -> None:
    assert (format_delta(27.583), format_delta(-11.875), format_delta(None)) == ("+27.6%", "-11.9%", "—")


# --- markdown -----------------------------------------------------------------------------------------


def test_markdown_signoff_rows_are_formatted_with_units_and_statuses() -> None:
    md = render_markdown(sample_report())
    assert "| Metric | Target | Baseline | Measured | Delta | Status |" in md
    for row in (
        "| `http.latency.p95` | < 500 ms | 480 ms | 612 ms | +27.6% (worse) | **FAIL** |",
        "| `http.throughput` | > 100.0/s | 120.5/s | 143.3/s | +18.9% (better) | PASS |",
        "| `http.error_rate (abort guard)` | < 1.00% | — | 0.42% | — | PASS |",
        "| `service.lambda.init_duration.p99` | < 2,000 ms | — | — | — | **NO DATA** |",
        "| `cost.total` | <= $12.50 | $11.20 | $9.87 | -11.9% (better) | PASS |",
    ):
        assert row in md
    assert "5 checks: 3 passed, 1 failed, 1 without data." in md


def test_markdown_header_names_plan_run_verdict_dates_target_duration() -> None:
    md = render_markdown(sample_report())
    assert md.startswith("# Load test report: mocs-api-migration\n")
    assert "**Verdict: FAIL**" in md
    assert "`20250314T101500Z-7f3a9c`" in md
    assert "2025-03-14 10:15:00 UTC" in md and "2025-03-14 10:25:03 UTC" in md
    assert "http://127.0.0.1:8080" in md
    assert "10 min 00 s" in md
    assert "PARTIAL" not in md


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        (
            {"aborted_by": "http.errors.rate < 1%"},
            "check “http.errors.rate < 1%” failed and is set to abort the run",
        ),
        ({"error": "interrupted (Ctrl-C)\ntraceback..."}, "interrupted (Ctrl-C)"),
        ({}, "the run was stopped before the planned end"),
    ],
)
def test_markdown_partial_run_says_why_it_stopped(overrides: dict[str, Any], why: str) -> None:
    md = render_markdown(sample_report(partial=True, **overrides))
    assert f"PARTIAL — stopped early: {why}" in md


def test_markdown_headline_latency_endpoint_phase_and_error_tables() -> None:
    md = render_markdown(sample_report())
    assert "| 72,162 | 355 | 0.49% | 120.3/s | 41 | 72,162 | 318.8 MB |" in md
    assert "| Statistic | Response time (corrected) | Service time |" in md
    assert "| p99.9 | 1,668 ms | 1,552 ms |" in md
    assert "| min | 44.4 ms | 41.2 ms |" in md
    endpoint = (
        "| GET /api/mocs | 41,210 | 201 | 0.49% | 68.7/s | 201 ms | 584 ms | 886 ms | 2,477 ms | 543 ms |"
    )
    assert endpoint in md
    assert "| GET /api/mocs/:id | 30,952 |" in md
    phase_rows = [line for line in md.splitlines() if line.startswith(("| warm-up", "| ramp", "| sust"))]
    assert [row.split(" | ")[0] for row in phase_rows] == ["| warm-up", "| ramp-up", "| sustained"]
    assert "| ramp-up | 1:00 | 2 min 00 s |" in md
    assert "| http_5xx | 310 | 0.43% |" in md
    assert "| connect | 3 | <0.01% |" in md
    assert "| 503 | 310 | 0.43% |" in md


# Sections in a shape the renderers do not know (another version's report.json) still render, as
# generic key/value tables.
def test_markdown_leaves_out_service_metrics_and_cost_a_plan_did_not_declare() -> None:
    bare = render_markdown(sample_report(service_metrics={}, cost={}))
    assert "## Service metrics" not in bare and "## Cost" not in bare


def test_markdown_generator_health_warns_when_saturated() -> None:
    healthy = render_markdown(sample_report())
    assert "## Generator health" in healthy and "Warning" not in healthy
    generator = sample_report()["generator"] | {"saturated": True, "workers_failed": 1}
    generator["notes"] = ["lag 210 ms"]
    md = render_markdown(sample_report(generator=generator))
    assert "latencies may include the generator's own queueing; rerun with more workers" in md
    assert "1 of 4 workers failed" in md
    assert "- lag 210 ms" in md


def test_markdown_escapes_pipes_in_user_text() -> None:
    report = sample_report()
    report["endpoints"] = {"GET /a|b": report["endpoints"]["GET /api/mocs"]}
    md = render_markdown(report)
    row = next(line for line in md.splitlines() if line.startswith("| GET /a"))
    assert row.startswith("| GET /a\\|b |")
    assert len(re.findall(r"(?<!\\)\|", row)) == 11  # 10 columns


def test_markdown_shows_html_and_control_bytes_in_names_as_text() -> None:
    hostile = "GET /<script>alert(1)</script>\x1b[31m&\x00"
    report = sample_report(error="worker said <img src=x onerror=alert(1)>\x07")
    report["endpoints"] = {
        hostile: report["endpoints"]["GET /api/mocs"],
        "GET /&lt;": report["endpoints"]["GET /api/mocs"],
    }
    report["checks"][0]["metric"] = "endpoint.<b>x</b>.latency.p95"
    md = render_markdown(report)
    assert "<script>" not in md and "<img" not in md
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", md)
    assert "| GET /&lt;script>alert(1)&lt;/script> [31m&  |" in md
    assert "| GET /&amp;lt; |" in md  # nor an entity
    # In a code span Markdown shows text literally: left as written, control bytes aside.
    assert "`endpoint.<b>x</b>.latency.p95`" in md


def test_markdown_renders_an_errored_run_without_data() -> None:
    md = render_markdown(errored_report())
    assert "**Verdict: ERROR**" in md
    assert "**Error:** Prepare failed: target host 10.0.0.8 is not in allowed_hosts" in md
    assert "No checks were defined for this run." in md
    assert "| p95 | — | — |" in md
    assert "## Endpoints" not in md and "## Phases" not in md


# --- junit -----------------------------------------------------------------------------------------


def parse_junit(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text)


def test_junit_has_one_testcase_per_check_with_counts() -> None:
    report = sample_report()
    root = parse_junit(render_junit(report))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "surge: mocs-api-migration"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in report["checks"]]
    assert {c.get("classname") for c in cases} == {"surge.mocs-api-migration"}
    for element in (root, suite):
        counts = [element.get(name) for name in ("tests", "failures", "errors", "time")]
        assert counts == ["5", "2", "0", "600.000"]
    # The schema knows "skipped" on a suite only (tests/unit/test_junit_schema.py).
    assert (suite.get("skipped"), root.get("skipped")) == ("0", None)
    assert suite.get("timestamp") == "2025-03-14T10:15:00Z"


def test_junit_failing_check_carries_measured_vs_target() -> None:
    cases = {c.get("name"): c for c in parse_junit(render_junit(sample_report())).iter("testcase")}
    failure = cases["http.latency.p95 < 500ms"].find("failure")
    assert failure is not None
    assert failure.get("type") == "threshold"
    assert failure.get("message") == "http.latency.p95: measured 612 ms, target < 500 ms"
    assert "baseline: 480 ms (delta +27.6%)" in (failure.text or "")
    assert list(cases["http.throughput > 100/s"]) == []


def test_junit_no_data_is_a_failure_never_a_skip() -> None:
    root = parse_junit(render_junit(sample_report()))
    case = next(c for c in root.iter("testcase") if c.get("name") == "lambda.cold_start.p99 < 2s")
    assert case.find("skipped") is None
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "no-data"
    assert "no data" in (failure.get("message") or "")


def test_junit_error_verdict_adds_a_run_testcase_with_the_error() -> None:
    root = parse_junit(render_junit(sample_report(verdict="error", error="worker 3 crashed: OOM\nstack...")))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "2", "1")
    run = suite.findall("testcase")[-1]
    assert run.get("name") == "run"
    error = run.find("error")
    assert error is not None
    assert error.get("message") == "worker 3 crashed: OOM"
    assert error.text == "worker 3 crashed: OOM\nstack..."


def test_junit_escapes_markup_and_drops_characters_xml_cannot_carry() -> None:
    nasty = 'boom \x1b[31m</failure><x a="1"> & \x00'
    text = render_junit(errored_report(error=nasty, plan='p<&>"'))
    root = parse_junit(text)
    error = root.find("testsuite/testcase/error")
    assert error is not None
    assert error.get("message") == 'boom \ufffd[31m</failure><x a="1"> & \ufffd'
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == 'surge: p<&>"'


def test_junit_error_without_message_still_explains() -> None:
    root = parse_junit(render_junit(errored_report(error=None)))
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "the run ended in error"


# --- service metrics and cost --------------------------------------------------------------------

SERVICE_KEYS = [
    'lambda["orders"]',
    'dynamodb["orders"]',
    'elasticache["sessions"]',
    'rds["main"]',
    's3["assets"]',
]
SERVICE_CHARTS = {
    0: ["traffic", "latency", "errors", "ratio"],
    1: ["traffic", "latency", "errors"],
    2: ["traffic", "ratio"],
    3: ["traffic", "latency", "ratio"],
    4: [],  # S3 request metrics are off: no data, no chart
}


def services_of(report: Report) -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], report["service_metrics"]["services"])


def skipped_report() -> Report:
    """Local run without AWS credentials: every service metric and the cost without data, and why."""
    metrics = skipped_metrics(
        SERVICE_SPECS, COST_SPEC, (RUN_START, RUN_START + 600), "no AWS credentials found"
    )
    return sample_report(**metrics.to_report_dict())


def test_threshold_names_invert_the_collectors_report_keys() -> None:
    for namespace, metrics in METRICS.items():
        for path, kind in metrics.items():
            path = path.replace("*", "GetItem")
            assert threshold_name(report_key(path, kind)) == path, (namespace, path)
    for key in ("hit_ratio", "p95", "lag", "queue_age_ms_ms"):
        assert threshold_name(key) in (key, "queue_age_ms")


def test_markdown_has_a_section_per_service_with_values_under_their_threshold_names() -> None:
    md = render_markdown(sample_report())
    headings = [line for line in md.splitlines() if line.startswith("### `")]
    assert headings == [
        '### `lambda["orders"]` — AWS Lambda · function orders-api · us-east-1 · 1 min periods',
        '### `dynamodb["orders"]` — DynamoDB · table orders · default region · 1 min periods',
        '### `elasticache["sessions"]` — ElastiCache · cluster sessions-001 · us-east-1 · 1 min periods',
        '### `rds["main"]` — RDS · instance main-db · default region · 1 min periods',
        '### `s3["assets"]` — S3 · bucket mocs-assets · default region · 1 min periods',
    ]
    for row in (
        "| `invocations.sum` | 79,330 |",
        "| `duration.p95` | 298 ms |",
        "| `cold_start.p99` | 1,840 ms |",
        "| `concurrency_utilization.max` | 84.0% |",
        "| `error_rate` | 0.02% |",
        "| `throttled_requests.PutItem.sum` | 3 |",
        "| `provisioned_rcu.max` | — |",
        "| `hit_rate` | 86.0% |",
        "| `cpu.max` | 82.0% |",
        "| `read_latency.p95` | 2.79 ms |",
        "| `requests.sum` | — |",
    ):
        assert row in md
    assert "Collected over the run's window, 2025-03-14 10:15:00 UTC to 2025-03-14 10:25:00 UTC" in md
    assert 'e.g. `lambda["orders"].duration.p95`' in md
    # Series are for charts: none of their points leak into the document.
    assert "'t'" not in md and '"t"' not in md and "series" not in md


def test_markdown_service_notes_are_quoted_warnings_apart_from_explanations() -> None:
    md = render_markdown(sample_report())
    s3 = md[md.index('### `s3["assets"]`') :]
    assert "> **Notes:**\n>\n> - no data in the window for: first_byte_latency.p95" in s3
    assert "> - S3 request metrics for bucket mocs-assets (filter 'EntireBucket') returned no data" in s3
    assert "> **About this figure:** throttles.sum: no datapoints while invocations.sum shows activity" in md


def test_markdown_cost_compares_the_projection_with_the_baseline_and_breaks_it_down() -> None:
    md = render_markdown(sample_report())
    cost = md[md.index("## Cost") :]
    for row in (
        "| Projected monthly cost (`cost.monthly_usd`) | $891.00 |",
        "| Baseline (`baseline`) | $950.00 |",
        "| Difference from the baseline | -$59.00 (-6.2%) |",
        "| Verdict | within the baseline |",
        "| Actual cost over the last 7 days (`cost.lookback_usd`) | $207.90 |",
        "| AWS Lambda | $412.50 | 46.3% |",
        "| Amazon Simple Storage Service | $60.30 | 6.77% |",
        "| Cost per million requests (`cost.per_million_requests_usd`) | $2.89 |",
        '| of which `lambda["orders"]` | $0.2086 |',
        "| Requests it served | 72,162 |",
        "| Step Functions | $0.0011 |",
        "| DynamoDB requests | <$0.0001 |",
        "| Total (`cost.run_usd`) | $0.0819 |",
    ):
        assert row in cost
    assert "_Cost Explorer UnblendedCost of resources tagged app=mocs, 2025-03-07 to 2025-03-14" in cost
    over = sample_report(cost=sample_report()["cost"] | {"within_baseline": False})
    assert "| Verdict | **over the baseline** |" in render_markdown(over)


def test_metrics_skipped_without_credentials_render_the_reason_and_no_data() -> None:
    report = skipped_report()
    md = render_markdown(report)
    assert "Not collected: every service metric below has no data." in md
    assert "> **Note:** no AWS credentials found" in md
    assert "| `duration.p95` | — |" in md and "| `hit_rate` | — |" in md
    assert "## Cost" in md and md.count("no AWS credentials found") == 2
    page = render_html(report)
    assert embedded(page)["charts"]["service_charts"] == []
    assert page.count('<div class="service" id="svc-') == len(SERVICE_SPECS)
    assert "No time series was recorded for this service in the window." in page


def test_services_without_series_or_values_and_a_cost_of_notes_only_render() -> None:
    sparse = {
        "services": {
            'custom["queue"]': {
                "type": "custom",
                "name": "queue",
                "resource": "",
                "region": None,
                "period_s": None,
                "values": {"depth": 4.0, "age_ms": None},
                "series": {},
                "notes": [],
            },
            'sqs["jobs"]': {
                "type": "sqs",
                "name": "jobs",
                "resource": "jobs",
                "region": "eu-west-1",
                "period_s": 60,
                "values": {},
                "series": {"sent.sum": []},
                "notes": ["no data in the window for: sent.sum"],
            },
        }
    }
    for report in (sample_report(service_metrics=sparse), sample_report(cost={"notes": ["no tag"]})):
        assert "## Service metrics" in render_markdown(report)
        render_html(report)
    assert "| `depth` | 4 |" in render_markdown(sample_report(service_metrics=sparse))
    assert "> **Note:** no tag" in render_markdown(sample_report(cost={"notes": ["no tag"]}))


def test_a_stored_report_whose_service_section_has_another_shape_is_named_as_damaged(
    tmp_path: pathlib.Path,
) -> None:
    # The renderers read the report model's types; the edge where a report.json is read checks them.
    from surge.errors import UserError
    from surge.store.local import read_report

    report = cast(dict[str, Any], sample_report())
    report["service_metrics"] = {"services": {'lambda["x"]': "oops"}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    with pytest.raises(UserError, match=r'service_metrics\.services\.lambda\["x"\] should be a JSON object'):
        read_report(tmp_path)


def test_html_has_a_section_per_service_with_tables_notes_and_charts() -> None:
    page = render_html(sample_report())
    section = page[page.index('<section id="service-metrics">') : page.index('<section id="cost">')]
    for i, key in enumerate(SERVICE_KEYS):
        start = section.index(f'<div class="service" id="svc-{i}">')
        end = section.find('<div class="service" id="svc-', start + 1)
        block = section[start : end if end > 0 else None]
        assert f"<h3><code>{html.escape(key)}</code>" in block
        ids = re.findall(r'<div class="chart" id="(svc-[^"]+)"', block)
        assert ids == [f"svc-{i}-{group}" for group in SERVICE_CHARTS[i]]
    assert '<td class="mono">duration.p95</td><td class="num">298 ms</td>' in section
    assert '<td class="mono">provisioned_rcu.max</td><td class="nodata num">—</td>' in section
    assert (
        '<div class="note warn" role="note"><strong>Notes:</strong><ul><li>no data in the window for: '
        "first_byte_latency.p95"
    ) in section
    assert (
        "S3 request metrics for bucket mocs-assets (filter &#x27;EntireBucket&#x27;) returned no data"
        in section
    )
    assert '<div class="note info" role="note"><strong>About this figure:</strong> throttles.sum' in section
    assert "<code>lambda[&quot;orders&quot;].duration.p95</code>" in section


def test_html_cost_section_has_cards_and_the_four_tables() -> None:
    page = render_html(sample_report())
    cost = page[page.index('<section id="cost">') : page.index('<section id="generator">')]
    assert '<div class="value st-pass">$891.00</div><div class="sub">baseline $950.00, -6.2%</div>' in cost
    for title in (
        "Monthly cost against the baseline",
        "By service (monthly projection)",
        "Target cost per million requests",
        "This run's own cost",
    ):
        assert f"<h3>{title}</h3>" in cost
    assert 'Projected monthly cost <code class="tname">cost.monthly_usd</code>' in cost
    assert '<td class="num st-pass">within the baseline</td>' in cost
    assert '<td class="part">lambda[&quot;orders&quot;]</td><td class="num">$0.2086</td>' in cost
    assert '<td>Amazon DynamoDB</td><td class="num">$268.20</td><td class="num">30.1%</td>' in cost


def test_service_charts_span_the_run_and_hold_each_period_as_a_step() -> None:
    report = sample_report()
    charts = embedded(render_html(report))["charts"]
    assert charts["x_max"] == 600.0
    by_id = {c["id"]: c for c in charts["service_charts"]}
    assert list(by_id) == [f"svc-{i}-{g}" for i, groups in SERVICE_CHARTS.items() for g in groups]
    for i, key in enumerate(SERVICE_KEYS):
        raw = services_of(report)[key]["series"]
        for chart in (c for c in by_id.values() if c["service"] == i):
            t = chart["t"]
            assert (t[0], t[-1]) == (0.0, 600.0) and t == sorted(t)
            assert chart["height"] == 170 and all(s["step"] for s in chart["series"])
            for series_key, column in chart["columns"].items():
                assert len(column) == len(t)
                at = dict(zip(t, column, strict=True))
                for point in raw[series_key]:
                    # The period that began 20 s before the run shows from 0; every value holds
                    # to its period's end (or the run's).
                    start, end = max(point["t"], 0.0), min(point["t"] + 60, 600.0)
                    if start < end:
                        assert at[start] == point["value"], (series_key, point)
                        assert at[end] is not None
    lam = {s["key"]: s for c in by_id.values() if c["service"] == 0 for s in c["series"]}
    assert "duration.sum_ms" not in lam  # a sum of durations is not a latency
    assert lam["concurrent_executions.max"]["scale"] == "level" and lam["invocations.sum"]["scale"] == "y"
    assert [a["label"] for a in by_id["svc-0-traffic"]["axes"]] == ["per 1 min", "peak in period"]
    # A throttle that happened once is drawn over its minute, and is a gap elsewhere.
    throttles = dict(
        zip(
            by_id["svc-1-errors"]["t"],
            by_id["svc-1-errors"]["columns"]["throttled_requests.sum"],
            strict=True,
        )
    )
    assert [t for t, v in throttles.items() if v is not None] == [220.0, 280.0]


def test_a_series_of_zeros_is_said_in_a_line_rather_than_charted() -> None:
    report = sample_report()
    lam = services_of(report)['lambda["orders"]']["series"]
    lam["errors.sum"] = [{"t": p["t"], "value": 0.0} for p in lam["errors.sum"]]
    page = render_html(report)
    assert "Zero throughout: <code>errors.sum</code>." in page
    assert 'id="svc-0-errors"' not in page


def test_user_text_in_service_sections_cannot_break_out_of_the_page() -> None:
    hostile = "</script><script>alert(1)</script><!--"
    metrics = skipped_metrics(SERVICE_SPECS, COST_SPEC, (RUN_START, RUN_START + 600), hostile)
    section = metrics.to_report_dict()
    services_of(cast(Report, section))['lambda["orders"]']["resource"] = hostile
    page = render_html(sample_report(**section))
    assert "<script>alert(1)" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page
    md = render_markdown(sample_report(**section))
    assert "<script>" not in md and "&lt;/script>&lt;script>alert(1)&lt;/script>&lt;!--" in md


def test_html_with_services_and_a_high_resolution_series_fits_the_attachment_budget() -> None:
    report = sample_report(timeseries=sample_timeseries(600, interval_s=1.0))
    rng = random.Random(3)
    services_of(report)['custom["checkout"]'] = {
        "type": "custom",
        "name": "checkout",
        "resource": "Checkout",
        "region": "us-east-1",
        "period_s": 1,
        "values": {"latency_ms": 81.2, "queue_depth": 12.0},
        "series": {
            key: [{"t": float(t), "value": round(rng.uniform(1, 500), 6)} for t in range(600)]
            for key in ("latency_ms", "queue_depth", "inflight")
        },
        "notes": [],
    }
    page = render_html(report)
    size = len(page.encode("utf-8"))
    assert size < SIZE_BUDGET, f"{size} bytes"
    assert len([c for c in embedded(page)["charts"]["service_charts"] if c["service"] == 5]) == 2


# --- html ------------------------------------------------------------------------------------------


def test_html_embeds_the_report_and_the_time_series_as_json_that_round_trips() -> None:
    report = sample_report()
    data = embedded(render_html(report))
    # The service series travel once, as chart columns (checked in the service tests below).
    without_series = copy.deepcopy(cast(dict[str, Any], report))
    del without_series["timeseries"]
    for service in without_series["service_metrics"]["services"].values():
        del service["series"]
    assert data["report"] == without_series
    charts = data["charts"]
    points = report["timeseries"]
    assert charts["t"] == [p["t"] for p in points]
    assert charts["interval_s"] == 5.0
    for key in ("p50", "p95", "p99", "service_p50", "service_p95", "service_p99"):
        assert charts["columns"][key] == [p[key] for p in points]
    assert charts["columns"]["rps"] == pytest.approx([p["rps"] for p in points], abs=1e-3)
    assert charts["columns"]["error_rate"] == pytest.approx([p["error_rate"] for p in points], abs=1e-6)
    for name in ("http_5xx", "timeout", "connect"):
        assert charts["columns"][f"errors.{name}"] == [p["errors_by_class"].get(name, 0) for p in points]
    assert [c["id"] for c in charts["charts"]] == [
        "chart-rps",
        "chart-latency",
        "chart-service",
        "chart-errors",
        "chart-load",
    ]
    assert [p["name"] for p in charts["phases"]] == ["warm-up", "ramp-up", "sustained"]


def test_html_user_text_cannot_break_out_of_the_page() -> None:
    hostile = "</script><script>alert(1)</script><!--"
    report = sample_report(plan=hostile, error=hostile)
    page = render_html(report)
    assert "<script>alert(1)" not in page
    assert embedded(page)["report"]["plan"] == hostile
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page


def test_html_inlines_the_vendored_library_its_license_and_css() -> None:
    page = render_html(sample_report())
    assert (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8") in page
    assert (VENDOR / "uPlot.min.css").read_text(encoding="utf-8") in page
    assert "Copyright (c) 2022 Leon Sorokin" in page
    assert "@media print" in page


def test_html_requests_nothing_from_the_network() -> None:
    page = render_html(sample_report())
    targets = re.findall(r"""\b(?:src|href|action|poster)\s*=\s*["']?\s*([^"'\s>]*)""", page, re.I)
    assert not [t for t in targets if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", t, re.I)]
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?\s*(?:https?:)?//", page, re.I)


def test_html_for_a_ten_minute_run_fits_the_attachment_budget() -> None:
    report = sample_report(timeseries=sample_timeseries(600, interval_s=1.0))
    size = len(render_html(report).encode("utf-8"))
    assert size < SIZE_BUDGET, f"{size} bytes"


def test_html_has_summary_signoff_charts_tables_and_sections() -> None:
    page = render_html(sample_report())
    assert '<header class="banner verdict-fail"><div class="verdict">FAIL</div>' in page
    assert "3 of 5 checks passed, 1 failed, 1 had no data." in page
    assert "measured 612 ms, target &lt; 500 ms (baseline 480 ms, +27.6%)" in page
    assert '<td class="st-no-data">NO DATA</td>' in page
    for chart_id in ("chart-rps", "chart-latency", "chart-service", "chart-errors", "chart-load"):
        assert f'<div class="chart" id="{chart_id}"></div>' in page
    for section in ("summary", "signoff", "charts", "latency", "endpoints", "phases", "errors", "generator"):
        assert f'<section id="{section}">' in page
    assert '<section id="service-metrics">' in page and '<section id="cost">' in page
    assert "GET /api/mocs/:id" in page and "sustained" in page


def test_html_omits_empty_sections_and_warns_on_saturation() -> None:
    generator = sample_report()["generator"] | {"saturated": True}
    page = render_html(sample_report(service_metrics={}, cost={}, generator=generator))
    assert '<section id="service-metrics">' not in page and '<section id="cost">' not in page
    assert "latencies may include the generator&#x27;s own queueing; rerun with more workers" in page


def test_html_renders_an_errored_run_without_charts() -> None:
    page = render_html(errored_report())
    assert 'verdict-error"><div class="verdict">ERROR · PARTIAL</div>' in page
    assert "No time series was recorded for this run." in page
    assert embedded(page)["charts"]["charts"] == []


def test_html_non_finite_numbers_become_null_not_invalid_json() -> None:
    points = sample_timeseries(10)
    points[3]["p95"] = math.nan
    points[4]["rps"] = math.inf
    data = embedded(render_html(sample_report(timeseries=points)))
    assert data["charts"]["columns"]["p95"][3] is None
    assert data["charts"]["columns"]["rps"][4] is None


# --- writer ----------------------------------------------------------------------------------------


def test_write_reports_writes_all_four_files(tmp_path: pathlib.Path) -> None:
    report = sample_report()
    out = tmp_path / "runs" / "r1"
    paths = write_reports(report, out)
    assert paths == {
        "json": out / "report.json",
        "md": out / "report.md",
        "html": out / "report.html",
        "junit": out / "junit.xml",
    }
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == report
    assert paths["md"].read_text(encoding="utf-8") == render_markdown(report)
    assert paths["html"].read_text(encoding="utf-8") == render_html(report)
    assert paths["junit"].read_text(encoding="utf-8") == render_junit(report)


def test_deltas_say_better_or_worse_by_the_checks_direction_and_the_html_has_the_signoff_line() -> None:
    html = render_html(sample_report())
    # p95 went up against a < check: worse (red); throughput up against a > check: better (green).
    assert '<td class="delta-worse num">+27.6% (worse)</td>' in html
    assert '<td class="delta-better num">+18.9% (better)</td>' in html
    assert "Reviewed and approved by:" in html


def test_setup_and_teardown_flows_have_their_own_section_in_html_and_markdown() -> None:
    flows = [
        {
            "name": "setup",
            "ok": True,
            "duration_s": 0.4,
            "requests": 30,
            "endpoints": [
                {
                    "name": "POST /v1/events",
                    "requests": 30,
                    "errors": {},
                    "status": {"202": 30},
                    "p95_ms": 3.2,
                }
            ],
            "message": None,
        },
        {
            "name": "teardown",
            "ok": False,
            "duration_s": 0.1,
            "requests": 1,
            "endpoints": [
                {
                    "name": "ack <seed>",
                    "requests": 1,
                    "errors": {"http_4xx": 1},
                    "status": {"404": 1},
                    "p95_ms": 1.0,
                }
            ],
            "message": "teardown failed at ack <seed>: http_4xx x1 (status 404)",
        },
    ]
    report = sample_report(flows=flows)
    md = render_markdown(report)
    assert "## Setup and teardown" in md
    assert "| setup | POST /v1/events | 30 | 0 | 202 ×30 | 3.2 ms |" in md
    assert "| teardown (failed) | ack &lt;seed> |" in md  # user text shown as text
    assert "- teardown failed at ack &lt;seed>: http_4xx x1 (status 404)" in md
    html = render_html(report)
    assert 'id="flows"' in html and "Setup and teardown" in html
    assert "ack &lt;seed&gt;" in html and "<seed>" not in html
    assert "Setup and teardown" not in render_markdown(sample_report())  # only when the plan has them
