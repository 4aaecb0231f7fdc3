"""What the HTML report's charts draw: columnar data and chart definitions, built in Python.

The load's time series travels once, in shared columns; each service chart carries its own x values
(CloudWatch periods, drawn as steps) but every chart spans the same run axis, 0 to ``x_max``, and
draws the same phase markers, so a service's CPU spike sits under the phase that caused it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Literal, NotRequired, TypedDict

from reports.formatting import format_value
from reports.services import (
    ServiceMetricsView,
    ServiceSeries,
    ServiceView,
    period_label,
    series_is_zero,
    service_metrics_view,
)
from surge.report_model import Report, TargetReport, TimeseriesPoint

__all__ = [
    "AxisSpec",
    "ChartData",
    "ChartSpec",
    "Number",
    "PhaseMark",
    "SeriesSpec",
    "chart_data",
]

Number = float | int | None


class AxisSpec(TypedDict):
    scale: str
    label: str
    unit: str
    side: Literal["left", "right"]
    max: NotRequired[float]  # shared upper bound, so two charts compare at a glance


class SeriesSpec(TypedDict):
    key: str
    label: str
    color: str
    unit: str
    scale: str
    dash: bool
    stack: bool  # drawn as stepped, stacked areas: per-interval counts that add up
    step: bool  # drawn as steps: each value holds over its period (CloudWatch's)


class LevelSpec(TypedDict):
    """A horizontal line: a check's target, or a recovery's level."""

    value: float
    label: str
    scale: str
    color: str


class MarkSpec(TypedDict):
    """A vertical line at an instant: where a recovery's clock started, and where it got back."""

    t: float
    label: str
    color: str


class ChartSpec(TypedDict):
    id: str
    title: str
    axes: list[AxisSpec]
    series: list[SeriesSpec]
    levels: NotRequired[list[LevelSpec]]
    marks: NotRequired[list[MarkSpec]]
    # A service chart brings its own x values and columns (the load's charts share ChartData's).
    t: NotRequired[list[float]]
    columns: NotRequired[dict[str, list[Number]]]
    height: NotRequired[int]
    service: NotRequired[int]  # index of the service it belongs to


class PhaseMark(TypedDict):
    name: str
    start_s: float


class ChartData(TypedDict):
    t: list[float]
    interval_s: float
    x_max: float  # every chart's x axis spans 0..x_max: the run, in seconds since its start
    columns: dict[str, list[Number]]
    phases: list[PhaseMark]
    charts: list[ChartSpec]  # the load's
    service_charts: list[ChartSpec]


