"""A cloud run's setup and teardown flows: setup in Prepare (before the run's start time is set),
teardown in Report (whatever ended the load). They run the plan's flow once through the same
engine as a local run (surge.setup_flow), with the run's own copies of its files and its secrets.
Setup's outcome is kept in S3 (``runs/<run>/setup.json``): every worker reads its variables,
Report its section of the report.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from surge.cloud import layout
from surge.cloud.deployment import policy_of
from surge.cloud.inputs import fetch_data_file, fetch_file_parts, fetch_hooks
from surge.cloud.state_io import Clients, exists, get_json
from surge.plan import Plan
from surge.report_model import FlowReport
from surge.secrets import SECRETS_PREFIX, resolve_secrets, secret_refs
from surge.setup_flow import FlowName, FlowRun, run_flow


def read_secrets(plan: Plan, clients: Clients) -> dict[str, str]:
    """The plan's `$secret`/`$ssm` references, read with the function's role (in memory only)."""
    refs = secret_refs(plan)
    if not refs:
        return {}
    kinds = {kind for kind, _ in refs}
    return resolve_secrets(
        plan,
        secretsmanager=clients.client("secretsmanager") if "secret" in kinds else None,
        ssm=clients.client("ssm") if "ssm" in kinds else None,
        prefix=getattr(clients, "secrets_prefix", SECRETS_PREFIX),
    )


def run_cloud_flow(
    plan: Plan, name: FlowName, clients: Clients, variables: Mapping[str, object] | None = None
) -> FlowRun:
    policy_of(clients).check(plan)  # setup in Prepare, teardown in Report: the same hosts only
    with tempfile.TemporaryDirectory(prefix=f"surge-{name}-") as tmp:
        local = fetch_data_file(plan, s3=clients.s3, dest_dir=Path(tmp))
        local = fetch_file_parts(local, s3=clients.s3, dest_dir=Path(tmp))
        local = fetch_hooks(local, s3=clients.s3, dest_dir=Path(tmp))
        secrets = read_secrets(plan, clients)
        return run_flow(local, name, base_dir=Path(tmp), secrets=secrets, variables=variables)


def store_setup(clients: Clients, run_id: str, setups: Sequence[FlowRun]) -> None:
    """Setup's outcome for the workers and Report: one flow, or one per target (an A/B run)."""
    if len(setups) == 1 and setups[0].target is None:
        body: dict[str, Any] = {"variables": setups[0].variables, "flow": setups[0].report()}
    else:
        body = {"targets": {s.target: {"variables": s.variables, "flow": s.report()} for s in setups}}
    # Captured values are JSON from answers; a hook may set anything: kept as its text.
    clients.s3.put_object(
        Bucket=clients.bucket,
        Key=layout.setup_key(run_id),
        Body=json.dumps(body, default=str).encode(),
        ContentType="application/json",
    )


def stored_setup(
    clients: Clients, run_id: str, *, check: bool = False, target: str | None = None
) -> tuple[dict[str, Any], list[FlowReport]]:
    """Setup's variables (``target``'s, in an A/B run) and its report sections. ``check``: first
    see that it exists (empty when not); workers do not (their role may not list: Prepare wrote it
    before them)."""
    key = layout.setup_key(run_id)
    if check and not exists(clients, key):
        return {}, []
    doc = get_json(clients, key)
    if "targets" in doc:
        parts = doc["targets"]
        own = parts.get(target) or {} if target is not None else {}
        return dict(own.get("variables") or {}), [p["flow"] for p in parts.values() if p.get("flow")]
    return dict(doc.get("variables") or {}), [doc["flow"]] if doc.get("flow") else []
