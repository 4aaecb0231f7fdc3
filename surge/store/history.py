"""Run history: every run's headline figures, verdict and artifacts, behind one interface.

``SqliteHistory`` keeps it on this machine (``./surge-runs/history.sqlite`` by default, created by
the first run recorded); ``DynamoHistory`` keeps it in the cloud stack's runs table. Both answer the
same four questions: record a run, get one, list the newest (optionally of one plan), and find the
newest complete passing run of a plan (``last-pass`` baselines).

A record keeps the measured value of every check by metric path, plus the headline metrics
(``http.latency.p95``...), so a later run can use it as its baseline without the run's files.

DynamoDB key schema: the runs table the cloud workflow already writes (names in
``surge.store.run_table``; the stack creates it in ``infra/storage.py``):

- table: partition key ``pk`` (S) = ``RUN#<run_id>``, sort key ``sk`` (S) = ``RUN`` — the run
  record, the same item the workflow creates when a cloud run starts; other items of the run
  (progress) use other sort keys.
- GSI ``by_plan``: ``plan_pk`` (S) = ``PLAN#<plan name>``, ``plan_sk`` (S) = started_at (ISO 8601
  UTC, so it sorts by time); projection ALL. History of one plan, newest first.
- GSI ``recent``: ``recent_pk`` (S) = ``RUNS``, ``recent_sk`` (S) = started_at; projection ALL.
  The newest runs of every plan.

Recording updates that item with SET (never a whole-item put), so the workflow's own attributes
(status, progress counters, stop flag) survive. Run records without a verdict are runs still in
progress, and history ignores them.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from surge.errors import UserError
from surge.report_model import LatencySummary, Report, Totals
from surge.store.dynamo_codec import from_item, to_attr
from surge.store.run_table import (
    GSI_BY_PLAN,
    GSI_BY_PLAN_PK,
    GSI_BY_PLAN_SK,
    GSI_RECENT,
    GSI_RECENT_PK,
    RECENT_PARTITION,
    index_attributes,
    plan_pk,
    run_record_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_HISTORY = Path("surge-runs") / "history.sqlite"
# One history for a project's runs, wherever the command is typed (a file, or dynamodb://TABLE).
HISTORY_ENV = "SURGE_HISTORY"
DYNAMODB_SCHEME = "dynamodb://"

# Recorded for every run whatever its checks, so any later run can compare its headline to it.
HEADLINE_METRICS = (
    "http.latency.p50",
    "http.latency.p95",
    "http.latency.p99",
    "http.service_time.p95",
    "http.error_rate",
    "http.throughput",
    "http.requests",
    "http.errors",
    "http.dropped_iterations",
)


class HistoryError(UserError):
    """The run history cannot be read or written (database file, table, permissions)."""


def _headline(totals: Totals, latency: LatencySummary, service: LatencySummary) -> dict[str, float | None]:
    """The figures every run records whatever its checks (HEADLINE_METRICS), by metric path."""
    return {
        "http.latency.p50": latency["p50"],
        "http.latency.p95": latency["p95"],
        "http.latency.p99": latency["p99"],
        "http.service_time.p95": service["p95"],
        "http.error_rate": totals["error_rate"] if totals["requests"] else None,
        "http.throughput": totals["throughput_rps"] if totals["requests"] else None,
        "http.requests": totals["requests"],
        "http.errors": totals["errors"],
        "http.dropped_iterations": totals["dropped_iterations"],
    }


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    plan: str
    plan_hash: str
    started_at: str  # ISO 8601 UTC, as in report.json: sorts by time as text
    ended_at: str
    verdict: str  # "pass" | "fail" | "error"
    partial: bool
    location: str  # the run's folder, or an s3:// URI
    mode: str = "local"
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    throughput_rps: float = 0.0
    latency_p50_ms: float | None = None  # response time, corrected for coordinated omission
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    service_p95_ms: float | None = None
    dropped: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # by metric path, in thresholds' units
    # The figures' 95 % intervals ([lo, hi]; hi None: open above) where the run's data gave one.
    intervals: dict[str, list[float | None]] = field(default_factory=dict)
    load_hash: str = ""  # the plan's load without its checks ("" in older records)

    @classmethod
    def from_report(cls, report: Report, location: str) -> RunRecord:
        totals, latency = report["totals"], report["latency_ms"]
        targets = report.get("targets")
        # An A/B run's headline is each target's (target["x"].http...): both targets' requests
        # together would be a baseline figure for neither.
        headline = (
            {
                f'target["{name}"].{metric}': value
                for name, part in targets.items()
                for metric, value in _headline(
                    part["totals"], part["latency_ms"], part["service_time_ms"]
                ).items()
            }
            if targets
            else _headline(totals, latency, report["service_time_ms"])
        )
        metrics: dict[str, float] = {}
        # Checks first: they were measured at full precision from the merged histograms.
        for c in report["checks"]:
            if c["kind"] == "validity":
                continue  # the test's own health, not a figure of the service to compare against
            if c["measured"] is not None and c["metric"] not in metrics:
                metrics[c["metric"]] = float(c["measured"])
        for metric, value in headline.items():
            if value is not None and metric not in metrics:
                metrics[metric] = float(value)
        intervals: dict[str, list[float | None]] = {}
        for c in report["checks"]:
            span = c.get("interval")
            if c["kind"] == "threshold" and span and c["metric"] not in intervals:
                intervals[c["metric"]] = _span(span)
        spans = [(f'target["{name}"].', part["uncertainty"]) for name, part in (targets or {}).items()]
        for prefix, found in spans or [("", report["uncertainty"])]:
            for metric, span in found.items():
                if prefix + metric not in intervals:
                    intervals[prefix + metric] = _span(span)
        return cls(
            run_id=report["run_id"],
            plan=report["plan"],
            plan_hash=report["plan_hash"],
            started_at=report["started_at"],
            ended_at=report["ended_at"],
            verdict=report["verdict"],
            partial=report["partial"],
            location=location,
            mode=report["mode"],
            requests=totals["requests"],
            errors=totals["errors"],
            error_rate=totals["error_rate"],
            throughput_rps=totals["throughput_rps"],
            latency_p50_ms=latency["p50"],
            latency_p95_ms=latency["p95"],
            latency_p99_ms=latency["p99"],
            service_p95_ms=report["service_time_ms"]["p95"],
            dropped=totals["dropped_iterations"],
            metrics=metrics,
            intervals=intervals,
            load_hash=report.get("load_hash", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        # Fallback names are the ones the cloud workflow writes when it completes a run on its own.
        def num(key: str, fallback: str = "") -> float | None:
            v = data.get(key, data.get(fallback))
            return None if v is None else float(v)

        return cls(
            run_id=str(data["run_id"]),
            plan=str(data.get("plan", "")),
            plan_hash=str(data.get("plan_hash", "")),
            started_at=str(data.get("started_at", "")),
            ended_at=str(data.get("ended_at", "")),
            verdict=str(data.get("verdict", "")),
            partial=bool(data.get("partial", False)),
            location=str(data.get("location") or data.get("report_uri") or ""),
            mode=str(data.get("mode", "local")),
            requests=int(data.get("total_requests") or data.get("requests") or 0),
            errors=int(data.get("errors") or 0),
            error_rate=float(data.get("error_rate") or 0.0),
            throughput_rps=float(data.get("throughput_rps") or 0.0),
            latency_p50_ms=num("latency_p50_ms"),
            latency_p95_ms=num("latency_p95_ms", "p95_ms"),
            latency_p99_ms=num("latency_p99_ms"),
            service_p95_ms=num("service_p95_ms"),
            dropped=int(data.get("dropped") or 0),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            intervals=_intervals(data.get("intervals")),
            load_hash=str(data.get("load_hash") or ""),
        )

    @property
    def complete_pass(self) -> bool:
        """Fit to be a last-pass baseline: passed, and ran to the end."""
        return self.verdict == "pass" and not self.partial


def _span(span: list[float | None]) -> list[float | None]:
    return [float(span[0] or 0.0), None if span[1] is None else float(span[1])]


def _intervals(data: object) -> dict[str, list[float | None]]:
    """Stored intervals, keeping only well-formed ones (older records have none)."""
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, list[float | None]] = {}
    for metric, span in data.items():
        if (
            isinstance(span, list | tuple)
            and len(span) == 2
            and isinstance(span[0], int | float | Decimal)
            and (span[1] is None or isinstance(span[1], int | float | Decimal))
        ):
            out[str(metric)] = _span([float(span[0]), None if span[1] is None else float(span[1])])
    return out


# What a stored record may be damaged by: not JSON, or JSON of another shape.
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


def parse_record(raw: Any, run_id: str, where: str) -> RunRecord:
    """A stored record, or a HistoryError naming the run and what is wrong with it."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        if not isinstance(data, Mapping):
            raise TypeError(f"a record is a JSON object, this one is {type(data).__name__}")
        return RunRecord.from_dict(data)
    except _DAMAGE as exc:
        why = "not JSON" if isinstance(exc, json.JSONDecodeError) else f"{type(exc).__name__}: {exc}"
        raise HistoryError(
            f"the history {where} has a damaged record for run {run_id or '?'} ({why}); the rest of the "
            "history is usable: run again with another baseline, or delete that run's row"
        ) from None


