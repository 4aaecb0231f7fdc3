"""cdk-nag, cfn-lint and asl-validator on what we ship, and the app as `cdk` runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachine" / "surge.asl.json"
CFN_LINT_IGNORED = {
    # CDK adds DependsOn on a function's (and the state machine's) role beside the Fn::GetAtt of
    # it, so that the role's default policy exists first; the duplicate edge is harmless and not ours.
    "W3005",
}
ACKNOWLEDGED_RULES = {"AwsSolutions-S1", "AwsSolutions-L1", "AwsSolutions-IAM5"}


# --- cdk-nag ----------------------------------------------------------------------------------
def test_cdk_nag_aws_solutions_has_no_unacknowledged_findings(synth: Any) -> None:
    findings = [
        f"{violation['severity']} {violation['ruleName']} at {construct['constructPath']}"
        for plugin in synth.report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]
    assert findings == [], "\n".join(findings)
    assert synth.validation_error is None


def test_every_acknowledgement_has_a_reason_and_a_known_rule(synth: Any) -> None:
    acknowledged = [
        (resource_id, rule)
        for template in (synth.raw, synth.bare_template.to_json())
        for resource_id, resource in template["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged, "write_suppressions_to_cloud_formation should have copied them"
    for resource_id, rule in acknowledged:
        assert len(rule.get("reason", "").strip()) >= 40, (resource_id, rule)
        assert rule["id"].split("[")[0] in ACKNOWLEDGED_RULES, (resource_id, rule["id"])
        # IAM5 is only ever acknowledged finding by finding, never as a blanket rule.
        if rule["id"].startswith("AwsSolutions-IAM5"):
            assert "[Resource::" in rule["id"], (resource_id, rule["id"])


def test_cdk_nag_is_live(tmp_path: Path) -> None:
    """The same plugin set-up reports an unacknowledged wildcard: the check above can fail."""
    pytest.importorskip("cdk_nag")
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Canary")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"Validation ?[Ff]ailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-IAM5[Resource::*]" in rules


# --- cfn-lint -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack_name", ["Surge", "SurgeBare"])
def test_cfn_lint_is_clean(synth: Any, stack_name: str) -> None:
    from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped,unused-ignore]

    matches = lint_file(
        synth.outdir / f"{stack_name}.template.json",
        config=ManualArgs(regions=["eu-west-1", "us-east-1"], ignore_checks=sorted(CFN_LINT_IGNORED)),
    )
    assert [str(match) for match in matches] == []


# --- asl-validator ----------------------------------------------------------------------------
def test_asl_validator_accepts_the_definition() -> None:
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    npx = shutil.which("npx")
    if not validator.exists() or npx is None:
        pytest.skip("asl-validator is not installed: run `npm ci` (or `npm install`) at the repo root")
    completed = subprocess.run(
        [npx, "--no-install", "asl-validator", "--json-path", str(DEFINITION)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "is valid" in completed.stdout


def test_definition_is_jsonpath_and_keeps_retry_waits_short() -> None:
    definition = json.loads(DEFINITION.read_text())
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"

    def retriers(states: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in states.values():
            found += state.get("Retry", [])
            processor = state.get("ItemProcessor")
            if processor:
                found += retriers(processor["States"])
        return found

    for retrier in retriers(definition["States"]):
        assert retrier["IntervalSeconds"] <= 2 and retrier["MaxAttempts"] <= 4, retrier


# --- the app as `cdk synth` / `python app.py` runs it -----------------------------------------------
def test_cdk_json_runs_the_app_with_the_required_flags() -> None:
    config = json.loads((ROOT / "cdk.json").read_text())
    assert config["app"] == "python3 app.py"
    assert config["context"]["@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"] is True
    assert config["context"]["surge:schedules"] == []


def test_package_json_pins_a_cdk_cli_that_reads_this_assembly() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    major, minor = (int(part) for part in version.lstrip("^~").split(".")[:2])
    assert major == 2 and minor >= 1148, version
    assert "asl-validator" in package["devDependencies"]


@pytest.mark.slow
def test_python_app_py_synthesizes_without_the_cli(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "SURGE_SKIP_PIP_INSTALL": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    completed = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    template = json.loads((tmp_path / "Surge.template.json").read_text())
    assert "AWS::StepFunctions::StateMachine" in {r["Type"] for r in template["Resources"].values()}
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == [] or all(not p["violations"] for p in report["pluginReports"])
