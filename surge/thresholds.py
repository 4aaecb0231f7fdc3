"""Threshold expressions: ``http.latency.p95 < 500ms``, ``endpoint["POST /events"].p99 < 300ms``.

Pure parsing. A threshold names a metric, a comparison and a target with a unit; the unit must
fit the metric's kind (a latency takes ms/s, a rate takes %, a throughput takes /s), so that a
typo is caught when the plan is validated rather than after a 10-minute run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ms", "ratio", "per_s", "count", "usd"]
Op = Literal["<", "<=", ">", ">=", "==", "!="]

OPS: dict[str, Op] = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}

_LATENCY_STATS = ("min", "max", "mean", "avg", "med", "p50", "p90", "p95", "p99", "p999")
_PCT = re.compile(r"^p(\d{1,2})(?:[._](\d+))?$")

# Request-level metrics shared by the whole run (http), one endpoint and one phase.
_SCALARS: dict[str, Kind] = {
    "error_rate": "ratio",
    "errors": "count",
    "requests": "count",
    "throughput": "per_s",
    "rps": "per_s",
    "dropped_iterations": "count",
    "iterations": "count",
}
_LATENCY_GROUPS = ("latency", "service_time")
_KEYED_NAMESPACES = ("endpoint", "phase")
_PLAIN_NAMESPACES = ("http",)


@dataclass(frozen=True)
class MetricRef:
    namespace: str  # "http" | "endpoint" | "phase" (later: "lambda", "stage", ...)
    key: str | None  # the selector of keyed namespaces: endpoint["GET /api/mocs"]
    path: tuple[str, ...]  # normalized, e.g. ("latency", "p95") or ("error_rate",)
    kind: Kind

    @property
    def canonical(self) -> str:
        head = self.namespace if self.key is None else f'{self.namespace}["{self.key}"]'
        return ".".join((head, *self.path))

    @property
    def percentile(self) -> float | None:
        """The percentile a latency metric asks for (95.0 for p95), None for min/max/mean."""
        if len(self.path) == 2 and self.path[0] in _LATENCY_GROUPS:
            return stat_percentile(self.path[1])
        return None


@dataclass(frozen=True)
class Threshold:
    expr: str  # as the user wrote it
    metric: MetricRef
    op: Op
    target: float  # in the metric's kind: ms, fraction, per second, count, USD
    abort_on_fail: bool = False
    grace_s: float = 0.0

    @property
    def unit(self) -> Kind:
        return self.metric.kind


class ThresholdError(ValueError):
    pass


def stat_percentile(stat: str) -> float | None:
    if stat in ("min", "max", "mean"):
        return None
    if stat == "p999":
        return 99.9
    m = _PCT.match(stat)
    if not m:
        return None
    whole, frac = m.group(1), m.group(2)
    return float(f"{whole}.{frac}") if frac else float(whole)


def _normalize_stat(stat: str) -> str:
    if stat == "avg":
        return "mean"
    if stat == "med":
        return "p50"
    if stat in ("p99.9", "p99_9"):
        return "p999"
    if stat in ("min", "max", "mean", "p999"):
        return stat
    m = _PCT.match(stat)
    if m and 0 < float(m.group(1)) < 100:
        return stat.replace("_", ".")
    raise ThresholdError(
        f"'{stat}' is not a latency statistic; use one of min, max, mean, p50, p90, p95, p99, p999 or pNN"
    )


_TOKEN = re.compile(
    r"""^\s*
    (?P<metric>[A-Za-z_][\w]*(?:\[\s*(?:"[^"]*"|'[^']*')\s*\])?(?:\.[A-Za-z_][\w.]*)?)
    \s*(?P<op><=|>=|==|!=|<|>)\s*
    (?P<value>.+?)\s*$""",
    re.VERBOSE,
)
_SELECTOR = re.compile(r"""^(?P<ns>[A-Za-z_]\w*)\[\s*(?:"(?P<k1>[^"]*)"|'(?P<k2>[^']*)')\s*\](?P<rest>.*)$""")
_VALUE = re.compile(r"^(?P<usd>\$)?\s*(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-zµ%/]+(?:/s)?)?$")


def parse_metric(text: str) -> MetricRef:
    text = text.strip()
    sel = _SELECTOR.match(text)
    if sel:
        namespace = sel.group("ns")
        key: str | None = sel.group("k1") if sel.group("k1") is not None else sel.group("k2")
        rest = sel.group("rest")
        if rest and not rest.startswith("."):
            raise ThresholdError(f"expected '.' after the selector in '{text}'")
        parts = [p for p in rest.split(".") if p] if rest else []
        # "p99.9" was split on its dot: glue it back.
        parts = _glue_decimal_percentiles(parts)
        if namespace not in _KEYED_NAMESPACES:
            raise ThresholdError(
                f"unknown metric namespace '{namespace}[...]'; known: "
                + ", ".join(f"{n}[...]" for n in _KEYED_NAMESPACES)
            )
        if not key:
            raise ThresholdError(f"the selector in '{text}' is empty; name an endpoint or phase")
    else:
        raw = _glue_decimal_percentiles(text.split("."))
        namespace, parts, key = raw[0], raw[1:], None
        if namespace in _KEYED_NAMESPACES:
            raise ThresholdError(f'{namespace} metrics need a name: {namespace}["NAME"].p95')
        if namespace not in _PLAIN_NAMESPACES:
            raise ThresholdError(
                f'unknown metric \'{text}\'; metrics start with http., endpoint["NAME"]. or phase["NAME"].'
            )
    return _request_metric(namespace, key, parts, text)


def _glue_decimal_percentiles(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if out and p.isdigit() and _PCT.match(out[-1]):
            out[-1] = f"{out[-1]}.{p}"
        else:
            out.append(p)
    return out


def _request_metric(namespace: str, key: str | None, parts: list[str], text: str) -> MetricRef:
    if not parts:
        raise ThresholdError(f"'{text}' names no metric; e.g. {text}.latency.p95 or {text}.error_rate")
    head = parts[0]
    if head in _LATENCY_GROUPS:
        if len(parts) != 2:
            raise ThresholdError(f"'{text}': say which statistic, e.g. {head}.p95")
        return MetricRef(namespace, key, (head, _normalize_stat(parts[1])), "ms")
    if len(parts) == 1 and (head in _LATENCY_STATS or _PCT.match(head)) and namespace != "http":
        # endpoint["x"].p99 is shorthand for endpoint["x"].latency.p99
        return MetricRef(namespace, key, ("latency", _normalize_stat(head)), "ms")
    if len(parts) == 1 and head in _SCALARS:
        name = "throughput" if head == "rps" else head
        return MetricRef(namespace, key, (name,), _SCALARS[head])
    known = ", ".join([*(f"{g}.pNN" for g in _LATENCY_GROUPS), *sorted(_SCALARS)])
    raise ThresholdError(f"unknown metric '{text}'; known after '{namespace}': {known}")


def _convert(value: float, unit: str | None, kind: Kind, text: str) -> float:
    u = (unit or "").lower()
    if kind == "ms":
        factors = {"": 1.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1000.0, "m": 60000.0, "min": 60000.0}
        if u in factors:
            return value * factors[u]
        raise ThresholdError(f"'{text}' compares a duration: use ms or s (e.g. 500ms)")
    if kind == "ratio":
        if u == "%":
            return value / 100.0
        if u == "":
            if value > 1:
                raise ThresholdError(f"'{text}': a rate is a fraction (0.01) or a percentage (1%)")
            return value
        raise ThresholdError(f"'{text}' compares a rate: use a percentage (1%) or a fraction (0.01)")
    if kind == "per_s":
        if u in ("", "/s", "rps", "req/s", "reqs/s"):
            return value
        raise ThresholdError(f"'{text}' compares a throughput: use a number per second (100/s)")
    if kind == "usd":
        if u in ("", "usd"):
            return value
        raise ThresholdError(f"'{text}' compares a cost: use dollars ($950)")
    if u == "":
        return value
    raise ThresholdError(f"'{text}' compares a count: use a plain number")


def parse_threshold(expr: str, *, abort_on_fail: bool = False, grace_s: float = 0.0) -> Threshold:
    m = _TOKEN.match(expr)
    if not m:
        raise ThresholdError(
            f"cannot read threshold '{expr}'; write METRIC OP VALUE, e.g. 'http.latency.p95 < 500ms'"
        )
    metric = parse_metric(m.group("metric"))
    value_text = m.group("value")
    v = _VALUE.match(value_text.replace(" ", ""))
    if not v:
        raise ThresholdError(f"'{value_text}' in '{expr}' is not a number with an optional unit")
    unit = "usd" if v.group("usd") else v.group("unit")
    target = _convert(float(v.group("num")), unit, metric.kind, expr)
    return Threshold(expr.strip(), metric, OPS[m.group("op")], target, abort_on_fail, grace_s)


def compare(measured: float, op: Op, target: float) -> bool:
    if op == "<":
        return measured < target
    if op == "<=":
        return measured <= target
    if op == ">":
        return measured > target
    if op == ">=":
        return measured >= target
    if op == "==":
        return measured == target
    return measured != target
