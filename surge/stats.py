"""Mergeable load statistics: HdrHistograms per endpoint per interval, plus counters.

A worker records into live histograms for the intervals still open and encodes each interval when
it closes (an encoded histogram is a few KB; a live one ~190 KB). Results from any number of
workers merge exactly, interval by interval, so percentiles are only ever read from merged
histograms — never averaged across workers.
"""

from __future__ import annotations

import base64
import ctypes
import struct
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NotRequired

from hdrh.histogram import HdrHistogram
from pyhdrh import add_array as _c_add_array  # hdrh's C extension
from pyhdrh import decode as _c_decode
from typing_extensions import TypedDict

from surge import hdr_read

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
    "capture",
    "too_large",
    "refused",
    "template",
    "hook",
    "interrupted",
    "other",
)

# A timed-out request's latency is at least its timeout, not a sample of it: its elapsed time is kept
# apart (a lower bound, "censored"), so a percentile that falls among timeouts reads "at least".
TIMED_OUT_CLASSES = frozenset({"timeout", "poll_timeout"})

RESULT_VERSION = 1


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def encode(h: HdrHistogram) -> str:
    raw = h.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


class DamagedHistogram(ValueError):
    """An encoded histogram that cannot be read (a stored file changed or cut short)."""


def decode(data: str) -> HdrHistogram:
    try:
        return HdrHistogram.decode(data)
    except Exception as exc:  # hdrh raises its own classes, zlib's and base64's
        raise DamagedHistogram(f"a histogram cannot be decoded ({type(exc).__name__})") from None


def add_encoded(into: HdrHistogram, data: str) -> None:
    """Add an encoded histogram's counts to ``into`` exactly as hdrh's decode_and_add does, by the
    merge's fast path (only the encoding's span of buckets is touched) when the layouts match."""
    add_encoded_into((into,), data)


def add_encoded_into(targets: Sequence[HdrHistogram], data: str) -> None:
    """:func:`add_encoded` into each of ``targets``, the encoding decoded once for all of them."""
    if not data or not targets:
        return
    same = all(h.counts_len == _SCRATCH.length for h in targets)
    payload = _payload(data) if same else None
    if payload is None:  # another layout, or not one surge wrote: let hdrh read (and judge) it
        try:
            for into in targets:
                into.decode_and_add(data)
        except Exception as exc:  # hdrh raises its own classes, zlib's and base64's
            raise DamagedHistogram(f"a histogram cannot be decoded ({type(exc).__name__})") from None
        return
    try:
        n, lo, hi = _add_payload([ctypes.addressof(h.counts) for h in targets], payload)
    except Exception as exc:  # a payload whose varints run past the counts
        raise DamagedHistogram(f"a histogram cannot be decoded ({type(exc).__name__})") from None
    if n:
        # min/max (what the percentiles and encode() read) move to these buckets, as a record would.
        low, high = targets[0].get_value_from_index(lo), targets[0].get_value_from_index(hi)
        for into in targets:
            into.total_count += n
            if low < into.min_value:
                into.min_value = low
            if high > into.max_value:
                into.max_value = high


class EndpointIntervalData(TypedDict):
    requests: int
    errors: dict[str, int]
    status: dict[str, int]
    bytes: int
    rt: str  # response time from the intended start (coordinated-omission corrected), encoded
    st: str  # service time, send -> last byte, encoded
    # Timed-out requests' elapsed times (lower bounds of their latency), encoded; absent when none.
    # Requests that got no answer otherwise (refused, reset, connect, DNS, TLS, interrupted) are
    # errors and counted, but are in neither: they measured no latency.
    rt_timeouts: NotRequired[str]
    st_timeouts: NotRequired[str]
    sent: NotRequired[int]  # request body bytes sent; absent when none (and in older results)


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
    # Absent in results written before validity checks existed:
    wait_pct: NotRequired[float | None]  # runnable but waiting for a core, share of the load window
    arrivals: NotRequired[int]  # open model: arrivals that came due (started or dropped)
    dropped: NotRequired[int]
    late_arrivals: NotRequired[int]  # started later than the loop-lag limit after their time
    max_late_ms: NotRequired[float]
    late_start_s: NotRequired[float]  # how late the worker began its window (a throttled Lambda)


