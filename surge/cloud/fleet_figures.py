"""What a cloud run of a plan will ask of AWS, on paper, before it runs (`surge validate --cloud`):
its workers and peak concurrency, its lead, its execution's history, the busiest DynamoDB keys and
S3 prefix, its Parameter Store reads, and what the run itself costs. Pure: the planner's own sizing
and the cost model Collect uses on the run it measured."""

from __future__ import annotations

from dataclasses import dataclass

from surge.cloud.execution_input import RunOptions, parse_execution_input
from surge.cloud.layout import parse_iso
from surge.cloud.planner import (
    Concurrency,
    lead_seconds,
    merge_slices,
    plan_segments,
    required_concurrency,
    secrets_read_s,
)
from surge.cloud.worker import STOP_POLL_S
from surge.cloud.workflow_limits import MAX_HISTORY_EVENTS, history_events
from surge.metrics.cost import run_cost
from surge.plan import Plan
from surge.secrets import ssm_calls
from surge.store.run_table import WORKERS_PER_COUNTER


@dataclass(frozen=True)
class FleetFigures:
    segments: int
    most_workers: int
    peak: Concurrency
    lead_s: int
    history_events: int
    counter_writes_per_s: float
    record_reads_per_s: float
    results_per_prefix: int
    ssm_reads_per_s: float
    cost: dict[str, float]

    def lines(self) -> list[str]:
        ssm = (
            f"; Parameter Store {self.ssm_reads_per_s:g} reads/s at a segment's start (of 40)"
            if self.ssm_reads_per_s
            else ""
        )
        return [
            f"in the cloud: {self.segments} segment(s) of up to {self.most_workers} Lambda workers; at the "
            f"peak {self.peak.workers} workers and {self.peak.workflow} workflow functions at once "
            f"(`surge doctor --cloud --plan` compares with the account); lead {self.lead_s} s",
            f"  quotas: {self.history_events:,} history events (of {MAX_HISTORY_EVENTS:,}); the busiest "
            f"DynamoDB key, a progress counter, ~{self.counter_writes_per_s:g} writes/s (of 1,000); the run "
            f"record ~{self.record_reads_per_s:g} strongly consistent reads/s, up to {self.peak.workers} as the "
            f"fleet starts (of 3,000); {self.results_per_prefix} results per S3 prefix at a segment's end "
            f"(of 3,500 PUT/s){ssm}",
            f"  the run's own cost: ${self.cost['total_usd']:.2f} (Lambda ${self.cost['lambda_usd']:.2f}, "
            f"Step Functions ${self.cost['step_functions_usd']:.2f}, S3 ${self.cost['s3_usd']:.2f}, DynamoDB "
            f"${self.cost['dynamodb_usd']:.2f}; us-east-1 list prices)",
        ]


def fleet_figures(plan: Plan, options: RunOptions | None = None) -> FleetFigures:
    from surge.cloud.collect import run_usage
    from surge.cloud.prepare import _segments

    options = options or RunOptions()
    cuts = plan_segments(plan, options)
    lead = lead_seconds(plan, options, cuts)
    options = options.model_copy(update={"lead_seconds": lead})
    most = max(seg.shards for seg in cuts)
    per_counter = min(WORKERS_PER_COUNTER, most)
    inp = parse_execution_input({"plan": {}, "options": options.model_dump()})
    run, _ = _segments({"run_id": "paper", "execution_arn": ""}, plan, inp, cuts, 1.7e9)
    end = parse_iso(str(run["segments"][-1]["end_at"]))
    # At a segment's end each counter's workers add their last progress and their -1 within about
    # a second (in between, one progress each per PROGRESS_EVERY_S).
    return FleetFigures(
        segments=len(cuts),
        most_workers=most,
        peak=required_concurrency(cuts),
        lead_s=lead,
        history_events=history_events([len(merge_slices(seg.shards)) for seg in cuts]),
        counter_writes_per_s=float(2 * per_counter),
        record_reads_per_s=round(required_concurrency(cuts).workers / STOP_POLL_S),
        results_per_prefix=most,
        ssm_reads_per_s=options.ssm_reads_per_second
        if ssm_calls(plan) and secrets_read_s(plan, options, 1)
        else 0.0,
        cost=run_cost(run_usage(run, end)),
    )


__all__ = ["FleetFigures", "fleet_figures"]
