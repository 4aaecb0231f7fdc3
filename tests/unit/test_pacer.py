"""The open model's pacer: a timerfd on Linux, the loop's timer elsewhere."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from surge.engine.pacer import EARLY_S, LoopTimerPacer, TimerFdPacer, make_pacer

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux's")


@linux_only
def test_timerfd_pacer_never_wakes_before_the_instant() -> None:
    async def main() -> list[float]:
        pacer = make_pacer(asyncio.get_running_loop())
        assert isinstance(pacer, TimerFdPacer) and pacer.early_s == EARLY_S
        lateness = []
        due = time.perf_counter()
        try:
            for _ in range(200):
                due += 0.0003  # 300 µs apart: below the loop timer's millisecond
                await pacer.sleep_until(due)
                lateness.append(time.perf_counter() - due)
        finally:
            pacer.close()
        return lateness

    lateness = asyncio.run(main())
    assert min(lateness) >= 0
    # Correctness, not speed: a sleep that lost its wake-up would hang or come back seconds late.
    assert sorted(lateness)[len(lateness) // 2] < 0.05


@linux_only
def test_timerfd_pacer_works_on_uvloop_and_closes_its_descriptor() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> int:
        loop = asyncio.get_running_loop()
        pacer = make_pacer(loop)
        assert isinstance(pacer, TimerFdPacer)
        await pacer.sleep_until(time.perf_counter() + 0.002)
        await pacer.sleep_until(time.perf_counter() - 1)  # already due: returns at once
        fd = pacer._timer.fd
        pacer.close()
        return fd

    fd = uvloop.run(main())
    with pytest.raises(OSError):
        import os

        os.fstat(fd)


def test_loop_without_file_descriptor_support_falls_back_to_its_timer() -> None:
    class NoReaders(asyncio.SelectorEventLoop):
        def add_reader(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise NotImplementedError

    loop = NoReaders()
    try:
        pacer = make_pacer(loop)
        assert isinstance(pacer, LoopTimerPacer)

        async def main() -> float:
            due = time.perf_counter() + 0.01
            await pacer.sleep_until(due)
            return time.perf_counter() - due

        # The loop's timer may wake up to its resolution (1 ms) early: the worker releases
        # arrivals due within early_s of now for that reason.
        assert loop.run_until_complete(main()) > -pacer.early_s - 0.001
    finally:
        loop.close()


def test_precise_false_picks_the_loop_timer() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(make_pacer(loop, precise=False), LoopTimerPacer)
    finally:
        loop.close()


@pytest.mark.parametrize("precise", [True, False], ids=["timerfd", "loop-timer"])
def test_wake_ends_a_long_sleep_at_once(precise: bool) -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = make_pacer(loop, precise=precise)
        loop.call_later(0.05, pacer.wake)
        t = time.perf_counter()
        try:
            await pacer.sleep_until(t + 60)
        finally:
            pacer.close()
        return time.perf_counter() - t

    assert asyncio.run(main()) < 10
