"""SurgeStack resources and their key properties, from the session's single synth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_support import logical_id, resources_of_type

from surge.cloud.definition_rules import check_definition

pytestmark = [pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[2]
STATES = ("prepare", "worker", "aggregate", "collect", "report")


def _props(synth: Any, construct: Any) -> dict[str, Any]:
    return dict(synth.raw["Resources"][logical_id(construct)]["Properties"])


# --- storage --------------------------------------------------------------------------------------
def test_results_bucket_is_private_encrypted_versioned_logged_and_ages_results(synth: Any) -> None:
    storage = synth.stack.storage
    bucket = _props(synth, storage.bucket)
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logical_id(storage.logs_bucket)},
        "LogFilePrefix": "results/",
    }
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["age-run-results"] == {
        "Id": "age-run-results",
        "Prefix": "runs/",
        "Status": "Enabled",
        "ExpirationInDays": 365,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}],
    }
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert synth.raw["Resources"][logical_id(storage.bucket)]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("which", ["bucket", "logs_bucket"])
def test_buckets_deny_requests_without_tls(synth: Any, which: str) -> None:
    bucket_id = logical_id(getattr(synth.stack.storage, which))
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(synth.raw, "AWS::S3::BucketPolicy")
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": [
                {"Fn::GetAtt": [bucket_id, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
            ],
        }
    ]


def test_access_log_bucket_is_private_and_receives_logs_by_policy(synth: Any) -> None:
    storage = synth.stack.storage
    logs_bucket = _props(synth, storage.logs_bucket)
    assert logs_bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert logs_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0] == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}
    }
    assert logs_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    assert "AccessControl" not in logs_bucket  # delivery by bucket policy, not the legacy log ACL
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(synth.raw, "AWS::S3::BucketPolicy")
        if p["Properties"]["Bucket"] == {"Ref": logical_id(storage.logs_bucket)}
    ]
    assert any(s.get("Principal") == {"Service": "logging.s3.amazonaws.com"} for s in policy["Statement"])


def test_runs_table_keys_indexes_recovery_and_encryption(synth: Any) -> None:
    table = _props(synth, synth.stack.storage.table)
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    indexes = {gsi["IndexName"]: gsi for gsi in table["GlobalSecondaryIndexes"]}
    assert indexes["by_plan"]["KeySchema"] == [
        {"AttributeName": "plan_pk", "KeyType": "HASH"},
        {"AttributeName": "plan_sk", "KeyType": "RANGE"},
    ]
    assert indexes["recent"]["KeySchema"] == [
        {"AttributeName": "recent_pk", "KeyType": "HASH"},
        {"AttributeName": "recent_sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {
        "pk",
        "sk",
        "plan_pk",
        "plan_sk",
        "recent_pk",
        "recent_sk",
    }
    assert synth.raw["Resources"][logical_id(synth.stack.storage.table)]["DeletionPolicy"] == "Retain"


# --- functions --------------------------------------------------------------------------------
EXPECTED_SIZES = {
    "prepare": (512, 300),
    "worker": (1769, 900),
    "aggregate": (2048, 300),
    "collect": (512, 300),
    "report": (1024, 300),
}


@pytest.mark.parametrize("state", STATES)
def test_function_runtime_memory_timeout_env_tracing_logs(synth: Any, state: str) -> None:
    surge_fn = synth.stack.functions.by_state[state]
    props = _props(synth, surge_fn.function)
    memory, timeout = EXPECTED_SIZES[state]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == f"functions.{state}.handler"
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"] == {
        "LogFormat": "JSON",
        "LogGroup": {"Ref": logical_id(surge_fn.log_group)},
    }
    assert props["Role"] == {"Fn::GetAtt": [logical_id(surge_fn.role), "Arn"]}
    assert props["Environment"]["Variables"] == {
        "SURGE_BUCKET": {"Ref": logical_id(synth.stack.storage.bucket)},
        "SURGE_TABLE": {"Ref": logical_id(synth.stack.storage.table)},
        "SURGE_STATE": state,
        "SURGE_SECRETS_PREFIX": "surge/",
        "SURGE_EVENT_BUS": "default",
        "POWERTOOLS_SERVICE_NAME": "surge",
        "POWERTOOLS_METRICS_NAMESPACE": "Surge",
        "SURGE_WORKER_RESERVED_CONCURRENCY": "50",  # the test stack reserves 50 for the worker
        "SURGE_ALLOWED_TARGETS": "api.example.com,*.staging.example.com",  # what it may load
        "SURGE_ALLOW_HOOKS": "true",
    }
    log_group = _props(synth, surge_fn.log_group)
    assert log_group["RetentionInDays"] == 30


def test_env_var_names_are_the_handlers_constants(synth: Any) -> None:
    from functions import contracts

    variables = _props(synth, synth.stack.functions.worker)["Environment"]["Variables"]
    for name in (
        contracts.ENV_BUCKET,
        contracts.ENV_TABLE,
        contracts.ENV_STATE,
        contracts.ENV_SECRETS_PREFIX,
    ):
        assert name in variables


def test_functions_share_one_asset_with_handlers_and_core_packages(synth: Any) -> None:
    keys = {_props(synth, fn)["Code"]["S3Key"] for fn in synth.stack.functions.all}
    assert len(keys) == 1, "one bundle for all functions"
    assets = json.loads((synth.outdir / "Surge.assets.json").read_text())["files"]
    (key,) = keys
    (asset,) = [a for a in assets.values() if any(d["objectKey"] == key for d in a["destinations"].values())]
    folder = synth.outdir / asset["source"]["path"]
    for state in STATES:
        assert (folder / "functions" / f"{state}.py").is_file()
    assert (folder / "functions" / "contracts.py").is_file()
    assert (folder / "surge" / "__init__.py").is_file()
    assert (folder / "reports").is_dir()
    assert not list(folder.rglob("__pycache__"))
    assert not (folder / "aiohttp").exists(), "tests skip the pip install step"


# --- workflow ---------------------------------------------------------------------------------
def test_state_machine_definition_file_and_substitutions(synth: Any) -> None:
    stack = synth.stack
    machine = _props(synth, stack.workflow.state_machine)
    assert machine["StateMachineType"] == "STANDARD"
    fn = stack.functions
    assert machine["DefinitionSubstitutions"] == {
        "PrepareFunctionArn": {"Fn::GetAtt": [logical_id(fn.prepare), "Arn"]},
        "WorkerFunctionArn": {"Fn::GetAtt": [logical_id(fn.worker), "Arn"]},
        "AggregateFunctionArn": {"Fn::GetAtt": [logical_id(fn.aggregate), "Arn"]},
        "CollectFunctionArn": {"Fn::GetAtt": [logical_id(fn.collect), "Arn"]},
        "ReportFunctionArn": {"Fn::GetAtt": [logical_id(fn.report), "Arn"]},
        "BucketName": {"Ref": logical_id(stack.storage.bucket)},
        "TableName": {"Ref": logical_id(stack.storage.table)},
        "EventBusName": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":events:eu-west-1:123456789012:event-bus/default",
                ],
            ]
        },
    }
    # DefinitionBody.from_file ships the file as an asset: it is the file, byte for byte.
    key = machine["DefinitionS3Location"]["Key"]
    assets = json.loads((synth.outdir / "Surge.assets.json").read_text())["files"]
    (asset,) = [a for a in assets.values() if any(d["objectKey"] == key for d in a["destinations"].values())]
    shipped = (synth.outdir / asset["source"]["path"]).read_text()
    assert shipped == (ROOT / "statemachine" / "surge.asl.json").read_text()
    # What is shipped passes AWS's definition rules (the check the synth itself runs).
    assert check_definition(json.loads(shipped)) == []


def test_a_definition_aws_would_refuse_fails_the_synth(tmp_path: Path) -> None:
    from infra.workflow import placeholders

    definition = json.loads((ROOT / "statemachine" / "surge.asl.json").read_text())
    branches = definition["States"]["RunSegments"]["Branches"]
    branches[0]["States"]["RunShardsEven"]["Label"] = "Shards"
    branches[1]["States"]["RunShardsOdd"]["Label"] = "Shards"
    broken = tmp_path / "surge.asl.json"
    broken.write_text(json.dumps(definition))
    with pytest.raises(ValueError, match="DUPLICATE_LABEL_NAME at RunSegments/Branches"):
        placeholders(broken)


def test_state_machine_logs_every_event_without_execution_data_and_traces(synth: Any) -> None:
    # Execution data (inputs, outputs) would copy an inline plan, and any credential written in it,
    # into CloudWatch Logs: the events are logged, their data stays in the execution's history.
    workflow = synth.stack.workflow
    machine = _props(synth, workflow.state_machine)
    assert machine["LoggingConfiguration"] == {
        "Destinations": [
            {
                "CloudWatchLogsLogGroup": {
                    "LogGroupArn": {"Fn::GetAtt": [logical_id(workflow.log_group), "Arn"]}
                }
            }
        ],
        "IncludeExecutionData": False,
        "Level": "ALL",
    }
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["RoleArn"] == {"Fn::GetAtt": [logical_id(workflow.role), "Arn"]}
    assert _props(synth, workflow.log_group)["LogGroupName"] == "/aws/vendedlogs/states/Surge-workflow"


# --- schedules ---------------------------------------------------------------------------------
def test_configured_schedules_start_the_workflow_with_their_plan(synth: Any) -> None:
    machine_ref = {"Ref": logical_id(synth.stack.workflow.state_machine)}
    schedules = resources_of_type(synth.raw, "AWS::Scheduler::Schedule")
    assert len(schedules) == 2
    by_name = {s["Properties"]["Description"].split()[2]: s["Properties"] for s in schedules}
    nightly = by_name["plans/checkout.yaml"]
    soak = by_name["s3://surge-plans/plans/soak.yaml"]
    # One deploy: a key in the stack's bucket becomes its URI with the bucket's name filled in.
    bucket = {"Ref": logical_id(synth.stack.storage.bucket)}
    assert nightly["Target"]["Input"] == {
        "Fn::Join": ["", ['{"plan_uri":"s3://', bucket, '/plans/checkout.yaml"}']]
    }
    assert json.loads(soak["Target"]["Input"]) == {"plan_uri": "s3://surge-plans/plans/soak.yaml"}
    assert nightly["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert (nightly["ScheduleExpressionTimezone"], nightly["State"]) == ("UTC", "ENABLED")
    assert (soak["ScheduleExpressionTimezone"], soak["State"]) == ("Europe/Paris", "DISABLED")
    roles = set()
    for props in (nightly, soak):
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["Target"]["Arn"] == machine_ref
        role_id = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
        roles.add(role_id)
        trust = synth.raw["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
            }
        ]
    assert len(roles) == 2, "each schedule has its own role"


def test_no_schedule_without_configuration(synth: Any) -> None:
    synth.bare_template.resource_count_is("AWS::Scheduler::Schedule", 0)
    assert synth.bare.schedules is None
    for role in resources_of_type(synth.bare_template.to_json(), "AWS::IAM::Role"):
        principals = [s["Principal"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]]
        assert {"Service": "scheduler.amazonaws.com"} not in principals


# --- dashboard, outputs ----------------------------------------------------------------------
def test_dashboard_shows_runs_workers_and_load(synth: Any) -> None:
    (dashboard,) = resources_of_type(synth.raw, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("ExecutionsStarted", "ExecutionsFailed", "ConcurrentExecutions", "Throttles", "Surge"):
        assert needle in body
    assert logical_id(synth.stack.workflow.state_machine) in body
    assert logical_id(synth.stack.functions.worker) in body


def test_outputs_name_what_the_cli_needs(synth: Any) -> None:
    outputs = synth.raw["Outputs"]
    stack = synth.stack
    assert outputs["BucketName"]["Value"] == {"Ref": logical_id(stack.storage.bucket)}
    assert outputs["TableName"]["Value"] == {"Ref": logical_id(stack.storage.table)}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": logical_id(stack.workflow.state_machine)}
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outputs["EventBusName"]["Value"] == "default"
    assert outputs["DashboardName"]["Value"] == {"Ref": logical_id(stack.dashboard.dashboard)}
    assert outputs["WorkerReservedConcurrency"]["Value"] == "50"
    from surge import __version__

    assert outputs["SurgeVersion"]["Value"] == __version__  # `surge doctor --cloud` compares it
    assert "WorkerReservedConcurrency" not in synth.raw_bare["Outputs"]


def test_only_the_worker_has_reserved_concurrency_and_only_when_asked(synth: Any) -> None:
    functions = synth.stack.functions
    assert _props(synth, functions.worker)["ReservedConcurrentExecutions"] == 50
    for fn in (functions.prepare, functions.aggregate, functions.collect, functions.report):
        assert "ReservedConcurrentExecutions" not in _props(synth, fn)
    bare = [
        r["Properties"] for r in synth.raw_bare["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    assert bare and all("ReservedConcurrentExecutions" not in p for p in bare)


def test_resource_inventory(synth: Any) -> None:
    """Every resource type is accounted for: a new one needs a test above (and a thought about IAM)."""
    counts: dict[str, int] = {}
    for resource in synth.raw["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    assert counts == {
        "AWS::S3::Bucket": 2,
        "AWS::S3::BucketPolicy": 2,
        "AWS::DynamoDB::Table": 1,
        "AWS::Lambda::Function": 5,
        "AWS::Logs::LogGroup": 6,
        "AWS::IAM::Role": 8,  # 5 functions, the state machine, 2 schedules
        "AWS::IAM::Policy": 10,  # 5 functions, the state machine (2), 2 schedules, executions watched
        "AWS::StepFunctions::StateMachine": 1,
        "AWS::Scheduler::Schedule": 2,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::Events::Rule": 2,  # runs ended outside the workflow, and the sweep (tested below)
        "AWS::Lambda::Permission": 2,  # ... each may invoke the report function
    }


def test_runs_ended_outside_the_workflow_are_finished_by_the_report_function(synth: Any) -> None:
    """A console StopExecution or the execution timeout runs no state: Step Functions' own status
    change event goes to the report function (surge.cloud.report.finalize)."""
    rules = synth.template.find_resources("AWS::Events::Rule")
    (rule,) = [
        r for r in rules.values() if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["ABORTED", "TIMED_OUT", "FAILED"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": logical_id(synth.stack.workflow.state_machine)}]
    (target,) = rule["Properties"]["Targets"]
    report = synth.stack.functions.by_state["report"].function
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(report), "Arn"]}
    permissions = synth.template.find_resources("AWS::Lambda::Permission")
    assert any(
        p["Properties"]["Principal"] == "events.amazonaws.com"
        and p["Properties"]["FunctionName"] == {"Fn::GetAtt": [logical_id(report), "Arn"]}
        for p in permissions.values()
    )


def test_a_schedule_sweeps_runs_whose_status_event_never_came(synth: Any) -> None:
    """EventBridge delivers status changes best effort: every few minutes the report function
    finishes runs whose record says RUNNING while their execution has ended (surge.cloud.report.sweep)."""
    rules = synth.template.find_resources("AWS::Events::Rule")
    (rule,) = [r for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = rule["Properties"]["Targets"]
    report = synth.stack.functions.by_state["report"].function
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(report), "Arn"]}
    assert json.loads(target["Input"]) == {"mode": "sweep"}


def test_data_stores_outlive_the_stack_unless_the_deployer_asks_destroy_to_remove_them(synth: Any) -> None:
    """By default `cdk destroy` keeps both buckets and the table (results, baselines, history);
    with surge:removeDataOnDestroy (a sandbox, the verify-in-aws job) it removes them, the buckets
    emptied first by CDK's auto-delete resource, so nothing of the stack is left behind."""
    for stack, raw, policy in ((synth.stack, synth.raw, "Retain"), (synth.bare, synth.raw_bare, "Delete")):
        storage = stack.storage
        for store in (storage.bucket, storage.logs_bucket, storage.table):
            resource = raw["Resources"][logical_id(store)]
            assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == policy, (stack, store)
        emptied = [
            r["Properties"]["BucketName"]
            for r in raw["Resources"].values()
            if r["Type"] == "Custom::S3AutoDeleteObjects"
        ]
        expected = (
            [{"Ref": logical_id(storage.logs_bucket)}, {"Ref": logical_id(storage.bucket)}]
            if policy == "Delete"
            else []
        )
        assert sorted(map(str, emptied)) == sorted(map(str, expected))


