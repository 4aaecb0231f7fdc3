"""The scale drill's checks (docs/verify-in-aws.md), on a finished cloud run in the user's account:

    python -m infra.verify_scale RUN_ID --workers N [--region R] [--stack Surge]

Reads what the run left (S3: each worker's start marker and the report; the execution's history;
CloudWatch: the worker function's throttles in the run's window) and checks the figures a fleet of
N workers must meet: every worker ran and reported, every worker started before its segment's
start time (the lead absorbed the cold starts: the start skew is printed), no worker throttled for
good, and Report and each Aggregate finished well within their Lambda time. Exit 0 when all hold,
1 naming each one that does not, 2 when the run cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A Report or Aggregate that takes more than this share of its 300 s Lambda timeout has no margin
# left for a bigger run.
STATE_BUDGET_S = 240.0


@dataclass
class ScaleFigures:
    workers: int
    workers_failed: int
    started_late: int
    start_skew_s: float  # last worker start - first, in segment 0
    start_margin_s: float  # how long before the segment's start_at the last worker started
    throttles: float
    state_seconds: dict[str, float]

    def problems(self, expected_workers: int) -> list[str]:
        found = []
        if self.workers < expected_workers:
            found.append(f"{self.workers} workers ran, {expected_workers} asked")
        if self.workers_failed:
            found.append(f"{self.workers_failed} workers delivered no result")
        if self.started_late:
            found.append(f"{self.started_late} workers started after their segment's start time")
        for state, seconds in sorted(self.state_seconds.items()):
            if seconds > STATE_BUDGET_S:
                found.append(f"{state} took {seconds:.0f} s, more than {STATE_BUDGET_S:.0f} s of its 300 s")
        return found


def _when(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def state_durations(history: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Seconds from entering to leaving each Report/Aggregate task state (the longest if repeated)."""
    entered: dict[str, float] = {}
    durations: dict[str, float] = {}
    for event in history:
        kind = str(event.get("type", ""))
        if kind == "TaskStateEntered":
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = _when(event["timestamp"])
        elif kind == "TaskStateExited":
            name = event["stateExitedEventDetails"]["name"]
            if name in entered and (name == "Report" or name.startswith("Aggregate")):
                durations[name] = max(durations.get(name, 0.0), _when(event["timestamp"]) - entered.pop(name))
    return durations


def gather(
    run_id: str, *, s3: Any, sfn: Any, cloudwatch: Any, bucket: str, worker_function: str, machine_arn: str
) -> ScaleFigures:
    prefix = f"runs/{run_id}/"
    report = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "report.json")["Body"].read())
    run = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "run.json")["Body"].read())
    first = run["segments"][0]
    start_at = _when(first["start_at"])
    starts: list[float] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}seg-0/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".started.json"):
                marker = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                starts.append(float(marker["started_at"]))
    history: list[dict[str, Any]] = []
    token: str | None = None
    arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"  # executions named after runs
    while True:
        page = sfn.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        history += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    window_start = datetime.fromtimestamp(start_at - 300)
    window_end = datetime.fromtimestamp(_when(report.get("ended_at") or first["end_at"]) + 300)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Throttles",
        Dimensions=[{"Name": "FunctionName", "Value": worker_function}],
        StartTime=window_start,
        EndTime=window_end,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    generator = report["generator"]
    return ScaleFigures(
        workers=int(generator["workers"]),
        workers_failed=int(generator["workers_failed"]),
        started_late=sum(1 for t in starts if t > start_at),
        start_skew_s=(max(starts) - min(starts)) if starts else 0.0,
        start_margin_s=(start_at - max(starts)) if starts else 0.0,
        throttles=sum(float(p["Sum"]) for p in points),
        state_seconds=state_durations(history),
    )


def main(argv: list[str] | None = None, session: Any = None) -> int:
    parser = argparse.ArgumentParser(description="the scale drill's checks on a finished cloud run")
    parser.add_argument("run")
    parser.add_argument("--workers", type=int, required=True, help="the workers the drill asked for")
    parser.add_argument("--region")
    parser.add_argument("--stack", default="Surge")
    args = parser.parse_args(argv)
    try:
        if session is None:
            import boto3

            session = boto3.session.Session(region_name=args.region)
        stacks = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        figures = gather(
            args.run,
            s3=session.client("s3"),
            sfn=session.client("stepfunctions"),
            cloudwatch=session.client("cloudwatch"),
            bucket=outputs["BucketName"],
            worker_function=outputs["WorkerFunctionName"],
            machine_arn=outputs["StateMachineArn"],
        )
    except Exception as exc:  # the run or the stack cannot be read: no verdict on the fleet
        print(f"verify-scale: cannot read run {args.run} ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    states = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(figures.state_seconds.items()))
    print(
        f"workers {figures.workers} ({figures.workers_failed} without a result); start skew "
        f"{figures.start_skew_s:.1f} s, the last {figures.start_margin_s:.1f} s before its start time, "
        f"{figures.started_late} late; worker throttles {figures.throttles:.0f} (retried); {states}"
    )
    problems = figures.problems(args.workers)
    for problem in problems:
        print(f"  FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
