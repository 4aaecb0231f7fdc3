"""The HTML report in a real browser: headless Chromium, offline, must draw every chart without errors."""

from __future__ import annotations

import pathlib
import subprocess
from html.parser import HTMLParser

import pytest

from reports import render_html
from surge.report_model import Report
from tests.report_fixtures import sample_report

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHART_IDS = ("chart-rps", "chart-latency", "chart-service", "chart-errors", "chart-load")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="chromium is not installed at /usr/bin/chromium"
)


class ChartDom(HTMLParser):
    """Collects body data attributes and the <canvas> elements inside each chart container."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.canvases: dict[str, list[dict[str, str | None]]] = {}
        self._stack: list[str | None] = []  # the chart id each open element belongs to

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        owner = self._stack[-1] if self._stack else None
        if attributes.get("class") == "chart" and attributes.get("id"):
            owner = attributes["id"]
            self.canvases.setdefault(owner or "", [])
        if tag == "canvas" and owner:
            self.canvases[owner].append(attributes)
        if tag not in {"canvas", "br", "img", "input", "meta", "hr", "wbr"}:
            self._stack.append(owner)

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"canvas", "br", "img", "input", "meta", "hr", "wbr"} and self._stack:
            self._stack.pop()


def open_in_chromium(page: pathlib.Path, profile: pathlib.Path, *extra: str) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Any host lookup fails, so a chart that needed the network could not have been drawn.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
    ]
    done = subprocess.run(
        [str(CHROMIUM), *flags, page.as_uri()], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Console messages reach stderr only in some Chromium builds; when they do, none may be an error.
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    return done.stdout


def dump_dom(report: Report, tmp_path: pathlib.Path, width: int = 1280) -> ChartDom:
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    dom = ChartDom()
    dom.feed(
        open_in_chromium(page, tmp_path / f"profile-{width}", f"--window-size={width},2000", "--dump-dom")
    )
    return dom


def test_every_chart_is_drawn_offline_without_errors(tmp_path: pathlib.Path) -> None:
    dom = dump_dom(sample_report(), tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.body.get("data-charts-ready") == str(len(CHART_IDS))
    assert sorted(dom.canvases) == sorted(CHART_IDS)
    for chart_id in CHART_IDS:
        assert len(dom.canvases[chart_id]) == 1, chart_id


def test_charts_take_the_width_of_the_page(tmp_path: pathlib.Path) -> None:
    def chart_width(width: int) -> int:
        dom = dump_dom(sample_report(), tmp_path, width)
        return int(dom.canvases["chart-rps"][0].get("width") or 0)

    narrow, wide = chart_width(800), chart_width(1280)
    assert 0 < narrow < wide


def test_a_run_without_time_series_draws_no_chart_and_reports_no_error(tmp_path: pathlib.Path) -> None:
    dom = dump_dom(sample_report(verdict="error", error="boom", timeseries=[]), tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.body.get("data-charts-ready") == "0"
    assert dom.canvases == {}