class FailureSample(TypedDict):
    """One failed request as it happened: what was sent (secrets masked when the run's results
    are written), what came back, and the failure in words."""

    request: str  # "POST http://host/v1/events"
    status: int  # 0: no answer
    detail: str | None  # "status 200, expected 202", "$.id: expected exists true, got nothing", ...
    body: str | None  # the first bytes of the answer's body, when it was read
    t: float  # plan seconds


# A few failures per endpoint and error class: per worker, and merged across workers.
SAMPLES_PER_CLASS = 3
Samples = dict[str, dict[str, list[FailureSample]]]  # endpoint -> error class -> samples


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
    samples: NotRequired[Samples]  # absent in results written before failure samples existed
    target: NotRequired[str]  # an A/B run: the target this worker sent its load to


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
    samples: NotRequired[Samples]
    # An A/B run: each target's workers merged apart (the figures above are all targets together).
    targets: NotRequired[dict[str, RunStats]]


# -- recording (the worker's hot path) ------------------------------------------------------------


# The worker appends latencies to plain lists (a C-level append per sample) and moves them into
# the histograms in batches, from the 0.1 s ticker or when a list grows long: hdrh's pure-Python
# record_value (six calls per sample, ~1 µs) was the largest surge-side cost per request.
FLUSH_AT = 8192


def _index_math_matches(h: HdrHistogram) -> bool:
    """Whether hdrh's bucket layout is the one record_many inlines (checked once per version)."""
    try:
        for v in (1, 2, 1000, 2047, 2048, 4095, 123_456, 9_999_999, HIGHEST_US):
            if _counts_index(h, v) != h._counts_index_for(v):
                return False
        return hasattr(h, "counts")
    except (AttributeError, TypeError):
        return False


def _counts_index(h: HdrHistogram, v: int) -> int:
    base = h.unit_magnitude + h.sub_bucket_half_count_magnitude + 1
    bucket = (v | h.sub_bucket_mask).bit_length() - base
    return int(
        ((bucket + 1) << h.sub_bucket_half_count_magnitude)
        + (v >> (bucket + h.unit_magnitude))
        - h.sub_bucket_half_count
    )


_FAST_RECORD = _index_math_matches(new_histogram())


def record_many(h: HdrHistogram, values: list[int]) -> None:
    """Record values already clamped to [LOWEST_US, HIGHEST_US]; equal to record_value on each."""
    if not values:
        return
    if not _FAST_RECORD:
        for v in values:
            h.record_value(v)
        return
    counts = h.counts
    mask = h.sub_bucket_mask
    um = h.unit_magnitude
    shm = h.sub_bucket_half_count_magnitude
    shc = h.sub_bucket_half_count
    base = um + shm + 1
    # Latencies repeat a lot at µs resolution: count equal values first (C speed), then place each
    # distinct value once, with hdrh's own index arithmetic inlined.
    for v, n in Counter(values).items():
        bucket = (v | mask).bit_length() - base
        counts[((bucket + 1) << shm) + (v >> (bucket + um)) - shc] += n
    h.total_count += len(values)
    lo, hi = min(values), max(values)
    if lo < h.min_value:
        h.min_value = lo
    if hi > h.max_value:
        h.max_value = hi


