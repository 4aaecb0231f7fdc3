"""Report rows a reader understands without the source: what a count counts, why a figure is
only a lower bound."""

from __future__ import annotations

from reports.markdown import render_markdown
from reports.view import format_measured
from surge.report_model import Check
from tests.unit.test_charts import report


def test_validity_rows_say_what_their_counts_count() -> None:
    md = render_markdown(report())
    assert "<= 0 workers lost" in md, md
    assert "0 workers that fell behind" in md and "requests answered as expected" in md


def lower_bound(metric: str) -> Check:
    return Check(
        name=f"{metric} < 2m",
        metric=metric,
        op="<",
        target=120_000.0,
        unit="ms",
        measured=30_000.0,
        baseline=None,
        delta_pct=None,
        status="fail",
        abort_on_fail=False,
        kind="threshold",
        at_least=True,
    )


def test_a_lower_bound_says_why_it_is_one() -> None:
    # A recovery still under way when the run ended is no timeout.
    assert format_measured(lower_bound('recovery["spike"].time')).endswith("(not back by the run's end)")
    assert format_measured(lower_bound("http.latency.p99")).endswith("(timeouts)")


def test_the_sign_off_line_is_in_the_reports_own_font() -> None:
    from reports import render_html

    html = render_html(report())
    assert "class='signature'" in html
    css = html[html.index(".signature{") : html.index("}", html.index(".signature{"))]
    assert "font-family" not in css  # the page's font, as every other line (it was serif)
