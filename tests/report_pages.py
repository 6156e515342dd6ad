"""A run folder's whole report as one text, for tests that look for a sentence wherever the
report puts it: report.md, then each scenario's page."""

from __future__ import annotations

from pathlib import Path


def report_text(folder: Path) -> str:
    pages = [folder / "report.md", *sorted(folder.glob("report-*.md"))]
    return "\n".join(page.read_text() for page in pages)
