"""The terminal summary says where a failing run's errors are: by class and by endpoint."""

from __future__ import annotations

from reports.terminal import endpoint_lines
from tests.report_fixtures import sample_report


def test_errors_by_class_and_one_line_per_endpoint_busiest_first() -> None:
    report = sample_report()
    report["endpoints"]["GET /x\x1b[31m"] = {**report["endpoints"]["GET /api/mocs"], "requests": 5}
    lines = endpoint_lines(report)
    assert lines[0] == "errors by class: http_5xx 490, timeout 63, connect 3"
    assert lines[2].split()[:4] == ["GET", "/api/mocs", "41210", "201"]
    assert lines[-1].startswith("  GET /x [31m") and "\x1b" not in "".join(lines)


def test_a_clean_single_endpoint_run_prints_no_table() -> None:
    report = sample_report()
    (name, ep) = next(iter(report["endpoints"].items()))
    report["endpoints"] = {name: {**ep, "errors": 0, "errors_by_class": {}}}
    assert endpoint_lines(report) == []
