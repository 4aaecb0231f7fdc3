"""Mergeable load statistics: HdrHistograms per endpoint per interval, plus counters.

A worker records into live histograms for the intervals still open and encodes each interval when
it closes (an encoded histogram is a few KB; a live one ~190 KB). Results from any number of
workers merge exactly, interval by interval, so percentiles are only ever read from merged
histograms — never averaged across workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict

from hdrh.histogram import HdrHistogram

# Latencies are recorded in microseconds, from 1 µs to 1 hour, at 3 significant digits.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

ERROR_CLASSES = (
    "connect",
    "timeout",
    "reset",
    "dns",
    "tls",
    "http_4xx",
    "http_5xx",
    "expect",
    "refused",
    "template",
    "other",
)

RESULT_VERSION = 1


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def encode(h: HdrHistogram) -> str:
    raw = h.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


def decode(data: str) -> HdrHistogram:
    return HdrHistogram.decode(data)


def add_encoded(into: HdrHistogram, data: str) -> None:
    if data:
        into.decode_and_add(data)


class EndpointIntervalData(TypedDict):
    requests: int
    errors: dict[str, int]
    status: dict[str, int]
    bytes: int
    rt: str  # response time from the intended start (coordinated-omission corrected), encoded
    st: str  # service time, send -> last byte, encoded


class IntervalData(TypedDict):
    iterations: int
    dropped: int
    in_flight: int  # peak iterations in flight during the interval
    users: int  # peak active virtual users (closed model)
    endpoints: dict[str, EndpointIntervalData]


class HealthData(TypedDict):
    worker: str
    max_loop_lag_ms: float
    loop_lag_p99_ms: float
    cpu_pct: float
    saturated: bool
    notes: list[str]


class WorkerResult(TypedDict):
    version: int
    worker: str
    shard: int
    shards: int
    interval_s: float
    t0: float  # wall-clock epoch seconds of plan time 0
    window: list[float]  # [start, end) in plan seconds
    started_at: float
    ended_at: float
    stopped_early: bool
    error: str | None
    intervals: dict[str, IntervalData]  # key: interval index (JSON keys are strings)
    health: HealthData


class RunStats(TypedDict):
    """Several workers' results merged: the same intervals, summed."""

    version: int
    interval_s: float
    t0: float
    started_at: float
    ended_at: float
    workers: int
    workers_failed: int
    stopped_early: bool
    errors: list[str]
    intervals: dict[str, IntervalData]
    health: list[HealthData]


# -- recording (the worker's hot path) ------------------------------------------------------------


@dataclass(slots=True)
class _LiveEndpoint:
    rt: HdrHistogram
    st: HdrHistogram
    requests: int = 0
    bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _LiveInterval:
    endpoints: dict[str, _LiveEndpoint] = field(default_factory=dict)
    iterations: int = 0
    dropped: int = 0
    in_flight: int = 0
    users: int = 0


