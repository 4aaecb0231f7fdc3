"""A plan's setup and teardown flows: run once, in this process, around a local run's load.

Setup runs before any worker starts (log in once and share the token, seed the data the test
reads); its captures become variables of every iteration. Teardown runs after the load, whatever
ended it (delete what the test made), with setup's variables. Their requests go through the same
engine and clients as the load's, recorded apart: they count in no load figure or check, and the
report shows them in their own section.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from surge.engine.worker import Worker, fast_client_enabled, make_fast_client, make_session
from surge.engine.worker_spec import WorkerSpec
from surge.errors import UserError
from surge.plan import Plan
from surge.report_model import FlowEndpoint, FlowReport
from surge.stats import RESULT_VERSION, IntervalData, RunStats, aggregate, is_stage

FlowName = Literal["setup", "teardown"]


class SetupFailed(UserError):
    """The setup flow failed: the run stops before any load (exit 2)."""


@dataclass
class FlowRun:
    name: FlowName
    ok: bool
    started_at: float
    duration_s: float
    variables: dict[str, object] = field(default_factory=dict)  # the flow's captures (setup)
    intervals: dict[str, IntervalData] = field(default_factory=dict)
    error: str | None = None  # the engine failed (not a request)
    target: str | None = None  # an A/B run: the target it ran against

    def report(self) -> FlowReport:
        endpoints = self._endpoints()
        report = FlowReport(
            name=self.name,
            ok=self.ok,
            duration_s=round(self.duration_s, 3),
            requests=sum(e["requests"] for e in endpoints),
            endpoints=endpoints,
            message=self.message(),
        )
        if self.target is not None:
            report["target"] = self.target
        return report

    @property
    def label(self) -> str:
        return self.name if self.target is None else f"{self.name} of target {self.target}"

    def message(self) -> str | None:
        """Why the flow failed, naming the request and what came back."""
        if self.ok:
            return None
        if self.error is not None:
            return f"{self.label} failed: {self.error}"
        for ep in self._endpoints():
            if ep["errors"]:
                cls = ", ".join(f"{k} x{v}" for k, v in ep["errors"].items())
                statuses = ", ".join(ep["status"]) or "no answer"
                return f"{self.label} failed at {ep['name']}: {cls} (status {statuses})"
        return f"{self.label} did not finish (the run was stopped)"

    def _endpoints(self) -> list[FlowEndpoint]:
        stats = RunStats(
            version=RESULT_VERSION,
            interval_s=1.0,
            t0=self.started_at,
            started_at=self.started_at,
            ended_at=self.started_at + self.duration_s,
            workers=1,
            workers_failed=0,
            stopped_early=False,
            errors=[],
            intervals=self.intervals,
            health=[],
        )
        endpoints: list[FlowEndpoint] = []
        names = dict.fromkeys(n for it in self.intervals.values() for n in it["endpoints"] if not is_stage(n))
        for name in names:
            agg = aggregate(stats, endpoint=name)
            p95 = agg.latency("latency", "p95", 95.0)
            endpoints.append(
                FlowEndpoint(
                    name=name,
                    requests=agg.requests,
                    errors=dict(agg.errors),
                    status=dict(agg.status),
                    p95_ms=None if p95 is None else float(p95),
                )
            )
        return endpoints


def flow_plans(plan: Plan) -> list[tuple[str | None, Plan]]:
    """What a setup or teardown flow runs against: the plan's target, or in an A/B run each
    target in turn (each system gets its own login, seed data and clean-up)."""
    if not plan.targets:
        return [(None, plan)]
    return [(name, plan.for_target(name)) for name in plan.targets]


# How often a running flow looks whether it was asked to stop.
STOP_POLL_S = 0.1


def run_flow(
    plan: Plan,
    name: FlowName,
    *,
    base_dir: Path,
    secrets: Mapping[str, str] | None = None,
    variables: Mapping[str, object] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FlowRun:
    """Run the plan's ``name`` flow once (it must have one). ``should_stop`` turning true cuts it
    where it is (a request in flight is cancelled): a stop never waits on a hanging request."""
    return asyncio.run(_run(plan, name, base_dir, dict(secrets or {}), dict(variables or {}), should_stop))


async def _until_done_or_stopped(
    flow: asyncio.Future[tuple[bool, dict[str, object]]], should_stop: Callable[[], bool] | None
) -> None:
    while not flow.done():
        await asyncio.wait({flow}, timeout=STOP_POLL_S)
        if should_stop is not None and should_stop() and not flow.done():
            flow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flow


async def _run(
    plan: Plan,
    name: FlowName,
    base_dir: Path,
    secrets: dict[str, str],
    variables: dict[str, object],
    should_stop: Callable[[], bool] | None = None,
) -> FlowRun:
    started = time.time()
    spec = WorkerSpec(
        plan, 0, 1, started, None, name, base_dir=base_dir, secrets=secrets, setup_vars=variables
    )
    session = make_session(plan, 1)
    fast = make_fast_client(plan) if fast_client_enabled() else None
    t = time.perf_counter()
    try:
        worker = Worker(spec, session, fast_client=fast)
        steps = worker.compiled.setup if name == "setup" else worker.compiled.teardown
        flow = asyncio.ensure_future(worker.run_flow(steps))
        await _until_done_or_stopped(flow, should_stop)
        try:
            ok, after = flow.result()
            error = None
        except asyncio.CancelledError:
            ok, after, error = False, {}, "stopped"
        except Exception as exc:  # the engine's own failure: reported, never a traceback
            ok, after, error = False, {}, f"{type(exc).__name__}: {exc}"
        worker.recorder.close_all()
        base = worker.compiled.variables
        captured = {
            k: v for k, v in after.items() if not k.startswith("$") and (k not in base or base[k] is not v)
        }
        return FlowRun(
            name,
            ok,
            started,
            time.perf_counter() - t,
            variables=captured,
            intervals=worker.recorder.intervals,
            error=error,
        )
    finally:
        if fast is not None:
            await fast.close()
        await session.close()
