"""Sub-millisecond sleeps for the open model's arrival schedule.

The event loop's timers have millisecond resolution (libuv's clock, and asyncio's selector timeout
is rounded to whole milliseconds), so sleeping until each arrival's instant wakes up to 1 ms late,
and arrivals bunch into 1 ms batches: at tens of thousands per second a batch is dozens of
requests that the target answers together and the client then reads one after another — its own
queueing, reported as the service's latency. On Linux a timerfd armed in nanoseconds and watched
by the loop like any socket wakes it within microseconds, without spinning. Elsewhere (or when the
loop cannot watch a file descriptor) the pacer falls back to the loop's own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Callable
from typing import Protocol

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1

# Arrivals due within this much of now are released at once. A wake-up costs ~25 µs of CPU here
# (the timer's interrupt, epoll, the read): one per arrival cost 20 points of CPU at 22k/s, while
# half-millisecond batches cost 2 and kept the p99 as close to wrk's (bench/RESULTS.md).
EARLY_S = 0.0005
# The loop's own timer: wake this much early and release what is due within it (its resolution).
COARSE_EARLY_S = 0.001


class Pacer(Protocol):
    early_s: float

    async def sleep_until(self, due: float) -> None: ...

    def wake(self) -> None:
        """End the current sleep now (a stop request must not wait for the next arrival)."""

    def close(self) -> None: ...


def resolve(waiter: asyncio.Future[None] | None) -> None:
    """Wake whoever awaits ``waiter`` (if anyone still does)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class LoopTimerPacer:
    """The loop's own (millisecond) timer: portable, coarse."""

    early_s = COARSE_EARLY_S

    def __init__(
        self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._loop = loop
        self._clock = clock
        self._waiter: asyncio.Future[None] | None = None

    async def sleep_until(self, due: float) -> None:
        delay = due - self._clock()
        if delay <= 0:
            return
        waiter = self._waiter = self._loop.create_future()
        handle = self._loop.call_later(delay, resolve, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None

    def wake(self) -> None:
        resolve(self._waiter)

    def close(self) -> None:
        self.wake()


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _TimerFd:
    """timerfd_create/timerfd_settime: os's on Python 3.13+, libc's through ctypes before."""

    def __init__(self) -> None:
        self._settime: Callable[[float], None]
        if sys.version_info >= (3, 13):
            self.fd = os.timerfd_create(CLOCK_MONOTONIC, flags=TFD_NONBLOCK | TFD_CLOEXEC)
            fd = self.fd

            def settime(at: float) -> None:
                os.timerfd_settime(fd, flags=TFD_TIMER_ABSTIME, initial=at)

            self._settime = settime
            return
        # The process's own symbols include libc's; find_library would run ldconfig to find it.
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime_c = libc.timerfd_create, libc.timerfd_settime
        create.argtypes = [ctypes.c_int, ctypes.c_int]
        create.restype = ctypes.c_int
        settime_c.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        settime_c.restype = ctypes.c_int
        fd = create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd = fd
        spec = _Itimerspec()
        ref = ctypes.byref(spec)

        def settime_ctypes(at: float) -> None:
            sec = int(at)
            spec.it_value.tv_sec = sec
            spec.it_value.tv_nsec = max(1, int((at - sec) * 1e9))  # 0/0 would disarm the timer
            if settime_c(fd, TFD_TIMER_ABSTIME, ref, None) != 0:
                raise OSError(ctypes.get_errno(), "timerfd_settime")

        self._settime = settime_ctypes

    def arm(self, at: float) -> None:
        """Fire at `at` on CLOCK_MONOTONIC (time.monotonic's and, on Linux, perf_counter's clock)."""
        self._settime(at)

    def drain(self) -> None:
        # A timer re-armed since it fired has nothing to read.
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


class TimerFdPacer:
    """A timerfd watched by the loop: wakes within microseconds of `due`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, early_s: float = EARLY_S) -> None:
        self.early_s = early_s
        self._loop = loop
        self._timer = _TimerFd()
        self._waiter: asyncio.Future[None] | None = None
        try:
            loop.add_reader(self._timer.fd, self._on_fire)
        except BaseException:
            self._timer.close()
            raise

    def _on_fire(self) -> None:
        self._timer.drain()
        resolve(self._waiter)

    def wake(self) -> None:
        resolve(self._waiter)

    async def sleep_until(self, due: float) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._timer.arm(due)
        try:
            await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.wake()
        self._loop.remove_reader(self._timer.fd)
        self._timer.close()


def _clock_is_monotonic() -> bool:
    """perf_counter is CLOCK_MONOTONIC on Linux; check rather than assume."""
    info = time.get_clock_info("perf_counter")
    return info.implementation.startswith("clock_gettime(CLOCK_MONOTONIC)")


def make_pacer(loop: asyncio.AbstractEventLoop, *, precise: bool = True, early_s: float = EARLY_S) -> Pacer:
    """The precise pacer where the platform has one, else the loop's timer."""
    if precise and sys.platform.startswith("linux") and _clock_is_monotonic():
        try:
            return TimerFdPacer(loop, early_s)
        except (OSError, AttributeError, NotImplementedError):
            pass  # no timerfd, or a loop that cannot watch file descriptors
    return LoopTimerPacer(loop)
