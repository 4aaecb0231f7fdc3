"""The verify-in-AWS workflow (.github/workflows/verify-in-aws.yml) runs commands that exist, with
flags the CLI accepts, on a plan that validates: what can be checked of it without an account."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from surge.cli import build_parser
from surge.cloud.execution_input import parse_options
from surge.plan_load import load_plan

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "verify-in-aws.yml"


def surge_commands() -> list[list[str]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    commands = []
    for step in doc["jobs"]["verify"]["steps"]:
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            line = re.sub(r"\$\{\{[^}]*\}\}", "X", line).replace('"$SCALE_WORKERS"', "300")
            inner = re.findall(r"\$\((surge [^)|]*)", line)  # $(surge runs ... | awk ...)
            line = re.sub(r"\$\([^)]*\)|\$\w+", "X", line.split("2>&1")[0].split("|")[0])
            for command in [line.strip(), *inner]:
                if command.startswith("surge "):
                    commands.append(shlex.split(re.sub(r"\$\w+", "X", command))[1:])
    return commands


def test_every_surge_command_of_the_workflow_parses() -> None:
    commands = surge_commands()
    assert {c[0] for c in commands} == {"run", "runs", "report"}
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # exits (SystemExit) on an unknown flag
    drill = next(c for c in commands if "--drill-crash-shard" in c)
    args = parser.parse_args(drill)
    assert parse_options({"drill_crash_shard": args.drill_crash_shard}).drill_crash_shard == 1


def test_the_smoke_plan_validates_for_the_cloud_with_a_target() -> None:
    plan = load_plan(
        ROOT / "examples" / "verify" / "smoke.yaml", target="https://api.example.com", cloud=True
    )
    assert plan.load.duration_s == 60 and plan.thresholds


def test_every_step_fails_loudly_and_the_stack_is_deployed_and_destroyed_as_documented() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["verify"]["steps"]
    scripts = [step.get("run", "") for step in steps]
    text = "\n".join(scripts)
    assert "|| true" not in text, "a failing step must fail the job"
    # Bootstrapping is an administrator's step (docs/verify-in-aws.md): the job only names it.
    assert not any(
        line.strip().startswith(("npx cdk bootstrap", "cdk bootstrap")) for line in text.splitlines()
    )
    names = [step.get("name", "") for step in steps]
    order = [
        next(i for i, n in enumerate(names) if n.startswith(prefix))
        for prefix in ("the account is bootstrapped", "AWS's own validation", "deploy the stack", "smoke")
    ]
    assert order == sorted(order)
    deploy = next(s for s in scripts if "cdk deploy" in s)
    destroy = next(s for s in scripts if "cdk destroy" in s)
    for script in (deploy, destroy):
        assert "surge:allowedTargets=" in script and "surge:removeDataOnDestroy=true" in script
    assert "python -m infra.validate_definition" in text and "python -m infra.verify_scale" in text
    assert (ROOT / "examples" / "verify" / "scale.yaml").exists()


def test_the_smoke_plan_runs_two_workers_so_the_drill_has_a_shard_1() -> None:
    from surge.cloud.execution_input import RunOptions
    from surge.cloud.planner import plan_segments

    plan = load_plan(
        ROOT / "examples" / "verify" / "smoke.yaml", target="https://api.example.com", cloud=True
    )
    (segment,) = plan_segments(plan, RunOptions(drill_crash_shard=1))
    assert segment.shards == 2
