"""Run history: past runs with their status; open one read-only or resume an interrupted one.

Listing and loading read SQLite journals, so both run on a worker (`list_runs`,
`load_run`); the dialog only shows the results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.state import RunState
from desktop.gui.run_view import RESUMABLE
from desktop.gui.tasks import BackgroundTasks
from desktop.store.journal import RunInfo

log = logging.getLogger(__name__)

RUN_ID = Qt.ItemDataRole.UserRole + 1
STATUS_TEXT = {
    "finished": "Finished",
    "stopped": "Stopped",
    "interrupted": "Interrupted",
    "failed": "Failed",
    "running": "Running",
    "paused": "Paused",
    "created": "Not started",
}


@dataclass(frozen=True, slots=True)
class LoadedRun:
    """A run read from its journal: enough to show it and to resume it."""

    info: RunInfo
    state: RunState
    snapshots: list[dict]
    commands: list[dict]
    max_step: int
    checks: tuple = ()  # every SectionCheck the journal holds (desktop.core.verify)


def list_runs(data_dir: Path) -> list[RunInfo]:
    from desktop.store.journal import list_runs as journal_runs

    return journal_runs(data_dir)


def load_run(data_dir: Path, run_id: str) -> LoadedRun:
    """Read a run's latest state and history (on a worker)."""
    from desktop.store.journal import RunJournal

    journal = RunJournal.open(data_dir, run_id)
    try:
        return LoadedRun(
            journal.info(),
            journal.latest_state(),
            journal.snapshots(),
            journal.commands(),
            journal.config.max_step,
            tuple(journal.checks()),
        )
    finally:
        journal.close()


def interrupted(runs: list[RunInfo]) -> list[RunInfo]:
    """Runs whose process died while they ran (offered for resume at start-up)."""
    return [r for r in runs if r.status == "interrupted"]


def offer_resume(parent: QWidget, info: RunInfo, answered: Callable[[str], None]) -> QMessageBox:
    """Ask (window-modal, not blocking) whether to resume a run cut off when Draftwell last
    closed; `answered` gets "resume", "show" or "" (not now)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Resume Research?")
    box.setText("A research run was cut off when Draftwell last closed.")
    box.setInformativeText(f"“{info.question}”\n{info.steps} steps done. Resume it now?")
    resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
    show = box.addButton("Show It", QMessageBox.ButtonRole.ActionRole)
    box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(resume)

    def finished(_result: int) -> None:
        clicked = box.clickedButton()
        answered("resume" if clicked is resume else "show" if clicked is show else "")
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box


class RunHistoryDialog(QDialog):
    """Lists runs, newest first.

    Signals: openRequested(str) — show a run read-only; resumeRequested(str) — continue it.
    """

    openRequested = Signal(str)
    resumeRequested = Signal(str)

    def __init__(
        self,
        data_dir: Path,
        tasks: BackgroundTasks,
        active_run: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open Run")
        self.setObjectName("historyDialog")
        self.resize(760, 420)
        self._active = active_run
        self.model = QStandardItemModel(0, 5, self)
        self.model.setHorizontalHeaderLabels(["Started", "Question", "Status", "Steps", "Model"])
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.view.header().setStretchLastSection(False)
        self.view.doubleClicked.connect(lambda _: self._open())
        self.note = QLabel("Reading the run journals…")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.open_button = QPushButton("&Open")
        self.open_button.setToolTip("Show the run's outline, draft and log (read-only)")
        self.resume_button = QPushButton("&Resume")
        self.resume_button.setToolTip("Continue an interrupted or stopped run")
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.resume_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self._open)
        self.resume_button.clicked.connect(self._resume)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        self.runs: dict[str, RunInfo] = {}
        self._update_buttons()
        tasks.submit(lambda: list_runs(data_dir), self.set_runs, self._failed)

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self.runs = {r.id: r for r in runs}
        for r in runs:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
            values = [
                started,
                r.question,
                STATUS_TEXT.get(r.status, r.status),
                str(r.steps),
                r.model,
            ]
            items = [QStandardItem(v) for v in values]
            for item in items:
                item.setData(r.id, RUN_ID)
            items[1].setToolTip(r.question)
            if r.error:
                items[2].setToolTip(r.error)
            self.model.appendRow(items)
        self.note.setText(
            "No runs yet: start one from the main window." if not runs else f"{len(runs)} runs."
        )
        if runs:
            self.view.setCurrentIndex(self.model.index(0, 0))
        self._update_buttons()

    def _failed(self, exc: Exception) -> None:
        self.note.setText(f"The runs could not be listed: {exc}")

    def current_run(self) -> RunInfo | None:
        run_id = self.view.currentIndex().data(RUN_ID)
        return self.runs.get(run_id) if run_id else None

    def _update_buttons(self) -> None:
        run = self.current_run()
        self.open_button.setEnabled(run is not None and run.id != self._active)
        self.resume_button.setEnabled(
            run is not None and run.status in RESUMABLE and self._active is None
        )

    def _open(self) -> None:
        run = self.current_run()
        if run is not None and self.open_button.isEnabled():
            self.openRequested.emit(run.id)
            self.accept()

    def _resume(self) -> None:
        run = self.current_run()
        if run is not None and self.resume_button.isEnabled():
            self.resumeRequested.emit(run.id)
            self.accept()
