"""CloudWatch Logs Insights: start a ``stats`` query, poll it to completion, read its one row."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from surge.metrics.aws import describe_error, error_code, with_retries

DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})


@dataclass
class LogsOutcome:
    values: dict[str, float | None] = field(default_factory=dict)  # by result field name
    notes: list[str] = field(default_factory=list)


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_stats_row(
    results: Sequence[Sequence[Mapping[str, Any]]], fields: Sequence[str]
) -> dict[str, float | None]:
    """The first row of a ``stats`` result as numbers; a field the row lacks has no data."""
    row = {c.get("field"): c.get("value") for c in results[0]} if results else {}
    return {f: (_number(row[f]) if f in row else None) for f in fields}


def run_insights_query(
    client: Any,
    *,
    log_group: str,
    query: str,
    fields: Sequence[str],
    start: float,
    end: float,
    sleep: Callable[[float], None],
    now: Callable[[], float],
    timeout_s: float = 60.0,
    poll_s: float = 1.0,
) -> LogsOutcome:
    """Run one query over [start, end]; on failure or timeout every field is None with a note."""
    empty = {f: None for f in fields}
    try:
        started = with_retries(
            lambda: client.start_query(
                logGroupNames=[log_group],
                startTime=math.floor(start),
                endTime=math.ceil(end),
                queryString=query,
            ),
            sleep=sleep,
        )
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            note = f"log group {log_group} does not exist (wrong function name, or never invoked?)"
        else:
            note = f"Logs Insights on {log_group}: {describe_error(exc, 'logs:StartQuery')}"
        return LogsOutcome(dict(empty), [note])
    query_id = started["queryId"]
    deadline = now() + timeout_s
    while True:
        try:
            page = with_retries(lambda: client.get_query_results(queryId=query_id), sleep=sleep)
        except Exception as exc:
            return LogsOutcome(
                dict(empty), [f"Logs Insights on {log_group}: {describe_error(exc, 'logs:GetQueryResults')}"]
            )
        status = page.get("status", "Unknown")
        if status == "Complete":
            values = parse_stats_row(page.get("results", []), fields)
            notes = []
            if all(v is None for v in values.values()):
                notes.append(f"Logs Insights on {log_group} found no matching log lines in the window")
            return LogsOutcome(values, notes)
        if status in DONE:
            return LogsOutcome(dict(empty), [f"Logs Insights query on {log_group} ended {status}"])
        if now() >= deadline:
            # Best effort: an abandoned query still stops by itself at Logs Insights' own limit.
            with contextlib.suppress(Exception):
                client.stop_query(queryId=query_id)
            return LogsOutcome(
                dict(empty),
                [
                    f"Logs Insights query on {log_group} did not finish within {timeout_s:g} s (still {status}): no data"
                ],
            )
        sleep(poll_s)
