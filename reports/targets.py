"""An A/B run's targets side by side: the rows every renderer shows (HTML, Markdown, terminal), so
the comparison reads the same in each. Pure.

Each row gives a metric's value per target and, for every target after the first (the reference,
usually the system in production), its change against the first, marked better or worse by the
metric's direction (lower latency and error rate are better, higher throughput is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from reports.formatting import DASH, format_count, format_delta, format_ms, format_per_s, format_ratio
from surge.report_model import LatencySummary, Report, TargetReport

Direction = Literal["lower", "higher", "none"]
Read = Callable[[TargetReport], float | None]


@dataclass(frozen=True)
class Delta:
    text: str  # "+12.3%", or DASH when the reference is 0 or a value is missing
    verdict: Literal["better", "worse"] | None


@dataclass(frozen=True)
class Row:
    label: str
    values: list[str]  # one per target, in the plan's order
    deltas: list[Delta]  # one per target after the first


@dataclass(frozen=True)
class Table:
    title: str
    first_column: str
    rows: list[Row]


@dataclass(frozen=True)
class TargetsView:
    names: list[str]
    urls: list[str]
    verdicts: list[str]
    load: str  # how the load was applied, in words
    tables: list[Table]

    @property
    def delta_headers(self) -> list[str]:
        return [f"{name} vs {self.names[0]}" for name in self.names[1:]]


def _delta(value: float | None, reference: float | None, direction: Direction) -> Delta:
    if value is None or reference is None or reference == 0:
        return Delta(DASH, None)
    pct = (value - reference) / reference * 100
    if direction == "none" or abs(pct) < 0.05:
        return Delta(format_delta(pct), None)
    better = pct < 0 if direction == "lower" else pct > 0
    return Delta(format_delta(pct), "better" if better else "worse")


def _row(
    label: str,
    targets: list[TargetReport],
    read: Read,
    show: Callable[[float | None], str],
    direction: Direction,
) -> Row:
    values = [read(t) for t in targets]
    return Row(
        label,
        [show(v) for v in values],
        [_delta(v, values[0], direction) for v in values[1:]],
    )


def _latency(key: str) -> Callable[[LatencySummary], float | None]:
    def read(summary: LatencySummary) -> float | None:
        value = summary.get(key)
        return float(value) if isinstance(value, int | float) else None

    return read


def _run_latency(key: str, which: Literal["latency_ms", "service_time_ms"] = "latency_ms") -> Read:
    return lambda t: _latency(key)(t[which])


def _endpoint_p95(name: str) -> Read:
    return lambda t: _latency("p95")(t["endpoints"][name]["latency_ms"]) if name in t["endpoints"] else None


def _endpoint_errors(name: str) -> Read:
    return lambda t: t["endpoints"][name]["error_rate"] if name in t["endpoints"] else None


_LATENCY_ROWS = (
    ("mean", "Mean"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("max", "Max"),
)


def together(report: Report) -> str:
    """A section title's suffix: in an A/B run, the run's own figures mix the targets' requests."""
    return " (all targets together)" if report.get("targets") else ""


def targets_view(report: Report) -> TargetsView | None:
    """The side-by-side tables of an A/B run's report; None for a run of one target."""
    parts = report.get("targets")
    if not parts:
        return None
    names = list(parts)
    targets = [parts[n] for n in names]
    headline = [
        _row("Requests", targets, lambda t: t["totals"]["requests"], format_count, "none"),
        _row("Error rate", targets, lambda t: t["totals"]["error_rate"], format_ratio, "lower"),
        _row("Throughput", targets, lambda t: t["totals"]["throughput_rps"], format_per_s, "higher"),
        _row(
            "Dropped iterations", targets, lambda t: t["totals"]["dropped_iterations"], format_count, "lower"
        ),
        *(
            _row(f"Latency {label}", targets, _run_latency(key), format_ms, "lower")
            for key, label in _LATENCY_ROWS
        ),
        _row("Service time p95", targets, _run_latency("p95", "service_time_ms"), format_ms, "lower"),
    ]
    tables = [Table("Side by side", "Metric", headline)]
    endpoints = list(dict.fromkeys(e for t in targets for e in t["endpoints"]))
    if endpoints:
        rows: list[Row] = []
        for name in endpoints:
            rows.append(_row(f"{name} p95", targets, _endpoint_p95(name), format_ms, "lower"))
            if any(name in t["endpoints"] and t["endpoints"][name]["errors"] for t in targets):
                rows.append(
                    _row(f"{name} error rate", targets, _endpoint_errors(name), format_ratio, "lower")
                )
        tables.append(Table("Endpoints side by side", "Endpoint", rows))
    phases = [p["name"] for p in targets[0]["phases"]]
    if len(phases) > 1:
        rows = []
        for index, phase in enumerate(phases):

            def p95(t: TargetReport, i: int = index) -> float | None:
                return _latency("p95")(t["phases"][i]["latency_ms"]) if i < len(t["phases"]) else None

            def error_rate(t: TargetReport, i: int = index) -> float | None:
                return t["phases"][i]["error_rate"] if i < len(t["phases"]) else None

            rows.append(_row(f"{phase} p95", targets, p95, format_ms, "lower"))
            rows.append(_row(f"{phase} error rate", targets, error_rate, format_ratio, "lower"))
        tables.append(Table("Phases side by side", "Phase", rows))
    load = report.get("target_load", "each")
    return TargetsView(
        names=names,
        urls=[t["url"] for t in targets],
        verdicts=[t["verdict"] for t in targets],
        load=(
            "every target got the whole arrival schedule"
            if load == "each"
            else f"the arrivals and users were shared out among the {len(names)} targets"
        ),
        tables=tables,
    )
