"""surge.finish: one way from what a run measured to the report written and recorded, for every
caller (local run, cloud run, re-evaluation): built once, masked once, written, then recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from surge.finish import Written, finish
from surge.metrics.collect import ServiceMetrics
from surge.redact import Redactor, redactor_for
from surge.report_model import FlowReport, ReevaluationInfo, Report
from surge.run_facts import RunFacts
from surge.stats import RunStats
from surge.validity import RunEnd
from tests.unit.test_stats import report_plan, report_stats


@dataclass
class MemoryStore:
    calls: list[str] = field(default_factory=list)
    written: list[tuple[RunStats, Report]] = field(default_factory=list)
    recorded: list[tuple[Report, str]] = field(default_factory=list)

    def write(
        self, stats: RunStats, report: Report, metrics: ServiceMetrics | None, redactor: Redactor
    ) -> Written:
        self.calls.append("write")
        self.written.append((stats, report))
        return Written("mem://run", {"json": Path("report.json")})

    def record(self, report: Report, written: Written) -> None:
        self.calls.append("record")
        self.recorded.append((report, written.location))


SETUP = FlowReport(name="setup", ok=True, duration_s=0.1, requests=1, endpoints=[], message="setup ok")


def test_the_report_is_written_before_it_is_recorded_and_both_see_the_same_report() -> None:
    store = MemoryStore()
    done = finish(
        report_plan(),
        report_stats(),
        RunFacts(run_id="r1"),
        redactor=redactor_for(report_plan(), {}),
        store=store,
    )
    assert store.calls == ["write", "record"]
    assert store.written[0][1] is done.report and store.recorded[0] == (done.report, "mem://run")
    assert done.written.location == "mem://run"


def test_every_fact_of_the_run_is_in_the_report_as_built() -> None:
    info = ReevaluationInfo(
        of_run="r0",
        plan="report-test",
        plan_hash="h",
        plan_path="/p.yaml",
        at="2026-01-01T00:00:00Z",
        original_verdict="fail",
    )
    facts = RunFacts(
        run_id="r2",
        mode="cloud",
        end=RunEnd(stopped_by=None, workers_lost=1, lost_reasons=("shard 3: no result",)),
        flows=(SETUP,),
        generator_notes=("shards sized at 10 users each",),
        reevaluation=info,
    )
    done = finish(
        report_plan(), report_stats(), facts, redactor=redactor_for(report_plan(), {}), store=MemoryStore()
    )
    report = done.report
    assert report["mode"] == "cloud" and report["partial"] is True  # a lost worker makes it partial
    assert report["flows"] == [SETUP]
    assert report["reevaluation"] == info
    assert "shards sized at 10 users each" in report["generator"]["notes"]
    assert "shard 3: no result" in report["generator"]["notes"]


def test_what_is_written_and_recorded_is_masked_figures_included() -> None:
    plan = report_plan().model_copy(update={"redact": ["token"]})
    stats = report_stats()
    stats["errors"] = ["worker saw Bearer s3cr3t-VALUE"]
    redactor = redactor_for(plan, {}, ["s3cr3t-VALUE"])
    flows = (SETUP | {"message": "setup sent s3cr3t%2DVALUE"},)
    store = MemoryStore()
    done = finish(plan, stats, RunFacts(run_id="r3", flows=flows), redactor=redactor, store=store)
    written_stats, written_report = store.written[0]
    assert "s3cr3t" not in repr(written_stats) and "s3cr3t" not in repr(written_report)
    assert "s3cr3t" not in repr(store.recorded[0][0]) and "s3cr3t" not in repr(done.stats)
