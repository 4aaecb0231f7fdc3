"""Baseline figures from other tools' result files and from any JSON with a mapping (pure).

surge's own baseline files are keyed by metric path (``{"http.latency.p95": "420ms"}``). A migration
starts from what the old system's tests wrote instead, so these readers turn each into the same
{metric path: figure} form, in the thresholds' units (ms, fraction, per second, count, USD):

- an Artillery JSON report (``artillery run --output report.json``): ``aggregate.counters``,
  ``aggregate.rates`` and ``aggregate.summaries["http.response_time"]``;
- a k6 summary (``k6 run --summary-export summary.json``, or the ``data`` handed to
  ``handleSummary``): ``metrics.http_req_duration``, ``http_reqs``, ``http_req_failed``, and the
  sub-metrics k6 keeps per ``name`` tag (``http_req_duration{name:GET /x}`` -> ``endpoint["GET /x"]``);
- Locust's ``--csv`` statistics (``PREFIX_stats.csv``): the ``Aggregated`` row and one row per
  request name (``GET /x`` -> ``endpoint["GET /x"]``);
- any JSON, with a mapping in the plan from a field path to a metric (and the figure's unit).

These tools time a request from send to last byte and do not correct for coordinated omission: their
figures compare with surge's ``http.latency`` when the generator kept up (surge's validity checks say
whether it did), and with ``http.service_time`` always.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any, Literal

BaselineFormat = Literal["auto", "surge", "artillery", "k6", "locust"]
FOREIGN_FORMATS: tuple[BaselineFormat, ...] = ("artillery", "k6", "locust")

FORMAT_LABELS = {
    "artillery": "Artillery report",
    "k6": "k6 summary",
    "locust": "Locust stats CSV",
    "mapped": "mapped JSON",
    "surge": "surge figures",
}


class FormatError(ValueError):
    """The file is not what its format says (the message names what is missing)."""


# --- which format a file is in ------------------------------------------------------------------

_LOCUST_HEADER = ("Type", "Name", "Request Count", "Failure Count")


def detect_format(name: str, text: str) -> BaselineFormat:
    """The format of a baseline file by its content (a .csv name or a Locust header: Locust)."""
    head = text.lstrip("\ufeff").lstrip()
    if name.lower().endswith(".csv") or head.startswith(('"Type","Name"', "Type,Name")):
        return "locust"
    try:
        data = json.loads(text)
    except ValueError:
        return "surge"  # the surge reader says why it is not JSON
    if isinstance(data, dict):
        aggregate = data.get("aggregate")
        if isinstance(aggregate, dict) and ("summaries" in aggregate or "counters" in aggregate):
            return "artillery"
        metrics = data.get("metrics")
        if isinstance(metrics, dict) and any(str(k).startswith("http_req") for k in metrics):
            return "k6"
    return "surge"


# --- Artillery -----------------------------------------------------------------------------------

_ARTILLERY_STATS = {
    "min": "min",
    "max": "max",
    "mean": "mean",
    "median": "p50",
    "p50": "p50",
    "p75": "p75",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p999": "p99.9",
}


def artillery_figures(data: object) -> dict[str, float]:
    """An Artillery report's aggregate as surge figures.

    Errors are what surge counts as errors: 4xx and 5xx responses plus Artillery's ``errors.*``
    counters (timeouts, refused connections: requests without a response)."""
    if not isinstance(data, dict) or not isinstance(data.get("aggregate"), dict):
        raise FormatError("an Artillery report has an 'aggregate' object (artillery run --output FILE)")
    aggregate: dict[str, Any] = data["aggregate"]
    counters = _numbers(aggregate.get("counters"))
    rates = _numbers(aggregate.get("rates"))
    summaries = aggregate.get("summaries")
    summaries = summaries if isinstance(summaries, dict) else {}
    figures: dict[str, float] = {}
    response_time = summaries.get("http.response_time")
    if isinstance(response_time, dict):
        for field, stat in _ARTILLERY_STATS.items():
            if _is_number(response_time.get(field)) and f"http.latency.{stat}" not in figures:
                figures[f"http.latency.{stat}"] = float(response_time[field])
    requests = counters.get("http.requests")
    if requests is not None:
        figures["http.requests"] = requests
        failed = sum(v for k, v in counters.items() if _artillery_error(k))
        figures["http.errors"] = failed
        if requests > 0:
            figures["http.error_rate"] = min(1.0, failed / requests)
    if "http.request_rate" in rates:
        figures["http.throughput"] = rates["http.request_rate"]
    else:
        span_ms = _span_ms(aggregate)
        responses = counters.get("http.responses")
        if span_ms and responses is not None:
            figures["http.throughput"] = responses / (span_ms / 1000.0)
    if not figures:
        raise FormatError("its aggregate has no http.response_time summary and no http.requests counter")
    return figures


def _artillery_error(counter: str) -> bool:
    if counter.startswith("errors."):
        return True
    if counter.startswith("http.codes."):
        code = counter.removeprefix("http.codes.")
        return code.isdigit() and int(code) >= 400
    return False


def _span_ms(aggregate: Mapping[str, Any]) -> float | None:
    first, last = _number(aggregate.get("firstMetricAt")), _number(aggregate.get("lastMetricAt"))
    if first is not None and last is not None and last > first:
        return last - first
    return None


# --- k6 ------------------------------------------------------------------------------------------


def k6_figures(data: object) -> dict[str, float]:
    """A k6 summary (--summary-export, or handleSummary's data with its ``values``) as surge figures."""
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise FormatError("a k6 summary has a 'metrics' object (k6 run --summary-export FILE)")
    figures: dict[str, float] = {}
    for raw_name, raw in metrics.items():
        name, tags = _k6_metric_name(str(raw_name))
        values = raw.get("values", raw) if isinstance(raw, dict) else None
        if not isinstance(values, dict):
            continue
        if tags and set(tags) != {"name"}:
            continue  # e.g. {expected_response:true}: a subset surge has no figure for
        prefix = f'endpoint["{tags["name"]}"]' if tags else "http"
        if name == "http_req_duration":
            for field, value in values.items():
                stat = _k6_stat(str(field))
                if stat is not None and _is_number(value):
                    figures[f"{prefix}.latency.{stat}"] = float(value)
        elif name == "http_reqs":
            if _is_number(values.get("count")):
                figures[f"{prefix}.requests"] = float(values["count"])
            if _is_number(values.get("rate")):
                figures[f"{prefix}.throughput"] = float(values["rate"])
        elif name == "http_req_failed":
            rate = _number(values.get("rate", values.get("value")))
            if rate is not None:
                figures[f"{prefix}.error_rate"] = rate
            # --summary-export counts a Rate's true samples as "passes": here, failed requests.
            if _is_number(values.get("passes")):
                figures[f"{prefix}.errors"] = float(values["passes"])
    if not figures:
        raise FormatError("it has no http_req_duration, http_reqs or http_req_failed metric")
    return figures


def _k6_metric_name(raw: str) -> tuple[str, dict[str, str]]:
    """'http_req_duration{name:GET /x}' -> ('http_req_duration', {'name': 'GET /x'})."""
    if "{" not in raw or not raw.endswith("}"):
        return raw, {}
    name, _, inner = raw[:-1].partition("{")
    tags: dict[str, str] = {}
    for part in inner.split(","):
        key, _, value = part.partition(":")
        tags[key.strip()] = value.strip()
    return name, tags


def _k6_stat(field: str) -> str | None:
    """k6's statistic names: avg, min, med, max, p(90), p(99.9)."""
    named = {"avg": "mean", "min": "min", "max": "max", "med": "p50"}
    if field in named:
        return named[field]
    if field.startswith("p(") and field.endswith(")"):
        inner = field[2:-1]
        try:
            float(inner)
        except ValueError:
            return None
        return f"p{inner}"
    return None


# --- Locust --------------------------------------------------------------------------------------

_LOCUST_PERCENTILES = {
    "50%": "p50",
    "75%": "p75",
    "90%": "p90",
    "95%": "p95",
    "99%": "p99",
    "99.9%": "p99.9",
    "100%": "max",
}


def locust_figures(text: str) -> dict[str, float]:
    """Locust's PREFIX_stats.csv as surge figures: the Aggregated row as http.*, each request row
    as endpoint["METHOD NAME"] (what `surge import locust` names its requests)."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or any(column not in rows[0] for column in _LOCUST_HEADER):
        raise FormatError(
            "a Locust stats CSV has the columns Type, Name, Request Count, Failure Count "
            "(locust --csv PREFIX writes PREFIX_stats.csv)"
        )
    figures: dict[str, float] = {}
    for row in rows:
        name, method = (row.get("Name") or "").strip(), (row.get("Type") or "").strip()
        if not name:
            continue
        prefix = "http" if name == "Aggregated" else f'endpoint["{f"{method} {name}".strip()}"]'
        figures.update(_locust_row(row, prefix))
    if not any(k.startswith("http.") for k in figures):
        raise FormatError("it has no Aggregated row")
    return figures


def _locust_row(row: Mapping[str, str | None], prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    columns = {
        "Median Response Time": "latency.p50",
        "Average Response Time": "latency.mean",
        "Min Response Time": "latency.min",
        "Max Response Time": "latency.max",
        "Requests/s": "throughput",
        **{column: f"latency.{stat}" for column, stat in _LOCUST_PERCENTILES.items()},
    }
    for column, metric in columns.items():
        value = _csv_number(row.get(column))
        if value is not None:
            out.setdefault(f"{prefix}.{metric}", value)
    requests = _csv_number(row.get("Request Count"))
    failures = _csv_number(row.get("Failure Count"))
    if requests is not None:
        out[f"{prefix}.requests"] = requests
    if failures is not None:
        out[f"{prefix}.errors"] = failures
        if requests:
            out[f"{prefix}.error_rate"] = min(1.0, failures / requests)
    return out


def _csv_number(cell: str | None) -> float | None:
    try:
        return float(cell) if cell not in (None, "", "N/A") else None
    except ValueError:
        return None


# --- any JSON, with a mapping ----------------------------------------------------------------------


def mapped_figures(data: object, mapping: Mapping[str, tuple[str, str | None]]) -> dict[str, object]:
    """{metric: value, with its unit appended when the mapping gives one} for each mapped field path.

    A path is dotted (``responseTime.p95``, ``monthlyCost.total``); keys that contain dots themselves
    are matched too (``summaries.http.response_time.p95``). A field the file lacks is an error: a
    mapping that silently compares nothing would hide a typo."""
    figures: dict[str, object] = {}
    missing: list[str] = []
    for path, (metric, unit) in mapping.items():
        found, value = field_at(data, path)
        if not found:
            missing.append(path)
            continue
        if unit and _is_number(value):
            figures[metric] = f"{value}{unit}"
        else:
            figures[metric] = value
    if missing:
        raise FormatError(f"map: no field {', '.join(missing)} in the file")
    return figures


def field_at(data: object, path: str) -> tuple[bool, object]:
    """(found, value) at a dotted path; a key may itself contain dots (the longest key wins)."""
    path = path.removeprefix("$.")
    if path == "":
        return True, data
    if isinstance(data, list):
        head, _, rest = path.partition(".")
        if head.isdigit() and int(head) < len(data):
            return field_at(data[int(head)], rest)
        return False, None
    if not isinstance(data, dict):
        return False, None
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in data:
            found, value = field_at(data[key], ".".join(parts[cut:]))
            if found:
                return True, value
    return False, None


# --- helpers --------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _numbers(section: object) -> dict[str, float]:
    if not isinstance(section, dict):
        return {}
    return {str(k): float(v) for k, v in section.items() if _is_number(v)}
