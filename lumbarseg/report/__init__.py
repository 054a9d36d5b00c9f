"""Static HTML report of an inference run (gallery, sortable table, evaluation tables)."""

from lumbarseg.report.html import build_report

__all__ = ["build_report"]