class Recorder:
    """Collects one worker's measurements. Not thread-safe: one event loop owns it."""

    def __init__(self, t0_monotonic: float, interval_s: float) -> None:
        self.t0 = t0_monotonic
        self.interval_s = interval_s
        self._live: dict[int, _LiveInterval] = {}
        self._closed: dict[str, IntervalData] = {}
        self._pool: list[HdrHistogram] = []

    def _interval(self, now: float) -> _LiveInterval:
        idx = max(int((now - self.t0) / self.interval_s), 0)
        live = self._live.get(idx)
        if live is None:
            live = self._live[idx] = _LiveInterval()
        return live

    def _hist(self) -> HdrHistogram:
        return self._pool.pop() if self._pool else new_histogram()

    def record(
        self,
        endpoint: str,
        now: float,
        response_us: int,
        service_us: int,
        status: int,
        error: str | None,
        nbytes: int,
        corrected_interval_us: int = 0,
    ) -> None:
        live = self._interval(now)
        ep = live.endpoints.get(endpoint)
        if ep is None:
            ep = live.endpoints[endpoint] = _LiveEndpoint(self._hist(), self._hist())
        ep.requests += 1
        ep.bytes += nbytes
        if status:
            ep.status[status] = ep.status.get(status, 0) + 1
        if error is not None:
            ep.errors[error] = ep.errors.get(error, 0) + 1
        rt = min(max(response_us, LOWEST_US), HIGHEST_US)
        if corrected_interval_us > 0:
            # Closed model: add the samples a stalled user did not get to send (wrk2 / HdrHistogram
            # correction), so a stall shows in response time the way users experienced it.
            ep.rt.record_corrected_value(rt, corrected_interval_us)
        else:
            ep.rt.record_value(rt)
        ep.st.record_value(min(max(service_us, LOWEST_US), HIGHEST_US))

    def iteration_started(self, now: float, in_flight: int) -> None:
        live = self._interval(now)
        live.iterations += 1
        if in_flight > live.in_flight:
            live.in_flight = in_flight

    def iteration_dropped(self, now: float) -> None:
        self._interval(now).dropped += 1

    def users_active(self, now: float, users: int) -> None:
        live = self._interval(now)
        if users > live.users:
            live.users = users

    def close_before(self, now: float) -> dict[str, IntervalData]:
        """Encode and release every interval that ended before ``now``; returns them."""
        current = max(int((now - self.t0) / self.interval_s), 0)
        return self._close([i for i in self._live if i < current])

    def close_all(self) -> dict[str, IntervalData]:
        return self._close(list(self._live))

    def _close(self, indices: list[int]) -> dict[str, IntervalData]:
        """Encode and release intervals; returns what was added (the stream sends deltas).

        An event stamped in an interval that was already closed (an open-model arrival recorded
        at its intended time while the generator ran behind) reopens it: merge, never overwrite.
        """
        done: dict[str, IntervalData] = {}
        for idx in sorted(indices):
            key = str(idx)
            data = self._encode(self._live.pop(idx))
            done[key] = data
            earlier = self._closed.get(key)
            self._closed[key] = data if earlier is None else merge_interval_list([earlier, data])
        return done

    @property
    def intervals(self) -> dict[str, IntervalData]:
        return self._closed

    def _encode(self, live: _LiveInterval) -> IntervalData:
        endpoints: dict[str, EndpointIntervalData] = {}
        for name, ep in live.endpoints.items():
            endpoints[name] = EndpointIntervalData(
                requests=ep.requests,
                errors=dict(ep.errors),
                status={str(k): v for k, v in ep.status.items()},
                bytes=ep.bytes,
                rt=encode(ep.rt),
                st=encode(ep.st),
            )
            for h in (ep.rt, ep.st):
                h.reset()
                self._pool.append(h)
        return IntervalData(
            iterations=live.iterations,
            dropped=live.dropped,
            in_flight=live.in_flight,
            users=live.users,
            endpoints=endpoints,
        )


# -- merging ------------------------------------------------------------------------------------------


