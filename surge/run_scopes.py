"""Every scope a report reads, in one pass over a run's intervals.

A report reads the whole run's figures, each endpoint's and stage's and each phase's, each cut into
batches of consecutive intervals (their uncertainty), and per interval the run's and the busiest
endpoints' latencies (its time series). Read scope by scope, every interval's histograms were
decoded four times over, into ~10,000 aggregates (each two 180 KB histograms to allocate and zero).
Here each endpoint's histograms of each interval are decoded once and added into its endpoint's
batch and a scratch aggregate of the interval (and of the endpoint, when its series is read); the
interval's scratch is read for the series, added into every batch the interval belongs to, and
cleared. A batch, once its last interval is in, is added into its scope's total and kept only as
what its uncertainty reads (surge.uncertainty.Batch); its aggregate is cleared for the next batch.
So a scope holds two aggregates however many batches it has. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from surge.report_model import EndpointPoint, TimeseriesPoint
from surge.stats import (
    BATCHES,
    Aggregate,
    IntervalData,
    RunStats,
    add_endpoint_into,
    is_stage,
    iter_intervals,
)
from surge.uncertainty import Batch

# The report's per-endpoint series cover the busiest few: a chart of more lines is unreadable.
ENDPOINT_SERIES = 6


@dataclass
class ScopeTotals:
    """One scope's figures: its total, and its batches of consecutive intervals (their uncertainty)."""

    total: Aggregate
    batches: list[Batch]


@dataclass
class RunScopes:
    run: ScopeTotals  # the whole run (every endpoint but the stages)
    endpoints: dict[str, ScopeTotals]  # each endpoint's and stage's, by its entry name
    phases: list[ScopeTotals]  # each phase range's, batched over its own intervals
    timeseries: list[TimeseriesPoint]
    endpoint_series: dict[str, list[EndpointPoint]]  # the busiest endpoints' (none for only one)


class _Filling:
    """A scope being read: the aggregate of its batch in progress, closed every ``size`` of the
    scope's ``count`` intervals."""

    def __init__(self, count: int) -> None:
        self.count, self.size, self.seen = count, _batch_size(count), 0
        self.live = Aggregate()
        self.done = ScopeTotals(Aggregate(), [])

    def interval_added(self) -> None:
        self.seen += 1
        if self.seen % self.size == 0 or self.seen == self.count:
            self.done.batches.append(Batch.of(self.live))
            self.done.total.add(self.live)
            self.live.clear()


def _batch_size(n: int) -> int:
    return -(-n // BATCHES) if n else 1


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def busiest_endpoints(stats: RunStats) -> list[str]:
    """The endpoints (not stages) with the most requests, at most ENDPOINT_SERIES; none for one."""
    requests: dict[str, int] = {}
    for data in stats["intervals"].values():
        for name, ep in data["endpoints"].items():
            if not is_stage(name):
                requests[name] = requests.get(name, 0) + ep["requests"]
    names = sorted(sorted(requests), key=lambda n: -requests[n])[:ENDPOINT_SERIES]
    return names if len(names) >= 2 else []


def read_scopes(stats: RunStats, phase_ranges: Sequence[tuple[float, float]]) -> RunScopes:
    """Every scope of ``stats``, the phases' over ``phase_ranges`` (plan seconds, end excluded)."""
    step = stats["interval_s"]
    items = sorted(iter_intervals(stats), key=lambda item: item[0])
    names = sorted({n for _, data in items for n in data["endpoints"]})
    run = _Filling(len(items))
    endpoints = {n: _Filling(len(items)) for n in names}  # every interval is in each endpoint's batches
    # The phases each interval belongs to (a phase's batches cut its own intervals).
    in_phases: list[list[_Filling]] = [[] for _ in items]
    phases = []
    for lo, hi in phase_ranges:
        chosen = [k for k, (idx, _) in enumerate(items) if lo - 1e-9 <= idx * step < hi - 1e-9]
        phase = _Filling(len(chosen))
        for k in chosen:
            in_phases[k].append(phase)
        phases.append(phase)
    timeseries: list[TimeseriesPoint] = []
    endpoint_series: dict[str, list[EndpointPoint]] = {name: [] for name in busiest_endpoints(stats)}
    interval, endpoint = Aggregate(), Aggregate()  # the scratch aggregates, cleared after each use
    for k, (idx, data) in enumerate(items):
        t = round(idx * step, 3)
        for name, ep in data["endpoints"].items():
            into = [endpoints[name].live]
            if not is_stage(name):
                into.append(interval)
            points = endpoint_series.get(name)
            if points is not None:
                into.append(endpoint)
            add_endpoint_into(into, ep)  # each histogram decoded once, for every scope it is in
            if points is not None:
                points.append(_endpoint_point(t, endpoint))
                endpoint.clear()
        for filling in endpoints.values():
            filling.interval_added()
        timeseries.append(_point(t, step, data, interval))
        interval.iterations, interval.dropped = data["iterations"], data["dropped"]
        for filling in (run, *in_phases[k]):
            filling.live.add(interval)
            filling.interval_added()
        interval.clear()
    return RunScopes(
        run=run.done,
        endpoints={name: filling.done for name, filling in endpoints.items()},
        phases=[phase.done for phase in phases],
        timeseries=timeseries,
        endpoint_series=endpoint_series,
    )


def _endpoint_point(t: float, agg: Aggregate) -> EndpointPoint:
    return EndpointPoint(
        t=t, requests=agg.requests, errors=agg.error_count, p95=_r(agg.latency("latency", "p95", 95.0))
    )


def _point(t: float, step: float, data: IntervalData, agg: Aggregate) -> TimeseriesPoint:
    requests, errors = agg.requests, agg.error_count
    point = TimeseriesPoint(
        t=t,
        rps=round(requests / step, 3),
        requests=requests,
        errors=errors,
        error_rate=round(errors / requests, 6) if requests else 0.0,
        dropped=data["dropped"],
        in_flight=data["in_flight"],
        p50=_r(agg.latency("latency", "p50", 50.0)),
        p95=_r(agg.latency("latency", "p95", 95.0)),
        p99=_r(agg.latency("latency", "p99", 99.0)),
        service_p50=_r(agg.latency("service_time", "p50", 50.0)),
        service_p95=_r(agg.latency("service_time", "p95", 95.0)),
        service_p99=_r(agg.latency("service_time", "p99", 99.0)),
        errors_by_class=dict(sorted(agg.errors.items())),
    )
    if data.get("users"):
        point["users"] = data["users"]
    return point
