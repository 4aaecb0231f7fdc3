"""Prepare: validate the plan, cut it into segments (time) and shards (rate), write each segment's
shard items to S3 and create the run record. The ASL state ``Prepare``; handler functions/prepare.py."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from surge.cloud import layout
from surge.cloud.deployment import policy_of
from surge.cloud.execution_input import (
    DRILL_CRASH_AFTER_S,
    ExecutionInput,
    check_fits,
    parse_execution_input,
)
from surge.cloud.flows import run_cloud_flow, store_setup
from surge.cloud.inputs import stage_files
from surge.cloud.planner import (
    Concurrency,
    ConcurrencyError,
    check_concurrency,
    lead_seconds,
    merge_slices,
    plan_segments,
    required_concurrency,
    secrets_read_s,
    shard_capacity,
)
from surge.cloud.state_io import (
    Clients,
    put_json,
    run_records,
)
from surge.cloud.workflow_limits import limit_problems
from surge.errors import PlanError
from surge.plan import Plan
from surge.plan_checks import semantic_problems
from surge.plan_load import plan_model
from surge.schedule import Segment
from surge.secrets import SECRETS_PREFIX, check_secrets_exist, secret_refs
from surge.setup_flow import SetupFailed, flow_plans
from surge.store.run_table import progress_counters


def _plan_data(inp: ExecutionInput, clients: Clients) -> tuple[dict[str, Any], str | None]:
    """The plan's data, and the plan_uri it was read from (None for an inline plan)."""
    if inp.plan is not None:
        return inp.plan, None
    assert inp.plan_uri is not None
    try:
        bucket, key = layout.parse_s3_uri(inp.plan_uri)
    except ValueError as exc:
        raise PlanError(f"plan_uri: {exc}") from None
    from surge.plan_document import MAX_PLAN_BYTES, parse_document

    try:
        obj = clients.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_PLAN_BYTES}")
        body = obj["Body"].read()
    except Exception as exc:
        raise PlanError(f"plan_uri: cannot read {inp.plan_uri}: {exc}") from None
    total = str(obj.get("ContentRange", "")).rpartition("/")[2]  # "bytes 0-1048576/52428800"
    data = parse_document(body, f"plan_uri {inp.plan_uri}", size=int(total) if total.isdigit() else None)
    if not isinstance(data, dict):
        raise PlanError("the plan must be a mapping with name, target, load and scenarios")
    return data, inp.plan_uri


def _validated_plan(inp: ExecutionInput, clients: Clients, run_id: str) -> Plan:
    """The plan as a local run validates it, its data and baseline files read from S3 (resolved
    against plan_uri, checked, copied under the run): the plan returned names the run's copies."""
    data, plan_uri = _plan_data(inp, clients)
    plan = plan_model(data)
    # Before anything is read, copied or run: the hosts and hooks the deployment allows.
    policy_of(clients).check(plan)
    staged = stage_files(plan, plan_uri=plan_uri, s3=clients.s3, bucket=clients.bucket, run_id=run_id)
    # Nothing local to read: the data file's columns come from S3, as Prepare read them.
    problems = semantic_problems(
        staged.plan, Path(tempfile.gettempdir()), {}, cloud=True, data_columns=staged.data_columns
    )
    if secret_refs(staged.plan) and not problems:
        # Before any worker starts: a missing secret would fail every worker at its start.
        problems = check_secrets_exist(
            staged.plan,
            secretsmanager=clients.client("secretsmanager"),
            prefix=getattr(clients, "secrets_prefix", SECRETS_PREFIX),
        )
    if problems:
        raise PlanError("the plan is invalid:", problems)
    return staged.plan


def _check_concurrency(clients: Clients, needed: Concurrency) -> str | None:
    try:
        client = clients.client("lambda")
    except Exception as exc:
        return f"the account's Lambda concurrency was not checked ({type(exc).__name__}: {exc})"
    try:
        return check_concurrency(
            client, needed, reserved=getattr(clients, "worker_reserved_concurrency", None)
        )
    except ConcurrencyError as exc:
        raise PlanError(str(exc)) from None