class Readable:
    """Reads records one by one: a damaged one is skipped (and said) by lists, named by a get."""

    @property
    def where(self) -> str:
        raise NotImplementedError

    def __init__(self) -> None:
        self.damaged: builtins.list[str] = []  # the messages of records skipped while listing

    def _parse_all(self, rows: Iterable[tuple[Any, str]]) -> builtins.list[RunRecord]:
        out: builtins.list[RunRecord] = []
        for raw, run_id in rows:
            try:
                out.append(parse_record(raw, run_id, self.where))
            except HistoryError as exc:
                if str(exc) not in self.damaged:
                    self.damaged.append(str(exc))
        return out


class RunHistory(Protocol):
    damaged: builtins.list[str]

    def record(self, report: Report, location: str) -> RunRecord:
        """Add the run, or replace its record (a re-rendered report)."""

    def get(self, run_id: str) -> RunRecord | None: ...

    def list(self, plan: str | None = None, limit: int = 20) -> builtins.list[RunRecord]:
        """Newest first."""

    def last_pass(self, plan: str, before: str | None = None) -> RunRecord | None:
        """The newest complete, passing run of the plan that started before ``before`` (ISO)."""

    def check_writable(self) -> None:
        """Raise HistoryError unless a run can be recorded (called before any traffic)."""

    @property
    def where(self) -> str:
        """Where the history lives, for messages."""


