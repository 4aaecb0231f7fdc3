"""The workflow's state functions with moto S3/DynamoDB/EventBridge and real workers on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from functions._runtime import Clients
from surge.cloud import handlers, layout
from surge.cloud import worker as cloud_worker
from surge.cloud.records import RunRecords
from surge.demo_target import DemoTarget
from surge.errors import PlanError
from surge.plan_load import parse_plan
from tests.aws_atomic import atomic_item_writes
from tests.helpers import inbox_event_types

REGION = "us-east-1"
BUCKET = "surge-test-bucket"
TABLE = "surge-runs"


def create_table(ddb: Any) -> None:
    strings = ["pk", "sk", "plan_pk", "plan_sk", "recent_pk", "recent_sk"]
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in strings],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": f"{prefix}_pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, prefix in (("by_plan", "plan"), ("recent", "recent"))
        ],
    )


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    from surge.cloud import segment_results

    monkeypatch.setattr(segment_results, "UPLOAD_GRACE_S", 1.5)  # in-process workers upload at once
    with mock_aws(), atomic_item_writes():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        events = boto3.client("events", region_name=REGION)
        yield Clients(
            bucket=BUCKET,
            table=TABLE,
            allowed_targets="127.0.0.1,localhost",  # what the deployer allowed: the loopback targets
            allow_hooks=True,
            overrides={"s3": s3, "dynamodb": ddb, "events": events},
        )


def plan_for(target: str, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "cloud-test",
        "target": target,
        "load": {"phases": [{"name": "steady", "duration": "4s", "rate": 300}]},
        "scenarios": [{"name": "list", "flow": [{"get": "/api/mocs"}]}],
        # Workers run as threads of the test process, beside moto and the target: their loops lag
        # and start arrivals late here as Lambda workers (one per process) would not.
        "validity": {"max_late": "100%", "max_loop_lag": "2s", "max_cpu": "100%"},
        # Workers, target and moto share one test process: latency here says little, counts say all.
        "thresholds": ["http.error_rate < 1%", "http.latency.p95 < 2s"],
    }
    plan.update(overrides)
    return plan


def run_segment(clients: Clients, spec: dict[str, Any], crash: set[int] | None = None) -> None:
    items = json.loads(clients.s3.get_object(Bucket=BUCKET, Key=spec["items_key"])["Body"].read())
    errors: list[BaseException] = []

    def run(item: dict[str, Any]) -> None:
        if crash and item["shard"] in crash:
            return  # a worker that died without writing its result
        try:
            handlers.worker(item, clients)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def run_workflow(
    clients: Clients,
    plan: dict[str, Any],
    crash: set[int] | None = None,
    collect_error: dict[str, str] | None = None,
    plan_uri: str | None = None,
) -> dict[str, Any]:
    """Prepare, every segment's workers and Aggregate, then Report. With ``plan_uri`` the plan is
    stored there (as YAML) and started from it, as a schedule does. A 3 s lead: on a busy machine
    (two CPU hogs on two cores) worker threads started past a 1 s and a 2 s one, and a late worker
    drops its first arrivals (as it should)."""
    options = {"lead_seconds": 3, "segment_seconds": 2, "per_worker_rate": 250}
    source: dict[str, Any] = {"plan": plan}
    if plan_uri is not None:
        clients.s3.put_object(Bucket=BUCKET, Key=layout.parse_s3_uri(plan_uri)[1], Body=yaml.safe_dump(plan))
        source = {"plan_uri": plan_uri}
    prep = handlers.prepare(
        {"run_id": "r1", "execution_arn": "arn:x", "input": {**source, "options": options}}, clients
    )
    aborted = None
    for spec in prep["segments"]:
        run_segment(clients, spec, crash if spec["index"] == 0 else None)
        agg = handlers.aggregate(
            {"run_id": "r1", "segment_count": prep["segment_count"], "segment": spec, "shards_error": None},
            clients,
        )
        if agg["abort"]:
            aborted = {"Error": "surge.Aborted", "Cause": agg["abort_reason"]}
            break
    event = {"mode": "report", "run_id": "r1", "execution_arn": "arn:x", "run": prep, "aborted": aborted}
    return handlers.report({**event, "collect": None, "collect_error": collect_error}, clients)


@pytest.mark.slow
def test_segments_and_shards_merge_to_what_the_target_counted(
    clients: Clients, demo_target: DemoTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_workflow(clients, plan_for(demo_target.url))
    # Every worker printed its intervals as EMF while it ran: the dashboard's live view.
    live = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"LiveRequests"' in line]
    assert {r["worker"] for r in live} == {"seg0-shard0", "seg0-shard1", "seg1-shard0", "seg1-shard1"}
    assert sum(r["LiveRequests"] for r in live) == 1200
    assert outcome["verdict"] == "pass", outcome
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["mode"] == "cloud"
    assert report["totals"]["requests"] == demo_target.stats()["requests"] == 1200
    assert report["generator"]["workers"] == 4  # 2 segments x 2 shards (300/s over 250/s per worker)
    assert (
        "shards sized at 250/s per worker (CPU); Little's law allows 450/s"
        in report["generator"]["notes"][-1]
    )
    record = RunRecords(TABLE, clients.dynamodb).get("r1")
    assert record is not None
    assert record["verdict"] == "pass" and record["status"] == "COMPLETED"
    assert record["requests"] == 1200  # progress published by the workers
    assert outcome["report_uri"] == f"s3://{BUCKET}/runs/r1/report.html"
    for name in ("report.md", "junit.xml", "results.json"):
        clients.s3.head_object(Bucket=BUCKET, Key=f"runs/r1/{name}")


@pytest.mark.slow
def test_missing_shard_is_reported_and_failed_check_fails(clients: Clients, demo_target: DemoTarget) -> None:
    # Aggregate awaits the missing shard until its segment's end plus the drain (the request
    # timeout) and the upload grace: a short timeout keeps the wait short.
    plan = plan_for(demo_target.url, thresholds=["http.requests >= 1200"], defaults={"timeout": "1s"})
    outcome = run_workflow(clients, plan, crash={1})
    assert outcome["verdict"] == "fail"
    assert "http.requests >= 1200" in outcome["cause"]
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["partial"] is True
    assert any("1 shard result(s) missing" in n for n in report["generator"]["notes"])
    assert report["totals"]["requests"] == demo_target.stats()["requests"]


@pytest.mark.slow
def test_abort_on_fail_stops_later_segments(clients: Clients, demo_target: DemoTarget) -> None:
    demo_target.set_config(error_rate=1.0)
    plan = plan_for(
        demo_target.url,
        thresholds=[{"check": "http.error_rate < 5%", "abort_on_fail": True}],
        load={"phases": [{"duration": "6s", "rate": 50}]},
    )
    outcome = run_workflow(clients, plan)
    assert outcome["verdict"] == "fail"
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["partial"] is True
    assert report["aborted_by"] and "http.error_rate < 5%" in report["aborted_by"]
    # Only the first 2-second segment ran (its workers may stop it sooner: the abort check is
    # also judged inside the segment, and a failing one ends it within seconds).
    assert 0 < demo_target.stats()["requests"] <= 100


def test_bad_plan_fails_prepare_with_field_paths(clients: Clients) -> None:
    from surge.errors import PlanError

    with pytest.raises(PlanError) as info:
        handlers.prepare({"run_id": "r2", "input": {"plan": {"name": "x", "target": "ftp://nope"}}}, clients)
    text = str(info.value)
    assert "target:" in text and "load: required field is missing" in text


def test_record_error_marks_the_run_with_a_readable_cause(clients: Clients) -> None:
    cause = json.dumps({"errorType": "PlanError", "errorMessage": "the plan is invalid: target: bad"})
    event = {
        "mode": "error",
        "run_id": "r3",
        "execution_arn": "arn:x",
        "failed_state": "Prepare",
        "error": {"Error": "PlanError", "Cause": cause},
        "state": {},
    }
    outcome = handlers.record_error(event, clients)
    assert outcome["verdict"] == "error"
    assert outcome["cause"] == "Prepare failed: the plan is invalid: target: bad"
    record = RunRecords(TABLE, clients.dynamodb).get("r3")
    assert record is not None and record["status"] == "ERROR"


def test_stop_flag_is_seen_by_aggregate(clients: Clients) -> None:
    records = RunRecords(TABLE, clients.dynamodb)
    records.create("r4", "p", "h", layout.iso_seconds(0))
    records.request_stop("r4", "stopped by alice")
    spec = {"index": 0, "shard_count": 1, "end_at": layout.iso_seconds(0)}  # long over: nothing to await
    plan = parse_plan(plan_for("http://127.0.0.1:9"))
    put(clients, layout.plan_key("r4"), json.dumps(plan.model_dump(mode="json", by_alias=True)))
    agg = handlers.aggregate(
        {"run_id": "r4", "segment_count": 1, "segment": spec, "shards_error": None}, clients
    )
    assert agg["abort"] is True and agg["abort_reason"] == "stopped by alice"
    assert agg["missing_shards"] == [0]


def test_a_failed_collect_is_said_in_the_report(clients: Clients, demo_target: DemoTarget) -> None:
    cause = json.dumps({"errorType": "ClientError", "errorMessage": "GetMetricData: Rate exceeded"})
    plan = plan_for(demo_target.url, load={"phases": [{"duration": "1s", "rate": 20}]})
    run_workflow(clients, plan, collect_error={"Error": "ClientError", "Cause": cause})
    report = json.loads(clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.json")["Body"].read())
    assert report["service_metrics"]["notes"] == ["not collected: GetMetricData: Rate exceeded"]
    html = clients.s3.get_object(Bucket=BUCKET, Key="runs/r1/report.html")["Body"].read().decode()
    assert "GetMetricData: Rate exceeded" in html


# -- data and baseline files ------------------------------------------------------------------------

USERS_CSV = "user\nalice\nbob\ncarol\n"
PLAN_URI = f"s3://{BUCKET}/plans/nightly/checkout.yaml"


def put(clients: Clients, key: str, body: str | bytes) -> None:
    clients.s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def read(clients: Clients, key: str) -> bytes:
    body: bytes = clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def events_plan(target: str, **overrides: Any) -> dict[str, Any]:
    """One POST per iteration whose body carries a data-file column: the target's inbox shows which
    values arrived."""
    flow = [{"post": {"url": "/v1/events", "json": {"type": "{{ user }}"}, "expect": [{"status": 202}]}}]
    fields: dict[str, Any] = {
        "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 300}]},
        "scenarios": [{"name": "ingest", "flow": flow}],
        "data": {"file": "users.csv"},
    }
    return plan_for(target, **{**fields, **overrides})


@pytest.mark.slow
def test_csv_rows_and_baseline_file_beside_a_plan_in_s3(clients: Clients, demo_target: DemoTarget) -> None:
    put(clients, "plans/nightly/users.csv", USERS_CSV)
    figures = json.dumps({"http.latency.p95": "10s", "http.error_rate": 0})
    put(clients, "plans/nightly/ecs-baseline.json", figures)
    plan = events_plan(
        demo_target.url,
        baseline={"file": "ecs-baseline.json"},
        regression={"max_worse_pct": 5, "metrics": ["http.latency.p95"]},
    )
    outcome = run_workflow(clients, plan, plan_uri=PLAN_URI)
    assert outcome["verdict"] == "pass", outcome
    report = json.loads(read(clients, "runs/r1/report.json"))
    received = demo_target.stats()["requests"]
    assert report["totals"]["requests"] == received == 600
    assert report["generator"]["workers"] == 2  # 300/s over 250/s per worker: two workers read the rows
    # Every request carried a row's value, and every row was used.
    types = inbox_event_types(demo_target.url)
    assert set(types) == {"alice", "bob", "carol"} and sum(types.values()) == 600

    # Prepare copied both files under the run; the stored plan names the copies, nothing in plans/.
    stored = json.loads(read(clients, layout.plan_key("r1")))
    assert stored["data"]["file"] == f"s3://{BUCKET}/runs/r1/inputs/data/users.csv"
    assert stored["baseline"]["file"] == f"s3://{BUCKET}/runs/r1/inputs/baseline/ecs-baseline.json"
    assert read(clients, "runs/r1/inputs/data/users.csv").decode() == USERS_CSV
    assert read(clients, "runs/r1/inputs/baseline/ecs-baseline.json").decode() == figures

    # Report compared the run with the file's figures.
    info = report["baseline"]
    assert info["source"] == "file" and info["label"] == "file ecs-baseline.json"
    assert info["figures"] == {"http.latency.p95": 10000.0, "http.error_rate": 0.0}
    checks = {c["name"]: c for c in report["checks"]}
    regression = checks["regression: http.latency.p95 within 5% of baseline"]
    assert regression["baseline"] == 10000.0 and regression["status"] == "pass"
    assert regression["delta_pct"] is not None and regression["delta_pct"] < 0  # below the 10 s figure
    assert checks["http.error_rate < 1%"]["baseline"] == 0.0


@pytest.mark.slow
def test_inline_plan_names_its_data_file_by_s3_uri(clients: Clients, demo_target: DemoTarget) -> None:
    put(clients, "shared/users.csv", USERS_CSV)
    plan = events_plan(
        demo_target.url,
        data={"file": f"s3://{BUCKET}/shared/users.csv", "order": "random"},
        load={"phases": [{"duration": "1s", "rate": 60}]},
    )
    outcome = run_workflow(clients, plan)
    assert outcome["verdict"] == "pass", outcome
    types = inbox_event_types(demo_target.url)
    assert set(types) <= {"alice", "bob", "carol"} and sum(types.values()) == 60
    assert read(clients, "runs/r1/inputs/data/users.csv").decode() == USERS_CSV


def prepare_from_s3(clients: Clients, plan: dict[str, Any]) -> dict[str, Any]:
    put(clients, "plans/nightly/checkout.yaml", yaml.safe_dump(plan))
    event = {"run_id": "bad", "execution_arn": "arn:x", "input": {"plan_uri": PLAN_URI}}
    return handlers.prepare(event, clients)


NIGHTLY = f"s3://{BUCKET}/plans/nightly"


@pytest.mark.parametrize(
    ("files", "fields", "problem"),
    [
        ({}, {}, f"data.file: cannot read {NIGHTLY}/users.csv: no such object"),
        (
            {"users.csv": ""},
            {},
            f"data.file: {NIGHTLY}/users.csv is empty; the first row must name the columns",
        ),
        (
            {"users.csv": "user\n"},
            {},
            f"data.file: {NIGHTLY}/users.csv has a header but no rows; each iteration takes its values from a row",
        ),
        (
            {"users.csv": "user,team\nalice,red\nbob\n"},
            {},
            f"data.file: {NIGHTLY}/users.csv line 3 has 1 values; the header names 2 columns",
        ),
        (
            {"users.csv": b"user\n\xffalice\n"},
            {},
            f"data.file: {NIGHTLY}/users.csv is not UTF-8 text; save it as CSV UTF-8",
        ),
        (
            {"users.csv": USERS_CSV},
            {"data": {"file": "s3://someone-elses-bucket/users.csv"}},
            "data.file: cannot read s3://someone-elses-bucket/users.csv: no such bucket "
            f"(cloud runs read files in s3://{BUCKET}/plans/)",
        ),
        (
            {"users.csv": USERS_CSV},
            {"data": {"file": "/home/me/users.csv"}},
            "data.file: '/home/me/users.csv' is a local path; name an s3:// URI or a path relative to "
            f"the plan ({NIGHTLY}/)",
        ),
        (
            {"users.csv": USERS_CSV},
            {"baseline": {"file": "ecs.json"}},
            f"baseline.file: cannot read {NIGHTLY}/ecs.json: no such object",
        ),
        (
            {"users.csv": USERS_CSV, "ecs.json": "{p95: 400}"},
            {"baseline": {"file": "ecs.json"}},
            f"baseline.file: {NIGHTLY}/ecs.json is not valid JSON: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)",
        ),
        (
            {"users.csv": USERS_CSV, "ecs.json": '{"http.error_rate": 4}'},
            {"baseline": {"file": "ecs.json"}},
            f"baseline.file: {NIGHTLY}/ecs.json has invalid figures: http.error_rate: 4 is not a "
            'fraction; write 0.004 or "0.4%" for 0.4 %',
        ),
    ],
)
def test_files_prepare_cannot_use_fail_the_run_before_any_load(
    clients: Clients, files: dict[str, str | bytes], fields: dict[str, Any], problem: str
) -> None:
    for name, body in files.items():
        put(clients, f"plans/nightly/{name}", body)
    with pytest.raises(PlanError) as info:
        prepare_from_s3(clients, events_plan("http://127.0.0.1:9", **fields))
    assert str(info.value) == f"the plan is invalid:\n  - {problem}"
    # Nothing was started: no run record, no items for workers.
    assert RunRecords(TABLE, clients.dynamodb).get("bad") is None
    assert clients.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/bad/seg-").get("KeyCount") == 0


def test_both_files_wrong_are_both_reported(clients: Clients) -> None:
    with pytest.raises(PlanError) as info:
        prepare_from_s3(clients, events_plan("http://127.0.0.1:9", baseline={"file": "../ecs.json"}))
    assert info.value.problems == [
        f"data.file: cannot read {NIGHTLY}/users.csv: no such object",
        f"baseline.file: cannot read s3://{BUCKET}/plans/ecs.json: no such object",
    ]


def test_inline_plan_with_a_relative_file_is_refused(clients: Clients) -> None:
    event = {"run_id": "bad", "input": {"plan": events_plan("http://127.0.0.1:9")}}
    with pytest.raises(PlanError) as info:
        handlers.prepare(event, clients)
    assert info.value.problems == [
        "data.file: 'users.csv' is a path relative to the plan, but the plan was given inline, not by "
        "plan_uri; name the file's s3:// URI"
    ]


def test_variables_are_checked_against_the_s3_files_columns(clients: Clients) -> None:
    put(clients, "plans/nightly/users.csv", "username\nalice\n")
    with pytest.raises(PlanError) as info:
        prepare_from_s3(clients, events_plan("http://127.0.0.1:9"))
    assert info.value.problems == [
        "scenarios[0].flow[0].request.json: {{ user }} is not defined; define it in 'variables', as a "
        "data file column, or capture it in an earlier step of this scenario"
    ]


def test_worker_downloads_the_csv_streamed_to_a_file_it_removes(
    clients: Clients, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from surge.cloud.inputs import fetch_data_file
    from surge.plan_load import plan_model

    rows = "".join(f"user-{i:07d}\n" for i in range(400_000))  # ~5 MB: more than one chunk
    put(clients, "runs/r1/inputs/data/users.csv", "user\n" + rows)
    plan = plan_model(
        events_plan("http://127.0.0.1:9", data={"file": f"s3://{BUCKET}/runs/r1/inputs/data/users.csv"})
    )
    local = fetch_data_file(plan, s3=clients.s3, dest_dir=tmp_path)
    assert local.data is not None and local.data.file == str(tmp_path / "users.csv")
    assert Path(local.data.file).read_text() == "user\n" + rows
    assert local.baseline == plan.baseline and local.load == plan.load
    # A plan without an S3 data file is left as it is.
    assert fetch_data_file(local, s3=clients.s3, dest_dir=tmp_path) is local

    # The handler downloads into a directory of its own and removes it when the worker ends.
    seen: list[Path] = []

    async def fake_run_worker(spec: Any, **_: Any) -> Any:
        assert spec.plan.data is not None
        path = Path(spec.plan.data.file)
        seen.append(path)
        assert path.read_text().startswith("user\nuser-0000000\n")
        return {"stopped_early": False}

    monkeypatch.setattr(cloud_worker, "run_worker", fake_run_worker)
    RunRecords(TABLE, clients.dynamodb).create("r1", "p", "h", layout.iso_seconds(0))
    put(clients, layout.plan_key("r1"), json.dumps(plan.model_dump(mode="json", by_alias=True)))
    item = {
        "run_id": "r1",
        "plan_key": layout.plan_key("r1"),
        "segment": 0,
        "shard": 0,
        "shard_count": 1,
        "start_at": layout.iso_seconds(0),
        "result_key": layout.shard_key("r1", 0, 0),
    }
    assert handlers.worker(item, clients)["status"] == "ok"
    assert len(seen) == 1 and not seen[0].exists()


@pytest.mark.slow
def test_a_multipart_file_beside_a_plan_in_s3_is_copied_and_sent(
    clients: Clients, demo_target: DemoTarget
) -> None:
    photo = b"\xff\xd8\xff" + bytes(range(200))
    put(clients, "plans/nightly/fixtures/photo.jpg", photo)
    upload = {
        "post": {
            "url": "/api/gallery/img-001/image",
            "multipart": {"image": {"path": "fixtures/photo.jpg", "content_type": "image/jpeg"}},
            "expect": [
                {"json": "$.bytes", "equals": len(photo)},
                {"json": "$.parts[0].filename", "equals": "photo.jpg"},
            ],
        }
    }
    plan = events_plan(demo_target.url, scenarios=[{"name": "upload", "flow": [upload]}])
    plan.pop("data", None)
    outcome = run_workflow(clients, plan, plan_uri=PLAN_URI)
    assert outcome["verdict"] == "pass", outcome
    assert demo_target.stats()["by_route"]["POST /api/gallery/{id}/image"] == 600
    stored = json.loads(read(clients, layout.plan_key("r1")))
    part = stored["scenarios"][0]["flow"][0]["request"]["multipart"]["image"]
    assert part["path"] == f"s3://{BUCKET}/runs/r1/inputs/files/0-photo.jpg"
    assert read(clients, "runs/r1/inputs/files/0-photo.jpg") == photo
    with pytest.raises(
        PlanError,
        match=r"multipart.image.path: cannot read s3://.*/plans/nightly/fixtures/gone.jpg: no such object",
    ):
        prepare_from_s3(
            clients,
            {
                **plan,
                "scenarios": [
                    {
                        "name": "u",
                        "flow": [
                            {"post": {"url": "/x", "multipart": {"image": {"path": "fixtures/gone.jpg"}}}}
                        ],
                    }
                ],
            },
        )


def test_a_target_outside_the_deployments_list_is_refused_by_prepare_and_by_a_worker(
    clients: Clients, demo_target: DemoTarget
) -> None:
    """surge:allowedTargets limits the fleet whoever starts the run: Prepare refuses before
    anything, and a worker invoked directly with a plan of its own sends nothing."""
    outside = Clients(
        bucket=BUCKET,
        table=TABLE,
        allowed_targets="api.example.com",  # the loopback demo target is not among them
        overrides={"s3": clients.s3, "dynamodb": clients.dynamodb},
    )
    options = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}
    with pytest.raises(PlanError) as err:
        handlers.prepare(
            {
                "run_id": "r-out",
                "execution_arn": "arn:x",
                "input": {"plan": plan_for(demo_target.url), "options": options},
            },
            outside,
        )
    assert "127.0.0.1 is not among the hosts" in " ".join(err.value.problems)
    assert "surge:allowedTargets: api.example.com" in " ".join(err.value.problems)
    assert not clients.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/r-out/").get("Contents")

    # The same run prepared where it is allowed; then a worker of a deployment that does not allow
    # it is invoked with one of its items, as anyone able to invoke the function could.
    prep = handlers.prepare(
        {
            "run_id": "r-out",
            "execution_arn": "arn:x",
            "input": {"plan": plan_for(demo_target.url), "options": options},
        },
        clients,
    )
    item = json.loads(
        clients.s3.get_object(Bucket=BUCKET, Key=prep["segments"][0]["items_key"])["Body"].read()
    )[0]
    with pytest.raises(PlanError, match="the deployment does not allow this plan"):
        handlers.worker(item, outside)
    assert demo_target.stats()["requests"] == 0
    assert not clients.s3.list_objects_v2(Bucket=BUCKET, Prefix=item["result_key"]).get("Contents")


def _first_item(clients: Clients, demo_target: DemoTarget, run_id: str) -> dict[str, Any]:
    options = {"lead_seconds": 1, "segment_seconds": 2, "per_worker_rate": 250}
    prep = handlers.prepare(
        {
            "run_id": run_id,
            "execution_arn": "arn:x",
            "input": {"plan": plan_for(demo_target.url), "options": options},
        },
        clients,
    )
    items = json.loads(
        clients.s3.get_object(Bucket=BUCKET, Key=prep["segments"][0]["items_key"])["Body"].read()
    )
    return dict(items[0])


def test_a_duplicate_invocation_of_a_shard_sends_nothing(clients: Clients, demo_target: DemoTarget) -> None:
    """Lambda and Step Functions deliver at least once: a second invocation of a shard that has
    started (its start marker, written with If-None-Match) sends no load and adds no progress."""
    item = _first_item(clients, demo_target, "r-dup")
    marker = layout.started_key("r-dup", item["segment"], item["shard"])
    clients.s3.put_object(Bucket=BUCKET, Key=marker, Body=b'{"started_at": 1}')  # the first one's
    assert handlers.worker(item, clients)["status"] == "duplicate"
    assert demo_target.stats()["requests"] == 0
    assert (
        RunRecords(TABLE, clients.dynamodb).progress("r-dup", item["progress_counters"])["workers_running"]
        == 0
    )
    assert json.loads(clients.s3.get_object(Bucket=BUCKET, Key=marker)["Body"].read()) == {"started_at": 1}


def test_a_worker_keeps_its_result_when_its_bookkeeping_is_throttled(
    clients: Clients, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress and the workers-running count are bookkeeping: a throttle that outlasts the SDK's
    retries there neither stops the worker from starting nor loses the result it measured."""

    def throttled(*_: Any, **__: Any) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(RunRecords, "add", throttled)
    item = _first_item(clients, demo_target, "r-throttled")
    assert handlers.worker(item, clients)["status"] == "ok"
    result = json.loads(clients.s3.get_object(Bucket=BUCKET, Key=item["result_key"])["Body"].read())
    assert result["intervals"] and demo_target.stats()["requests"] > 0


