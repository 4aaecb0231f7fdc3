"""Live progress on the terminal: phase, elapsed/remaining, request rate, p95, errors, drops."""

from __future__ import annotations

import sys
from typing import TextIO

from surge.live import Snapshot
from surge.stats import AtLeast
from surge.units import format_duration

NON_TTY_EVERY_S = 5.0


class ProgressPrinter:
    """One line rewritten in place on a terminal; a line every few seconds in CI logs."""

    def __init__(self, total_s: float, stream: TextIO | None = None, *, closed: bool = False) -> None:
        self.total_s = total_s
        self.closed = closed  # closed model: show active users instead of iterations in flight
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_line = -NON_TTY_EVERY_S
        self._width = 0

    def line(self, s: Snapshot) -> str:
        elapsed = min(s.elapsed_s, self.total_s)
        p95 = f"{_ms(s.p95_ms):>10}"
        if s.target_p95_ms:  # an A/B run: one p95 per target, the mix of them would mean nothing
            p95 = " ".join(f"{name} {_ms(v)}" for name, v in s.target_p95_ms.items())
        err_pct = (s.errors / s.requests * 100) if s.requests else 0.0
        load = f"users {s.users}" if self.closed else f"in-flight {s.in_flight}"
        partial = f"  (interval from {s.reporting[0]}/{s.reporting[1]} workers)" if s.reporting else ""
        return (
            f"[{s.phase} {s.phase_index + 1}/{s.phases}] {format_clock(elapsed)}/{format_clock(self.total_s)}"
            f"  {s.rps:8.1f} req/s  p95 {p95}  errors {err_pct:5.2f}% ({s.errors})"
            f"  dropped {s.dropped}  {load}  total {s.requests}{partial}"
        )

    def __call__(self, snapshot: Snapshot, elapsed_s: float) -> None:
        text = self.line(snapshot)
        if self.tty:
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        elif elapsed_s - self._last_line >= NON_TTY_EVERY_S:
            self.stream.write(text + "\n")
            self._last_line = elapsed_s
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, AtLeast):
        return f">= {value:.0f} ms"  # it fell among timed-out requests
    return f"{value:.1f} ms"


def format_clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


__all__ = ["ProgressPrinter", "format_clock", "format_duration"]