def _segments(
    event: Mapping[str, Any], plan: Plan, options: ExecutionInput, cuts: list[Segment], t0: float
) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """Prepare's result (the segments the workflow loops over) and each segment's shard items,
    for a run whose plan time zero is ``t0``. Pure."""
    run_id, opts, lead = str(event["run_id"]), options.options, options.options.lead_seconds
    plan_key = layout.plan_key(run_id)
    counters = progress_counters(max(seg.shards for seg in cuts))
    ssm_per_worker = secrets_read_s(plan, opts, 1)
    specs = []
    items_of: list[list[dict[str, Any]]] = []
    for seg in cuts:
        start_at, end_at = t0 + seg.start_s, t0 + seg.end_s
        items_of.append(
            [
                {
                    "run_id": run_id,
                    "plan_key": plan_key,
                    "segment": seg.index,
                    "segment_count": len(cuts),
                    "shard": i,
                    "shard_count": seg.shards,
                    "seed": (plan.seed if plan.seed is not None else 0) * 1000 + seg.index,
                    "start_at": layout.iso_seconds(start_at),
                    "end_at": layout.iso_seconds(math.ceil(end_at)),
                    "result_key": layout.shard_key(run_id, seg.index, i),
                    # Progress goes to one of the run's counters, never to its record.
                    "progress_counter": i % counters,
                    "progress_counters": counters,
                    # Its slot for reading $ssm references, within Parameter Store's rate.
                    **({"secrets_delay_s": round(i * ssm_per_worker, 3)} if ssm_per_worker else {}),
                    # The first shards watch the execution: a stop from outside reaches the fleet.
                    **({"execution_arn": str(event["execution_arn"])} if event.get("execution_arn") else {}),
                    # Exact plan-time window and origin; the timestamps above are for Wait states.
                    "t0": t0,
                    "window": [seg.start_s, seg.end_s],
                    **(
                        {"drill_crash_after_s": DRILL_CRASH_AFTER_S}
                        if seg.index == 0 and i == opts.drill_crash_shard
                        else {}
                    ),
                }
                for i in range(seg.shards)
            ]
        )
        specs.append(
            {
                "index": seg.index,
                "items_key": layout.items_key(run_id, seg.index),
                "shard_count": seg.shards,
                "start_at": layout.iso_seconds(start_at),
                "end_at": layout.iso_seconds(math.ceil(end_at)),
                "launch_at": layout.iso_seconds(max(start_at - lead, t0 - lead)),
                "merge_slices": merge_slices(seg.shards),
            }
        )
    result = {
        "run_id": run_id,
        "plan_name": plan.name,
        "plan_key": plan_key,
        "segment_count": len(cuts),
        "segments": specs,
        "sizing": shard_capacity(plan, opts)[1],
        "progress_counters": counters,
    }
    return result, items_of


def prepare(event: Mapping[str, Any], clients: Clients) -> dict[str, Any]:
    run_id = str(event["run_id"])
    inp = parse_execution_input(event.get("input"))
    options = inp.options
    plan = _validated_plan(inp, clients, run_id)
    cuts = plan_segments(plan, options)
    # The lead the run needs (its secrets read within Parameter Store's rate), then the bounds.
    lead = lead_seconds(plan, options, cuts)
    options = options.model_copy(update={"lead_seconds": lead})
    inp = inp.model_copy(update={"options": options})
    check_fits(plan, options)
    if options.drill_crash_shard is not None and options.drill_crash_shard >= cuts[0].shards:
        raise PlanError(
            f"options.drill_crash_shard: {options.drill_crash_shard} is no shard of the first segment, "
            f"which has {cuts[0].shards} (0 to {cuts[0].shards - 1})"
        )
    # Step Functions' quotas (history events, state size), before anything runs: the shape does not
    # depend on when the run starts.
    shape, _ = _segments(event, plan, inp, cuts, time.time())
    problems = limit_problems([len(spec["merge_slices"]) for spec in shape["segments"]], shape)
    if problems:
        raise PlanError("the run does not fit the workflow's limits:", problems)
    concurrency_note = _check_concurrency(clients, required_concurrency(cuts))
    plan_key = layout.plan_key(run_id)
    put_json(clients, plan_key, plan.model_dump(mode="json", by_alias=True))
    if plan.setup is not None:
        # Before the start time is set: however long setup takes, the load starts after it. An A/B
        # run sets up each target in turn; the first that fails stops the run before any load.
        setups = []
        for target, leg in flow_plans(plan):
            setup = run_cloud_flow(leg, "setup", clients)
            setup.target = target
            setups.append(setup)
            if not setup.ok:
                break
        store_setup(clients, run_id, setups)
        failed = next((s for s in setups if not s.ok), None)
        if failed is not None:
            raise SetupFailed(f"{failed.message()}; no load was sent")
    t0 = float(math.ceil(time.time() + lead))
    result, items_of = _segments(event, plan, inp, cuts, t0)
    for seg, items in zip(cuts, items_of, strict=True):
        put_json(clients, layout.items_key(run_id, seg.index), items)
    records = run_records(clients)
    stopped_before_start = records.create(
        run_id,
        plan.name,
        plan.plan_hash(),
        layout.iso_seconds(time.time()),
        execution_arn=str(event.get("execution_arn", "")),
        t0=t0,
        duration_s=plan.load.duration_s,
        segment_count=len(cuts),
        workers_planned=sum(s.shards for s in cuts),
        progress_counters=result["progress_counters"],
        options=options.model_dump(),
        notes=[concurrency_note] if concurrency_note else [],
    )
    # What Report needs, kept in S3 too: a run ended from outside the workflow (a console stop, a
    # timeout) is finished from it.
    put_json(clients, layout.run_key(run_id), result)
    if stopped_before_start:
        # Stopped before it started (`surge stop` in its first seconds): no worker is launched.
        return {**result, "segments": [], "stopped_before_start": True}
    return result
