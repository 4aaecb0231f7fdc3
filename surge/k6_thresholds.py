"""k6's threshold syntax in a plan, read as surge's checks (pure).

    thresholds:
      - http_req_duration: ['p(95)<500']          -> http.latency.p95 < 500ms
      - http_req_failed: ['rate<0.01']            -> http.error_rate < 0.01
      - 'http_req_duration{name:login}': ['p(99)<800']   -> endpoint["login"].latency.p99 < 800ms
      - http_reqs: [{threshold: 'rate>100', abortOnFail: true, delayAbortEval: 30s}]

The report shows each in surge's form. k6 times requests from send to last byte: its
http_req_duration is surge's latency when the generator kept up (validity says whether it did).
"""

from __future__ import annotations

import re
from typing import Any

_EXPR = re.compile(r"^\s*(?P<agg>avg|min|max|med|p\((?P<pct>\d+(?:\.\d+)?)\)|rate|count|value)\s*"
                   r"(?P<op><=|>=|==|!=|<|>|===)\s*(?P<num>-?\d+(?:\.\d+)?)\s*$")  # fmt: skip
_METRIC = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<tags>[^}]*)\})?$")

# k6 metric -> {aggregation -> (surge path after the prefix, unit suffix)}
_LATENCY = {"avg": "latency.mean", "min": "latency.min", "max": "latency.max", "med": "latency.p50"}
_MAP: dict[str, dict[str, tuple[str, str]]] = {
    "http_req_duration": {k: (v, "ms") for k, v in _LATENCY.items()},
    "http_req_failed": {"rate": ("error_rate", "")},
    "http_reqs": {"count": ("requests", ""), "rate": ("throughput", "/s")},
    "iterations": {"count": ("iterations", "")},
    "dropped_iterations": {"count": ("dropped_iterations", "")},
}
_HINTS = {
    "checks": "surge counts a failed expectation as an error: write http.error_rate < 1%",
    "http_req_waiting": "surge measures send to last byte: use http_req_duration (http.service_time)",
}


def is_k6_metric(key: object) -> bool:
    m = _METRIC.match(str(key))
    return m is not None and (m.group("name") in _MAP or m.group("name") in _HINTS)


def k6_checks(metric: str, exprs: object) -> list[dict[str, Any]]:
    """One k6 metric's thresholds as ThresholdSpec data ({check, abort_on_fail, grace}).
    Raises ValueError naming the expression that cannot be read."""
    m = _METRIC.match(metric)
    if not m or m.group("name") not in _MAP:
        name = m.group("name") if m else metric
        hint = _HINTS.get(name, f"surge reads k6 thresholds on {', '.join(_MAP)}")
        raise ValueError(f"k6 threshold on {metric}: {hint}")
    prefix = "http"
    if m.group("tags"):
        tags = dict(part.split(":", 1) for part in m.group("tags").split(",") if ":" in part)
        if set(tags) != {"name"}:
            raise ValueError(f"k6 threshold on {metric}: surge filters by the name tag only ({{name:...}})")
        prefix = f'endpoint["{tags["name"].strip()}"]'
    items = exprs if isinstance(exprs, list) else [exprs]
    out: list[dict[str, Any]] = []
    for item in items:
        spec: dict[str, Any] = {}
        if isinstance(item, dict):
            text = item.get("threshold")
            spec["abort_on_fail"] = bool(item.get("abortOnFail", False))
            if item.get("delayAbortEval") is not None:
                spec["grace"] = item["delayAbortEval"]
        else:
            text = item
        if not isinstance(text, str):
            raise ValueError(f"k6 threshold on {metric}: {item!r} is not an expression such as 'p(95)<500'")
        spec["check"] = _check(metric, m.group("name"), prefix, text)
        out.append(spec)
    return out


def _check(metric: str, name: str, prefix: str, text: str) -> str:
    e = _EXPR.match(text)
    if not e:
        raise ValueError(f"k6 threshold '{text}' on {metric}: write AGGREGATION OP NUMBER, e.g. p(95)<500")
    agg, op = e.group("agg"), "==" if e.group("op") == "===" else e.group("op")
    if e.group("pct") is not None:
        if name != "http_req_duration":
            raise ValueError(f"k6 threshold '{text}': {metric} has no percentiles")
        path, unit = f"latency.p{e.group('pct')}", "ms"
    elif agg in _MAP[name]:
        path, unit = _MAP[name][agg]
    else:
        raise ValueError(
            f"k6 threshold '{text}': {metric} has no {agg}; it has {', '.join(_MAP[name]) or 'p(N)'}"
        )
    return f"{prefix}.{path} {op} {e.group('num')}{unit}"


def expand_k6(value: object) -> object:
    """The plan's thresholds with every k6-style entry replaced by surge's; others as they are."""
    if isinstance(value, dict):
        value = [{k: v} for k, v in value.items()]
    if not isinstance(value, list):
        return value
    out: list[object] = []
    for item in value:
        if isinstance(item, dict) and item and "check" not in item and all(map(is_k6_metric, item)):
            for metric, exprs in item.items():
                out.extend(k6_checks(str(metric), exprs))
        else:
            out.append(item)
    return out
