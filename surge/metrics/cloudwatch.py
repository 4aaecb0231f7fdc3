"""CloudWatch GetMetricData: the period a window allows, batched requests, pagination, parsing.

The client is injected (boto3, a moto client or a Stubber'd one). Values come back in CloudWatch's
units; scaling to the thresholds' kinds happens in ``reduce``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from surge.metrics.aws import MetricsError, describe_error, with_retries
from surge.metrics.presets import ServiceQueries

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit on MetricDataQueries
MAX_SERIES_POINTS = 1440  # per series: a day at one minute; keeps report.json and charts light
MAX_PAGES = 1000  # a guard against a server that never stops handing out NextTokens
HIGH_RES_PERIODS = (1, 5, 10, 30)
# CloudWatch keeps <60 s data 3 hours, 60 s data 15 days, 300 s data 63 days, 3600 s data 455 days.
HIGH_RES_RETENTION_S = 3 * 3600
_TIERS = ((15 * 86400, 60), (63 * 86400, 300), (455 * 86400, 3600))

Role = Literal["series", "window"]


def tier_base(start: float, now: float) -> int:
    """The finest standard period CloudWatch still holds for data as old as ``start``."""
    age = now - start
    for max_age, period in _TIERS:
        if age <= max_age:
            return period
    return 3600  # older than CloudWatch keeps anything: the call will simply find no data


def choose_period(start: float, end: float, now: float, *, high_resolution: bool = False) -> int:
    """The series period: 1-30 s only when asked and still kept, else 60/300/3600 s by age,
    widened so no series has more than MAX_SERIES_POINTS points."""
    span = max(end - start, 1.0)
    if high_resolution and now - start < HIGH_RES_RETENTION_S:
        for p in HIGH_RES_PERIODS:
            if span / p <= MAX_SERIES_POINTS:
                return p
    base = tier_base(start, now)
    return base * max(1, math.ceil(span / base / MAX_SERIES_POINTS))


@dataclass(frozen=True)
class Window:
    """The aligned request range and the two periods used over it."""

    start: float
    end: float
    period: int  # series
    whole: int  # one period covering the window: exact percentiles and means for it

    @classmethod
    def for_run(cls, start: float, end: float, now: float, *, high_resolution: bool = False) -> Window:
        period = choose_period(start, end, now, high_resolution=high_resolution)
        # Align to the period (CloudWatch rounds the start down anyway): a partial first
        # period would otherwise be dropped or mislabeled.
        align = period if period < 60 else tier_base(start, now)
        a = math.floor(start / align) * align
        whole = max(period, math.ceil((end - a) / period) * period)
        if whole >= 60:
            whole = math.ceil(whole / 60) * 60  # periods of a minute or more are multiples of 60
        return cls(float(a), float(a + whole), period, whole)


@dataclass
class Series:
    points: list[tuple[float, float]] = field(default_factory=list)  # (epoch s, value), ascending
    status: str = "Complete"
    messages: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


@dataclass(frozen=True)
class QueryRef:
    service: int  # index into the services list
    path: str
    role: Role


@dataclass
class RequestGroup:
    """One service's queries: sent in the same call, as metric math needs its inputs beside it."""

    queries: list[dict[str, Any]]
    refs: dict[str, QueryRef]


_MATH_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\b[a-z][A-Za-z0-9_]*\b")


def rewrite_expression(expression: str, ids: Mapping[str, str]) -> str:
    """Replace the plan's query ids by the request's ids, leaving quoted strings (SEARCH) alone."""

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        return ids.get(token, token) if token[0] not in "'\"" else token

    return _MATH_TOKEN.sub(sub, expression)


def build_group(index: int, sq: ServiceQueries, window: Window) -> RequestGroup:
    queries: list[dict[str, Any]] = []
    refs: dict[str, QueryRef] = {}
    ids = {q.path: f"s{index}q{j}" for j, q in enumerate(sq.metrics)}
    ids.update({e.path: f"s{index}e{j}" for j, e in enumerate(sq.expressions)})
    for j, q in enumerate(sq.metrics):
        stat: dict[str, Any] = {
            "Metric": {
                "Namespace": q.namespace,
                "MetricName": q.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
            },
            "Period": window.period,
            "Stat": q.stat,
        }
        if q.send_unit and q.unit:
            stat["Unit"] = q.unit
        label = f"{sq.name} {q.path}"
        queries.append({"Id": ids[q.path], "MetricStat": stat, "Label": label, "ReturnData": True})
        refs[ids[q.path]] = QueryRef(index, q.path, "series")
        if q.reduce in ("percentile", "mean") and window.whole != window.period:
            wid = f"s{index}w{j}"
            whole = {**stat, "Period": window.whole}
            queries.append({"Id": wid, "MetricStat": whole, "Label": f"{label} (window)", "ReturnData": True})
            refs[wid] = QueryRef(index, q.path, "window")
    for e in sq.expressions:
        eid = ids[e.path]
        expression = rewrite_expression(e.expression, ids_by_plan_id(sq, ids))
        queries.append(
            {"Id": eid, "Expression": expression, "Label": f"{sq.name} {e.path}", "ReturnData": True}
        )
        refs[eid] = QueryRef(index, e.path, "series")
    return RequestGroup(queries, refs)