# --- SQLite ---------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    started_at TEXT NOT NULL,
    verdict TEXT NOT NULL,
    partial INTEGER NOT NULL,
    record TEXT NOT NULL  -- the whole RunRecord as JSON; the columns above are for queries only
);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs (plan, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
"""


class SqliteHistory(Readable):
    def __init__(self, path: Path = DEFAULT_HISTORY) -> None:
        super().__init__()
        self.path = Path(path)

    @property
    def where(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        # Reading never creates the file: `surge runs` in the wrong folder must not litter it.
        if not create and not self.path.exists():
            yield None
            return
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # One short-lived connection per call: two surge processes can share the file.
            conn = sqlite3.connect(self.path, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"run history {self.path}: {exc}") from None
        try:
            with conn:
                conn.executescript(_SCHEMA)
                yield conn
        except sqlite3.Error as exc:
            raise HistoryError(f"run history {self.path}: {exc}") from None
        finally:
            conn.close()

    def check_writable(self) -> None:
        with self._connect(create=True) as conn:
            assert conn is not None
            try:
                conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only file
            except sqlite3.Error as exc:
                raise HistoryError(f"run history {self.path}: cannot write it ({exc})") from None
            conn.rollback()

    def record(self, report: Report, location: str) -> RunRecord:
        rec = RunRecord.from_report(report, location)
        with self._connect(create=True) as conn:
            assert conn is not None
            conn.execute(
                "INSERT OR REPLACE INTO runs (run_id, plan, started_at, verdict, partial, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (rec.run_id, rec.plan, rec.started_at, rec.verdict, int(rec.partial), _json(rec)),
            )
        return rec

    def _rows(self, sql: str, params: tuple[object, ...]) -> builtins.list[tuple[Any, str]]:
        with self._connect(create=False) as conn:
            if conn is None:
                return []
            return [(row[0], str(row[1])) for row in conn.execute(sql, params).fetchall()]

    def get(self, run_id: str) -> RunRecord | None:
        found = self._rows("SELECT record, run_id FROM runs WHERE run_id = ?", (run_id,))
        return parse_record(*found[0], self.where) if found else None

    def list(self, plan: str | None = None, limit: int = 20) -> builtins.list[RunRecord]:
        where, params = ("", ()) if plan is None else ("WHERE plan = ?", (plan,))
        return self._parse_all(
            self._rows(
                f"SELECT record, run_id FROM runs {where} ORDER BY started_at DESC, run_id DESC LIMIT ?",
                (*params, limit),
            )
        )

    def last_pass(self, plan: str, before: str | None = None) -> RunRecord | None:
        # The newest readable one: a damaged record is skipped (and said), never the end of the search.
        found = self._parse_all(
            self._rows(
                "SELECT record, run_id FROM runs WHERE plan = ? AND verdict = 'pass' AND partial = 0 "
                "AND (? IS NULL OR started_at < ?) ORDER BY started_at DESC, run_id DESC LIMIT 50",
                (plan, before, before),
            )
        )
        return next((r for r in found if r.complete_pass), None)


def _json(rec: RunRecord) -> str:
    return json.dumps(rec.to_dict(), sort_keys=True, allow_nan=False)


# --- DynamoDB -------------------------------------------------------------------------------------


def _item_record(item: Mapping[str, Any]) -> tuple[Any, str]:
    """A DynamoDB item as (its attributes, its run id) for parse_record."""
    data = from_item(item)
    return data, str(data.get("run_id") or "")


class DynamoHistory(Readable):
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        by_plan_index: str = GSI_BY_PLAN,
        recent_index: str = GSI_RECENT,
    ) -> None:
        super().__init__()
        self.table_name = table_name
        self.client = client
        self.by_plan_index = by_plan_index
        self.recent_index = recent_index

    @property
    def where(self) -> str:
        return f"{DYNAMODB_SCHEME}{self.table_name}"

    def _key(self, run_id: str) -> dict[str, Any]:
        return run_record_key(run_id)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise HistoryError(f"run history {self.where}: {exc}") from None

    def check_writable(self) -> None:
        # The table must exist; whether this caller may write it shows only on the write itself.
        with self._errors():
            self.client.describe_table(TableName=self.table_name)

    def record(self, report: Report, location: str) -> RunRecord:
        rec = RunRecord.from_report(report, location)
        fields: dict[str, object] = {
            **rec.to_dict(),
            **index_attributes(rec.plan, rec.started_at),
        }
        names = {f"#a{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": to_attr(v) for i, v in enumerate(fields.values())}
        with self._errors():
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(rec.run_id),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(fields))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        return rec

    def get(self, run_id: str) -> RunRecord | None:
        with self._errors():
            item = self.client.get_item(
                TableName=self.table_name, Key=self._key(run_id), ConsistentRead=True
            ).get("Item")
        if not item or "verdict" not in item:
            return None
        return parse_record(*_item_record(item), self.where)

    def _pages(self, **query: Any) -> Iterator[builtins.list[dict[str, Any]]]:
        with self._errors():
            while True:
                resp = self.client.query(TableName=self.table_name, ScanIndexForward=False, **query)
                yield resp.get("Items", [])
                start = resp.get("LastEvaluatedKey")
                if not start:
                    return
                query["ExclusiveStartKey"] = start

    def _newest(self, limit: int, query: dict[str, Any]) -> builtins.list[RunRecord]:
        out: builtins.list[RunRecord] = []
        # A filter applies after Limit reads its items, so keep reading pages until enough matched.
        for items in self._pages(**query):
            out.extend(self._parse_all(_item_record(i) for i in items))
            if len(out) >= limit:
                break
        return out[:limit]

    def list(self, plan: str | None = None, limit: int = 20) -> builtins.list[RunRecord]:
        if limit <= 0:
            return []
        if plan is None:
            index, pk, value = self.recent_index, GSI_RECENT_PK, RECENT_PARTITION
        else:
            index, pk, value = self.by_plan_index, GSI_BY_PLAN_PK, plan_pk(plan)
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            # Run records without a verdict are cloud runs still in progress.
            "FilterExpression": "attribute_exists(#v)",
            "ExpressionAttributeNames": {"#pk": pk, "#v": "verdict"},
            "ExpressionAttributeValues": {":pk": {"S": value}},
            "Limit": max(limit, 25),
        }
        return self._newest(limit, query)

    def last_pass(self, plan: str, before: str | None = None) -> RunRecord | None:
        condition = "#pk = :pk"
        values: dict[str, Any] = {
            ":pk": {"S": plan_pk(plan)},
            ":pass": {"S": "pass"},
            ":no": {"BOOL": False},
        }
        names = {"#pk": GSI_BY_PLAN_PK, "#v": "verdict", "#partial": "partial"}
        if before is not None:
            condition += " AND #sk < :before"
            names["#sk"] = GSI_BY_PLAN_SK
            values[":before"] = {"S": before}
        query: dict[str, Any] = {
            "IndexName": self.by_plan_index,
            "KeyConditionExpression": condition,
            "FilterExpression": "#v = :pass AND #partial = :no",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": 25,
        }
        found = self._newest(1, query)
        return found[0] if found else None


def project_history(start: Path, cwd: Path | None = None) -> Path:
    """The history of the project ``start`` (a plan's folder, or the current one) belongs to: the
    nearest folder at or above it that already has one (surge-runs/history.sqlite) or is a
    repository's root (.git); without either, the current folder's, as before projects had one.
    So one plan has one history whichever folder the command is typed in."""
    here = Path.cwd() if cwd is None else cwd
    folder = (start if start.is_absolute() else here / start).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / DEFAULT_HISTORY).is_file() or (candidate / ".git").exists():
            return candidate / DEFAULT_HISTORY
    return here / DEFAULT_HISTORY


def open_history(
    spec: str | Path | None = None,
    *,
    dynamodb_client: DynamoDBClient | None = None,
    start: Path | None = None,
) -> RunHistory:
    """A history from a CLI value: a SQLite file path, or dynamodb://TABLE; without one, the
    SURGE_HISTORY environment variable's, else the project's (:func:`project_history` of
    ``start``, the plan's folder; without a plan, the current folder's project)."""
    default = str(project_history(start)) if start is not None else str(DEFAULT_HISTORY)
    text = str(spec) if spec is not None else os.environ.get(HISTORY_ENV) or default
    if text.startswith(DYNAMODB_SCHEME):
        table = text.removeprefix(DYNAMODB_SCHEME).strip("/")
        if not table:
            raise HistoryError("--history dynamodb://TABLE needs a table name")
        if dynamodb_client is None:
            import boto3

            try:
                dynamodb_client = boto3.client("dynamodb")
            except BotoCoreError as exc:
                raise HistoryError(f"run history {text}: {exc}") from None
        return DynamoHistory(table, dynamodb_client)
    return SqliteHistory(Path(text))
