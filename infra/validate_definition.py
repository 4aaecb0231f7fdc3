"""AWS's own check of the state machine definition, before a deploy: ValidateStateMachineDefinition.

`cdk synth` already refuses what surge.cloud.definition_rules encodes of AWS's validation; this asks
AWS itself, so a rule we have not encoded (or one AWS adds) is caught before CloudFormation starts:

    python -m infra.validate_definition [--region R]

The definition is filled as the deploy fills it (DefinitionSubstitutions), with ARNs of the same
shapes in the caller's account and region. Exit 0 when AWS answers OK with no diagnostic, 1 when it
reports any (errors and warnings alike: the definition ships with none), 2 when AWS could not be
asked (credentials, permissions: states:ValidateStateMachineDefinition).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.names import (
    SUB_AGGREGATE_ARN,
    SUB_BUCKET,
    SUB_COLLECT_ARN,
    SUB_EVENT_BUS,
    SUB_PREPARE_ARN,
    SUB_REPORT_ARN,
    SUB_TABLE,
    SUB_WORKER_ARN,
)

DEFINITION = Path(__file__).resolve().parents[1] / "statemachine" / "surge.asl.json"


def rendered_definition(account: str, region: str, partition: str = "aws", path: Path = DEFINITION) -> str:
    """The definition with every ${Key} filled by a value of the shape the stack gives it."""
    function = f"arn:{partition}:lambda:{region}:{account}:function:surge-validate-"
    values = {
        SUB_PREPARE_ARN: function + "prepare",
        SUB_WORKER_ARN: function + "worker",
        SUB_AGGREGATE_ARN: function + "aggregate",
        SUB_COLLECT_ARN: function + "collect",
        SUB_REPORT_ARN: function + "report",
        SUB_BUCKET: "surge-validate-results",
        SUB_TABLE: "surge-validate-runs",
        SUB_EVENT_BUS: f"arn:{partition}:events:{region}:{account}:event-bus/default",
    }
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise ValueError(
            f"{path.name}: a placeholder has no value here; add it to infra/validate_definition.py"
        )
    return text


def diagnostics(sfn: Any, definition: str) -> tuple[str, list[str]]:
    """AWS's result (OK or FAIL) and every diagnostic it gave, warnings included."""
    answer = sfn.validate_state_machine_definition(definition=definition, type="STANDARD", severity="WARNING")
    found = [
        f"{d.get('severity', '?')} {d.get('code', '?')} at {d.get('location', '(definition)')}: {d.get('message', '')}"
        for d in answer.get("diagnostics", [])
    ]
    return str(answer.get("result", "FAIL")), found


def main(argv: list[str] | None = None, session: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile)")
    parser.add_argument("--profile", help="AWS profile")
    args = parser.parse_args(argv)
    try:
        if session is None:
            import boto3

            session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
        identity = session.client("sts").get_caller_identity()
        region = session.region_name
        if not region:
            print("validate-definition: no region: pass --region or set AWS_REGION", file=sys.stderr)
            return 2
        partition = str(identity["Arn"]).split(":")[1]
        definition = rendered_definition(str(identity["Account"]), region, partition)
        result, found = diagnostics(session.client("stepfunctions", region_name=region), definition)
    except Exception as exc:  # credentials, permissions, network: AWS was not asked
        print(f"validate-definition: could not ask AWS ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    for line in found:
        print(f"  {line}")
    if result != "OK" or found:
        print(f"AWS's validation: {result}, {len(found)} diagnostic(s): fix the definition before deploying")
        return 1
    print("AWS's validation: OK, no diagnostics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
