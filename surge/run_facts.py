"""What a report says beyond the merged figures: how the run went and what was gathered around it.
Every way a run finishes (a local run, a cloud run, a re-evaluation of a stored run) fills one of
these and hands it to the one report builder, so no path has to patch a report afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from surge.baseline import Baseline
from surge.metrics.collect import ServiceMetrics
from surge.report_model import FlowReport, ReevaluationInfo
from surge.validity import RunEnd


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    mode: Literal["local", "cloud"] = "local"
    partial: bool = False
    aborted_by: str | None = None
    error: str | None = None  # the run (not a request) failed: the verdict is "error"
    # How the run ended: stopped, workers lost beyond those in the figures. None: a run that stopped
    # early or was aborted counts as stopped.
    end: RunEnd | None = None
    metrics: ServiceMetrics | None = None  # the target's own metrics and cost, when collected
    baseline: Baseline | None = None
    # None when nobody looked the baseline up: the report then says so rather than compare to nothing.
    baseline_notes: Sequence[str] | None = None
    flows: Sequence[FlowReport] = ()  # setup and teardown, when the plan has them
    generator_notes: Sequence[str] = ()  # what the figures alone do not say (e.g. how shards were sized)
    reevaluation: ReevaluationInfo | None = None  # a stored run judged again
