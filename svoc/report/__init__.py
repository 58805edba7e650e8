"""The per-run audit report for IG officers: one self-contained HTML file beside the warehouse."""

from svoc.report.render import render_html, write_report

__all__ = ["render_html", "write_report"]