@dataclass(slots=True)
class _LiveEndpoint:
    rt: HdrHistogram
    st: HdrHistogram
    requests: int = 0
    bytes: int = 0
    sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    rt_pending: list[int] = field(default_factory=list)
    st_pending: list[int] = field(default_factory=list)
    rt_timeouts: HdrHistogram | None = None  # made by the first timeout (most intervals have none)
    st_timeouts: HdrHistogram | None = None

    def timed_out(self, rt: int, st: int) -> None:
        if self.rt_timeouts is None or self.st_timeouts is None:
            self.rt_timeouts, self.st_timeouts = new_histogram(), new_histogram()
        self.rt_timeouts.record_value(rt)
        self.st_timeouts.record_value(st)

    def flush(self) -> None:
        if self.rt_pending:
            record_many(self.rt, self.rt_pending)
            self.rt_pending = []
        if self.st_pending:
            record_many(self.st, self.st_pending)
            self.st_pending = []


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
        # The interval most samples go to, and the plan-time span it covers.
        self._cur: _LiveInterval | None = None
        self._cur_lo = 0.0
        self._cur_hi = 0.0
        self.samples: Samples = {}

    def sample(self, endpoint: str, error: str, sample: FailureSample) -> None:
        """Keep the first few failures of each endpoint and class (a dict lookup past that)."""
        kept = self.samples.setdefault(endpoint, {}).setdefault(error, [])
        if len(kept) < SAMPLES_PER_CLASS:
            kept.append(sample)

    def _interval(self, now: float) -> _LiveInterval:
        x = now - self.t0
        cur = self._cur
        if cur is not None and self._cur_lo <= x < self._cur_hi:
            return cur
        idx = max(int(x / self.interval_s), 0)
        live = self._live.get(idx)
        if live is None:
            live = self._live[idx] = _LiveInterval()
        self._cur = live
        self._cur_lo = idx * self.interval_s if idx > 0 else float("-inf")
        self._cur_hi = (idx + 1) * self.interval_s
        return live

    def _hist(self) -> HdrHistogram:
        return new_histogram()

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
        sent: int = 0,
    ) -> None:
        live = self._interval(now)
        ep = live.endpoints.get(endpoint)
        if ep is None:
            ep = live.endpoints[endpoint] = _LiveEndpoint(self._hist(), self._hist())
        ep.requests += 1
        ep.bytes += nbytes
        ep.sent += sent
        if status:
            ep.status[status] = ep.status.get(status, 0) + 1
        rt = (
            response_us
            if LOWEST_US <= response_us <= HIGHEST_US
            else min(max(response_us, LOWEST_US), HIGHEST_US)
        )
        if error is not None:
            ep.errors[error] = ep.errors.get(error, 0) + 1
            if error in TIMED_OUT_CLASSES:
                ep.timed_out(rt, min(max(service_us, LOWEST_US), HIGHEST_US))
                return
            if not status and not is_stage(endpoint):
                return  # no answer (refused, reset, connect, ...): an error, not a latency
        pending = ep.rt_pending
        pending.append(rt)
        if 0 < corrected_interval_us < rt:
            # Closed model: add the samples a stalled user did not get to send (wrk2 / HdrHistogram
            # record_corrected_value), so a stall shows in response time the way users experienced it.
            v = rt - corrected_interval_us
            while True:
                pending.append(v)
                if v <= corrected_interval_us:
                    break
                v -= corrected_interval_us
        ep.st_pending.append(
            service_us
            if LOWEST_US <= service_us <= HIGHEST_US
            else min(max(service_us, LOWEST_US), HIGHEST_US)
        )
        if len(pending) >= FLUSH_AT:
            ep.flush()

    def flush(self) -> None:
        """Move pending samples into the histograms (the worker's ticker calls it every 0.1 s)."""
        for live in self._live.values():
            for ep in live.endpoints.values():
                ep.flush()

    def iteration_started(self, now: float, in_flight: int) -> None:
        live = self._interval(now)
        live.iterations += 1
        if in_flight > live.in_flight:
            live.in_flight = in_flight

    def iteration_dropped(self, now: float, count: int = 1) -> None:
        self._interval(now).dropped += count

    def users_active(self, now: float, users: int) -> None:
        live = self._interval(now)
        if users > live.users:
            live.users = users

    def index_at(self, now: float) -> int:
        """The index of the interval ``now`` falls in (every earlier one is closed by close_before)."""
        return max(int((now - self.t0) / self.interval_s), 0)

    def close_before(self, now: float) -> dict[str, IntervalData]:
        """Encode and release every interval that ended before ``now``; returns them."""
        current = max(int((now - self.t0) / self.interval_s), 0)
        done = self._close([i for i in self._live if i < current])
        self.flush()  # the still-open intervals: keeps the pending lists short
        return done

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
            live = self._live.pop(idx)
            if live is self._cur:
                self._cur = None  # a late event must reopen the interval, not land in this one
            data = self._encode(live)
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
            ep.flush()
            data = endpoints[name] = EndpointIntervalData(
                requests=ep.requests,
                errors=dict(ep.errors),
                status={str(k): v for k, v in ep.status.items()},
                bytes=ep.bytes,
                rt=encode(ep.rt),
                st=encode(ep.st),
            )
            if ep.rt_timeouts is not None and ep.st_timeouts is not None:
                data["rt_timeouts"] = encode(ep.rt_timeouts)
                data["st_timeouts"] = encode(ep.st_timeouts)
            if ep.sent:
                data["sent"] = ep.sent
            # Closed histograms are dropped, not reset and reused: hdrh's reset() walks all ~23k
            # counters in Python (0.7 ms each, two per endpoint, inside the event loop at every
            # interval close), while a new histogram costs ~0.01 ms.
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
    merged = EndpointIntervalData(requests=0, errors={}, status={}, bytes=0, rt="", st="")
    for ep in eps:
        merged["requests"] += ep["requests"]
        merged["bytes"] += ep["bytes"]
        if "sent" in ep:
            merged["sent"] = merged.get("sent", 0) + ep["sent"]
        _add_counts(merged["errors"], ep["errors"])
        _add_counts(merged["status"], ep["status"])
    merged["rt"] = merge_encoded([ep["rt"] for ep in eps])
    merged["st"] = merge_encoded([ep["st"] for ep in eps])
    if any("rt_timeouts" in ep for ep in eps):
        merged["rt_timeouts"] = merge_encoded([ep.get("rt_timeouts", "") for ep in eps])
        merged["st_timeouts"] = merge_encoded([ep.get("st_timeouts", "") for ep in eps])
    return merged


