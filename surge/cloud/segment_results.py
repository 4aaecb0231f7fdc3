"""A segment's shard results in S3: which workers started, which delivered, and their merge.

Correctness never hangs on the Distributed Map's own outcome (under AWS's semantics a map can end
while Lambda invocations it made still run): every worker writes a marker when it starts and its
result when it ends, Aggregate and Report read what is in S3, and a reader waits (bounded) for the
results that can still come. A segment none of whose workers started was never launched (a stop or
abort came first): its shards are not "missing", its time simply did not run.

A large segment is merged as a tree: merge tasks (the MergeShards map) each fold a slice of the
shard results into a partial, and Aggregate folds the partials. A partial is only a shortcut for
the shard results it names: the shard results stay the record (missing shards are counted from
them), and a shard no partial covers (a failed merge task, a result that came late) is merged from
its own result. The tree changes how long a merge takes, never what it finds.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TypedDict

from surge.cloud import layout
from surge.cloud.state_io import Clients, get_json, list_keys
from surge.stats import RunStats, WorkerResult, merge_results

_RESULT = re.compile(r"shard-(\d+)\.json$")
_STARTED = re.compile(r"shard-(\d+)\.started\.json$")
_PARTIAL = re.compile(r"partial-(\d+)\.json$")
POLL_S = 1.0


class PartialResult(TypedDict):
    """A merge task's output: the named shards' results merged (``runs/<run>/seg-<k>/partial-<first>.json``)."""

    version: int
    segment: int
    shards: list[int]
    stats: RunStats


PARTIAL_VERSION = 1


@dataclass
class SegmentFiles:
    segment: int
    expected: int
    results: dict[int, str] = field(default_factory=dict)  # shard -> result key
    started: set[int] = field(default_factory=set)
    partials: dict[int, str] = field(default_factory=dict)  # first shard of the slice -> partial key
    map_ran: bool = False  # read by Aggregate: the segment's map ran, whatever its workers did
    # The shards whose results are in the segment's merge, once it is known (merge_segment, or
    # Aggregate's record of its merge): a result in S3 that is not in the merge counts as missing.
    merged: set[int] | None = None
    # The run was stopped (abort, error, stop from outside) while this segment was in flight: its
    # map was stopped too, so a shard that never started was never sent, not lost.
    stopped: bool = False

    @property
    def launched(self) -> bool:
        return self.map_ran or bool(self.started or self.results)

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.expected

    @property
    def missing(self) -> list[int]:
        """Shards of a launched segment with no result (none, for a segment never launched)."""
        if not self.launched:
            return []
        counted = set(self.results) if self.merged is None else self.merged
        absent = set(range(self.expected)) - counted
        if self.stopped:
            absent &= self.started | set(self.results)
        return sorted(absent)

    def missing_reason(self) -> str | None:
        """What the missing shards did, as far as S3 tells."""
        missing = self.missing
        if not missing:
            return None
        unmerged = [i for i in missing if i in self.results]
        crashed = [i for i in missing if i in self.started and i not in self.results]
        never = [i for i in missing if i not in self.started and i not in self.results]
        parts = []
        if unmerged:
            parts.append(
                f"{_shards(unmerged)} wrote a result that is not in the merge (after Aggregate's "
                "deadline, or when Aggregate ran out of time)"
            )
        if crashed:
            parts.append(
                f"{_shards(crashed)} started but wrote no result (crashed, or killed at Lambda's timeout)"
            )
        if never:
            parts.append(f"{_shards(never)} never started (Lambda throttling or invocation errors)")
        return f"segment {self.segment}: " + "; ".join(parts)


def _shards(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"shard{'s' if len(ids) > 1 else ''} {shown}"


def list_segment(
    clients: Clients, run_id: str, segment: int, expected: int, *, map_ran: bool = False
) -> SegmentFiles:
    files = SegmentFiles(segment, expected, map_ran=map_ran)
    for key in list_keys(clients, layout.segment_prefix(run_id, segment)):
        if m := _RESULT.search(key):
            files.results[int(m.group(1))] = key
        elif m := _STARTED.search(key):
            files.started.add(int(m.group(1)))
        elif m := _PARTIAL.search(key):
            files.partials[int(m.group(1))] = key
    return files


def await_segment(
    clients: Clients,
    run_id: str,
    segment: int,
    expected: int,
    *,
    deadline: float,
    map_ran: bool = False,
    shards: Collection[int] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SegmentFiles:
    """The segment's files once every expected result (of ``shards``, when given) exists, or what
    exists at ``deadline`` (epoch seconds): the longest a worker still running could take to write
    its result. A segment that nobody launched is not waited for."""
    while True:
        files = list_segment(clients, run_id, segment, expected, map_ran=map_ran)
        if not files.launched and not map_ran:
            return files
        done = files.complete if shards is None else all(i in files.results for i in shards)
        if done or clock() >= deadline:
            return files
        sleep(min(POLL_S, max(deadline - clock(), 0.0)))


def merge_shards(clients: Clients, files: SegmentFiles, shards: Collection[int]) -> RunStats | None:
    """The results of ``shards`` that exist, merged (None: none exists)."""
    present = sorted(i for i in set(shards) if i in files.results)
    if not present:
        return None
    # One shard's result parsed at a time: merge_results consumes an iterator in small batches, so
    # memory does not grow with the number of workers.
    results: Iterator[WorkerResult] = (get_json(clients, files.results[i]) for i in present)
    return merge_results(results)


def merge_segment(clients: Clients, files: SegmentFiles, *, deadline: float | None = None) -> RunStats | None:
    """Every shard result of the segment merged, through the partials where they cover it; sets
    ``files.merged``. With ``deadline`` (epoch seconds), no shard result is read after it: the
    merge stops short rather than outlive its Lambda, and the shards left out count as missing."""
    files.merged = set()
    if not files.results:
        return None
    parts = _segment_parts(clients, files, deadline)
    first = next(parts, None)
    if first is None:
        return None
    return merge_results(itertools.chain([first], parts))


def _segment_parts(
    clients: Clients, files: SegmentFiles, deadline: float | None
) -> Iterator[RunStats | WorkerResult]:
    """The partials that can stand for their shards and the results of the shards they do not
    cover, in shard order (the merged workers' health reads in shard order), each read from S3
    only when the merge asks for it. Records in ``files.merged`` what it handed over."""
    merged = files.merged if files.merged is not None else set()
    covered: set[int] = set()
    results = sorted(files.results)
    pos = 0

    def in_time() -> bool:
        return deadline is None or time.time() < deadline

    def uncovered_below(limit: float) -> Iterator[WorkerResult]:
        nonlocal pos
        while pos < len(results) and results[pos] < limit:
            i = results[pos]
            pos += 1
            if i not in covered and in_time():
                merged.add(i)
                yield get_json(clients, files.results[i])

    for first in sorted(files.partials):
        if not in_time():
            break
        partial: PartialResult = get_json(clients, files.partials[first])
        shards = set(partial["shards"])
        yield from uncovered_below(first)
        # Trusted only when the shards it names lie in its slice, each has a result in S3 and no
        # other partial took it: then it stands for exactly those results. Otherwise its shards
        # are merged one by one.
        if shards and min(shards) >= first and not shards & covered and shards <= files.results.keys():
            covered |= shards
            merged |= shards
            yield partial["stats"]
    yield from uncovered_below(float("inf"))


def result_deadline(end_at: str, drain_s: float, now: float, remaining_s: float) -> float:
    """When the last result of a segment ending at ``end_at`` can be expected: its end, the drain
    (requests finishing within their timeout), the upload; never past what this Lambda has left."""
    return min(
        layout.parse_iso(end_at) + drain_s + UPLOAD_GRACE_S, now + max(remaining_s - EXIT_MARGIN_S, 0.0)
    )


UPLOAD_GRACE_S = 5.0  # a worker's close, encode and upload after its window and drain
EXIT_MARGIN_S = 30.0  # what a reader keeps of its own Lambda time to merge and answer
