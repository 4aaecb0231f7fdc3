"""Generator health: event-loop lag and CPU. A saturated generator's latencies are not trustworthy.

CPU is measured over the load window only (``load_started`` .. ``load_ended``), as CPU time over
wall time of the event loop's own thread (what saturates is the loop: helper threads, such as the
one that ships intervals to the parent, do not delay arrivals; and workers that share a process,
as in the cloud tests' harness, each read their own share). It used to be the mean of one-second samples from the moment the worker started,
which counted the seconds it sleeps before ``t0`` (a Lambda worker sleeps off its cold start,
up to the plan's lead time) and the drain at the end: a worker pinned at 100 % of a core read
~70 % (bench/RESULTS.md). Where the kernel tells (``/proc/self/schedstat``), the time the loop
was runnable but waited for a core is measured too: a worker that shares its core (or a VM's
stolen time) is as saturated as one that uses it all, even though its CPU share reads low.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from surge.engine.pacer import Pacer, make_pacer
from surge.stats import HealthData

LAG_PROBE_S = 0.05
SATURATED_LAG_P99_MS = 25.0
SATURATED_CPU_PCT = 90.0
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _runqueue_wait_s() -> float | None:
    """Seconds this thread has waited for a CPU while runnable (Linux), or None."""
    try:
        fields = SCHEDSTAT.read_text().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


# An arrival started later than this after its intended time is late: the generator fell behind.
LATE_ARRIVAL_S = SATURATED_LAG_P99_MS / 1000.0


@dataclass
class HealthMonitor:
    worker: str
    arrivals: int = 0  # open model: arrivals that came due (started or dropped)
    late_start_s: float = 0.0  # how late the worker began its window (0: on time)
    late_arrivals: int = 0
    max_late_s: float = 0.0
    lags_ms: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)  # per second, while the load ran
    notes: list[str] = field(default_factory=list)
    _active: bool = False
    _window_wall: float = 0.0
    _window_cpu: float = 0.0
    _window_wait: float | None = 0.0
    _mark_wall: float = 0.0
    _mark_cpu: float = 0.0
    _mark_wait: float | None = None

    def load_started(self) -> None:
        """The load window begins: lag and CPU count from now on."""
        self._mark_wall, self._mark_cpu = time.perf_counter(), time.thread_time()
        self._mark_wait = _runqueue_wait_s()
        self._active = True

    def load_ended(self) -> None:
        if not self._active:
            return
        self._active = False
        self._window_wall += time.perf_counter() - self._mark_wall
        self._window_cpu += time.thread_time() - self._mark_cpu
        wait = _runqueue_wait_s()
        if wait is None or self._mark_wait is None or self._window_wait is None:
            self._window_wait = None
        else:
            self._window_wait += wait - self._mark_wait

    async def run(self, stop: asyncio.Event) -> None:
        # The probe sleeps on the precise pacer (a timerfd on Linux): the loop's own timer rounds
        # to whole milliseconds, which read as up to 1 ms of lag the loop never had.
        pacer = make_pacer(asyncio.get_running_loop())
        try:
            await self._probe(stop, pacer)
        finally:
            pacer.close()

    async def _probe(self, stop: asyncio.Event, pacer: Pacer) -> None:
        last_wall, last_cpu = time.perf_counter(), time.thread_time()
        next_cpu = last_wall + 1.0
        while not stop.is_set():
            due = time.perf_counter() + LAG_PROBE_S
            await pacer.sleep_until(due)
            now = time.perf_counter()
            if not self._active:
                last_wall, last_cpu, next_cpu = now, time.thread_time(), now + 1.0
                continue
            self.lags_ms.append(max(now - due, 0.0) * 1000)
            if now >= next_cpu:
                cpu = time.thread_time()
                self.cpu_samples.append((cpu - last_cpu) / (now - last_wall) * 100)
                last_wall, last_cpu, next_cpu = now, cpu, now + 1.0

    def cpu_pct(self) -> float:
        if self._window_wall > 0:
            return self._window_cpu / self._window_wall * 100
        return sum(self.cpu_samples) / len(self.cpu_samples) if self.cpu_samples else 0.0

    def wait_pct(self) -> float | None:
        if self._window_wall <= 0 or self._window_wait is None:
            return None
        return self._window_wait / self._window_wall * 100

    def late(self, seconds: float) -> None:
        """An arrival started this long after its time (called only when it is past due)."""
        if seconds > LATE_ARRIVAL_S:
            self.late_arrivals += 1
        if seconds > self.max_late_s:
            self.max_late_s = seconds

    def result(self, dropped: int) -> HealthData:
        self.load_ended()
        lags = sorted(self.lags_ms)
        p99 = lags[min(int(len(lags) * 0.99), len(lags) - 1)] if lags else 0.0
        peak_lag = lags[-1] if lags else 0.0
        cpu = self.cpu_pct()
        wait = self.wait_pct()
        notes = list(self.notes)
        saturated = False
        if p99 > SATURATED_LAG_P99_MS:
            saturated = True
            notes.append(
                f"{self.worker}: event-loop lag p99 {p99:.0f} ms (limit {SATURATED_LAG_P99_MS:.0f} ms)"
            )
        if cpu > SATURATED_CPU_PCT:
            saturated = True
            notes.append(
                f"{self.worker}: CPU {cpu:.0f}% of a core on average (limit {SATURATED_CPU_PCT:.0f}%)"
            )
        elif wait is not None and cpu + wait > SATURATED_CPU_PCT:
            saturated = True
            notes.append(
                f"{self.worker}: runnable {cpu + wait:.0f}% of the time (on a CPU {cpu:.0f}%, waiting "
                f"for one {wait:.0f}%): the generator shares its core (limit {SATURATED_CPU_PCT:.0f}%)"
            )
        if self.arrivals and self.late_arrivals > self.arrivals * 0.01:
            saturated = True
            notes.append(
                f"{self.worker}: {self.late_arrivals} of {self.arrivals} arrivals started more than "
                f"{LATE_ARRIVAL_S * 1000:.0f} ms late (up to {self.max_late_s * 1000:.0f} ms)"
            )
        if dropped:
            # Not saturation by itself: the in-flight cap is reached when the target slows down.
            notes.append(f"{self.worker}: {dropped} arrivals dropped at the in-flight cap")
        return HealthData(
            worker=self.worker,
            max_loop_lag_ms=round(peak_lag, 3),
            loop_lag_p99_ms=round(p99, 3),
            cpu_pct=round(cpu, 1),
            saturated=saturated,
            notes=notes,
            wait_pct=None if wait is None else round(wait, 1),
            arrivals=self.arrivals,
            dropped=dropped,
            late_arrivals=self.late_arrivals,
            max_late_ms=round(self.max_late_s * 1000, 3),
            late_start_s=round(self.late_start_s, 3),
        )