def test_a_worker_whose_start_was_not_counted_does_not_count_itself_out(
    clients: Clients, demo_target: DemoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting is best effort: a worker whose +1 was throttled runs anyway, and must not -1 at its
    end, or the run shows fewer workers running than there are (-1 once all have ended)."""
    from surge.cloud.records import RunRecords as Records

    add = Records.add

    def throttled_start(self: Records, run_id: str, counter: int = 0, **counters: float) -> None:
        if counters.get("workers_running") == 1:
            raise RuntimeError("ProvisionedThroughputExceededException")
        add(self, run_id, counter, **counters)

    monkeypatch.setattr(Records, "add", throttled_start)
    outcome = run_workflow(clients, plan_for(demo_target.url))
    assert outcome["verdict"] != "error"
    status = RunRecords(TABLE, clients.dynamodb).with_progress("r1")
    assert status is not None and status["workers_running"] == 0 and status["requests"] > 0


def test_workers_publish_progress_to_counters_never_to_the_run_record(
    clients: Clients, demo_target: DemoTarget
) -> None:
    """A thousand workers on one item would pass DynamoDB's per-partition rate: each run's progress
    goes to counter items of their own partition keys, summed for `surge status`."""
    calls: list[dict[str, Any]] = []
    clients.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem", lambda params, **_: calls.append(dict(params))
    )
    outcome = run_workflow(clients, plan_for(demo_target.url))
    # The harness runs segments one after another: on a starved machine a later segment's workers
    # may start late and drop arrivals (its validity check says so); the counters still add up.
    assert outcome["verdict"] != "error"
    adds = [c for c in calls if str(c.get("UpdateExpression", "")).startswith("ADD")]
    assert adds and all("#PROGRESS#" in c["Key"]["pk"]["S"] for c in adds)
    record = RunRecords(TABLE, clients.dynamodb)
    status = record.with_progress("r1")
    assert status is not None and 0 < status["requests"] == demo_target.stats()["requests"] <= 1200
    assert status["workers_running"] == 0