# Merging used hdrh's decode_and_add: each call builds a full 23k-counter histogram and adds the
# arrays (63 µs), although a worker's one-second histogram holds a few dozen values. Then a
# pure-Python reader of the V2 varints (~11 µs, 80 % of a 1000-shard merge). Now hdrh's own C
# varint decoder writes one encoding's counts into a scratch array, and only the span between its
# lowest and highest bucket is added and cleared (~3 µs for a sparse or a dense one alike).
_V2_COMPRESSED_COOKIE = 0x1C849304  # hdrh's V2 compression cookie; bits 4-7 hold the word size
_HEADER = struct.Struct(">iiiiqqd")
_WORD = 8  # bytes per counter: hdrh's V2 encoding and its in-memory counts (c_ulong)


def _payload(data: str) -> bytes | None:
    """The decompressed V2 payload of an encoding made with surge's settings, else None."""
    try:
        raw = base64.b64decode(data)
        cookie, length = struct.unpack_from(">ii", raw, 0)
        if cookie & ~0xF0 != _V2_COMPRESSED_COOKIE:
            return None
        payload = zlib.decompress(raw[8 : 8 + length])
        _, _, offset, digits, lowest, highest, _ = _HEADER.unpack_from(payload, 0)
    except (ValueError, struct.error, zlib.error):
        return None
    if offset != 0 or digits != SIGNIFICANT_DIGITS or lowest != LOWEST_US or highest != HIGHEST_US:
        return None
    return payload


class _Scratch(threading.local):
    """One zeroed counts array per thread, for the C decoder to write into."""

    def __init__(self) -> None:
        self.length = new_histogram().counts_len
        self.counts = (ctypes.c_uint64 * self.length)()
        self.address = ctypes.addressof(self.counts)


_SCRATCH = _Scratch()


def _add_payload(counts_addresses: Sequence[int], payload: bytes) -> tuple[int, int, int]:
    """Add one payload's counts to the counts at each address: (total, lowest index, highest)."""
    scratch = _SCRATCH
    got = _c_decode(payload, _HEADER.size, scratch.address, scratch.length, _WORD)
    total, lo, hi = int(got["total"]), int(got["min_nonzero_index"]), int(got["max_nonzero_index"])
    if total <= 0 or lo < 0:
        return 0, -1, -1
    span = hi - lo + 1
    for counts_address in counts_addresses:
        _c_add_array(counts_address + lo * _WORD, scratch.address + lo * _WORD, span, _WORD)
    ctypes.memset(scratch.address + lo * _WORD, 0, span * _WORD)
    return total, lo, hi


def clear_histogram(h: HdrHistogram) -> None:
    """hdrh's reset() (which zeroes every bucket in a Python loop: ~1 ms), over the buckets between
    the recorded minimum and maximum only; percentile reads kept on it are dropped."""
    if h.total_count:
        lo = h._counts_index_for(h.min_value) if h.min_value < h.highest_trackable_value else 0
        hi = min(h._counts_index_for(h.max_value), h.counts_len - 1)
        if lo > hi:
            lo, hi = 0, h.counts_len - 1
        ctypes.memset(ctypes.addressof(h.counts) + lo * _WORD, 0, (hi - lo + 1) * _WORD)
    h.total_count = 0
    h.min_value = sys.maxsize
    h.max_value = 0
    if hasattr(h, "_surge_cumulative"):
        del h._surge_cumulative


