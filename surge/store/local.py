"""A run's folder on disk: the plan as run, the merged results (histograms), and the reports."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

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
        probe = out_dir / f".surge-write-check-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"cannot write the run's results to {out_dir}: {exc.strerror or exc}; "
            "pass --out with a folder you can write"
        ) from None


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


def read_metrics(run_dir: Path) -> ServiceMetrics | None:
    """The service metrics collected for a run, so re-rendering keeps them."""
    path = run_dir / METRICS_FILE
    return ServiceMetrics.from_json(json.loads(path.read_text())) if path.exists() else None


def read_results(run_dir: Path) -> RunStats:
    data: RunStats = json.loads((run_dir / RESULTS_FILE).read_text())
    return data


def read_report(run_dir: Path) -> Report:
    data: Report = json.loads((run_dir / REPORT_FILE).read_text())
    return data


def locate_run(ref: str, runs_root: Path = Path("surge-runs")) -> Path | None:
    """A stored run's folder from a path, or from a run id under the runs folder."""
    for candidate in (Path(ref), runs_root / ref):
        if (candidate / RESULTS_FILE).is_file():
            return candidate
    return None


def has_report(run_dir: Path) -> bool:
    return (run_dir / REPORT_FILE).is_file()
