"""Fleet drills under AWS's quotas (tests/fleet_drill.py, tests/aws_quotas.py): a segment of 100
shards through the real state machine, handlers and cloud workers, with every AWS call held to
AWS's documented rates, then the same with a stop, an abort and a tenth of the fleet crashing. The
1000-shard drills are `python bench/fleet_drill.py` (the suite's time cannot hold them); these run
the same code at a size that still spreads progress over several counters and merges as a tree.

Each drill ends with the report counting exactly what the target served (a crashed worker's
requests excepted: they reached the target and are in no figure, as the report says), nothing
refused that a retry did not absorb, no quota broken, and the figures printed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from surge.cloud.planner import DIRECT_MERGE_MAX_SHARDS
from surge.store.run_table import WORKERS_PER_COUNTER
from tests.fleet_drill import DrillFigures, TargetProcess, run_drill

pytestmark = pytest.mark.slow

SHARDS = 100
# The variants at a size that still spreads progress over two counters and merges as a tree.
VARIANT_SHARDS = 60
# Thread starts in one process are slower than Lambda's: 100 workers start within ~5 s here.
LEAD_S = 15


@pytest.fixture
def demo_target() -> Iterator[TargetProcess]:
    with TargetProcess() as target:
        yield target


@pytest.fixture
def drills() -> Iterator[list[DrillFigures]]:
    done: list[DrillFigures] = []
    yield done
    for figures in done:
        print("\n".join(figures.lines()))


def _held_to_quotas(figures: DrillFigures) -> None:
    quotas = figures.quotas
    assert quotas.violations == [], quotas.violations
    assert not quotas.refused, quotas.summary()  # nothing even throttled at this size
    assert figures.history_events < 25_000 and figures.largest_payload_bytes < 256 * 1024
    # Progress is spread over counters of 50 workers: the busiest key is far below 1,000 writes/s.
    assert quotas.peaks["dynamodb write per partition"] <= 3 * WORKERS_PER_COUNTER
    assert "#PROGRESS#" in quotas.busiest["dynamodb write per partition"]
    assert all(seconds < 240 for seconds in figures.state_seconds.values()), figures.state_seconds


def test_a_hundred_shards_report_exactly_what_the_target_served(
    monkeypatch: pytest.MonkeyPatch, demo_target: TargetProcess, drills: list[DrillFigures]
) -> None:
    assert SHARDS > DIRECT_MERGE_MAX_SHARDS and SHARDS > WORKERS_PER_COUNTER  # a tree, several counters
    figures = run_drill(monkeypatch, demo_target, shards=SHARDS, lead_s=LEAD_S, run_id="drill-whole")
    drills.append(figures)
    assert figures.status == "SUCCEEDED", figures.cause
    assert figures.workers == SHARDS and figures.workers_failed == 0
    assert figures.requests_reported == figures.requests_served == 2 * SHARDS
    _held_to_quotas(figures)


def test_a_stop_mid_load_stops_the_whole_fleet_and_reports_what_it_sent(
    monkeypatch: pytest.MonkeyPatch, demo_target: TargetProcess, drills: list[DrillFigures]
) -> None:
    figures = run_drill(
        monkeypatch,
        demo_target,
        shards=VARIANT_SHARDS,
        lead_s=LEAD_S,
        stop_after_s=3,
        seconds=20,
        run_id="drill-stop",
    )
    drills.append(figures)
    report = figures.extra["report"]
    assert report["partial"] is True and figures.workers_failed == 0
    assert figures.requests_reported == figures.requests_served < 4 * VARIANT_SHARDS  # 20 s would be 240
    _held_to_quotas(figures)


def test_an_abort_breach_mid_load_stops_the_fleet_within_seconds(
    monkeypatch: pytest.MonkeyPatch, demo_target: TargetProcess, drills: list[DrillFigures]
) -> None:
    figures = run_drill(
        monkeypatch,
        demo_target,
        shards=VARIANT_SHARDS,
        lead_s=LEAD_S,
        abort=True,
        seconds=20,
        run_id="drill-abort",
    )
    drills.append(figures)
    assert figures.status == "FAILED" and "failed during segment 0" in figures.cause
    assert figures.requests_reported == figures.requests_served < 4 * VARIANT_SHARDS
    _held_to_quotas(figures)


def test_a_tenth_of_the_fleet_crashing_loses_only_those_workers(
    monkeypatch: pytest.MonkeyPatch, demo_target: TargetProcess, drills: list[DrillFigures]
) -> None:
    figures = run_drill(
        monkeypatch, demo_target, shards=VARIANT_SHARDS, lead_s=LEAD_S, crash_share=0.1, run_id="drill-crash"
    )
    drills.append(figures)
    crashed = figures.extra["crashed"]
    assert len(crashed) == VARIANT_SHARDS // 10
    assert figures.status == "FAILED" and "validity: every worker reported" in figures.cause
    assert figures.workers == VARIANT_SHARDS and figures.workers_failed == len(crashed)
    # The crashed workers sent nothing before dying here: every request served is counted.
    assert figures.requests_reported == figures.requests_served == 2 * (VARIANT_SHARDS - len(crashed))
    _held_to_quotas(figures)
