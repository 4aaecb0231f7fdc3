"""The HTML report in a real browser: headless Chromium, offline, must draw every chart without errors."""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import pytest

from reports import render_html
from reports.charts import chart_data
from surge.report_model import Report
from tests.report_fixtures import sample_report

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHART_IDS = ("chart-rps", "chart-latency", "chart-service", "chart-errors", "chart-load")
# Set to a directory to keep the screenshots the tests take (they are never written into the repo).
SCREENSHOT_DIR = os.environ.get("SURGE_SCREENSHOT_DIR")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="chromium is not installed at /usr/bin/chromium"
)


VOID = {"canvas", "br", "img", "input", "meta", "hr", "wbr", "link"}


class ChartDom(HTMLParser):
    """Collects body data attributes, the <canvas> elements inside each chart container, each
    chart's plot geometry, and which charts and canvases each service section holds."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.canvases: dict[str, list[dict[str, str | None]]] = {}
        self.plots: dict[str, str | None] = {}  # chart id -> "left,width,xmin,xmax" of its plot area
        self.service_canvases: dict[str, int] = {}  # service section id -> canvases inside it
        self.service_charts: dict[str, list[str]] = {}
        # (chart id, service section id) each open element belongs to
        self._stack: list[tuple[str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        owner, service = self._stack[-1] if self._stack else (None, None)
        if attributes.get("class") == "service" and attributes.get("id"):
            service = attributes["id"] or ""
            self.service_canvases.setdefault(service, 0)
            self.service_charts.setdefault(service, [])
        if attributes.get("class") == "chart" and attributes.get("id"):
            owner = attributes["id"]
            self.canvases.setdefault(owner or "", [])
            self.plots[owner or ""] = attributes.get("data-plot")
            if service:
                self.service_charts[service].append(owner or "")
        if tag == "canvas" and owner:
            self.canvases[owner].append(attributes)
            if service:
                self.service_canvases[service] += 1
        if tag not in VOID:
            self._stack.append((owner, service))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._stack:
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


def service_chart_ids(report: Report) -> dict[str, list[str]]:
    """Service section id -> the ids of the charts it should draw, as the renderer planned them."""
    planned: dict[str, list[str]] = {f"svc-{i}": [] for i in range(len(report_services(report)))}
    for chart in chart_data(report)["service_charts"]:
        planned[f"svc-{chart.get('service')}"].append(chart["id"])
    return planned


def report_services(report: Report) -> dict[str, object]:
    services = report["service_metrics"].get("services")
    assert isinstance(services, dict)
    return services


def test_every_chart_is_drawn_offline_without_errors(tmp_path: pathlib.Path) -> None:
    report = sample_report()
    planned = service_chart_ids(report)
    every_id = [*CHART_IDS, *(i for ids in planned.values() for i in ids)]
    dom = dump_dom(report, tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.body.get("data-charts-ready") == str(len(every_id))
    assert sorted(dom.canvases) == sorted(every_id)
    for chart_id in every_id:
        assert len(dom.canvases[chart_id]) == 1, chart_id


def test_each_service_section_draws_its_own_charts(tmp_path: pathlib.Path) -> None:
    report = sample_report()
    planned = service_chart_ids(report)
    assert [len(ids) for ids in planned.values()] == [4, 3, 2, 3, 0]  # S3: no data, no chart
    dom = dump_dom(report, tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.service_charts == planned
    assert dom.service_canvases == {section: len(ids) for section, ids in planned.items()}


def test_every_chart_shares_one_time_axis_so_phases_line_up(tmp_path: pathlib.Path) -> None:
    dom = dump_dom(sample_report(), tmp_path)
    geometry = set(dom.plots.values())
    # Same plot-area left edge and width on every chart, and the same 0..600 s shown: one instant
    # is at one x on the load's charts and on every service's.
    assert len(geometry) == 1, dom.plots
    (plot,) = geometry
    left, width, x_min, x_max = (int(v) for v in (plot or "").split(","))
    assert left > 0 and width > 600 and (x_min, x_max) == (0, 600)


def png_size(path: pathlib.Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_screenshot_of_the_service_section_is_taken(tmp_path: pathlib.Path) -> None:
    """Renders the service metrics and cost alone, full width, for a person to look at (kept only
    when SURGE_SCREENSHOT_DIR names a directory)."""
    page = tmp_path / "services.html"
    keep = "<style>main > *:not(#service-metrics):not(#cost){display:none!important}</style>"
    page.write_text(render_html(sample_report()).replace("</head>", keep + "</head>", 1), encoding="utf-8")
    shot = tmp_path / "services.png"
    open_in_chromium(page, tmp_path / "profile-shot", "--window-size=1280,3600", f"--screenshot={shot}")
    assert png_size(shot) == (1280, 3600)
    assert shot.stat().st_size > 50_000  # drawn charts, not a blank page
    if SCREENSHOT_DIR:
        pathlib.Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, pathlib.Path(SCREENSHOT_DIR) / "report-services.png")


def test_charts_take_the_width_of_the_page(tmp_path: pathlib.Path) -> None:
    def chart_width(width: int) -> int:
        dom = dump_dom(sample_report(), tmp_path, width)
        return int(dom.canvases["chart-rps"][0].get("width") or 0)

    narrow, wide = chart_width(800), chart_width(1280)
    assert 0 < narrow < wide


def test_a_run_without_time_series_draws_no_chart_and_reports_no_error(tmp_path: pathlib.Path) -> None:
    report = sample_report(verdict="error", error="boom", timeseries=[], service_metrics={})
    dom = dump_dom(report, tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.body.get("data-charts-ready") == "0"
    assert dom.canvases == {}


def test_service_charts_are_drawn_even_when_the_load_recorded_no_series(tmp_path: pathlib.Path) -> None:
    report = sample_report(verdict="error", error="boom", timeseries=[])
    dom = dump_dom(report, tmp_path)
    assert dom.body.get("data-chart-error") is None
    assert dom.service_canvases == {k: len(v) for k, v in service_chart_ids(report).items()}
    assert not any(chart_id in dom.canvases for chart_id in CHART_IDS)
