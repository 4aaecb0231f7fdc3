"""collect_services (surge/metrics/collect.py) over fake clients answering recorded data: values,
report dicts, threshold evaluation, cost, skipping without credentials, JSON round trip."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError
from pydantic import TypeAdapter

from surge.evaluate import evaluate, verdict
from surge.metrics import (
    CostSpec,
    FixedClients,
    RunUsage,
    ServiceMetrics,
    ServiceMetricSource,
    SessionClients,
    bind_thresholds,
    collect_or_skip,
    collect_services,
    credentials_available,
    skipped_metrics,
)
from surge.metrics.spec import Services
from surge.thresholds import MetricRef, parse_threshold

START = 1_800_000_000.0  # on a minute boundary
END = START + 600.0
NOW = END + 5.0  # the run just ended: the collector must wait for CloudWatch

SERVICES = TypeAdapter(Services).validate_python(
    [
        {
            "type": "lambda",
            "name": "orders",
            "function_name": "orders-fn",
            "memory_mb": 1024,
            "concurrency_limit": 100,
        },
        {"type": "elasticache", "name": "sessions", "cluster_id": "sessions-001"},
        {"type": "rds", "name": "main", "instance_id": "main-db", "pool_max": 100},
    ]
)
COST = CostSpec(tag_key="app", tag_value="mocs", baseline_monthly_usd=950)


class FakeCloudWatch:
    """Answers GetMetricData from per-(metric, stat) data; a query whose period spans the request
    is a whole-window query and gets the ``whole`` figure, as CloudWatch would compute it."""

    def __init__(
        self, series: dict[tuple[str, str], list[float]], whole: dict[tuple[str, str], float]
    ) -> None:
        self.series, self.whole = series, whole
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        start: datetime = kw["StartTime"]
        span = (kw["EndTime"] - start).total_seconds()
        results = []
        for q in kw["MetricDataQueries"]:
            ms = q["MetricStat"]
            key = (ms["Metric"]["MetricName"], ms["Stat"])
            if ms["Period"] == span and span > 60:
                values = [self.whole[key]] if key in self.whole else []
            else:
                values = self.series.get(key, [])
            stamps = [start.timestamp() + 60 * i for i in range(len(values))]
            results.append(
                {
                    "Id": q["Id"],
                    "Timestamps": [datetime.fromtimestamp(t, start.tzinfo) for t in stamps],
                    "Values": values,
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}


class FakeLogs:
    def __init__(self, row: dict[str, str]) -> None:
        self.row = row
        self.queries: list[dict[str, Any]] = []

    def start_query(self, **kw: Any) -> dict[str, Any]:
        self.queries.append(kw)
        return {"queryId": "q"}

    def get_query_results(self, **kw: Any) -> dict[str, Any]:
        return {"status": "Complete", "results": [[{"field": k, "value": v} for k, v in self.row.items()]]}


class FakeCE:
    def __init__(self, amount_per_day: float) -> None:
        self.amount = amount_per_day
        self.requests: list[dict[str, Any]] = []

    def get_cost_and_usage(self, **kw: Any) -> dict[str, Any]:
        self.requests.append(kw)
        days = [
            {
                "TimePeriod": {"Start": "x", "End": "y"},
                "Total": {},
                "Groups": [
                    {
                        "Keys": ["AWS Lambda"],
                        "Metrics": {"UnblendedCost": {"Amount": str(self.amount), "Unit": "USD"}},
                    }
                ],
                "Estimated": False,
            }
        ] * 7
        return {"ResultsByTime": days}


SERIES = {
    ("Invocations", "Sum"): [30000.0] * 10,
    ("Duration", "Sum"): [3_000_000.0] * 10,  # 100 ms each
    ("Duration", "p95"): [180.0, 260.0] + [200.0] * 8,
    ("Duration", "p99"): [400.0] * 10,
    ("Duration", "Maximum"): [900.0] * 10,
    ("ConcurrentExecutions", "Maximum"): [40.0] * 9 + [85.0],
    ("CacheHits", "Sum"): [850.0] * 10,
    ("CacheMisses", "Sum"): [150.0] * 10,
    ("CPUUtilization", "Maximum"): [35.0] * 10,
    ("DatabaseConnections", "Maximum"): [60.0] * 9 + [95.0],
    ("ReadLatency", "p95"): [0.004] * 10,
}
WHOLE = {("Duration", "p95"): 210.0, ("Duration", "p50"): 95.0, ("ReadLatency", "p95"): 0.0045}
COLD = {
    "cold": "150",
    "invocations": "300000",
    "p50_init": "420.5",
    "p99_init": "1650.25",
    "max_init": "2100",
}


def collect(**kw: Any) -> tuple[ServiceMetrics, list[float], FakeCloudWatch, FakeLogs, FakeCE]:
    cw, logs, ce = FakeCloudWatch(SERIES, WHOLE), FakeLogs(COLD), FakeCE(4.0)
    sleeps: list[float] = []
    clock = iter([NOW, NOW + 90, NOW + 90, NOW + 90, NOW + 91, NOW + 91, NOW + 91])
    m = collect_services(
        SERVICES,
        COST,
        (START, END),
        FixedClients(cloudwatch=cw, logs=logs, ce=ce),
        sleep=sleeps.append,
        now=lambda: next(clock),
        **kw,
    )
    return m, sleeps, cw, logs, ce


def test_waits_for_ingestion_then_reads_the_window() -> None:
    m, sleeps, cw, logs, _ = collect(ingestion_delay_s=90.0, requests=300_000)
    assert sleeps[0] == pytest.approx(END + 90 - NOW)
    (call,) = cw.calls
    assert call["StartTime"].timestamp() == START and call["EndTime"].timestamp() == END
    assert {q["MetricStat"]["Period"] for q in call["MetricDataQueries"]} == {60, 600}
    assert logs.queries[0]["logGroupNames"] == ["/aws/lambda/orders-fn"]
    assert (logs.queries[0]["startTime"], logs.queries[0]["endTime"]) == (int(START), int(END))
    assert m.collected


def test_values_answer_thresholds() -> None:
    m, *_ = collect(requests=300_000)
    source = ServiceMetricSource(m)
    v = lambda text: source.value(parse_threshold(text + " > 0").metric)  # noqa: E731
    assert v('lambda["orders"].duration.p95') == 210.0
    assert v('lambda["orders"].duration.p50') == 95.0
    assert v('lambda["orders"].cold_start.p99') == 1650.25
    assert v('lambda["orders"].cold_start.rate') == pytest.approx(0.0005)
    assert v('elasticache["sessions"].hit_rate') == pytest.approx(0.85)
    assert v('rds["main"].read_latency.p95') == pytest.approx(4.5)
    assert v("cost.monthly_usd") == pytest.approx(4.0 * 30)
    assert v('sqs["nope"].visible_messages.max') is None

    checks = evaluate(
        bind_thresholds(
            [
                parse_threshold(t)
                for t in (
                    'lambda["orders"].cold_start.p99 < 2s',
                    'lambda["orders"].duration.p95 < 200ms',
                    'lambda["orders"].concurrent_executions.max < concurrency_limit * 0.8',
                    'elasticache["sessions"].hit_rate > 80%',
                    'rds["main"].connections.max < pool * 0.9',
                    "cost.monthly_usd <= baseline",
                    "cost.per_million_requests_usd < 2",
                    'elasticache["sessions"].memory.max < 90%',
                )
            ],
            SERVICES,
            COST,
        ),
        source,
    )
    assert [(c["metric"], c["target"], c["measured"], c["status"]) for c in checks] == [
        ('lambda["orders"].cold_start.p99', 2000.0, 1650.25, "pass"),
        ('lambda["orders"].duration.p95', 200.0, 210.0, "fail"),
        ('lambda["orders"].concurrent_executions.max', 80.0, 85.0, "fail"),
        ('elasticache["sessions"].hit_rate', 0.8, 0.85, "pass"),
        ('rds["main"].connections.max', 90.0, 95.0, "fail"),
        ("cost.monthly_usd", 950.0, 120.0, "pass"),
        (
            "cost.per_million_requests_usd",
            2.0,
            pytest.approx((30_000 * 0.0000166667 + 0.06) / 0.3, abs=1e-6),
            "pass",
        ),
        ('elasticache["sessions"].memory.max', 0.9, None, "no-data"),  # never published: not a pass
    ]
    assert verdict(checks) == "fail"


def test_report_dicts_have_unit_suffixes_and_run_relative_series() -> None:
    m, *_ = collect(requests=300_000, run_usage=RunUsage(region="us-east-1", sfn_transitions=1000))
    report = m.to_report_dict()
    json.dumps(report, allow_nan=False)  # the report is strict JSON
    sm = report["service_metrics"]
    assert sm["window"] == {
        "start": "2027-01-15T08:00:00Z",
        "end": "2027-01-15T08:10:00Z",
        "duration_s": 600.0,
    }
    lam = sm["services"]['lambda["orders"]']  # type: ignore[index]
    assert lam["type"] == "lambda" and lam["resource"] == "function orders-fn" and lam["period_s"] == 60
    values = lam["values"]
    assert values["duration.p95_ms"] == 210.0
    assert values["cold_start.rate"] == pytest.approx(0.0005)
    assert values["concurrency_utilization.max_ratio"] == pytest.approx(0.85)
    assert values["invocations.sum"] == 300000.0
    assert values["duration.p50_ms"] == 95.0  # from the whole-window query
    assert lam["series"]["duration.p95_ms"][:2] == [{"t": 0.0, "value": 180.0}, {"t": 60.0, "value": 260.0}]
    assert "duration.p50_ms" not in lam["series"]  # no per-period data: no empty chart
    ec = sm["services"]['elasticache["sessions"]']  # type: ignore[index]
    assert ec["values"]["cpu.max_ratio"] == pytest.approx(0.35) and ec["values"]["hit_rate"] == pytest.approx(
        0.85
    )

    cost = report["cost"]
    assert cost["tag"] == "app=mocs" and cost["lookback_days"] == 7
    assert cost["monthly_usd"] == 120.0 and cost["within_baseline"] is True
    assert cost["delta_vs_baseline_usd"] == -830.0
    assert cost["by_service_monthly_usd"] == {"AWS Lambda": 120.0}
    # 300,000 invocations x 100 ms x 1 GB = 30,000 GB-s
    lambda_usd = 30_000 * 0.0000166667 + 300_000 * 0.2e-6
    assert cost["target_window_usd"] == pytest.approx(lambda_usd, abs=1e-6)
    assert cost["per_million_requests_usd"] == pytest.approx(lambda_usd / 300_000 * 1e6, abs=1e-5)
    assert cost["run_usd"] == pytest.approx(0.025)
    assert cost["run_components_usd"]["step_functions_usd"] == pytest.approx(0.025)  # type: ignore[index]


def test_per_million_falls_back_to_the_only_lambdas_invocations() -> None:
    m, *_ = collect()
    assert m.cost["target_requests"] == 300_000.0


def test_no_wait_when_the_window_ended_long_ago() -> None:
    sleeps: list[float] = []
    collect_services(
        SERVICES[1:2],
        None,
        (START, END),
        FixedClients(cloudwatch=FakeCloudWatch(SERIES, WHOLE)),
        sleep=sleeps.append,
        now=lambda: END + 3600,
    )
    assert sleeps == []


def test_nothing_declared_is_an_empty_report() -> None:
    m = collect_services([], None, (START, END), FixedClients(), sleep=lambda s: None, now=lambda: NOW)
    assert m.to_report_dict() == {"service_metrics": {}, "cost": {}}


def test_skipped_without_credentials() -> None:
    m = skipped_metrics(SERVICES, COST, (START, END), "no AWS credentials found")
    source = ServiceMetricSource(m)
    assert source.value(parse_threshold('rds["main"].connections.max < 5').metric) is None
    assert source.value(parse_threshold("cost.monthly_usd < 5").metric) is None
    report = m.to_report_dict()
    assert report["service_metrics"]["collected"] is False
    assert report["service_metrics"]["notes"] == ["no AWS credentials found"]
    assert report["service_metrics"]["services"]['rds["main"]']["values"]["connections.max"] is None  # type: ignore[index]


class FakeSession:
    def __init__(self, creds: object, region: str | None = "eu-west-1") -> None:
        self.creds, self.region_name = creds, region
        self.made: list[tuple[str, str | None]] = []

    def get_credentials(self) -> object:
        if isinstance(self.creds, Exception):
            raise self.creds
        return self.creds

    def client(self, service: str, region_name: str | None = None) -> Any:
        self.made.append((service, region_name))
        return {"cloudwatch": FakeCloudWatch(SERIES, WHOLE), "logs": FakeLogs(COLD), "ce": FakeCE(1.0)}[
            service
        ]


def test_credentials_available() -> None:
    assert credentials_available(FakeSession(object())) is True
    assert credentials_available(FakeSession(None)) is False
    assert credentials_available(FakeSession(NoCredentialsError())) is False


def test_collect_or_skip() -> None:
    skipped = collect_or_skip(SERVICES, COST, (START, END), session=FakeSession(None))
    assert not skipped.collected and "no AWS credentials" in skipped.notes[0]
    session = FakeSession(object())
    done = collect_or_skip(
        SERVICES,
        COST,
        (START, END),
        session=session,
        sleep=lambda s: None,
        now=lambda: NOW,
        ingestion_delay_s=0,
    )
    assert done.collected and done.value("elasticache", "sessions", "hit_rate") == pytest.approx(0.85)
    assert ("ce", "us-east-1") in session.made  # Cost Explorer lives in us-east-1
    assert ("cloudwatch", None) in session.made
    assert collect_or_skip([], None, (START, END), session=session).to_report_dict() == {
        "service_metrics": {},
        "cost": {},
    }


def test_session_clients_cache_per_region() -> None:
    session = FakeSession(object())
    clients = SessionClients(session)
    a = clients.client("cloudwatch", "eu-west-1")
    assert clients.client("cloudwatch", "eu-west-1") is a
    clients.client("cloudwatch", "us-west-2")
    clients.client("ce", "eu-west-1")
    assert session.made == [("cloudwatch", "eu-west-1"), ("cloudwatch", "us-west-2"), ("ce", "us-east-1")]


def test_services_in_two_regions_use_two_clients() -> None:
    services = TypeAdapter(Services).validate_python(
        [
            {"type": "sqs", "name": "a", "queue_name": "q", "region": "eu-west-1"},
            {"type": "sqs", "name": "b", "queue_name": "q", "region": "us-west-2"},
        ]
    )
    session = FakeSession(object())
    collect_services(
        services, None, (START, END), SessionClients(session), sleep=lambda s: None, now=lambda: NOW
    )
    assert session.made == [("cloudwatch", "eu-west-1"), ("cloudwatch", "us-west-2")]


def test_a_client_that_cannot_be_made_is_a_note() -> None:
    m = collect_services(
        SERVICES[1:2], None, (START, END), FixedClients(), sleep=lambda s: None, now=lambda: NOW
    )
    assert m.notes == ["creating a CloudWatch client failed: MetricsError: no cloudwatch client was given"]
    assert m.value("elasticache", "sessions", "hit_rate") is None


def test_json_round_trip_answers_the_same() -> None:
    m, *_ = collect(requests=300_000)
    again = ServiceMetrics.from_json(json.loads(json.dumps(m.to_json())))
    assert again.to_report_dict() == m.to_report_dict()
    ref = parse_threshold('lambda["orders"].duration.p95 < 1s').metric
    assert ServiceMetricSource(again).value(ref) == ServiceMetricSource(m).value(ref) == 210.0


def test_source_falls_back_for_other_namespaces() -> None:
    class Http:
        def interval(self, ref: MetricRef) -> None:
            return None

        def value(self, ref: MetricRef) -> float | None:
            return 42.0

    m = skipped_metrics([], None, (START, END), "x")
    assert (
        ServiceMetricSource(m, fallback=Http()).value(parse_threshold("http.latency.p95 < 1s").metric) == 42.0
    )
    assert ServiceMetricSource(m).value(parse_threshold("http.latency.p95 < 1s").metric) is None
    assert ServiceMetricSource(m, fallback=Http()).value(parse_threshold("cost.run_usd < 1").metric) is None


def test_cost_alone_fills_only_the_cost_section() -> None:
    m = collect_services(
        [], COST, (START, END), FixedClients(ce=FakeCE(2.0)), sleep=lambda s: None, now=lambda: NOW
    )
    report = m.to_report_dict()
    assert report["service_metrics"] == {}
    assert report["cost"]["monthly_usd"] == 60.0 and report["cost"]["within_baseline"] is True


def test_recorded_responses_bring_their_recommendations_and_none_without_data() -> None:
    from surge.findings import service_findings

    cw = FakeCloudWatch({**SERIES, ("Throttles", "Sum"): [0.0] * 4 + [12.0] * 6}, WHOLE)
    logs = FakeLogs({**COLD, "max_mem_mb": "300", "p99_mem_mb": "280", "size_mb": "1024"})
    m = collect_services(
        SERVICES,
        COST,
        (START, END),
        FixedClients(cloudwatch=cw, logs=logs, ce=FakeCE(4.0)),
        sleep=lambda s: None,
        now=lambda: END + 3600,
    )
    report = m.to_report_dict()
    found = {f["title"]: f for f in service_findings(report["service_metrics"], [], report["cost"])}
    memory = found['lambda["orders"] used at most 300 MB of its 1,024 MB']
    assert memory["recommendation"].startswith("Try 448 MB: 56% less memory")
    assert "Power Tuning" in memory["recommendation"]
    throttled = found['lambda["orders"] was throttled 72 times']
    assert throttled["at_s"] == 240.0 and "first at 4:00 into the run" in throttled["evidence"]
    assert "RDS Proxy" in found['rds["main"]\'s connections reached 95% of the pool']["recommendation"]
    assert not any("elasticache" in title for title in found)  # an 85 % hit rate needs nothing
    # The same services without data: no recommendation.
    quiet = collect_services(
        SERVICES,
        None,
        (START, END),
        FixedClients(cloudwatch=FakeCloudWatch({}, {}), logs=FakeLogs({})),
        sleep=lambda s: None,
        now=lambda: END + 3600,
    ).to_report_dict()
    assert service_findings(quiet["service_metrics"], [], quiet["cost"]) == []
