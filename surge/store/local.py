"""A run's folder on disk: the plan as run, the merged results (histograms), and the reports."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from surge.errors import UserError
from surge.metrics.collect import ServiceMetrics
from surge.plan import Plan
from surge.redact import NO_REDACTION, Redactor
from surge.report_model import Report
from surge.report_upgrade import ReportVersionError, upgrade_report
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
    write_reports: Callable[[Report, Path], dict[str, Path]],
    metrics: ServiceMetrics | None = None,
    redactor: Redactor = NO_REDACTION,
) -> dict[str, Path]:
    """Results first, reports last: a folder with a report always has the data behind it. Every
    file goes through ``redactor``: the stored plan keeps its `$env` references, never the values.
    ``write_reports`` renders the report's formats (reports.render's, which sits above the store)."""
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
    data = _as_stored(path, _read_json(path), RunStats)
    problem = _intervals_problem(data)
    if problem:
        raise _damaged(path, problem)
    results: RunStats = data
    return results


def read_report(run_dir: Path) -> Report:
    """The run's report.json as the current schema (an older one through its upgrade steps)."""
    path = run_dir / REPORT_FILE
    data = _read_json(path)
    if not isinstance(data, dict):
        raise _damaged(path, f"the file is a {type(data).__name__}, not a JSON object")
    try:
        current = upgrade_report(data)
    except ReportVersionError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    report: Report = _as_stored(path, current, Report)
    return report


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _as_stored(path: Path, data: object, kind: Any) -> Any:
    """``data`` as the type a run stores it as, every nested field checked (the type is the one
    the writer used, so the reader relies on nothing the type does not say); else the file is
    named as damaged with the first few fields that are wrong."""
    if not isinstance(data, dict):
        raise _damaged(path, f"the file is a {type(data).__name__}, not a JSON object")
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        wrong = [f"{_where(e['loc'])} {_wrong(e['type'], e['msg'])}" for e in exc.errors()[:3]]
        more = f" and {exc.error_count() - 3} more" if exc.error_count() > 3 else ""
        raise _damaged(path, "; ".join(wrong) + more) from None


_SAID = {
    "missing": "is missing",
    "dict_type": "should be a JSON object",
    "list_type": "should be a list",
    "string_type": "should be text",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
}


def _wrong(kind: str, message: str) -> str:
    """What is wrong with a field, in the file's terms (JSON's, not Python's)."""
    return _SAID.get(kind) or message.replace("Input should", "should", 1)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


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


_INTERVAL_INDEX = re.compile(r"-?[0-9]+")


def _intervals_problem(data: RunStats) -> str | None:
    """What the type cannot say: an interval's key is its index."""
    for part in (data, *(data.get("targets") or {}).values()):
        for key in part["intervals"]:
            if not _INTERVAL_INDEX.fullmatch(key):
                return f"intervals: '{key}' is no interval index"
    return None


def locate_run(ref: str, runs_root: Path = Path("surge-runs")) -> Path | None:
    """A stored run's folder from a path, or from a run id under the runs folder."""
    for candidate in (Path(ref), runs_root / ref):
        if (candidate / RESULTS_FILE).is_file():
            return candidate
    return None


def has_report(run_dir: Path) -> bool:
    return (run_dir / REPORT_FILE).is_file()
