"""Baselines from other tools' result files and from any JSON with a plan's map (surge.baseline_formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.baseline import BaselineError, baseline_from_file, load_baseline_file
from surge.baseline_formats import (
    artillery_figures,
    detect_format,
    field_at,
    k6_figures,
    locust_figures,
)
from surge.errors import PlanError
from surge.plan import BaselineFile
from surge.plan_load import parse_plan

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"
STORY_ECS = {  # the LEGO story's ECS baseline, as given
    "testDate": "2025-01-01",
    "environment": "ECS Production",
    "totalRequests": 100000,
    "successfulRequests": 99500,
    "failedRequests": 500,
    "requestRate": 166.67,
    "responseTime": {"min": 45, "max": 2500, "median": 250, "p95": 450, "p99": 800},
    "errorRate": 0.5,
    "cacheHitRate": 85,
    "s3Latency": {"p95": 180},
    "openSearchLatency": {"p95": 280},
    "databaseConnections": {"max": 50, "average": 25},
    "monthlyCost": {"ecs": 450, "rds": 200, "elasticache": 100, "elasticsearch": 150, "s3": 50, "total": 950},
}


def read(name: str, source: BaselineFile | None = None) -> dict[str, float]:
    path = FOREIGN / name
    return dict(load_baseline_file(path, "", source or BaselineFile(file=name)).figures)


def test_formats_are_told_by_content() -> None:
    for name, expected in (("artillery-report.json", "artillery"), ("k6-summary.json", "k6")):
        assert detect_format(name, (FOREIGN / name).read_text()) == expected
    assert detect_format("stats.txt", (FOREIGN / "locust_stats.csv").read_text()) == "locust"
    assert detect_format("x.json", json.dumps({"http.latency.p95": 1})) == "surge"
    assert detect_format("x.json", "{broken") == "surge"


def test_artillery_report_aggregate() -> None:
    figures = read("artillery-report.json")
    assert figures["http.latency.p95"] == 450 and figures["http.latency.p50"] == 250
    assert figures["http.latency.p999"] == 1400 and figures["http.latency.mean"] == 262.4
    assert figures["http.requests"] == 10000
    # 4xx + 5xx + transport errors (Artillery's errors.*), as surge counts errors
    assert figures["http.errors"] == 20 + 30 + 10
    assert figures["http.error_rate"] == pytest.approx(0.006)
    assert figures["http.throughput"] == 166
    label = load_baseline_file(FOREIGN / "artillery-report.json", "", BaselineFile(file="x")).label
    assert label == "file artillery-report.json (Artillery report)"


def test_artillery_throughput_from_the_span_without_a_rate() -> None:
    report = json.loads((FOREIGN / "artillery-report.json").read_text())
    del report["aggregate"]["rates"]
    assert artillery_figures(report)["http.throughput"] == pytest.approx(9990 / 60)


def test_k6_summary_export_and_handle_summary_data() -> None:
    figures = read("k6-summary.json")
    assert figures["http.latency.p95"] == 230.7 and figures["http.latency.p50"] == 110.0
    assert figures["http.latency.mean"] == 122.5 and figures["http.latency.p99"] == 480.0
    assert figures["http.requests"] == 3000 and figures["http.throughput"] == 99.96
    # k6 counts a Rate's true samples as "passes": for http_req_failed, the failed requests
    assert figures["http.error_rate"] == 0.005 and figures["http.errors"] == 15
    assert figures['endpoint["GET /api/mocs"].latency.p95'] == 190.0
    assert not any("expected_response" in k for k in figures)
    # handleSummary's data: each metric's figures under "values", rates as "rate"
    data = {
        "metrics": {
            "http_req_duration": {"type": "trend", "values": {"p(95)": 12.5, "p(99.9)": 40.0}},
            "http_req_failed": {"type": "rate", "values": {"rate": 0.02, "passes": 2, "fails": 98}},
        }
    }
    assert k6_figures(data) == {  # canonical names (p999) come with the figures' check
        "http.latency.p95": 12.5,
        "http.latency.p99.9": 40.0,
        "http.error_rate": 0.02,
        "http.errors": 2,
    }


def test_locust_stats_csv() -> None:
    figures = read("locust_stats.csv")
    assert figures["http.requests"] == 4500 and figures["http.errors"] == 8
    assert figures["http.error_rate"] == pytest.approx(8 / 4500)
    assert figures["http.latency.p95"] == 450 and figures["http.latency.p50"] == 250
    assert figures["http.latency.max"] == 2400 and figures["http.throughput"] == 75.0
    assert figures['endpoint["GET /api/mocs"].latency.p99'] == 790
    assert figures['endpoint["POST /api/gallery/[id]/image"].requests'] == 500


def test_locust_csv_without_its_columns_is_refused() -> None:
    with pytest.raises(BaselineError) as info:
        baseline_from_file(
            "a,b\n1,2\n",
            BaselineFile(file="s.csv"),
            where="baseline file s.csv",
            spec="",
            ref="s.csv",
            name="s.csv",
        )
    assert "baseline file s.csv (read as Locust stats CSV): a Locust stats CSV has the columns" in str(
        info.value
    )
    with pytest.raises(ValueError, match="no Aggregated row"):
        locust_figures("Type,Name,Request Count,Failure Count\nGET,/x,1,0\n")


def test_a_format_named_in_the_plan_is_checked() -> None:
    with pytest.raises(BaselineError) as info:
        baseline_from_file(
            json.dumps({"http.latency.p95": 1}),
            BaselineFile(file="x.json", format="k6"),
            where="baseline file x.json",
            spec="",
            ref="x.json",
            name="x.json",
        )
    assert str(info.value) == (
        "baseline file x.json (read as k6 summary): a k6 summary has a 'metrics' object "
        "(k6 run --summary-export FILE)"
    )


def test_the_story_ecs_baseline_as_given_with_a_map() -> None:
    source = BaselineFile.model_validate(
        {
            "file": "ecs.json",
            "map": {
                "requestRate": "http.throughput",
                "responseTime.p95": "http.latency.p95",
                "responseTime.p99": "http.latency.p99",
                "responseTime.median": "http.latency.p50",
                "errorRate": {"metric": "http.error_rate", "unit": "%"},
                "cacheHitRate": {"metric": 'elasticache["sessions"].hit_rate', "unit": "%"},
                "s3Latency.p95": 's3["assets"].total_request_latency.p95',
                "openSearchLatency.p95": 'opensearch["search"].search_latency.p95',
                "databaseConnections.max": 'rds["main"].connections.max',
                "monthlyCost.total": "cost.monthly_usd",
            },
        }
    )
    baseline = baseline_from_file(
        json.dumps(STORY_ECS), source, where="w", spec="", ref="ecs.json", name="ecs.json"
    )
    assert baseline.figures == {
        "http.throughput": 166.67,
        "http.latency.p95": 450,
        "http.latency.p99": 800,
        "http.latency.p50": 250,
        "http.error_rate": pytest.approx(0.005),
        'elasticache["sessions"].hit_rate': pytest.approx(0.85),
        's3["assets"].total_request_latency.p95': 180,
        'opensearch["search"].search_latency.p95': 280,
        'rds["main"].connections.max': 50,
        "cost.monthly_usd": 950,
    }
    assert baseline.label == "file ecs.json (mapped JSON)"


def test_a_mapped_field_the_file_lacks_is_an_error_not_a_silent_gap() -> None:
    source = BaselineFile.model_validate({"file": "e.json", "map": {"responseTime.p959": "http.latency.p95"}})
    with pytest.raises(BaselineError) as info:
        baseline_from_file(
            json.dumps(STORY_ECS), source, where="baseline file e.json", spec="", ref="e", name="e.json"
        )
    assert (
        str(info.value)
        == "baseline file e.json (read as mapped JSON): map: no field responseTime.p959 in the file"
    )


def test_a_mapped_percentage_without_its_unit_is_refused() -> None:
    source = BaselineFile.model_validate(
        {"file": "e.json", "map": {"cacheHitRate": 'elasticache["s"].hit_rate'}}
    )
    with pytest.raises(BaselineError) as info:
        baseline_from_file(json.dumps(STORY_ECS), source, where="f", spec="", ref="e", name="e.json")
    assert "85 is not a fraction" in str(info.value)


def test_the_map_is_validated_with_the_plan() -> None:
    base = {"name": "p", "target": "http://127.0.0.1:1", "load": {"phases": [{"duration": "1s", "rate": 1}]}}
    flow = {"scenarios": [{"name": "s", "flow": [{"get": "/"}]}]}
    with pytest.raises(PlanError) as info:
        parse_plan({**base, **flow, "baseline": {"file": "e.json", "map": {"p95": "http.latency.q95"}}})
    assert str(info.value).splitlines()[1:] == [
        "  - baseline.map.p95: 'q95' is not a latency statistic; use one of min, max, mean, p50, p90, "
        "p95, p99, p999 or pNN"
    ]
    with pytest.raises(PlanError, match="a k6 file is read without one"):
        parse_plan(
            {
                **base,
                **flow,
                "baseline": {"file": "e.json", "format": "k6", "map": {"p95": "http.latency.p95"}},
            }
        )
    with pytest.raises(PlanError, match=r"baseline\.map\.p95\.unit: Input should be 'ms'"):
        parse_plan(
            {
                **base,
                **flow,
                "baseline": {
                    "file": "e.json",
                    "map": {"p95": {"metric": "http.latency.p95", "unit": "hours"}},
                },
            }
        )


@given(
    st.recursive(
        st.integers() | st.text(max_size=3),
        lambda c: st.dictionaries(st.text("ab.", max_size=3), c, max_size=3),
        max_leaves=8,
    )
)
def test_field_at_finds_what_a_flat_walk_finds(data: object) -> None:
    # Every key path written out with dots is found again (dotted keys included), to the same value
    # unless two paths spell the same string (then one of them).
    def paths(node: object, prefix: list[str]) -> list[tuple[list[str], object]]:
        out = [(prefix, node)]
        if isinstance(node, dict):
            for k, v in node.items():
                out += paths(v, [*prefix, k])
        return out

    for keys, value in paths(data, []):
        found, got = field_at(data, ".".join(keys))
        assert found
        spelled = [v for p, v in paths(data, []) if ".".join(p) == ".".join(keys)]
        assert got in spelled or value in spelled
