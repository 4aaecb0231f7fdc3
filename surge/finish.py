"""One way to finish a run, for every caller: from what was measured and how the run went (its
RunFacts) to the report, masked once, written and recorded. A local run, a cloud run's Report step
and `surge report`'s re-evaluation all call ``finish``; where the files go and which history records
them is the ``ResultStore`` each passes in. Nothing changes a report after it is built here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from surge.metrics.collect import ServiceMetrics
from surge.plan import Plan
from surge.redact import Redactor
from surge.report_model import Report
from surge.run_facts import RunFacts
from surge.stats import RunStats
from surge.summary import build_single_report
from surge.summary_ab import build_ab_report


def build_report(plan: Plan, stats: RunStats, facts: RunFacts) -> Report:
    """The report of a run: a one-target run's, or an A/B run's with each target side by side."""
    if plan.targets:
        return build_ab_report(plan, stats, facts)
    return build_single_report(plan, stats, facts)


@dataclass(frozen=True)
class Written:
    location: str  # where the report is: a folder, or an s3:// address
    paths: dict[str, Path]  # the files written, by kind (json, md, html, junit, ...)
    where_planned: bool = True  # False: the planned place failed and the results went elsewhere


class ResultStore(Protocol):
    """Where a finished run's files go and which history records it."""

    def write(
        self, stats: RunStats, report: Report, metrics: ServiceMetrics | None, redactor: Redactor
    ) -> Written: ...

    def record(self, report: Report, written: Written) -> None: ...


@dataclass(frozen=True)
class Finished:
    report: Report  # as written: masked
    stats: RunStats  # as written: masked
    written: Written


def finish(
    plan: Plan, stats: RunStats, facts: RunFacts, *, redactor: Redactor, store: ResultStore
) -> Finished:
    """Build the run's report once, mask what the run must not write (secrets, in every encoding
    they were sent in), write it with the figures it came from, and record it."""
    report = redactor.data(build_report(plan, stats, facts))
    masked = redactor.data(stats)
    written = store.write(masked, report, facts.metrics, redactor)
    store.record(report, written)
    return Finished(report, masked, written)
