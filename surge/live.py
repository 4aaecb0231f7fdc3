"""Live view of a running test, fed by the intervals workers stream as they close.

It keeps cumulative aggregates (whole run, per endpoint, per phase) so progress lines and
abort-on-fail decisions are made from merged histograms, exactly as the final report is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from surge.evaluate import abort_reason
from surge.plan import Plan
from surge.stats import Aggregate, IntervalData, is_stage, new_histogram, percentile_ms
from surge.summary import AggregateSource, Scope, phase_windows
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


@dataclass
class _Recent:
    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    rt: HdrHistogram = field(default_factory=new_histogram)


@dataclass
class LiveView:
    plan: Plan
    thresholds: list[Threshold] = field(default_factory=list)
    total: Aggregate = field(default_factory=Aggregate)
    endpoints: dict[str, Aggregate] = field(default_factory=dict)
    phases: dict[str, Aggregate] = field(default_factory=dict)
    # Per interval index: requests, and the merged response-time histogram (recent ones only).
    _recent: dict[int, _Recent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.windows = phase_windows(self.plan)
        self.interval_s = self.plan.interval

    def add(self, intervals: dict[str, IntervalData]) -> None:
        for key, data in intervals.items():
            idx = int(key)
            t = idx * self.interval_s
            phase = next((n for n, a, b in self.windows if a <= t < b), self.windows[-1][0])
            recent = self._recent.setdefault(idx, _Recent())
            recent.in_flight += data["in_flight"]
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
                if ep["rt"]:
                    recent.rt.decode_and_add(ep["rt"])
        # Keep only a few recent intervals: the view is for "now", the report for the whole run.
        for idx in sorted(self._recent)[:-5]:
            del self._recent[idx]

    def snapshot(self, elapsed_s: float) -> Snapshot:
        current = int(elapsed_s / self.interval_s) - 1  # the last interval every worker has closed
        recent = self._recent.get(current)
        names = [n for n, _, _ in self.windows]
        idx = next((i for i, (_, a, b) in enumerate(self.windows) if a <= elapsed_s < b), len(names) - 1)
        return Snapshot(
            elapsed_s=elapsed_s,
            phase=names[idx],
            phase_index=idx,
            phases=len(names),
            rps=(recent.requests / self.interval_s) if recent else 0.0,
            p95_ms=percentile_ms(recent.rt, 95) if recent else None,
            requests=self.total.requests,
            errors=self.total.error_count,
            dropped=self.total.dropped,
            in_flight=recent.in_flight if recent else 0,
        )

    def source(self, elapsed_s: float) -> AggregateSource:
        windows = {n: (a, b) for n, a, b in self.windows}

        def scope(namespace: str, key: str | None) -> Scope | None:
            if namespace == "http":
                return Scope(self.total, elapsed_s)
            if namespace == "endpoint" and key in self.endpoints:
                return Scope(self.endpoints[key], elapsed_s)
            if namespace == "phase" and key in self.phases:
                a, b = windows[key]
                return Scope(self.phases[key], max(min(b, elapsed_s) - a, self.interval_s))
            return None

        return AggregateSource(scope)

    def abort_reason(self, elapsed_s: float) -> str | None:
        if not any(t.abort_on_fail for t in self.thresholds) or self.total.requests == 0:
            return None
        return abort_reason(self.thresholds, self.source(elapsed_s), elapsed_s)
