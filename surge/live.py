"""Live view of a running test, fed by the intervals workers stream as they close.

It keeps cumulative aggregates (whole run, per endpoint, per phase) so progress lines and
abort-on-fail decisions are made from merged histograms, exactly as the final report is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from surge.evaluate import MetricSource, TargetSources, abort_reason
from surge.phases import phase_windows
from surge.plan import Plan
from surge.stats import Aggregate, IntervalData, add_encoded, is_stage, latency_stat, new_histogram
from surge.summary import AggregateSource, ScopeFigures
from surge.thresholds import Threshold


@dataclass
class Snapshot:
    elapsed_s: float
    phase: str
    phase_index: int
    phases: int
    rps: float
    p95_ms: float | None
    requests: int
    errors: int
    dropped: int
    in_flight: int
    users: int = 0  # closed model: active virtual users in the interval shown
    # (workers whose part of the interval shown has arrived, live workers) when some are late.
    reporting: tuple[int, int] | None = None
    # An A/B run: each target's p95 in the interval shown (the run's p95 mixes the targets).
    target_p95_ms: dict[str, float | None] = field(default_factory=dict)


@dataclass
class _Recent:
    """One interval as the live line shows it: only the response time's histograms are decoded."""

    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    users: int = 0
    rt: HdrHistogram = field(default_factory=new_histogram)
    rt_timeouts: HdrHistogram = field(default_factory=new_histogram)

    def p95_ms(self) -> float | None:
        return latency_stat(self.rt, self.rt_timeouts, "p95", 95.0)


@dataclass
class LiveView:
    plan: Plan
    thresholds: list[Threshold] = field(default_factory=list)
    workers: int = 1
    total: Aggregate = field(default_factory=Aggregate)
    endpoints: dict[str, Aggregate] = field(default_factory=dict)
    phases: dict[str, Aggregate] = field(default_factory=dict)
    # Per interval index: what the workers sent of it (recent ones only).
    _recent: dict[int, _Recent] = field(default_factory=dict)
    # An A/B run: the target each worker sends to (its checks are judged per target).
    target_of: dict[int, str] = field(default_factory=dict)
    # Per live worker: every interval below this index has arrived from it.
    _closed_before: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.windows = phase_windows(self.plan)
        self.interval_s = self.plan.interval
        self._closed_before = dict.fromkeys(range(self.workers), 0)
        self._by_target = {name: LiveView(self.plan) for name in dict.fromkeys(self.target_of.values())}

    def add(
        self, intervals: dict[str, IntervalData], *, shard: int = 0, closed_before: int | None = None
    ) -> None:
        if shard in self.target_of:
            self._by_target[self.target_of[shard]].add(intervals)
        for key, data in intervals.items():
            idx = int(key)
            t = idx * self.interval_s
            phase = next((n for n, a, b in self.windows if a <= t < b), self.windows[-1][0])
            recent = self._recent.setdefault(idx, _Recent())
            recent.in_flight += data["in_flight"]
            recent.users += data.get("users", 0)
            for agg in (self.total, self.phases.setdefault(phase, Aggregate())):
                agg.iterations += data["iterations"]
                agg.dropped += data["dropped"]
            for name, ep in data["endpoints"].items():
                self.endpoints.setdefault(name, Aggregate()).add_endpoint(ep)
                if is_stage(name):
                    continue
                self.total.add_endpoint(ep)
                self.phases[phase].add_endpoint(ep)
                recent.requests += ep["requests"]
                recent.errors += sum(ep["errors"].values())
                add_encoded(recent.rt, ep["rt"])
                add_encoded(recent.rt_timeouts, ep.get("rt_timeouts", ""))
        if closed_before is not None and shard in self._closed_before:
            self._closed_before[shard] = max(self._closed_before[shard], closed_before)
        # Keep only a few recent intervals: the view is for "now", the report for the whole run.
        for idx in sorted(self._recent)[:-8]:
            del self._recent[idx]

    def worker_done(self, shard: int) -> None:
        """A worker delivered its result (or failed): it no longer holds an interval back."""
        self._closed_before.pop(shard, None)

    def snapshot(self, elapsed_s: float) -> Snapshot:
        """The newest interval every live worker has sent; when some are more than two intervals
        behind, the interval due now, marked with how many workers it holds."""
        due = int(elapsed_s / self.interval_s + 1e-9) - 1
        live = self._closed_before
        complete = min(live.values()) - 1 if live else due
        shown, reporting = min(due, complete), None
        if complete < due - 2:
            shown = due
            reporting = (sum(1 for c in live.values() if c > due), len(live))
        recent = self._recent.get(shown)
        names = [n for n, _, _ in self.windows]
        idx = next((i for i, (_, a, b) in enumerate(self.windows) if a <= elapsed_s < b), len(names) - 1)
        p95 = recent.p95_ms() if recent else None
        return Snapshot(
            elapsed_s=elapsed_s,
            phase=names[idx],
            phase_index=idx,
            phases=len(names),
            rps=(recent.requests / self.interval_s) if recent else 0.0,
            p95_ms=p95,
            requests=self.total.requests,
            errors=self.total.error_count,
            dropped=self.total.dropped,
            in_flight=recent.in_flight if recent else 0,
            users=recent.users if recent else 0,
            reporting=reporting,
            target_p95_ms={n: v._p95_at(shown) for n, v in self._by_target.items()},
        )

    def _p95_at(self, index: int) -> float | None:
        recent = self._recent.get(index)
        return recent.p95_ms() if recent else None

    def source(self, elapsed_s: float) -> MetricSource:
        run = self._run_source(elapsed_s)
        if not self._by_target:
            return run
        return TargetSources(run, {n: v._run_source(elapsed_s) for n, v in self._by_target.items()})

    def _run_source(self, elapsed_s: float) -> AggregateSource:
        windows = {n: (a, b) for n, a, b in self.windows}

        def scope(namespace: str, key: str | None) -> ScopeFigures | None:
            if namespace == "http":
                return ScopeFigures(self.total, elapsed_s)
            if namespace == "endpoint" and key in self.endpoints:
                return ScopeFigures(self.endpoints[key], elapsed_s)
            if namespace == "phase" and key in self.phases:
                a, b = windows[key]
                return ScopeFigures(self.phases[key], max(min(b, elapsed_s) - a, self.interval_s))
            return None

        return AggregateSource(scope)

    def abort_reason(self, elapsed_s: float) -> str | None:
        if not any(t.abort_on_fail for t in self.thresholds) or self.total.requests == 0:
            return None
        return abort_reason(self.thresholds, self.source(elapsed_s), elapsed_s)