def ids_by_plan_id(sq: ServiceQueries, ids: Mapping[str, str]) -> dict[str, str]:
    # Custom paths are the plan's query ids; preset paths contain dots and never match a token.
    return {path: rid for path, rid in ids.items() if "." not in path}


def pack(groups: Iterable[RequestGroup], limit: int = MAX_QUERIES_PER_CALL) -> list[list[RequestGroup]]:
    """Fill calls of at most ``limit`` queries without splitting a service's group."""
    batches: list[list[RequestGroup]] = []
    size = 0
    for g in groups:
        if len(g.queries) > limit:
            raise MetricsError(
                f"a service needs {len(g.queries)} queries, more than one call takes ({limit})"
            )
        if not batches or size + len(g.queries) > limit:
            batches.append([])
            size = 0
        batches[-1].append(g)
        size += len(g.queries)
    return batches


def _epoch(t: Any) -> float:
    if isinstance(t, datetime):
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    return float(t)


def parse_pages(pages: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Series], list[str]]:
    """Merge GetMetricData pages: a query's points may continue on later pages (PartialData)."""
    out: dict[str, Series] = {}
    notes: list[str] = []
    for page in pages:
        for r in page.get("MetricDataResults", []):
            s = out.setdefault(r["Id"], Series())
            s.points.extend(
                (_epoch(t), float(v))
                for t, v in zip(r.get("Timestamps", []), r.get("Values", []), strict=False)
            )
            s.status = r.get("StatusCode", "Complete")
            s.messages.extend(
                f"{m.get('Code', '')}: {m.get('Value', '')}".strip(": ") for m in r.get("Messages", [])
            )
        notes.extend(
            f"CloudWatch: {m.get('Code', '')}: {m.get('Value', '')}" for m in page.get("Messages", [])
        )
    for s in out.values():
        s.points = sorted(dict(s.points).items())  # ascending, one value per timestamp
    return out, notes


def get_metric_data(
    client: Any,
    queries: list[dict[str, Any]],
    window: Window,
    *,
    sleep: Callable[[float], None],
) -> tuple[dict[str, Series], list[str]]:
    """All pages of one GetMetricData request; throttling is retried with backoff."""
    pages: list[Mapping[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(window.start, UTC),
            "EndTime": datetime.fromtimestamp(window.end, UTC),
            "ScanBy": "TimestampAscending",
        }
        if token:
            kwargs["NextToken"] = token
        page = with_retries(lambda kw=kwargs: client.get_metric_data(**kw), sleep=sleep)  # type: ignore[misc]
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
    return parse_pages(pages)


@dataclass
class CloudWatchOutcome:
    # (service index, path) -> the series, and the one-period value when a window query was made
    series: dict[tuple[int, str], Series] = field(default_factory=dict)
    whole: dict[tuple[int, str], Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)  # services whose call failed: no data at all


def collect_metric_data(
    client: Any,
    services: Sequence[tuple[int, ServiceQueries]],
    window: Window,
    *,
    sleep: Callable[[float], None],
) -> CloudWatchOutcome:
    out = CloudWatchOutcome()
    groups = [build_group(i, sq, window) for i, sq in services if sq.metrics or sq.expressions]
    try:
        batches = pack(groups)
    except MetricsError as exc:
        out.notes.append(str(exc))
        out.failed.update(i for i, _ in services)
        return out
    for batch in batches:
        queries = [q for g in batch for q in g.queries]
        refs = {k: v for g in batch for k, v in g.refs.items()}
        try:
            results, notes = get_metric_data(client, queries, window, sleep=sleep)
        except Exception as exc:  # one failed call must not cost the other services their data
            out.notes.append(describe_error(exc, "cloudwatch:GetMetricData"))
            out.failed.update(r.service for r in refs.values())
            continue
        out.notes.extend(notes)
        for rid, series in results.items():
            ref = refs.get(rid)
            if ref is None:
                continue
            target = out.series if ref.role == "series" else out.whole
            target[(ref.service, ref.path)] = series
    return out
