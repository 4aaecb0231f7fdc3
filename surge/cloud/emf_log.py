"""Where a function's Embedded Metric Format records go: its log (stdout, in Lambda), where
CloudWatch extracts the metrics. A local harness may collect them instead (``collect_into``), so
a test's output shows what failed rather than every metric line its workers wrote."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_sink: Callable[[str], None] | None = None


def emit(record: Mapping[str, Any]) -> None:
    line = json.dumps(record)
    if _sink is not None:
        _sink(line)
    else:
        print(line, flush=True)


@contextmanager
def collect_into(sink: Callable[[str], None]) -> Iterator[None]:
    """Send every record to ``sink`` (list.append is safe from the workers' threads) meanwhile."""
    global _sink
    before, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = before
