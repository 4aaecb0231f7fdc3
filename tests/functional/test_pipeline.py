"""Asynchronous pipelines: poll-until, marks and stages against the demo target's events/inbox."""

from __future__ import annotations

from typing import Any

from reports.markdown import render_markdown
from surge.demo_target import DemoTarget
from surge.finish import build_report
from surge.run_facts import RunFacts
from surge.stats import aggregate, merge_results
from tests.helpers import make_plan, run_in_process

PUBLISH = {
    "post": {
        "url": "/v1/events",
        "json": {"type": "order.created"},
        "capture": [{"json": "$.id", "as": "eventId"}],
    }
}


def delivery_flow(timeout: str = "3s", every: str = "50ms") -> list[dict[str, Any]]:
    return [
        {"stage": "publish"},
        PUBLISH,
        {"mark": "published"},
        {"stage": "deliver"},
        {
            "poll": {
                "get": {"url": "/v1/inbox/{{ eventId }}", "name": "GET /v1/inbox/{id}"},
                "until": {"status": 200, "json": "$.id", "exists": True},
                "every": every,
                "timeout": timeout,
                "metric": "delivery",
                "since": "published",
            }
        },
        {"stage": "ack"},
        {"post": {"url": "/v1/inbox/{{ eventId }}/ack", "name": "POST /v1/inbox/{id}/ack"}},
    ]


def test_delivery_metric_matches_the_configured_delay(demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=1.0, delivery_delay_ms=300.0)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "2s", "rate": 10}]},
        scenarios=[{"name": "deliver", "flow": delivery_flow()}],
    )
    stats = merge_results([run_in_process(plan)])
    report = build_report(plan, stats, RunFacts(run_id="t"))
    delivery = report["stages"]["delivery"]
    assert delivery["count"] == 20 and delivery["failures"] == 0
    # Within one poll interval (50 ms) plus a request's latency of the configured 300 ms.
    assert delivery["latency_ms"]["min"] is not None and delivery["latency_ms"]["min"] >= 295
    assert delivery["latency_ms"]["max"] is not None and delivery["latency_ms"]["max"] <= 300 + 50 + 40
    # Stages in flow order, each completed every time; the inbox answered 404 while polling,
    # which is not an error of the run.
    assert list(report["stages"]) == ["publish", "deliver", "delivery", "ack"]
    assert all(s["count"] == 20 for s in report["stages"].values())
    assert report["totals"]["errors"] == 0
    polls = report["endpoints"]["GET /v1/inbox/{id}"]["requests"]
    assert 20 * 6 <= polls <= 20 * 9  # about 300 ms / 50 ms attempts each
    assert report["endpoints"]["POST /v1/inbox/{id}/ack"]["requests"] == 20
    # Stage timings are not requests: they stay out of the HTTP totals.
    assert report["totals"]["requests"] == 20 + polls + 20
    deliver, wait = report["stages"]["deliver"]["latency_ms"]["p50"], delivery["latency_ms"]["p50"]
    assert deliver is not None and wait is not None and deliver >= wait - 5  # the stage spans the wait
    # The stage holds only the poll: the renderers show the two as one row.
    assert report["stages"]["deliver"]["poll_metric"] == "delivery"
    markdown = render_markdown(report)
    assert "| deliver (its poll: delivery) |" in markdown and "| delivery |" not in markdown
    # The polled endpoint's attempts before delivery are explained, not left beside "no errors".
    assert report["applied_load"]["polls"] == ["GET /v1/inbox/{id}"]
    assert "GET /v1/inbox/{id} is polled: its attempts before the condition holds" in markdown
    assert report["endpoints"]["GET /v1/inbox/{id}"]["status_codes"].get("404", 0) > 0


def test_never_delivered_event_fails_by_timeout(demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=1.0, delivery_delay_ms=60_000.0)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[{"name": "deliver", "flow": delivery_flow(timeout="500ms", every="100ms")}],
    )
    stats = merge_results([run_in_process(plan)])
    delivery = aggregate(stats, endpoint="stage:delivery")
    assert delivery.requests == 5
    assert delivery.errors == {"poll_timeout": 5}
    ack = aggregate(stats, endpoint="POST /v1/inbox/{id}/ack")
    assert ack.requests == 0  # the flow stopped at the failed poll
    report = build_report(plan, stats, RunFacts(run_id="t"))
    assert report["stages"]["deliver"]["failures"] == 5
    assert report["stages"]["deliver"]["failures_by_class"] == {"stage_failed": 5}
    assert "ack" not in report["stages"]
    # The failures are sampled as a request's are: what failed, in words, counted from the stage.
    groups = {(g["endpoint"], g["error"]): g for g in report["failures"]}
    timeout = groups[("stage delivery", "poll_timeout")]
    assert timeout["count"] == 5 and "did not hold within its timeout (0.5 s)" in (
        timeout["samples"][0]["detail"] or ""
    )
    assert groups[("stage deliver", "stage_failed")]["count"] == 5


def test_poll_until_json_contains_walks_the_inbox(demo_target: DemoTarget) -> None:
    demo_target.set_config(latency_ms=1.0, delivery_delay_ms=100.0)
    flow = [
        PUBLISH,
        {
            "poll": {
                "get": "/v1/inbox?limit=100",
                "until": {"json": "$.events[*].id", "contains": "{{ eventId }}"},
                "every": "40ms",
                "timeout": "2s",
                "metric": "in-inbox",
            }
        },
    ]
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[{"name": "x", "flow": flow}],
    )
    report = build_report(plan, merge_results([run_in_process(plan)]), RunFacts(run_id="t"))
    assert report["stages"]["in-inbox"]["count"] == 5, report["stages"]


def test_reports_show_the_stage_waterfall(demo_target: DemoTarget) -> None:
    from reports import render_html, render_markdown

    demo_target.set_config(latency_ms=1.0, delivery_delay_ms=150.0)
    plan = make_plan(
        demo_target.url,
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[{"name": "deliver", "flow": delivery_flow(every="30ms")}],
    )
    report = build_report(plan, merge_results([run_in_process(plan)]), RunFacts(run_id="t"))
    html = render_html(report)
    assert 'class="waterfall"' in html
    rows = html.split('class="waterfall"')[1].split("</table>")[0]
    # One bar per stage, in flow order, the poll's wait (~150 ms) the longest; the stage that holds
    # only the poll and the poll's own metric are one row.
    names = ("publish", "deliver (its poll: delivery)", "ack")
    assert [rows.index(f"<td>{n}</td>") for n in names] == sorted(rows.index(f"<td>{n}</td>") for n in names)
    assert rows.count('class="wf-p95"') == 3
    md = render_markdown(report)
    assert "## Stages" in md
    stage_lines = [line for line in md.splitlines() if line.startswith("| deliver (its poll: delivery) ")]
    assert stage_lines and "█" in stage_lines[0]
