"""A segment merged as a tree (merge tasks' partials, then Aggregate's fold) equals the flat merge of
its shard results: on generated results with missing shards, empty intervals, failed merge tasks
and partials that cannot be trusted."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from surge.cloud import layout
from surge.cloud.merge_slice import merge_slice
from surge.cloud.planner import merge_slices
from surge.cloud.segment_results import PARTIAL_VERSION, list_segment, merge_segment
from surge.plan_load import parse_plan
from surge.stats import Recorder, RunStats, WorkerResult, decode, merge_results

RUN = "tree-unit"
BUCKET = "b"


class FakeS3:
    """The four calls the segment readers make, on a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[Key] = Body

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}

    def list_objects_v2(self, Bucket: str, Prefix: str, **_: Any) -> dict[str, Any]:
        return {"Contents": [{"Key": k} for k in sorted(self.objects) if k.startswith(Prefix)]}

    def get_paginator(self, _: str) -> Any:
        s3 = self

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
                return [s3.list_objects_v2(Bucket, Prefix)]

        return Pages()


class FakeClients:
    bucket = BUCKET
    table = "t"
    event_bus = "e"

    def __init__(self) -> None:
        self.s3 = FakeS3()
        self.dynamodb = None

    def client(self, service: str) -> Any:
        raise AssertionError(service)

    def remaining_time_ms(self) -> int:
        return 0  # no waiting for results that are not there


def shard_result(shard: int, shards: int, samples: list[tuple[int, int, int]]) -> WorkerResult:
    rec = Recorder(0.0, 1.0)
    for second, endpoint, latency_us in samples:
        t = second + 0.5
        rec.iteration_started(t, 1)
        rec.record(f"GET /e{endpoint}", t, latency_us, latency_us // 2, 200, None, 100)
    rec.close_all()
    return WorkerResult(
        version=1,
        worker=f"w{shard}",
        shard=shard,
        shards=shards,
        interval_s=1.0,
        t0=1.7e9,
        window=[0.0, 10.0],
        started_at=1.7e9 + shard,
        ended_at=1.7e9 + 10 + shard,
        stopped_early=False,
        error=None,
        intervals=rec.intervals,
        health={
            "worker": f"w{shard}",
            "max_loop_lag_ms": 1.0,
            "loop_lag_p99_ms": 1.0,
            "cpu_pct": 1.0,
            "saturated": False,
            "notes": [],
        },
    )


def canonical(stats: RunStats) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(stats))
    out["health"].sort(key=lambda h: h["worker"])  # order is not part of the result
    out["errors"].sort()
    for interval in out["intervals"].values():
        for ep in interval["endpoints"].values():
            for name in ("rt", "st"):
                h = decode(ep[name])
                ep[name] = [h.get_total_count(), h.get_min_value(), h.get_max_value(), list(h.counts)]
    return out


def segment(clients: FakeClients, shards: int, present: list[int], samples: dict[int, list[Any]]) -> None:
    plan = parse_plan(
        {
            "name": "p",
            "target": "http://127.0.0.1:1",
            "load": {"phases": [{"duration": "10s", "rate": 1}]},
            "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
        }
    )
    clients.s3.put_object(
        Bucket=BUCKET,
        Key=layout.plan_key(RUN),
        Body=json.dumps(plan.model_dump(mode="json", by_alias=True)).encode(),
    )
    for i in present:
        body = json.dumps(shard_result(i, shards, samples.get(i, []))).encode()
        clients.s3.put_object(Bucket=BUCKET, Key=layout.shard_key(RUN, 0, i), Body=body)


def spec(shards: int) -> dict[str, Any]:
    return {"index": 0, "shard_count": shards, "end_at": "2020-01-01T00:00:00Z"}


samples_of = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(1, 5_000_000)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    shards=st.integers(2, 14),
    data=st.data(),
)
def test_tree_merge_equals_flat_merge(shards: int, data: st.DataObject) -> None:
    clients = FakeClients()
    present = sorted(data.draw(st.sets(st.integers(0, shards - 1), min_size=1)))
    samples = {i: data.draw(samples_of) for i in present}
    segment(clients, shards, present, samples)
    size = data.draw(st.integers(1, shards))
    slices = [[first, min(size, shards - first)] for first in range(0, shards, size)]
    lost = data.draw(st.sets(st.integers(0, len(slices) - 1)))  # merge tasks that failed
    for j, sl in enumerate(slices):
        if j not in lost:
            merge_slice({"run_id": RUN, "segment": spec(shards), "slice": sl}, clients)  # type: ignore[arg-type]
    files = list_segment(clients, RUN, 0, shards, map_ran=True)  # type: ignore[arg-type]
    flat = merge_results(json.loads(clients.s3.objects[layout.shard_key(RUN, 0, i)]) for i in present)
    tree = merge_segment(clients, files)  # type: ignore[arg-type]
    assert tree is not None
    assert canonical(tree) == canonical(flat)
    assert files.missing == sorted(set(range(shards)) - set(present))