_BLUE, _ORANGE, _RED, _GREY = "#2f6fdf", "#e8871e", "#cf222e", "#6e7781"
_CLASS_COLORS = ("#cf222e", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781", "#0969da")


# --- the load -----------------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    # Rounding to what the eye can see keeps a 600-point run well inside the size budget.
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _interval(points: Sequence[TimeseriesPoint]) -> float:
    steps = [b["t"] - a["t"] for a, b in itertools.pairwise(points)]
    return round(statistics.median(steps), 3) if steps else 0.0


def _columns(points: Sequence[TimeseriesPoint], classes: Sequence[str]) -> dict[str, list[Number]]:
    columns: dict[str, list[Number]] = {
        "rps": [_round(p["rps"], 3) for p in points],
        "p50": [_round(p["p50"], 3) for p in points],
        "p95": [_round(p["p95"], 3) for p in points],
        "p99": [_round(p["p99"], 3) for p in points],
        "service_p50": [_round(p["service_p50"], 3) for p in points],
        "service_p95": [_round(p["service_p95"], 3) for p in points],
        "service_p99": [_round(p["service_p99"], 3) for p in points],
        "errors": [p["errors"] for p in points],
        "error_rate": [_round(p["error_rate"], 6) for p in points],
        "dropped": [p["dropped"] for p in points],
        "in_flight": [p["in_flight"] for p in points],
    }
    for name in classes:
        columns[f"errors.{name}"] = [p["errors_by_class"].get(name, 0) for p in points]
    if any("users" in p for p in points):
        columns["users"] = [p.get("users", 0) for p in points]
    return columns


def _latency_max(columns: Mapping[str, list[Number]]) -> float:
    keys = ("p50", "p95", "p99", "service_p50", "service_p95", "service_p99")
    values = [v for k in keys for v in columns[k] if v is not None]
    return max(values, default=1.0) * 1.08


def _series(
    key: str,
    label: str,
    color: str,
    unit: str,
    scale: str = "y",
    dash: bool = False,
    stack: bool = False,
    step: bool = False,
) -> SeriesSpec:
    return {
        "key": key,
        "label": label,
        "color": color,
        "unit": unit,
        "scale": scale,
        "dash": dash,
        "stack": stack,
        "step": step,
    }


def _axis(label: str, unit: str, scale: str = "y", side: Literal["left", "right"] = "left") -> AxisSpec:
    return {"scale": scale, "label": label, "unit": unit, "side": side}


def _latency_chart(chart_id: str, title: str, prefix: str, top: float) -> ChartSpec:
    axis = _axis("ms", "ms")
    axis["max"] = top
    colors = (("p50", _BLUE), ("p95", _ORANGE), ("p99", _RED))
    return {
        "id": chart_id,
        "title": title,
        "axes": [axis],
        "series": [_series(f"{prefix}{p}", p, color, "ms") for p, color in colors],
    }


def _error_chart(classes: Sequence[str], interval_s: float) -> ChartSpec:
    per = f"per {interval_s:g} s" if interval_s else "per interval"
    series = [
        _series(f"errors.{name}", name, _CLASS_COLORS[i % len(_CLASS_COLORS)], "count", stack=True)
        for i, name in enumerate(classes)
    ] or [_series("errors", "errors", _RED, "count", stack=True)]
    series.append(_series("error_rate", "error rate", _GREY, "ratio", scale="rate", dash=True))
    return {
        "id": "chart-errors",
        "title": f"Errors by class ({per})",
        "axes": [_axis(f"errors {per}", "count"), _axis("error rate", "ratio", "rate", "right")],
        "series": series,
    }


def _chart_specs(
    columns: dict[str, list[Number]], classes: Sequence[str], interval_s: float, report: Report
) -> list[ChartSpec]:
    top = _latency_max(columns)
    rate: ChartSpec = {
        "id": "chart-rps",
        "title": "Request rate (answered)",
        "axes": [_axis("requests/s", "per_s")],
        "series": [_series("rps", "requests/s answered", _BLUE, "per_s")],
    }
    totals = report["totals"]
    per_iteration = totals["requests"] / totals["iterations"] if totals["iterations"] else 0.0
    if "planned" in columns and "users" not in columns and per_iteration > 0:
        # The open model's schedule in requests/s (arrivals x requests per iteration, as measured):
        # a service that falls behind shows as the answered line under the planned one.
        columns["planned_rps"] = [
            _round(float(v) * per_iteration, 3) if v is not None else None for v in columns["planned"]
        ]
        label = (
            "planned" if abs(per_iteration - 1.0) < 1e-9 else f"planned ({per_iteration:.2g} requests each)"
        )
        rate["title"] = "Request rate: planned and answered"
        rate["series"].append(_series("planned_rps", label, _GREY, "per_s", dash=True, step=True))
    # Beside the drops: the closed model's active virtual users, else the iterations in flight.
    key, label, scale, title = (
        ("users", "active users", "users", "Active virtual users and dropped iterations")
        if "users" in columns
        else ("in_flight", "in flight", "flight", "Dropped iterations and requests in flight")
    )
    load: ChartSpec = {
        "id": "chart-load",
        "title": title,
        "axes": [_axis("dropped", "count"), _axis(label.removeprefix("active "), "count", scale, "right")],
        "series": [
            _series("dropped", "dropped iterations", _RED, "count"),
            _series(key, label, _BLUE, "count", scale=scale),
        ],
    }
    if "planned" in columns and "users" in columns:
        load["series"].append(_series("planned", "planned users", _GREY, "count", scale=scale, dash=True))
    return [
        rate,
        _latency_chart("chart-latency", "Response time (corrected for coordinated omission)", "", top),
        _latency_chart("chart-service", "Service time (send to last byte)", "service_", top),
        _error_chart(classes, interval_s),
        load,
    ]


# --- services ---------------------------------------------------------------------------------------

SERVICE_CHART_HEIGHT = 170
_PALETTE = (_BLUE, _ORANGE, "#8250df", "#1b7c83", _RED, "#bf8700", "#e16f24", _GREY, "#0969da")
# Counts that are problems read apart from the traffic they would be lost in (3 throttles beside
# 60,000 capacity units draw as a flat line).
_PROBLEM = re.compile(r"error|throttl|4xx|5xx|evict|fault|fail|reject|timeout", re.IGNORECASE)
_GROUPS: tuple[tuple[str, str], ...] = (
    ("traffic", "Traffic"),
    ("latency", "Latency"),
    ("errors", "Errors and throttles"),
    ("ratio", "Rates and utilization"),
    ("per_s", "Per second"),
)


def _group(series: ServiceSeries) -> str | None:
    if series.unit == "ms":
        # A sum of durations (Lambda's duration.sum, for cost) is not a latency: table only.
        return None if series.name.endswith(".sum") else "latency"
    if series.unit == "ratio":
        return "ratio"
    if series.unit == "per_s":
        return "per_s"
    if series.unit == "count":
        return "errors" if _PROBLEM.search(series.name) else "traffic"
    return None


def _period(service: ServiceView) -> float:
    if service.period_s:
        return service.period_s
    steps = [b[0] - a[0] for s in service.series for a, b in itertools.pairwise(s.points) if b[0] > a[0]]
    return min(steps, default=60.0)


def _step_columns(
    series: Sequence[ServiceSeries], period: float, x_max: float
) -> tuple[list[float], list[list[Number]]]:
    """Shared x values and one column per series, clipped to the run: each point's value holds from
    its period's start to its end, and a period with no point is a gap. The x values always include
    0 and ``x_max``, so the chart spans the run even where no data covers it."""
    spans: list[list[tuple[float, float, float | None]]] = []
    marks = {0.0, x_max}
    for s in series:
        own = []
        for t, value in s.points:  # ascending
            start, end = round(max(t, 0.0), 3), round(min(t + period, x_max), 3)
            if end > start:
                own.append((start, end, value))
                marks.update((start, end))
        spans.append(own)
    xs = sorted(marks)
    columns: list[list[Number]] = []
    for own in spans:
        starts = [a for a, _, _ in own]
        column: list[Number] = []
        for x in xs:
            # The period that starts at or last before x: its value while it lasts, and at its end
            # too when no period follows at once (so the step is drawn to its end, then a gap).
            i = bisect.bisect_right(starts, x) - 1
            column.append(own[i][2] if i >= 0 and x <= own[i][1] else None)
        columns.append(column)
    return xs, columns


def _totals(members: Sequence[ServiceSeries]) -> set[str]:
    """Series that total or top others of the chart (``throttled_requests.sum`` over
    ``throttled_requests.PutItem.sum``): drawn dashed, or they would hide a part equal to them."""
    parts = [s.name.split(".") for s in members]
    return {
        s.key
        for s, mine in zip(members, parts, strict=True)
        if any(len(p) > len(mine) and (p[0], p[-1]) == (mine[0], mine[-1]) for p in parts)
    }


def _axes_for(group: str, members: Sequence[ServiceSeries], period: float) -> tuple[list[AxisSpec], set[str]]:
    """The chart's axes, and the series that go on the right one (peaks beside per-period sums)."""
    if group == "latency":
        return [_axis("ms", "ms")], set()
    if group == "ratio":
        axis = _axis("percent", "ratio")
        # Utilization and hit rates read against their whole scale, 0 to 100 %.
        if all(v is None or v <= 1.0 for s in members for _, v in s.points):
            axis["max"] = 1.0
        return [axis], set()
    if group == "per_s":
        return [_axis("per second", "per_s")], set()
    sums = {s.key for s in members if s.name.endswith(".sum")}
    levels = [s for s in members if s.key not in sums]
    level_label = "peak in period" if all(s.name.endswith(".max") for s in levels) else "value"
    if not sums:
        return [_axis(level_label, "count")], set()
    axes = [_axis(f"per {period_label(period)}", "count")]
    if levels:
        axes.append(_axis(level_label, "count", "level", "right"))
    return axes, {s.key for s in levels}


def _service_charts(index: int, service: ServiceView, x_max: float) -> list[ChartSpec]:
    period = _period(service)
    grouped: dict[str, list[ServiceSeries]] = {}
    for s in service.series:
        group = _group(s)
        if group is not None and s.points:
            grouped.setdefault(group, []).append(s)
    charts: list[ChartSpec] = []
    for group, title in _GROUPS:
        members = grouped.get(group, [])
        # A chart of nothing but zeros says less than one line saying so (the section says it).
        if not members or all(series_is_zero(s) for s in members):
            continue
        axes, right = _axes_for(group, members, period)
        xs, columns = _step_columns(members, period, x_max)
        if all(v is None for column in columns for v in column):
            continue  # every point lies outside the run
        totals = _totals(members)
        specs = [
            _series(
                s.key,
                s.name,
                _PALETTE[i % len(_PALETTE)],
                s.unit,
                scale="level" if s.key in right else "y",
                dash=s.key in right or s.key in totals,
                step=True,
            )
            for i, s in enumerate(members)
        ]
        charts.append(
            {
                "id": f"svc-{index}-{group}",
                "title": title,
                "axes": axes,
                "series": specs,
                "t": xs,
                "columns": {s.key: col for s, col in zip(members, columns, strict=True)},
                "height": SERVICE_CHART_HEIGHT,
                "service": index,
            }
        )
    return charts


def _x_max(report: Report, interval_s: float, services: ServiceMetricsView | None) -> float:
    points = report["timeseries"]
    candidates = [report["duration_s"]]
    if points:
        candidates.append(points[-1]["t"] + interval_s)
    if services is not None and services.duration_s:
        candidates.append(services.duration_s)
    finite = [c for c in candidates if math.isfinite(c)]
    return round(max(finite, default=0.0), 3)


def _measured_points(report: Report) -> list[TimeseriesPoint]:
    """The intervals the load ran in. After the plan's end only the last answers arrive (a few
    requests, the slowest): charted as an interval, they would read as the rate collapsing and the
    latency jumping. An interval the run's end cut short has its rate over the time it covered."""
    points = report["timeseries"]
    end = report["duration_s"]
    step = _interval(points) or float(report.get("interval_s") or 1.0)
    out: list[TimeseriesPoint] = []
    for p in points:
        if p["t"] >= end - 1e-9:
            break
        covered = min(step, end - p["t"])
        if covered < step - 1e-9 and covered > 0:
            p = {**p, "rps": p["requests"] / covered}
        out.append(p)
    return out or list(points)


def _planned_levels(report: Report, times: Sequence[float], step: float) -> list[Number] | None:
    """The plan's level (arrivals/s or users) in the middle of each interval, from its phases."""
    load = report.get("applied_load")
    phases = load["phases"] if load else []
    if not phases or any("start_level" not in ph for ph in phases):
        return None  # a report written before phases kept their levels
    starts = list(itertools.accumulate([0.0] + [ph["duration_s"] for ph in phases]))
    out: list[Number] = []
    for t in times:
        mid = t + step / 2
        i = min(bisect.bisect_right(starts, mid) - 1, len(phases) - 1)
        ph = phases[i]
        share = min(max((mid - starts[i]) / ph["duration_s"], 0.0), 1.0) if ph["duration_s"] else 0.0
        out.append(
            _round(
                ph.get("start_level", 0.0) + (ph.get("end_level", 0.0) - ph.get("start_level", 0.0)) * share,
                3,
            )
        )
    return out


def chart_data(report: Report) -> ChartData:
    """Columnar time series plus chart definitions: everything the inline script needs to draw."""
    services = service_metrics_view(report["service_metrics"])
    points = _measured_points(report)
    classes = sorted({name for p in points for name in p["errors_by_class"]})
    columns = _columns(points, classes)
    interval_s = _interval(points)
    planned = _planned_levels(report, [p["t"] for p in points], interval_s)
    if planned is not None:
        columns["planned"] = planned
    x_max = _x_max(report, interval_s, services)
    service_charts = (
        [c for i, s in enumerate(services.services) for c in _service_charts(i, s, x_max)]
        if services is not None and x_max > 0
        else []
    )
    charts = _chart_specs(columns, classes, interval_s, report) if points else []
    targets = report.get("targets")
    if targets and points:
        charts = _target_charts(charts, columns, points, targets)
    endpoint_chart = _endpoint_chart(report, points, columns)
    if endpoint_chart is not None:
        at = next((i + 1 for i, c in enumerate(charts) if c["id"] == "chart-latency"), len(charts))
        charts.insert(at, endpoint_chart)
    charts = [_with_levels(c, report) for c in charts]
    return {
        "t": [round(p["t"], 3) for p in points],
        "interval_s": interval_s,
        "x_max": x_max,
        "columns": columns,
        "phases": [{"name": p["name"], "start_s": p["start_s"]} for p in report["phases"]],
        "charts": charts,
        "service_charts": service_charts,
    }


def _endpoint_chart(
    report: Report, points: Sequence[TimeseriesPoint], columns: dict[str, list[Number]]
) -> ChartSpec | None:
    """The busiest endpoints' p95 over time, on the run's time axis: which one broke, and when."""
    series = report.get("endpoint_timeseries") or {}
    if not series or not points or report.get("targets"):
        return None
    times = [round(p["t"], 3) for p in points]
    specs: list[SeriesSpec] = []
    for i, (name, pts) in enumerate(series.items()):
        by_t = {round(p["t"], 3): p["p95"] for p in pts}
        key = f"endpoint.{i}.p95"
        columns[key] = [_round(by_t.get(t), 3) for t in times]
        specs.append(_series(key, name, _PALETTE[i % len(_PALETTE)], "ms"))
    axis = _axis("ms", "ms")
    return {
        "id": "chart-endpoints",
        "title": "p95 response time by endpoint (the busiest)",
        "axes": [axis],
        "series": specs,
    }


# Which chart draws which checks' targets, on which of its scales.
_CHECK_LEVELS = {
    "chart-latency": (("http.latency.", "y"),),
    "chart-service": (("http.service_time.", "y"),),
    "chart-rps": (("http.throughput", "y"),),
    "chart-errors": (("http.error_rate", "rate"),),
}


def _target_text(value: float, unit: str) -> str:
    """A target as the plan wrote it: 1%, 250 ms, 2 s, 30/s (no padding decimals)."""
    if unit == "ratio":
        return f"{value * 100:g}%"
    if unit == "ms":
        return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"
    if unit == "per_s":
        return f"{value:g}/s"
    return format_value(value, unit)


def _with_levels(chart: ChartSpec, report: Report) -> ChartSpec:
    """The plan's targets drawn where they apply (p95 < 250 ms on the latency chart), and the
    recoveries on the latency chart: their level, when the clock started, when it got back."""
    levels: list[LevelSpec] = []
    for prefix, scale in _CHECK_LEVELS.get(chart["id"], ()):
        for check in report["checks"]:
            if check["kind"] != "threshold" or not check["metric"].startswith(prefix) or "against" in check:
                continue
            stat = check["metric"].removeprefix("http.").replace("latency.", "").replace("service_time.", "")
            color = _RED if check["status"] != "pass" else _GREY
            guard = " (abort guard)" if check["abort_on_fail"] else ""
            label = f"{stat} {check['op']} {_target_text(check['target'], check['unit'])}{guard}"
            if any(lv["label"] == label for lv in levels):
                continue  # the same target twice draws once
            levels.append({"value": check["target"], "label": label, "scale": scale, "color": color})
    marks: list[MarkSpec] = []
    if chart["id"] == "chart-latency":
        for r in report.get("recovery") or []:
            marks.append({"t": r["since_s"], "label": f"{r['name']}: clock starts", "color": _GREY})
            if r["recovered_at_s"] is not None:
                marks.append(
                    {"t": r["recovered_at_s"], "label": f"back after {r['time_s']:g} s", "color": "#1a7f37"}
                )
            for stat in ("p95", "p99"):
                level = r.get(f"{stat}_ms")
                if isinstance(level, int | float):
                    levels.append(
                        {
                            "value": float(level),
                            "label": f"{r['name']} {stat}",
                            "scale": "y",
                            "color": "#1a7f37",
                        }
                    )
    if not levels and not marks:
        return chart
    axes: list[AxisSpec] = []
    for axis in chart["axes"]:
        axis = AxisSpec(**axis)
        if "max" in axis and axis["scale"] == "y":
            # The axis fits the data; a target up to twice its top is brought into view, a target
            # far above it is drawn as a marker at the top edge (a 250 ms target would flatten 20 ms).
            near = [lv["value"] for lv in levels if lv["scale"] == "y" and lv["value"] <= axis["max"] * 2]
            axis["max"] = max([axis["max"], *(v * 1.1 for v in near)])
        axes.append(axis)
    return {**chart, "axes": axes, "levels": levels, "marks": marks}


def _target_charts(
    charts: list[ChartSpec],
    columns: dict[str, list[Number]],
    points: Sequence[TimeseriesPoint],
    targets: Mapping[str, TargetReport],
) -> list[ChartSpec]:
    """An A/B run: the rate and latency charts draw one line per target (a mix of the targets'
    latencies would describe neither); error counts by class stay the run's, rates are per target."""
    times = [round(p["t"], 3) for p in points]
    for name, target in targets.items():
        by_t = {round(p["t"], 3): p for p in target["timeseries"]}
        for key in ("rps", "p95", "p99", "service_p95", "error_rate"):
            value: list[Number] = []
            for t in times:
                point = by_t.get(t)
                raw = point.get(key) if point is not None else None
                value.append(_round(float(raw), 6) if isinstance(raw, int | float) else None)
            columns[f"target.{name}.{key}"] = value
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(targets)}
    keys = [f"target.{n}.{k}" for n in targets for k in ("p95", "p99", "service_p95")]
    top = max((v for k in keys for v in columns[k] if v is not None), default=1.0) * 1.08
    out: list[ChartSpec] = []
    for chart in charts:
        if chart["id"] == "chart-rps":
            chart = {
                **chart,
                "title": "Request rate by target",
                "series": [_series(f"target.{n}.rps", n, colors[n], "per_s") for n in targets],
            }
        elif chart["id"] == "chart-latency":
            axis = _axis("ms", "ms")
            axis["max"] = top
            series = [_series(f"target.{n}.p95", f"{n} p95", colors[n], "ms") for n in targets]
            series += [_series(f"target.{n}.p99", f"{n} p99", colors[n], "ms", dash=True) for n in targets]
            chart = {
                **chart,
                "title": "Response time by target (corrected): p95, p99 dashed",
                "axes": [axis],
                "series": series,
            }
        elif chart["id"] == "chart-service":
            axis = _axis("ms", "ms")
            axis["max"] = top
            series = [_series(f"target.{n}.service_p95", f"{n} p95", colors[n], "ms") for n in targets]
            chart = {**chart, "title": "Service time by target: p95", "axes": [axis], "series": series}
        elif chart["id"] == "chart-errors":
            kept = [s for s in chart["series"] if s["key"] != "error_rate"]
            kept += [
                _series(
                    f"target.{n}.error_rate", f"{n} error rate", colors[n], "ratio", scale="rate", dash=True
                )
                for n in targets
            ]
            chart = {**chart, "series": kept}
        out.append(chart)
    return out
