"""Export a report to a file: pick the writer for a format and write the result atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from desktop.core.report import Report
from desktop.export.atomic import ExportError, write_bytes_atomically, write_text_atomically
from desktop.export.markdown import render_markdown

log = logging.getLogger(__name__)

FORMATS = ("md", "docx", "pdf")
PAGE_SIZES = ("A4", "Letter")


def normalize_format(fmt: str) -> str:
    """Accept `md`, `.MD`, `markdown` …; raise ExportError for anything else."""
    value = fmt.strip().lower().lstrip(".")
    value = {"markdown": "md"}.get(value, value)
    if value not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose one of {', '.join(FORMATS)})")
    return value


def normalize_page_size(page_size: str) -> str:
    for name in PAGE_SIZES:
        if page_size.strip().lower() == name.lower():
            return name
    raise ExportError(f"unknown page size {page_size!r} (choose A4 or Letter)")


def _binary_renderer(fmt: str) -> Callable[..., bytes]:
    # Imported on demand: python-docx and fpdf2 load in a few hundred milliseconds each.
    if fmt == "docx":
        from desktop.export.docx_writer import render_docx

        return render_docx
    from desktop.export.pdf_writer import render_pdf

    return render_pdf


def export_report(
    report: Report, fmt: str, out: Path, *, force: bool = False, page_size: str = "A4"
) -> Path:
    """Write `report` as `fmt` to `out` atomically; return the absolute path written.

    Refuses to replace an existing file unless `force`; every failure a user can cause
    (bad path, existing file, missing font package, unknown format) raises ExportError
    with one line that says what to do.
    """
    fmt = normalize_format(fmt)
    page_size = normalize_page_size(page_size)
    out = Path(out).expanduser()
    if out.exists() and not force and not out.is_dir():
        # fail before spending seconds on rendering
        raise ExportError(f"{out.resolve()} already exists (use --force to overwrite)")
    log.info("exporting %r as %s to %s", report.title, fmt, out)
    if fmt == "md":
        return write_text_atomically(out, render_markdown(report), force=force)
    data = _binary_renderer(fmt)(report, page_size=page_size)
    return write_bytes_atomically(out, data, force=force)