def _add_counts(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def merge_interval_list(items: list[IntervalData]) -> IntervalData:
    """Sum one interval across workers; histograms are decoded, added and re-encoded."""
    if len(items) == 1:
        return items[0]
    out = IntervalData(iterations=0, dropped=0, in_flight=0, users=0, endpoints={})
    by_endpoint: dict[str, list[EndpointIntervalData]] = {}
    for it in items:
        out["iterations"] += it["iterations"]
        out["dropped"] += it["dropped"]
        # Peaks of different workers happen at about the same time within one interval: sum them.
        out["in_flight"] += it["in_flight"]
        out["users"] += it["users"]
        for name, ep in it["endpoints"].items():
            by_endpoint.setdefault(name, []).append(ep)
    for name, eps in by_endpoint.items():
        out["endpoints"][name] = merge_endpoint_list(eps)
    return out


def merge_endpoint_list(eps: list[EndpointIntervalData]) -> EndpointIntervalData:
    if len(eps) == 1:
        return eps[0]
    rt, st = new_histogram(), new_histogram()
    merged = EndpointIntervalData(requests=0, errors={}, status={}, bytes=0, rt="", st="")
    for ep in eps:
        merged["requests"] += ep["requests"]
        merged["bytes"] += ep["bytes"]
        _add_counts(merged["errors"], ep["errors"])
        _add_counts(merged["status"], ep["status"])
        add_encoded(rt, ep["rt"])
        add_encoded(st, ep["st"])
    merged["rt"], merged["st"] = encode(rt), encode(st)
    return merged


def as_run_stats(r: WorkerResult) -> RunStats:
    """One worker's result seen as a run of one worker."""
    return RunStats(
        version=r["version"],
        interval_s=r["interval_s"],
        t0=r["t0"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        workers=1,
        workers_failed=1 if r["error"] else 0,
        stopped_early=r["stopped_early"],
        errors=[r["error"]] if r["error"] else [],
        intervals=r["intervals"],
        health=[r["health"]],
    )


def merge_results(results: Iterable[WorkerResult | RunStats]) -> RunStats:
    """Merge worker results (or already merged runs, e.g. segments) into one RunStats."""
    items = [as_run_stats(r) if "shard" in r else r for r in results]  # type: ignore[arg-type]
    if not items:
        raise ValueError("nothing to merge")
    by_interval: dict[str, list[IntervalData]] = {}
    for r in items:
        for key, data in r["intervals"].items():
            by_interval.setdefault(key, []).append(data)
    intervals = {k: merge_interval_list(v) for k, v in sorted(by_interval.items(), key=lambda kv: int(kv[0]))}
    return RunStats(
        version=RESULT_VERSION,
        interval_s=items[0]["interval_s"],
        t0=items[0]["t0"],
        started_at=min(r["started_at"] for r in items),
        ended_at=max(r["ended_at"] for r in items),
        workers=sum(r["workers"] for r in items),
        workers_failed=sum(r["workers_failed"] for r in items),
        stopped_early=any(r["stopped_early"] for r in items),
        errors=[e for r in items for e in r["errors"]],
        intervals=intervals,
        health=[h for r in items for h in r["health"]],
    )


# -- reading ------------------------------------------------------------------------------------------


@dataclass
class Aggregate:
    """Decoded totals over a set of intervals and endpoints: what a report row needs."""

    rt: HdrHistogram = field(default_factory=new_histogram)
    st: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    bytes: int = 0
    iterations: int = 0
    dropped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def add_endpoint(self, ep: EndpointIntervalData) -> None:
        self.requests += ep["requests"]
        self.bytes += ep["bytes"]
        _add_counts(self.errors, ep["errors"])
        _add_counts(self.status, ep["status"])
        add_encoded(self.rt, ep["rt"])
        add_encoded(self.st, ep["st"])


def iter_intervals(stats: RunStats | WorkerResult) -> Iterator[tuple[int, IntervalData]]:
    for key, data in stats["intervals"].items():
        yield int(key), data


def aggregate(
    stats: RunStats | WorkerResult,
    *,
    endpoint: str | None = None,
    t_range: tuple[float, float] | None = None,
) -> Aggregate:
    """Totals for one endpoint (or all) over intervals starting in ``t_range`` (plan seconds)."""
    agg = Aggregate()
    step = stats["interval_s"]
    for idx, data in iter_intervals(stats):
        t = idx * step
        if t_range is not None and not (t_range[0] - 1e-9 <= t < t_range[1] - 1e-9):
            continue
        if endpoint is None:  # iterations and drops belong to the run, not to one endpoint
            agg.iterations += data["iterations"]
            agg.dropped += data["dropped"]
        for name, ep in data["endpoints"].items():
            if endpoint is None or name == endpoint:
                agg.add_endpoint(ep)
    return agg


def percentile_ms(h: HdrHistogram, pct: float) -> float | None:
    if h.get_total_count() == 0:
        return None
    return float(h.get_value_at_percentile(pct)) / 1000.0


def stat_ms(h: HdrHistogram, stat: str, pct: float | None) -> float | None:
    if h.get_total_count() == 0:
        return None
    if pct is not None:
        return percentile_ms(h, pct)
    if stat == "min":
        return float(h.get_min_value()) / 1000.0
    if stat == "max":
        return float(h.get_max_value()) / 1000.0
    if stat == "mean":
        return float(h.get_mean_value()) / 1000.0
    raise ValueError(f"unknown statistic {stat}")
