"""From fetched series to the one value per path a threshold compares. Pure.

How a window's periods become one value:
- sums add up, maxima take the max, minima the min: exact;
- percentiles and averages come from a second query whose single period covers the whole window,
  which CloudWatch computes over all of the window's data. When that query has no value, a
  percentile falls back to the highest per-period value. That is an upper bound: if at least 95 %
  of each period's data is at or below its p95, at least 95 % of all data is at or below the
  largest of them. So a ``< limit`` check that passes on it is sound; the note says it happened.
- missing data stays None: never 0, never a pass. Only metrics CloudWatch publishes just when
  the event happens (throttles) read absent-with-activity as 0, and say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean

from surge.metrics.cloudwatch import Series
from surge.metrics.presets import Derived, Reduce, ServiceQueries
from surge.vocabulary import Kind

Points = list[tuple[float, float]]


@dataclass
class ServiceResult:
    name: str
    type: str
    region: str | None
    resource: str
    values: dict[str, float | None] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    series: dict[str, Points] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def reduce_values(values: Sequence[float], how: Reduce) -> float | None:
    if not values:
        return None
    if how == "sum":
        return float(sum(values))
    if how in ("max", "percentile"):
        return max(values)
    if how == "min":
        return min(values)
    if how == "mean":
        return fmean(values)
    return values[-1]


def _scaled(series: Series | None, scale: float) -> Points:
    return [] if series is None else [(t, v * scale) for t, v in series.points]


def _status_note(path: str, series: Series | None) -> str | None:
    if series is None or series.status == "Complete":
        return None
    detail = "; ".join(series.messages)
    return f"{path}: CloudWatch answered {series.status}" + (f" ({detail})" if detail else "")


def service_result(
    sq: ServiceQueries,
    *,
    series: Mapping[str, Series],
    whole: Mapping[str, Series],
    logs: Mapping[str, float | None],
    period: int,
    failed: bool = False,
) -> ServiceResult:
    out = ServiceResult(sq.name, sq.type, sq.region, sq.resource, kinds=sq.kinds())
    missing: list[str] = []
    hints: list[str] = []
    pending_zero: list[tuple[str, tuple[str, ...], str | None]] = []

    for q in sq.metrics:
        pts = _scaled(series.get(q.path), q.scale)
        out.series[q.path] = pts
        note = _status_note(q.path, series.get(q.path))
        if note:
            out.notes.append(note)
        value: float | None
        if q.reduce in ("percentile", "mean") and whole.get(q.path) and whole[q.path].values:
            window_values = [v * q.scale for v in whole[q.path].values]
            value = reduce_values(window_values, "max" if q.reduce == "percentile" else "mean")
        else:
            value = reduce_values([v for _, v in pts], q.reduce)
            if q.reduce == "percentile" and len(pts) > 1:
                out.notes.append(
                    f"{q.path}: no whole-window value; used the highest per-period {q.stat} (conservative)"
                )
        out.values[q.path] = value
        if value is None:
            if q.zero_if_active:
                pending_zero.append((q.path, q.zero_if_active, q.hint))
            else:
                missing.append(q.path)
                if q.hint:
                    hints.append(q.hint)

    for e in sq.expressions:
        pts = _scaled(series.get(e.path), e.scale)
        out.series[e.path] = pts
        note = _status_note(e.path, series.get(e.path))
        if note:
            out.notes.append(note)
        out.values[e.path] = reduce_values([v for _, v in pts], e.reduce)
        if out.values[e.path] is None:
            missing.append(e.path)

    for name, constant in sq.constants:
        out.values[name] = constant
    for lq in sq.logs:
        for fname, path, _ in lq.fields:
            out.values[path] = logs.get(fname)

    for path, evidence, hint in pending_zero:
        active = [p for p in evidence if out.values.get(p)]
        if active:
            out.values[path] = 0.0
            out.notes.append(
                f"{path}: no datapoints while {active[0]} shows activity; CloudWatch publishes it only "
                "when it happens, so it counts as 0"
            )
        else:
            missing.append(path)
            if hint:
                hints.append(hint)

    constants = dict(sq.constants)
    for d in sq.derived:
        out.values[d.path], out.series[d.path] = _derive(d, out.values, out.series, period, constants)

    if missing and not failed:
        out.notes.append("no data in the window for: " + ", ".join(missing))
    out.notes.extend(dict.fromkeys(hints))
    return out


def _derive(
    d: Derived,
    values: Mapping[str, float | None],
    series: Mapping[str, Points],
    period: int,
    constants: Mapping[str, float],
) -> tuple[float | None, Points]:
    ins = [values.get(p) for p in d.inputs]
    pts = [dict(series.get(p, [])) for p in d.inputs]
    # A declared constant (rds pool) holds at every timestamp of the other inputs.
    stamps_seen = {t for p, sp in zip(d.inputs, pts, strict=True) if p not in constants for t in sp}
    pts = [
        dict.fromkeys(stamps_seen, constants[p]) if p in constants else sp
        for p, sp in zip(d.inputs, pts, strict=True)
    ]
    if d.op in ("ratio", "share", "per_second_over"):
        common = sorted(set(pts[0]).intersection(*pts[1:])) if all(pts) else []
        a, b = ins[0], ins[1]
        if d.op == "per_second_over":
            ratios = [(t, pts[0][t] / period / pts[1][t]) for t in common if pts[1][t] > 0]
            return (max(v for _, v in ratios) if ratios else None), ratios
        pair = [(t, _ratio(pts[0][t], pts[1][t], d.op)) for t in common]
        return _ratio(a, b, d.op), [(t, v) for t, v in pair if v is not None]
    known = [v for v in ins if v is not None]
    stamps = sorted(set().union(*pts))
    if d.op == "sum":
        value = float(sum(known)) if known else None
        return value, [(t, sum(p.get(t, 0.0) for p in pts)) for t in stamps]
    value = max(known) if known else None
    return value, [(t, max(p[t] for p in pts if t in p)) for t in stamps]


def _ratio(a: float | None, b: float | None, op: str) -> float | None:
    if a is None or b is None:
        return None
    den = b if op == "ratio" else a + b
    return a / den if den else None