def add_histogram(into: HdrHistogram, src: HdrHistogram) -> None:
    """Add ``src``'s counts to ``into`` (same layout), only the span of buckets ``src`` uses, with
    its true min and max (hdrh's own add reads an empty histogram's min as 0)."""
    n = src.get_total_count()
    if not n:
        return
    if into.counts_len != src.counts_len:
        into.add(src)
        return
    lo, hi = src._counts_index_for(src.min_value), src._counts_index_for(src.max_value)
    _c_add_array(
        ctypes.addressof(into.counts) + lo * _WORD,
        ctypes.addressof(src.counts) + lo * _WORD,
        hi - lo + 1,
        _WORD,
    )
    into.total_count += n
    if src.min_value < into.min_value:
        into.min_value = src.min_value
    if src.max_value > into.max_value:
        into.max_value = src.max_value


def merge_encoded(encoded: list[str]) -> str:
    """Merge encoded histograms exactly (the same counts as hdrh's decode_and_add on each)."""
    items = [e for e in encoded if e]
    if not items:
        return encode(new_histogram())
    if len(items) == 1:
        return items[0]
    h = new_histogram()
    address = ctypes.addressof(h.counts)
    total = 0
    lo = hi = -1
    for e in items:
        payload = _payload(e)
        if payload is None:
            h.decode_and_add(e)  # another layout: let hdrh do it
            continue
        n, a, b = _add_payload((address,), payload)
        if n:
            total += n
            lo = a if lo < 0 or a < lo else lo
            hi = b if b > hi else hi
    if total:
        h.total_count += total
        # A zero-count record moves min/max (what encode() and the percentiles read) to these buckets.
        h.record_value(h.get_value_from_index(lo), 0)
        h.record_value(h.get_value_from_index(hi), 0)
    return encode(h)


def as_run_stats(r: WorkerResult) -> RunStats:
    """One worker's result seen as a run of one worker (of its target, in an A/B run)."""
    stats = _one_worker(r)
    if "target" in r:
        stats["targets"] = {r["target"]: _one_worker(r)}
    return stats


def _one_worker(r: WorkerResult) -> RunStats:
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
        **({"samples": r["samples"]} if "samples" in r else {}),  # type: ignore[typeddict-item]
    )


# merge_results folds its input in batches of this many results, so a generator that loads one
# worker result at a time is merged in memory that does not grow with the number of workers
# (a 10-minute, 10-endpoint worker result is ~2.4 MB of JSON and ~10 MB as Python objects).
MERGE_BATCH = 32


def merge_results(results: Iterable[WorkerResult | RunStats]) -> RunStats:
    """Merge worker results (or already merged runs, e.g. segments) into one RunStats.

    ``results`` is consumed once, in batches: pass a generator that loads each result when asked
    for it, and peak memory is one batch plus the merged intervals, whatever the worker count.
    """
    merged: RunStats | None = None
    batch: list[RunStats] = []
    for r in results:
        batch.append(as_run_stats(r) if "shard" in r else r)  # type: ignore[arg-type]
        if len(batch) >= MERGE_BATCH:
            merged = _merge_batch(batch if merged is None else [merged, *batch])
            batch = []
    if batch:
        merged = _merge_batch(batch if merged is None else [merged, *batch])
    if merged is None:
        raise ValueError("nothing to merge")
    return merged


def _merge_batch(items: list[RunStats]) -> RunStats:
    by_interval: dict[str, list[IntervalData]] = {}
    for r in items:
        for key, data in r["intervals"].items():
            by_interval.setdefault(key, []).append(data)
    intervals = {k: merge_interval_list(v) for k, v in sorted(by_interval.items(), key=lambda kv: int(kv[0]))}
    merged = RunStats(
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
        samples=merge_samples(r.get("samples") or {} for r in items),
    )
    # An A/B run: each target's figures merged apart, as the whole run's are (one level deep).
    by_target: dict[str, list[RunStats]] = {}
    for r in items:
        for name, part in (r.get("targets") or {}).items():
            by_target.setdefault(name, []).append(part)
    if by_target:
        merged["targets"] = {name: _merge_batch(parts) for name, parts in by_target.items()}
    return merged


