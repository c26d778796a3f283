"""Exporting the shown report from the window: ask where, confirm a replace, write off-thread.

The window hands over a built report (desktop.core.support builds it once); this asks for a
path and format through the app's prompts, refuses nothing silently (an existing file needs a
confirmation), writes on the background tasks and tells the window how it went.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from desktop.core.report import Report
from desktop.gui.tasks import BackgroundTasks

log = logging.getLogger(__name__)


def suggested_name(question: str) -> str:
    """A file name from the question's first words ("report" when it has none)."""
    words = "".join(c if c.isalnum() else " " for c in question).split()
    return "-".join(words[:8]).lower() or "report"


class ReportExport(QObject):
    """One window's exports. started(name), exported(path) and failed(message) report back."""

    started = Signal(str)
    exported = Signal(str)
    failed = Signal(str)

    def __init__(self, tasks: BackgroundTasks, prompts, parent: QWidget) -> None:
        super().__init__(parent)
        self.tasks, self.prompts, self.window = tasks, prompts, parent

    def ask_and_write(self, report: Report, question: str, page_size: str) -> None:
        """Ask for a path (DOCX suggested), confirm a replace, then write in the background."""
        suggested = str(Path.home() / f"{suggested_name(question)}.docx")
        chosen = self.prompts.save_file(self.window, suggested)
        if chosen is None:
            return
        path, fmt = chosen
        force = False
        if Path(path).exists():
            message = f"{Path(path).name} already exists. Replace it?"
            if not self.prompts.confirm(self.window, "Export", message, "Replace"):
                return
            force = True

        def write() -> str:
            from desktop.export import export_report

            return str(export_report(report, fmt, Path(path), force=force, page_size=page_size))

        log.info("exporting to %s (%s)", path, fmt)
        self.started.emit(Path(path).name)
        self.tasks.submit(write, self.exported.emit, self._failed)

    def _failed(self, exc: Exception) -> None:
        self.failed.emit(f"The report could not be exported: {exc}")
