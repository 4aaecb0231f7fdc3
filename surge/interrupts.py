"""Stop requests from signals: Ctrl-C (SIGINT), SIGTERM (CI cancellations, `timeout`, container
stops) and SIGHUP (a closed terminal) all stop a run the same way, keeping what it measured.

The handlers only record the request; the runner polls it, stops the workers and writes the
partial report. A second signal stops waiting for in-flight requests; a third gives up at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGHUP"):
    SIGNALS[signal.SIGHUP] = "SIGHUP"

# Exit codes after a stop by signal: 128 + the signal's number, as shells report them.
EXIT_CODES = {name: 128 + int(sig) for sig, name in SIGNALS.items()}


class StopRequests:
    """What signals asked for so far. ``reason`` is the first signal's name."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.count = 0
        self.event = threading.Event()

    @property
    def requested(self) -> bool:
        return self.count > 0

    @property
    def forced(self) -> bool:
        """A second signal: stop waiting for in-flight requests."""
        return self.count > 1

    def request(self, reason: str) -> None:
        self.count += 1
        if self.reason is None:
            self.reason = reason
        self.event.set()

    def exit_code(self) -> int:
        return EXIT_CODES.get(self.reason or "", 130)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.count >= 2:
            raise KeyboardInterrupt  # a third: the user means it
        self.request(SIGNALS.get(signal.Signals(signum), f"signal {signum}"))

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequests]:
        """Handle the stop signals while the block runs (main thread only), then restore them."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def ignore_stop_signals() -> None:
    """In a worker process: the parent decides; workers follow its stop event, so a signal sent
    to the whole process group (a terminal's Ctrl-C, a CI runner's SIGTERM) loses nothing."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
