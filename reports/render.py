"""Write every report format of one run into a directory."""

from __future__ import annotations

import json
import pathlib

from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from surge.report_model import Report

__all__ = ["REPORT_FILES", "write_reports"]

REPORT_FILES: dict[str, str] = {
    "json": "report.json",
    "md": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
}


def _render_all(report: Report) -> dict[str, str]:
    return {
        "json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "md": render_markdown(report),
        "html": render_html(report),
        "junit": render_junit(report),
    }


def write_reports(report: Report, out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Render every format first, then write, so a renderer bug cannot leave a half-written set."""
    rendered = _render_all(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, pathlib.Path] = {}
    for kind, text in rendered.items():
        path = out_dir / REPORT_FILES[kind]
        path.write_text(text, encoding="utf-8")
        paths[kind] = path
    return paths