def test_the_deployers_allow_list_and_hooks_switch_reach_every_function_and_the_cli(synth: Any) -> None:
    """surge:allowedTargets and surge:allowHooks: each function's environment (Prepare, every
    worker and each flow check them) and the stack's outputs (the CLI checks before starting)."""
    for stack, raw, targets, hooks in (
        (synth.stack, synth.raw, "api.example.com,*.staging.example.com", "true"),
        (synth.bare, synth.raw_bare, "", "false"),  # nothing set: no host, no hooks
    ):
        for fn in stack.functions.all:
            env = raw["Resources"][logical_id(fn)]["Properties"]["Environment"]["Variables"]
            assert env["SURGE_ALLOWED_TARGETS"] == targets and env["SURGE_ALLOW_HOOKS"] == hooks
        assert raw["Outputs"]["AllowedTargets"]["Value"] == (targets or "none")
        assert raw["Outputs"]["HooksAllowed"]["Value"] == hooks


def test_allowed_targets_context_is_checked_at_synth() -> None:
    from infra.config import parse_allowed_targets

    assert parse_allowed_targets('["api.example.com"]') == ("api.example.com",)
    assert parse_allowed_targets("a.example.com, b.example.com") == ("a.example.com", "b.example.com")
    assert parse_allowed_targets(None) == ()
    with pytest.raises(ValueError, match=r"surge:allowedTargets: 'https://api\.example\.com' is not a host"):
        parse_allowed_targets("https://api.example.com")
