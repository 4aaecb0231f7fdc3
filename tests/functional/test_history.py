"""Run history through one interface: SQLite on disk and DynamoDB (moto), the same tests for both.

The DynamoDB table is created with the key schema documented in surge/store/history.py (the runs
table of the cloud stack), so a change on either side fails here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from reports.compare import compare_records, render_compare_html, render_compare_text
from surge.report_model import Check, Report
from surge.store.history import (
    DynamoHistory,
    HistoryError,
    RunHistory,
    RunRecord,
    SqliteHistory,
    open_history,
)
from surge.store.run_table import (
    GSI_BY_PLAN,
    GSI_BY_PLAN_PK,
    GSI_BY_PLAN_SK,
    GSI_RECENT,
    GSI_RECENT_PK,
    GSI_RECENT_SK,
    RECENT_PARTITION,
    RUN_RECORD_SK,
    TABLE_PK,
    TABLE_SK,
)
from tests.report_fixtures import sample_report

TABLE = "surge-runs"


def create_runs_table(client: Any) -> None:
    """The table as the stack creates it: pk/sk, and two GSIs projecting every attribute."""
    attributes = [TABLE_PK, TABLE_SK, GSI_BY_PLAN_PK, GSI_BY_PLAN_SK, GSI_RECENT_PK, GSI_RECENT_SK]
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        KeySchema=[
            {"AttributeName": TABLE_PK, "KeyType": "HASH"},
            {"AttributeName": TABLE_SK, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, pk, sk in (
                (GSI_BY_PLAN, GSI_BY_PLAN_PK, GSI_BY_PLAN_SK),
                (GSI_RECENT, GSI_RECENT_PK, GSI_RECENT_SK),
            )
        ],
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_runs_table(client)
        yield client


@pytest.fixture(params=["sqlite", "dynamodb"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> RunHistory:
    if request.param == "sqlite":
        return SqliteHistory(tmp_path / "runs" / "history.sqlite")
    client = request.getfixturevalue("aws_env")
    return DynamoHistory(TABLE, client)


def a_check(metric: str, measured: float | None) -> Check:
    return Check(
        name=f"{metric} < 1",
        metric=metric,
        op="<",
        target=1.0,
        unit="ms",
        measured=measured,
        baseline=None,
        delta_pct=None,
        status="pass",
        abort_on_fail=False,
        kind="threshold",
    )


def report(
    run_id: str,
    started_at: str,
    *,
    plan: str = "checkout",
    verdict: str = "pass",
    partial: bool = False,
    p95: float = 200.0,
    checks: list[Check] | None = None,
) -> Report:
    rep = sample_report(
        run_id=run_id,
        plan=plan,
        started_at=started_at,
        ended_at=started_at.replace(":00Z", ":30Z"),
        verdict=verdict,
        partial=partial,
        checks=checks if checks is not None else [a_check("http.latency.p95", p95)],
    )
    rep["latency_ms"] = {**rep["latency_ms"], "p95": p95}
    return rep


def test_record_and_get_round_trip(history: RunHistory) -> None:
    rep = report(
        "r1",
        "2025-03-14T10:00:00Z",
        checks=[
            a_check("http.latency.p95", 612.4),
            a_check('endpoint["GET /api/mocs/{id}"].latency.p99', 0.004921),
            a_check("http.latency.p95", 999.0),  # the same metric twice: the first one counts
            a_check('phase["ramp"].error_rate', None),  # no data: no figure
        ],
    )
    stored = history.record(rep, "/runs/r1")
    got = history.get("r1")
    assert got == stored == RunRecord.from_report(rep, "/runs/r1")
    assert got.location == "/runs/r1"
    assert (got.plan, got.verdict, got.partial, got.mode) == ("checkout", "pass", False, "local")
    assert got.requests == 72_162 and got.dropped == 41
    assert got.error_rate == pytest.approx(355 / 72_162, rel=1e-12)
    assert got.metrics["http.latency.p95"] == 612.4
    assert got.metrics['endpoint["GET /api/mocs/{id}"].latency.p99'] == 0.004921
    assert 'phase["ramp"].error_rate' not in got.metrics
    # Headline figures are kept for every run, so any later run can regress against them.
    assert got.metrics["http.throughput"] == pytest.approx(72_162 / 600.0)
    assert got.metrics["http.latency.p99"] == rep["latency_ms"]["p99"]
    assert got.metrics["http.requests"] == 72_162
    assert history.get("nope") is None


def test_list_newest_first_with_limit_and_plan(history: RunHistory) -> None:
    history.record(report("a1", "2025-03-14T10:00:00Z"), "/a1")
    history.record(report("b1", "2025-03-14T11:00:00Z", plan="search"), "/b1")
    history.record(report("a2", "2025-03-14T12:00:00Z", verdict="fail"), "/a2")
    history.record(report("a3", "2025-03-14T13:00:00Z", partial=True), "/a3")
    assert [r.run_id for r in history.list()] == ["a3", "a2", "b1", "a1"]
    assert [r.run_id for r in history.list(limit=2)] == ["a3", "a2"]
    assert [r.run_id for r in history.list(plan="checkout")] == ["a3", "a2", "a1"]
    assert [r.run_id for r in history.list(plan="search")] == ["b1"]
    assert history.list(plan="nothing") == []


def test_last_pass_skips_failed_partial_and_other_plans(history: RunHistory) -> None:
    assert history.last_pass("checkout") is None
    history.record(report("old", "2025-03-14T09:00:00Z"), "/old")
    history.record(report("good", "2025-03-14T10:00:00Z"), "/good")
    history.record(report("other", "2025-03-14T11:00:00Z", plan="search"), "/other")
    history.record(report("failed", "2025-03-14T12:00:00Z", verdict="fail"), "/failed")
    history.record(report("stopped", "2025-03-14T13:00:00Z", partial=True), "/stopped")
    history.record(report("broken", "2025-03-14T14:00:00Z", verdict="error"), "/broken")
    found = history.last_pass("checkout")
    assert found is not None and found.run_id == "good"
    earlier = history.last_pass("checkout", before="2025-03-14T10:00:00Z")
    assert earlier is not None and earlier.run_id == "old"
    assert history.last_pass("checkout", before="2025-03-14T09:00:00Z") is None
    found = history.last_pass("search")
    assert found is not None and found.run_id == "other"


def test_last_pass_reads_past_many_newer_failures(history: RunHistory) -> None:
    # More failures than one DynamoDB page holds before the match (filters apply after Limit).
    history.record(report("good", "2025-03-14T00:00:00Z"), "/good")
    for i in range(30):
        history.record(report(f"f{i:02d}", f"2025-03-14T01:{i:02d}:00Z", verdict="fail"), "/f")
    found = history.last_pass("checkout")
    assert found is not None and found.run_id == "good"
    assert len(history.list(limit=40)) == 31


def test_recording_again_replaces_the_record(history: RunHistory) -> None:
    history.record(report("r1", "2025-03-14T10:00:00Z", verdict="fail", p95=900.0), "/r1")
    history.record(report("r1", "2025-03-14T10:00:00Z", verdict="pass", p95=100.0), "/r1")
    assert [r.verdict for r in history.list()] == ["pass"]
    got = history.get("r1")
    assert got is not None and got.latency_p95_ms == 100.0 and got.metrics["http.latency.p95"] == 100.0


def test_sqlite_file_is_created_on_first_record_only(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "history.sqlite"
    history = SqliteHistory(path)
    assert history.list() == [] and history.get("x") is None and history.last_pass("p") is None
    assert not path.exists()  # reading must not litter an empty database
    history.record(report("r1", "2025-03-14T10:00:00Z"), "/r1")
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        (raw,) = conn.execute("SELECT record FROM runs WHERE run_id = 'r1'").fetchone()
    assert json.loads(raw)["metrics"]["http.latency.p95"] == 200.0


def test_sqlite_errors_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite").mkdir()  # a folder where the file should be
    with pytest.raises(HistoryError, match="run history"):
        SqliteHistory(tmp_path / "history.sqlite").record(report("r1", "2025-03-14T10:00:00Z"), "/r1")


def test_dynamo_record_merges_into_the_workflows_run_record(aws_env: Any) -> None:
    client = aws_env
    history = DynamoHistory(TABLE, client)
    # A cloud run's record as the workflow writes it while running: no verdict yet.
    running = {
        TABLE_PK: {"S": "RUN#c1"},
        TABLE_SK: {"S": RUN_RECORD_SK},
        GSI_BY_PLAN_PK: {"S": "PLAN#checkout"},
        GSI_BY_PLAN_SK: {"S": "2025-03-14T10:00:00Z"},
        GSI_RECENT_PK: {"S": RECENT_PARTITION},
        GSI_RECENT_SK: {"S": "2025-03-14T10:00:00Z"},
        "run_id": {"S": "c1"},
        "status": {"S": "RUNNING"},
        "stop_requested": {"BOOL": False},
    }
    client.put_item(TableName=TABLE, Item=running)
    assert history.get("c1") is None
    assert history.list() == [] and history.last_pass("checkout") is None
    history.record(report("c1", "2025-03-14T10:00:05Z"), "s3://bucket/runs/c1/")
    item = client.get_item(TableName=TABLE, Key={TABLE_PK: {"S": "RUN#c1"}, TABLE_SK: {"S": RUN_RECORD_SK}})[
        "Item"
    ]
    assert item["status"] == {"S": "RUNNING"}  # the workflow's attributes survive
    assert item["stop_requested"] == {"BOOL": False}
    assert item["verdict"] == {"S": "pass"}
    assert item[GSI_BY_PLAN_SK] == {"S": "2025-03-14T10:00:05Z"}
    got = history.last_pass("checkout")
    assert got is not None and got.location == "s3://bucket/runs/c1/"


def test_dynamo_lists_runs_the_workflow_completed_on_its_own(aws_env: Any) -> None:
    client = aws_env
    done = {
        TABLE_PK: {"S": "RUN#c2"},
        TABLE_SK: {"S": RUN_RECORD_SK},
        GSI_BY_PLAN_PK: {"S": "PLAN#checkout"},
        GSI_BY_PLAN_SK: {"S": "2025-03-14T10:00:00Z"},
        GSI_RECENT_PK: {"S": RECENT_PARTITION},
        GSI_RECENT_SK: {"S": "2025-03-14T10:00:00Z"},
        "run_id": {"S": "c2"},
        "plan": {"S": "checkout"},
        "started_at": {"S": "2025-03-14T10:00:00Z"},
        "status": {"S": "COMPLETED"},
        "verdict": {"S": "fail"},
        "partial": {"BOOL": False},
        "report_uri": {"S": "s3://bucket/runs/c2/report.html"},
        "p95_ms": {"N": "321.5"},
        "requests": {"N": "999"},  # the progress counter; total_requests is the final figure
        "total_requests": {"N": "1000"},
    }
    client.put_item(TableName=TABLE, Item=done)
    (got,) = DynamoHistory(TABLE, client).list()
    assert (got.run_id, got.verdict, got.requests) == ("c2", "fail", 1000)
    assert got.latency_p95_ms == 321.5 and got.location == "s3://bucket/runs/c2/report.html"


def test_dynamo_missing_table_is_a_user_error(aws_env: Any) -> None:
    history = DynamoHistory("no-such-table", aws_env)
    with pytest.raises(HistoryError, match="dynamodb://no-such-table"):
        history.get("r1")


def test_open_history(tmp_path: Path, aws_env: Any) -> None:
    sqlite_history = open_history(tmp_path / "h.sqlite")
    assert isinstance(sqlite_history, SqliteHistory) and sqlite_history.where == str(tmp_path / "h.sqlite")
    dynamo = open_history(f"dynamodb://{TABLE}", dynamodb_client=aws_env)
    assert isinstance(dynamo, DynamoHistory) and dynamo.table_name == TABLE
    with pytest.raises(HistoryError):
        open_history("dynamodb://")


# --- comparing two recorded runs -----------------------------------------------------------------


def test_compare_two_records(history: RunHistory) -> None:
    a = history.record(
        report(
            "a",
            "2025-03-14T10:00:00Z",
            p95=200.0,
            checks=[a_check("http.latency.p95", 200.0), a_check('endpoint["GET /x"].latency.p99', 300.0)],
        ),
        "/runs/a",
    )
    b_report = report(
        "b",
        "2025-03-14T11:00:00Z",
        plan="checkout <v2>",
        verdict="fail",
        p95=250.0,
        checks=[a_check("http.latency.p95", 250.0), a_check('phase["ramp"].latency.p95', 90.0)],
    )
    b_report["totals"] = {**b_report["totals"], "throughput_rps": 150.0}
    b = history.record(b_report, "/runs/b")
    rows = {r.metric: r for r in compare_records(a, b)}
    p95 = rows["http.latency.p95"]
    assert (p95.a, p95.b, p95.delta_pct, p95.judgement) == (200.0, 250.0, 25.0, "worse")
    assert rows["http.throughput"].judgement == "better"
    assert rows["http.requests"].judgement == "same"
    only_a = rows['endpoint["GET /x"].latency.p99']
    assert (only_a.a, only_a.b, only_a.delta_pct, only_a.judgement) == (300.0, None, None, "")
    assert rows['phase["ramp"].latency.p95'].group == "checks"

    text = render_compare_text(a, b)
    assert re.search(r"Response time p95\s+200 ms\s+250 ms\s+\+25\.0% \(worse\)", text), text
    assert 'endpoint["GET /x"].latency.p99' in text

    page = render_compare_html(a, b)
    assert page.startswith("<!doctype html>")
    assert "checkout &lt;v2&gt;" in page and "checkout <v2>" not in page
    # Self-contained: no script and nothing fetched from anywhere.
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert re.search(r'<td class="[^"]*\bworse\b[^"]*">\+25\.0% \(worse\)</td>', page), page


def test_repeat_runs_report_their_spread_and_compare_reads_its_noise_from_them(
    tmp_path: Path, demo_target: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    (tmp_path / "plan.yaml").write_text(
        "name: repeatable\n"
        f"target: {demo_target.url}\n"
        "workers: 1\n"
        "load: {phases: [{name: steady, duration: 1s, rate: 20}]}\n"
        "scenarios: [{name: s, flow: [{get: /api/mocs}]}]\n"
        "thresholds: [http.latency.p95 < 1s]\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "plan.yaml", "--repeat", "4"]) == 0
    out = capsys.readouterr().out
    assert "repeatability over 4 runs: min / median / max" in out
    assert "http.requests" in out and "spread 0.0%" in out  # 20 arrivals a run, every time
    runs = sorted(p.name for p in (tmp_path / "surge-runs").iterdir() if p.is_dir())
    assert len(runs) == 4
    # The four runs are the noise band's: compare the first and the last.
    code = main(["compare", runs[0], runs[-1], "--fail-if-worse", "1000000"])
    text = capsys.readouterr().out
    assert code == 0 and "noise ±" in text and 'endpoint["GET /api/mocs"].latency.p95' in text
    assert "is not worse than A beyond 1e+06%" in text
    demo_target.set_config(latency_ms=80.0)
    assert main(["run", "plan.yaml"]) == 0
    slow = sorted(p.name for p in (tmp_path / "surge-runs").iterdir() if p.is_dir() and p.name not in runs)[0]
    capsys.readouterr()
    assert main(["compare", runs[0], slow, "--fail-if-worse", "20"]) == 1
    assert "B is worse than A beyond 20% and the noise on" in capsys.readouterr().out
    assert main(["run", "plan.yaml", "--repeat", "2", "--out", "x"]) == 2


def test_surge_history_names_one_history_wherever_the_command_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main
    from surge.store.history import open_history

    shared = tmp_path / "project" / "history.sqlite"
    monkeypatch.setenv("SURGE_HISTORY", str(shared))
    assert open_history().where == str(shared)
    assert open_history(tmp_path / "other.sqlite").where == str(tmp_path / "other.sqlite")  # --history wins
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    assert f"history: {shared}" in captured.err and f"no runs recorded in {shared}" in captured.out


def test_the_default_history_is_the_plans_projects(tmp_path: Path) -> None:
    from surge.store.history import project_history

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "plans" / "checkout").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A plan inside a repository: the repository's history, whichever folder the command is typed in.
    assert (
        project_history(repo / "plans" / "checkout", cwd=elsewhere) == repo / "surge-runs" / "history.sqlite"
    )
    assert project_history(Path("plans"), cwd=repo) == repo / "surge-runs" / "history.sqlite"
    # A folder on the way up that already has a history is the project's.
    (repo / "plans" / "surge-runs").mkdir()
    (repo / "plans" / "surge-runs" / "history.sqlite").write_bytes(b"")
    assert (
        project_history(repo / "plans" / "checkout", cwd=elsewhere)
        == repo / "plans" / "surge-runs" / "history.sqlite"
    )
    # Neither: the current folder's, as before.
    assert project_history(tmp_path / "loose", cwd=elsewhere) == elsewhere / "surge-runs" / "history.sqlite"


def test_a_damaged_record_is_skipped_by_lists_and_named_by_a_get(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "h.sqlite")
    good = history.record(sample_report(run_id="good", verdict="pass", partial=False), "/x")
    history.record(sample_report(run_id="bad", verdict="pass", partial=False), "/y")
    history.record(sample_report(run_id="odd", verdict="pass", partial=False), "/z")
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        conn.execute(
            "UPDATE runs SET record = ?, started_at = '2999-01-01' WHERE run_id = 'bad'", ("{not json",)
        )
        conn.execute(
            "UPDATE runs SET record = ?, started_at = '2998-01-01' WHERE run_id = 'odd'", ('["a list"]',)
        )
    fresh = SqliteHistory(tmp_path / "h.sqlite")
    assert [r.run_id for r in fresh.list()] == ["good"]
    assert len(fresh.damaged) == 2 and any("run bad (not JSON)" in d for d in fresh.damaged)
    # last-pass looks past the damaged newest ones.
    found = SqliteHistory(tmp_path / "h.sqlite").last_pass(good.plan)
    assert found is not None and found.run_id == "good"
    with pytest.raises(HistoryError, match="damaged record for run bad"):
        fresh.get("bad")


def test_surge_runs_lists_the_readable_runs_and_warns_of_a_damaged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surge.cli import main

    history = SqliteHistory(tmp_path / "h.sqlite")
    history.record(sample_report(run_id="good"), "/x")
    history.record(sample_report(run_id="bad"), "/y")
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        conn.execute("UPDATE runs SET record = '{\"run_id\": 3, \"metrics\": 7}' WHERE run_id = 'bad'")
    assert main(["runs", "--history", str(tmp_path / "h.sqlite")]) == 0
    out, err = capsys.readouterr()
    assert "good" in out and "damaged record for run bad" in err


def test_surge_runs_says_where_a_plans_history_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import random

    from surge.cli import main
    from surge.store.history import SqliteHistory

    path = tmp_path / "h.sqlite"
    history = SqliteHistory(path)
    rng = random.Random(3)
    # Ten runs at p95 ~200 ms, then a deploy made it ~260 ms for ten more.
    for i in range(20):
        p95 = (200.0 if i < 10 else 260.0) * (1 + rng.gauss(0, 0.05))
        history.record(report(f"run-{i:02d}", f"2025-03-14T10:{i:02d}:00Z", p95=p95), f"/runs/{i}")
    assert main(["runs", "--history", str(path), "--plan", "checkout", "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "changes in the history" in out
    (line,) = [x for x in out.splitlines() if "p95 changed" in x]
    assert "checkout: p95 changed at run run-10:" in line and "p = " in line
    # Noise alone (the same twenty runs without the step) shows no change.
    quiet = SqliteHistory(tmp_path / "q.sqlite")
    for i in range(20):
        quiet.record(
            report(f"q-{i:02d}", f"2025-03-14T11:{i:02d}:00Z", p95=200 * (1 + rng.gauss(0, 0.05))), "/q"
        )
    assert main(["runs", "--history", str(tmp_path / "q.sqlite"), "--limit", "50"]) == 0
    assert "changes in the history" not in capsys.readouterr().out


def test_surge_runs_cloud_says_where_the_stacks_history_changed(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cloud stack's history (its DynamoDB table, written by the workflow's Report step) is read
    for change points as the local one is."""
    import random

    from surge.cli import cloud as cli_cloud
    from surge.cli import main
    from surge.cloud.client import CloudRuns, StackInfo

    history = DynamoHistory(TABLE, aws_env)
    rng = random.Random(4)
    for i in range(20):
        p95 = (200.0 if i < 10 else 260.0) * (1 + rng.gauss(0, 0.05))
        history.record(report(f"cloud-{i:02d}", f"2025-03-14T10:{i:02d}:00Z", p95=p95), f"s3://b/runs/{i}")
    stack = StackInfo("b", TABLE, "arn:aws:states:eu-west-1:123456789012:stateMachine:surge", "eu-west-1")
    monkeypatch.setattr(
        cli_cloud, "connect", lambda args: CloudRuns(stack, s3=None, sfn=None, dynamodb=aws_env)
    )
    assert main(["runs", "--cloud", "--plan", "checkout", "--limit", "50", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "cloud-19" in out and "changes in the history" in out
    (line,) = [x for x in out.splitlines() if "p95 changed" in x]
    assert "checkout: p95 changed at run cloud-10:" in line
