"""Generator health: event-loop lag and CPU. A saturated generator's latencies are not trustworthy."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from surge.stats import HealthData

LAG_PROBE_S = 0.05
SATURATED_LAG_P99_MS = 25.0
SATURATED_CPU_PCT = 90.0


@dataclass
class HealthMonitor:
    worker: str
    lags_ms: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        last_wall, last_cpu = time.perf_counter(), time.process_time()
        next_cpu = last_wall + 1.0
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_S)
            now = time.perf_counter()
            self.lags_ms.append(max(now - t - LAG_PROBE_S, 0.0) * 1000)
            if now >= next_cpu:
                cpu = time.process_time()
                self.cpu_samples.append((cpu - last_cpu) / (now - last_wall) * 100)
                last_wall, last_cpu, next_cpu = now, cpu, now + 1.0

    def result(self, dropped: int) -> HealthData:
        lags = sorted(self.lags_ms)
        p99 = lags[min(int(len(lags) * 0.99), len(lags) - 1)] if lags else 0.0
        peak_lag = lags[-1] if lags else 0.0
        # Mean CPU over the run: one busy second is noise, a run-long 90 % is saturation.
        cpu = sum(self.cpu_samples) / len(self.cpu_samples) if self.cpu_samples else 0.0
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
        if dropped:
            saturated = True
            notes.append(f"{self.worker}: {dropped} arrivals dropped at the in-flight cap")
        return HealthData(
            worker=self.worker,
            max_loop_lag_ms=round(peak_lag, 3),
            loop_lag_p99_ms=round(p99, 3),
            cpu_pct=round(cpu, 1),
            saturated=saturated,
            notes=notes,
        )
