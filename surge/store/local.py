"""A run's folder on disk: the plan as run, the merged results (histograms), and the reports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from reports.render import write_reports
from surge.errors import UserError
from surge.metrics.collect import ServiceMetrics
from surge.plan import Plan
from surge.redact import NO_REDACTION, Redactor
from surge.report_model import Report
from surge.stats import RunStats

RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.json"
PLAN_FILE = "plan.yaml"
REPORT_FILE = "report.json"
REEVALUATIONS_DIR = "reevaluations"
CLAIM_FILE = ".surge-run"  # written first, exclusively: the folder belongs to one run


def new_run_id(plan_name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-z0-9]+", "-", plan_name.lower()).strip("-")[:32] or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def prepare_run_dir(out_dir: Path) -> None:
    """Make the run's folder and prove it writable, before any traffic is sent: a run whose
    results cannot be kept must not run. A folder that already holds a run is never reused."""
    for name in (RESULTS_FILE, REPORT_FILE):
        if (out_dir / name).exists():
            raise UserError(
                f"{out_dir} already holds a run's results ({name}); surge never overwrites a run: "
                "pass another --out, or remove that folder"
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # The folder is claimed at once (created exclusively): two runs started together with
        # the same --out cannot both write it; the second is refused before any traffic.
        fd = os.open(out_dir / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise UserError(
            f"{out_dir} is taken by another run (it holds {CLAIM_FILE}); surge never lets two runs "
            "share a folder: pass another --out (or remove the folder, if no run is using it)"
        ) from None
    except OSError as exc:
        raise UserError(
            f"cannot write the run's results to {out_dir}: {exc.strerror or exc}; "
            "pass --out with a folder you can write"
        ) from None
    with os.fdopen(fd, "w") as claim:
        claim.write(f"{os.getpid()}\n")


def release_run_dir(out_dir: Path) -> None:
    """Give back a run folder nothing was written to (a run that did not start): no empty folder
    is left behind. A folder with anything else in it stays."""
    with contextlib.suppress(OSError):
        (out_dir / CLAIM_FILE).unlink()
        out_dir.rmdir()


def write_run(
    out_dir: Path,
    plan: Plan,
    stats: RunStats,
    report: Report,
    metrics: ServiceMetrics | None = None,
    redactor: Redactor = NO_REDACTION,
) -> dict[str, Path]:
    """Results first, reports last: a folder with a report always has the data behind it. Every
    file goes through ``redactor``: the stored plan keeps its `$env` references, never the values."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stats, report = redactor.data(stats), redactor.data(report)
    (out_dir / PLAN_FILE).write_text(
        yaml.safe_dump(redactor.data(plan.model_dump(mode="json", by_alias=True)), sort_keys=False)
    )
    (out_dir / RESULTS_FILE).write_text(json.dumps(stats))
    if metrics is not None:
        (out_dir / METRICS_FILE).write_text(json.dumps(metrics.to_json()))
    paths = write_reports(report, out_dir)
    paths["results"] = out_dir / RESULTS_FILE
    return paths


class DamagedRunError(UserError):
    """A stored run's file cannot be read as what it should be: the message names it and why."""


def read_metrics(run_dir: Path) -> ServiceMetrics | None:
    """The service metrics collected for a run, so re-rendering keeps them."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return None
    data = _read_json(path)
    try:
        return ServiceMetrics.from_json(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None


def read_results(run_dir: Path) -> RunStats:
    path = run_dir / RESULTS_FILE
    data = _read_json(path)
    problem = _shape_problem(data, _RESULTS_SHAPE) or _intervals_problem(data)
    if problem:
        raise _damaged(path, problem)
    results: RunStats = data
    return results


def read_report(run_dir: Path) -> Report:
    path = run_dir / REPORT_FILE
    data = _read_json(path)
    problem = _shape_problem(data, _REPORT_SHAPE)
    if problem:
        raise _damaged(path, problem)
    report: Report = data
    return report


def _damaged(path: Path, why: str) -> DamagedRunError:
    return DamagedRunError(f"{path} is damaged ({why}); the run's other files and the history are untouched")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DamagedRunError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _damaged(path, "not text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _damaged(path, f"not JSON: {exc}") from None


_NUMBER = (int, float)
# What the readers rely on: each key's type (nested shapes are checked where they are read).
_RESULTS_SHAPE: dict[str, type | tuple[type, ...]] = {
    "interval_s": _NUMBER,
    "t0": _NUMBER,
    "started_at": _NUMBER,
    "ended_at": _NUMBER,
    "workers": int,
    "workers_failed": int,
    "stopped_early": bool,
    "errors": list,
    "intervals": dict,
    "health": list,
}
_REPORT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "plan": str,
    "verdict": str,
    "started_at": str,
    "ended_at": str,
    "checks": list,
    "totals": dict,
    "latency_ms": dict,
    "service_time_ms": dict,
    "endpoints": dict,
    "phases": list,
    "timeseries": list,
}
_INTERVAL_SHAPE: dict[str, type | tuple[type, ...]] = {"iterations": int, "dropped": int, "endpoints": dict}
_ENDPOINT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "requests": int,
    "errors": dict,
    "status": dict,
    "bytes": int,
    "rt": str,
    "st": str,
}


def _shape_problem(data: object, shape: dict[str, type | tuple[type, ...]], where: str = "") -> str | None:
    if not isinstance(data, dict):
        return f"{where or 'the file'} is a {type(data).__name__}, not a JSON object"
    for key, kind in shape.items():
        if key not in data:
            return f"{where}{key} is missing"
        value = data[key]
        if isinstance(value, bool) and kind is not bool:
            return f"{where}{key} is not a {_kind_name(kind)}"
        if not isinstance(value, kind):
            return f"{where}{key} is not a {_kind_name(kind)}"
    return None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        int: "whole number",
        float: "number",
        str: "text",
        list: "list",
        dict: "JSON object",
        bool: "true/false",
    }
    return "number" if isinstance(kind, tuple) else names.get(kind, kind.__name__)


def _intervals_problem(data: dict[str, Any]) -> str | None:
    for key, interval in data["intervals"].items():
        if not str(key).lstrip("-").isdigit():
            return f"intervals: '{key}' is no interval index"
        problem = _shape_problem(interval, _INTERVAL_SHAPE, f"intervals[{key}].")
        if problem:
            return problem
        for name, endpoint in interval["endpoints"].items():
            problem = _shape_problem(endpoint, _ENDPOINT_SHAPE, f"intervals[{key}].endpoints[{name}].")
            if problem:
                return problem
    return None


def locate_run(ref: str, runs_root: Path = Path("surge-runs")) -> Path | None:
    """A stored run's folder from a path, or from a run id under the runs folder."""
    for candidate in (Path(ref), runs_root / ref):
        if (candidate / RESULTS_FILE).is_file():
            return candidate
    return None


def has_report(run_dir: Path) -> bool:
    return (run_dir / REPORT_FILE).is_file()