def _partial(clients: FakeClients, first: int, shards: list[int], stats: RunStats) -> None:
    body = {"version": PARTIAL_VERSION, "segment": 0, "shards": shards, "stats": stats}
    clients.s3.put_object(
        Bucket=BUCKET, Key=layout.partial_key(RUN, 0, first), Body=json.dumps(body).encode()
    )


def test_partials_that_cannot_be_trusted_are_merged_around() -> None:
    clients = FakeClients()
    samples = {i: [(1, 0, 1000 * (i + 1)), (2, 1, 2000 * (i + 1))] for i in range(4)}
    segment(clients, 4, [0, 1, 2, 3], samples)
    one = merge_results([json.loads(clients.s3.objects[layout.shard_key(RUN, 0, 1)])])
    # A partial naming a shard with no result, and one overlapping another: both ignored.
    _partial(
        clients,
        0,
        [0, 1],
        merge_results([json.loads(clients.s3.objects[layout.shard_key(RUN, 0, i)]) for i in (0, 1)]),
    )
    _partial(clients, 1, [1], one)
    _partial(clients, 2, [2, 9], one)
    files = list_segment(clients, RUN, 0, 4, map_ran=True)  # type: ignore[arg-type]
    flat = merge_results(json.loads(clients.s3.objects[layout.shard_key(RUN, 0, i)]) for i in range(4))
    tree = merge_segment(clients, files)  # type: ignore[arg-type]
    assert tree is not None and canonical(tree) == canonical(flat)
    assert tree["workers"] == 4


def test_slices_from_the_planner_cover_a_segment_once() -> None:
    for shards in (33, 64, 250, 1000):
        seen = [i for first, count in merge_slices(shards) for i in range(first, first + count)]
        assert sorted(seen) == list(range(shards)) and len(seen) == len(set(seen))


def test_a_merge_out_of_time_leaves_shards_out_and_counts_them_missing(monkeypatch: Any) -> None:
    from surge.cloud import segment_results

    clients = FakeClients()
    segment(clients, 4, [0, 1, 2, 3], {i: [(1, 0, 1000)] for i in range(4)})
    files = list_segment(clients, RUN, 0, 4, map_ran=True)  # type: ignore[arg-type]
    clock = iter([0.0, 0.0, 10.0, 10.0, 10.0, 10.0])  # the deadline passes after two results
    monkeypatch.setattr(segment_results.time, "time", lambda: next(clock))
    stats = merge_segment(clients, files, deadline=5.0)  # type: ignore[arg-type]
    assert stats is not None and stats["workers"] == 2
    assert files.merged == {0, 1}
    assert files.missing == [2, 3]
    reason = files.missing_reason()
    assert reason is not None and "shards 2, 3 wrote a result that is not in the merge" in reason


def test_a_result_written_after_the_aggregate_is_not_counted_as_reported() -> None:
    clients = FakeClients()
    segment(clients, 3, [0, 1, 2], {})
    files = list_segment(clients, RUN, 0, 3, map_ran=True)  # type: ignore[arg-type]
    files.merged = {0, 2}  # what Aggregate recorded; shard 1's result came later
    assert files.missing == [1]


def test_a_segment_stopped_in_flight_loses_only_the_shards_that_started() -> None:
    """A stop (abort, error, a stop from outside) stops the segment's map too: a shard it never
    started sent nothing and is nobody's loss; one that started without a result is lost."""
    from surge.cloud.segment_results import SegmentFiles

    files = SegmentFiles(1, 4, results={0: "k0"}, started={0, 1, 2})
    assert files.missing == [1, 2, 3]  # a segment that ran whole: shard 3 never started (throttling)
    files.stopped = True
    assert files.missing == [1, 2]
    assert (
        files.missing_reason()
        == "segment 1: shards 1, 2 started but wrote no result (crashed, or killed at Lambda's timeout)"
    )