def merge_samples(parts: Iterable[Samples]) -> Samples:
    """The first few failures of each endpoint and class, in the order the parts come (shards)."""
    out: Samples = {}
    for part in parts:
        for endpoint, by_class in part.items():
            for error, samples in by_class.items():
                kept = out.setdefault(endpoint, {}).setdefault(error, [])
                kept.extend(samples[: max(SAMPLES_PER_CLASS - len(kept), 0)])
    return out


# -- reading ------------------------------------------------------------------------------------------


@dataclass
class Aggregate:
    """Decoded totals over a set of intervals and endpoints: what a report row needs."""

    rt: HdrHistogram = field(default_factory=new_histogram)
    st: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    bytes: int = 0
    bytes_sent: int = 0
    iterations: int = 0
    dropped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    # Timed-out requests' elapsed times (response, service): lower bounds, read by latency_stat as
    # "at least". Made by the first timeout: most scopes have none, and a histogram is 180 KB of
    # counters to allocate and zero (a report builds hundreds of aggregates).
    _timeouts: tuple[HdrHistogram, HdrHistogram] | None = field(default=None, repr=False)

    @property
    def rt_timeouts(self) -> HdrHistogram:
        return self._timeouts[0] if self._timeouts is not None else _NO_TIMEOUTS

    @property
    def st_timeouts(self) -> HdrHistogram:
        return self._timeouts[1] if self._timeouts is not None else _NO_TIMEOUTS

    def _timeouts_to_add(self) -> tuple[HdrHistogram, HdrHistogram]:
        if self._timeouts is None:
            self._timeouts = (new_histogram(), new_histogram())
        return self._timeouts

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def answered(self) -> int:
        """Requests that got an answer (any HTTP status, or an AWS response)."""
        return sum(self.status.values())

    def add_endpoint(self, ep: EndpointIntervalData) -> None:
        add_endpoint_into((self,), ep)

    def add(self, other: Aggregate) -> None:
        """Add another aggregate's totals (a batch into the scope's total: no interval decoded twice)."""
        self.requests += other.requests
        self.bytes += other.bytes
        self.bytes_sent += other.bytes_sent
        self.iterations += other.iterations
        self.dropped += other.dropped
        _add_counts(self.errors, other.errors)
        _add_counts(self.status, other.status)
        add_histogram(self.rt, other.rt)
        add_histogram(self.st, other.st)
        if other._timeouts is not None:
            rt_timeouts, st_timeouts = self._timeouts_to_add()
            add_histogram(rt_timeouts, other._timeouts[0])
            add_histogram(st_timeouts, other._timeouts[1])

    def clear(self) -> None:
        """Empty again, for the next interval (a one-pass reader reuses one scratch aggregate rather
        than allocating two histograms per interval). Only the buckets between the recorded minimum
        and maximum are zeroed: the adds above keep both exact."""
        for h in (self.rt, self.st):
            clear_histogram(h)
        self._timeouts = None
        self.requests = self.bytes = self.bytes_sent = self.iterations = self.dropped = 0
        self.errors = {}
        self.status = {}

    def latency(self, which: str, stat: str, pct: float | None) -> float | None:
        """A statistic of the response time ("latency") or service time in ms: a float, an
        :class:`AtLeast` when it falls among timed-out requests, None without data."""
        if which == "latency":
            return latency_stat(self.rt, self.rt_timeouts, stat, pct)
        return latency_stat(self.st, self.st_timeouts, stat, pct)


def add_endpoint_into(aggs: Sequence[Aggregate], ep: EndpointIntervalData) -> None:
    """One endpoint's interval added to each of ``aggs``, each histogram decoded once for all."""
    for agg in aggs:
        agg.requests += ep["requests"]
        agg.bytes += ep["bytes"]
        agg.bytes_sent += ep.get("sent", 0)
        _add_counts(agg.errors, ep["errors"])
        _add_counts(agg.status, ep["status"])
    add_encoded_into([agg.rt for agg in aggs], ep["rt"])
    add_encoded_into([agg.st for agg in aggs], ep["st"])
    if ep.get("rt_timeouts") or ep.get("st_timeouts"):
        timeouts = [agg._timeouts_to_add() for agg in aggs]
        add_encoded_into([t[0] for t in timeouts], ep.get("rt_timeouts", ""))
        add_encoded_into([t[1] for t in timeouts], ep.get("st_timeouts", ""))


