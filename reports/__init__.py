"""Report renderers: ``report.json`` in, Markdown, JUnit XML and a self-contained HTML page out."""

from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from reports.render import write_reports

__all__ = ["render_html", "render_junit", "render_markdown", "write_reports"]
