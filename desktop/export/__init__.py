"""Report writers: Markdown (canonical), DOCX and PDF, all from `desktop.core.report.Report`."""