# What an aggregate without timeouts reads as its timeouts: empty, and never added to (only
# Aggregate._timeouts_to_add's own histograms are).
_NO_TIMEOUTS = new_histogram()


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
    for _, data in _intervals_in(stats, t_range):
        _add_interval(agg, data, endpoint)
    return agg


# A scope's batches of consecutive intervals: the batch means its uncertainty is read from.
BATCHES = 30


def batch_aggregates(
    stats: RunStats | WorkerResult,
    *,
    endpoint: str | None = None,
    t_range: tuple[float, float] | None = None,
    batches: int = BATCHES,
) -> list[Aggregate]:
    """The same totals as :func:`aggregate`, cut into up to ``batches`` runs of consecutive
    intervals (equal in count): the batch means the run's uncertainty is read from."""
    chosen = sorted(_intervals_in(stats, t_range), key=lambda item: item[0])
    if not chosen:
        return []
    size = -(-len(chosen) // max(batches, 1))
    out: list[Aggregate] = []
    for start in range(0, len(chosen), size):
        agg = Aggregate()
        for _, data in chosen[start : start + size]:
            _add_interval(agg, data, endpoint)
        out.append(agg)
    return out


def _intervals_in(
    stats: RunStats | WorkerResult, t_range: tuple[float, float] | None
) -> list[tuple[int, IntervalData]]:
    step = stats["interval_s"]
    return [
        (idx, data)
        for idx, data in iter_intervals(stats)
        if t_range is None or t_range[0] - 1e-9 <= idx * step < t_range[1] - 1e-9
    ]


def _add_interval(agg: Aggregate, data: IntervalData, endpoint: str | None) -> None:
    if endpoint is None:  # iterations and drops belong to the run, not to one endpoint
        agg.iterations += data["iterations"]
        agg.dropped += data["dropped"]
    for name, ep in data["endpoints"].items():
        if name == endpoint or (endpoint is None and not is_stage(name)):
            agg.add_endpoint(ep)


STAGE_PREFIX = "stage:"  # stage metrics (flow stages, poll waits) ride with the endpoints


def is_stage(name: str) -> bool:
    """Stage entries are timings of parts of a flow, not requests: they stay out of HTTP totals."""
    return name.startswith(STAGE_PREFIX)


class AtLeast(float):
    """A lower bound in ms: the statistic fell among timed-out requests, whose latency is known
    only to be at least their timeout. A ``<`` check on it cannot pass."""

    def __repr__(self) -> str:
        return f"AtLeast({float(self)!r})"


def _value_at_rank(h: HdrHistogram, rank: int) -> float:
    """The rank-th smallest value (1-based) recorded in h, in µs."""
    total = h.get_total_count()
    return float(hdr_read.value_at_percentile(h, min(rank / total * 100.0, 100.0)))


def latency_stat(
    samples: HdrHistogram, timed_out: HdrHistogram, stat: str, pct: float | None
) -> float | None:
    """A latency statistic in ms with timeouts counted as what they are: values of at least their
    elapsed time, placed above every answered request. A percentile whose rank falls among them,
    the max and the mean are then :class:`AtLeast`."""
    n = samples.get_total_count()
    cut = timed_out.get_total_count()
    if not cut:
        return stat_ms(samples, stat, pct)
    if pct is not None:
        rank = max(int(pct / 100.0 * (n + cut) + 0.5), 1)
        if rank <= n:
            return _value_at_rank(samples, rank) / 1000.0
        return AtLeast(_value_at_rank(timed_out, rank - n) / 1000.0)
    if stat == "min":
        low = float(timed_out.get_min_value())
        if n and samples.get_min_value() <= low:
            return float(samples.get_min_value()) / 1000.0
        return AtLeast(low / 1000.0)
    if stat == "max":
        return AtLeast(
            max(float(timed_out.get_max_value()), float(samples.get_max_value()) if n else 0.0) / 1000.0
        )
    if stat == "mean":
        total = hdr_read.mean(timed_out) * cut + (hdr_read.mean(samples) * n if n else 0.0)
        return AtLeast(float(total) / (n + cut) / 1000.0)
    raise ValueError(f"unknown statistic {stat}")


def percentile_ms(h: HdrHistogram, pct: float) -> float | None:
    if h.get_total_count() == 0:
        return None
    return float(hdr_read.value_at_percentile(h, pct)) / 1000.0


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
        return float(hdr_read.mean(h)) / 1000.0
    raise ValueError(f"unknown statistic {stat}")
