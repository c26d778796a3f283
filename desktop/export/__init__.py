"""Report writers: Markdown (canonical), DOCX and PDF, all from `desktop.core.report.Report`.

`export_report(report, fmt, out, force=..., page_size=...)` is what the CLI and the GUI call;
`render_markdown`, `render_docx` and `render_pdf` return the document without writing it.
"""

from desktop.export.atomic import ExportError, write_atomically, write_text_atomically
from desktop.export.markdown import render_markdown
from desktop.export.writer import FORMATS, PAGE_SIZES, export_report

__all__ = [
    "FORMATS",
    "PAGE_SIZES",
    "ExportError",
    "export_report",
    "render_markdown",
    "write_atomically",
    "write_text_atomically",
]
