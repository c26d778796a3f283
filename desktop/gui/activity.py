"""The activity log: one row per step (state, keywords, passages, speed), edit and error.

Fed from engine events as they arrive (and from a journal's snapshots for an opened run). Rows
that report failures are coloured; the view follows the newest row unless the user scrolled up.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QVBoxLayout, QWidget

from desktop.core.events import (
    CitationsDropped,
    CommandApplied,
    CommandRejected,
    Event,
    RunFailed,
    RunFinished,
    RunPaused,
    RunStarted,
    RunStopped,
    SearchPerformed,
    SectionChecked,
    SectionWritten,
    StepCompleted,
    StepFailed,
    StepStarted,
)
from desktop.core.usage import CallUsage, format_duration
from desktop.gui.edits import verb

log = logging.getLogger(__name__)

COLUMNS = ("Time", "Step", "State", "Details", "tok/s", "Seconds")
MAX_ROWS = 5000
ERROR_COLOR = QColor("#d0342c")
OK_COLOR = QColor("#2e9d4f")


def describe(event: Event) -> tuple[str, str, str, str, str, str] | None:
    """(step, state, details, tok/s, seconds, kind) for a log row, or None to skip."""
    match event:
        case RunStarted(run_id, _, language, resumed):
            what = "resumed" if resumed else "started"
            return "", "run", f"Run {run_id} {what} ({language})", "", "", "info"
        case StepStarted():
            return None
        case SearchPerformed(step, keywords, passages, new, _):
            details = f"Searched {', '.join(keywords)} → {passages} passages ({new} new)"
            return str(step), "search", details, "", "", "info"
        case SectionWritten(_, position, text, trimmed, _):
            extra = " (trimmed at a sentence end)" if trimmed else ""
            details = f"Wrote {position}: {len(text.split())} words{extra}"
            return "", "write", details, "", "", "info"
        case CitationsDropped(step, position, keys):
            details = (
                f"Dropped from {position}: citations of passages never shown ({', '.join(keys)})"
            )
            return str(step), "write", details, "", "", "error"
        case SectionChecked(_, position, check, revising):
            flagged = len(check.flagged)
            details = f"Checked {position}: {check.summary.label()}"
            if revising:
                details += " · revising it once"
            return "", "check", details, "", "", "error" if flagged and revising else "info"
        case StepCompleted(step, phase, next_phase, m):
            speed = "cached" if m.cached else f"{m.tokens_per_second:.1f}"
            details = f"{phase} → {next_phase} · {m.completion_tokens} tokens, prompt {m.prompt_tokens} ({m.prefilled_tokens} new)"
            return str(step), phase, details, speed, f"{m.seconds:.1f}", "ok"
        case StepFailed(step, phase, reason, m):
            seconds = f"{m.seconds:.1f}" if m else ""
            return str(step), phase, f"Failed: {reason}", "", seconds, "error"
        case CommandApplied(command, _, message):
            return "", "edit", f"{verb(command).capitalize()} applied: {message}", "", "", "ok"
        case CommandRejected(command, reason):
            return "", "edit", f"{verb(command).capitalize()} rejected: {reason}", "", "", "error"
        case RunPaused(step):
            return str(step), "run", "Paused", "", "", "info"
        case RunStopped(step, reason):
            return str(step), "run", f"Stopped ({reason})", "", "", "info"
        case RunFinished(step, reason, _, seconds):
            took = f" in {format_duration(seconds)}" if seconds else ""
            return str(step), "run", f"Finished ({reason or 'done'}){took}", "", "", "ok"
        case RunFailed(step, error):
            return str(step), "run", f"Failed: {error}", "", "", "error"
    return None


class ActivityLog(QWidget):
    """A table of what the run did (see the module docstring). Signals: none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = QTreeView()
        self.view.setObjectName("activityLog")
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.view.header()
        for column, width in enumerate((70, 44, 80, 520, 56, 60)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.usage = CallUsage()  # the live run's figures per call type

    def clear(self) -> None:
        self.model.removeRows(0, self.model.rowCount())

    def add_event(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.usage = CallUsage()
            case StepCompleted(_, phase, _, metrics):
                self.usage.add(phase, metrics)
            case StepFailed(_, phase, _, metrics):
                self.usage.add(phase, metrics, failed=True)
        row = describe(event)
        if row is not None:
            self.add_row(*row)
        if isinstance(event, RunFinished | RunStopped):
            self.add_usage_rows(self.usage)

    def add_usage_rows(self, usage: CallUsage) -> None:
        """Where the time went: one row per call type (tokens prompted, prefilled, generated)."""
        for (phase, totals), line in zip(usage.ordered(), usage.lines(), strict=True):
            rate = totals.completion_tokens / totals.seconds if totals.seconds else 0.0
            speed = f"{rate:.1f}" if rate else ""
            self.add_row("", phase, f"Time spent · {line}", speed, f"{totals.seconds:.0f}")

    def add_row(
        self,
        step: str,
        state: str,
        details: str,
        speed: str = "",
        seconds: str = "",
        kind: str = "info",
        when: float | None = None,
    ) -> None:
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        stamp = time.strftime("%H:%M:%S", time.localtime(when if when is not None else time.time()))
        items = [QStandardItem(v) for v in (stamp, step, state, details, speed, seconds)]
        items[3].setToolTip(details)
        for index in (1, 4, 5):
            items[index].setTextAlignment(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        if kind == "error":
            for item in items:
                item.setForeground(QBrush(ERROR_COLOR))
        self.model.appendRow(items)
        if self.model.rowCount() > MAX_ROWS:
            self.model.removeRows(0, self.model.rowCount() - MAX_ROWS)
        if at_bottom:
            self.view.scrollToBottom()

    def load_history(self, snapshots: list[dict], commands: list[dict]) -> None:
        """Show an opened run's journal: one row per committed step and per edit."""
        self.clear()
        for snap in snapshots:
            detail, kind = snap["detail"], snap["kind"]
            if kind == "step":
                text = _history_detail(detail)
                self.add_row(str(snap["step"]), detail.get("phase", snap["phase"]), text, kind="ok")
            elif kind == "failed":
                self.add_row(
                    str(snap["step"]),
                    detail.get("phase", ""),
                    f"Failed: {detail.get('reason')}",
                    kind="error",
                )
            elif kind == "finish":
                self.add_row(str(snap["step"]), "run", "Finished", kind="ok")
        for command in commands:
            name = command["command"].get("type", "edit")
            kind = "error" if command["status"] == "rejected" else "ok"
            self.add_row("", "edit", f"{name} {command['status']}: {command['message']}", kind=kind)
        self.add_usage_rows(CallUsage.from_snapshots(snapshots))


def _history_detail(detail: dict) -> str:
    if "keywords" in detail:
        return f"Searched {', '.join(detail['keywords'])} → {detail.get('passages', 0)} passages"
    if "chars" in detail:
        return f"Wrote {detail.get('position')}: {detail['chars']} characters"
    if "sections" in detail:
        return f"Planned {detail['sections']} sections"
    if "subsections" in detail:
        return f"Extended {detail.get('position')} with {detail['subsections']} subsections"
    if detail.get("nop"):
        return "Decided the report is complete"
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k not in ("phase", "metrics"))
