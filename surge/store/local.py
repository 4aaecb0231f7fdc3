"""A run's folder on disk: the plan as run, the merged results (histograms), and the reports."""

from __future__ import annotations

import contextlib
import json
import os
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
