"""The library panel: the user's documents, their indexing progress, and which ones a run uses.

Rows come from the library thread (`set_documents`, `on_progress`); the panel only draws and
asks. Each indexed document has a checkbox: the checked ones are the run's sources. Files
being indexed show a progress bar (page n of m) in the Status column; the Pages column says how
many pages were read by OCR (scans), and a PDF's context menu can run OCR on it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3
OCR_ROLE = Qt.ItemDataRole.UserRole + 4
USABLE = ("indexed", "duplicate")
COLUMNS = ("Document", "Status", "Pages", "Language")
LANGUAGE_COLUMN = 3
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ru": "Russian",
    "uk": "Ukrainian", "el": "Greek", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi",
    "th": "Thai", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch",
}  # fmt: skip
STATUS_TEXT = {
    "indexed": "Indexed",
    "indexing": "Indexing",
    "queued": "Waiting",
    "scanning": "Scanning folder…",
    "failed": "Failed",
    "no-text": "No text layer",
    "encrypted": "Encrypted",
    "duplicate": "Duplicate",
}
EMPTY_TEXT = (
    "<p><b>No documents yet</b></p>"
    "<p>Drop PDFs, Word files or folders anywhere on this window, or click "
    "<b>Add Documents…</b> below. They are indexed on this computer.</p>"
    '<p><a href="draftwell:samples">Add the sample documents</a></p>'
)


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders in a drag (web URLs are ignored)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def pages_text(pages: int, ocr_pages: int) -> str:
    """The Pages column: the page count, and how many of them OCR read ("12 · 12 OCR")."""
    if not pages:
        return ""
    return f"{pages} · {ocr_pages} OCR" if ocr_pages else str(pages)


class _ProgressDelegate(QStyledItemDelegate):
    """Draws a progress bar in the Status column while a file is being indexed. Signals: none."""

    def paint(self, painter, option: QStyleOptionViewItem, index) -> None:
        progress = index.data(PROGRESS_ROLE)
        if progress is None:
            super().paint(painter, option, index)
            return
        page, pages, ocr_pages = progress
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = max(pages, 0)
        bar.progress = min(page, pages) if pages else 0
        bar.text = f"page {page}/{pages}" if pages else "indexing…"
        if ocr_pages:
            bar.text += " · OCR"
        bar.textVisible = True
        bar.state = option.state
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class LibraryPanel(QWidget):
    """Documents with status, progress and a run checkbox (see the module docstring).

    Signals: addFilesRequested(); addFolderRequested(); removeRequested(list) — paths;
    rerunOcrRequested(list) — PDF paths to OCR again; cancelRequested(); checkedChanged() —
    the run's sources changed; samplesRequested(); reindexRequested() — re-embed the library
    with the model chosen in Settings.
    """

    addFilesRequested = Signal()
    addFolderRequested = Signal()
    removeRequested = Signal(list)
    rerunOcrRequested = Signal(list)
    cancelRequested = Signal()
    checkedChanged = Signal()
    samplesRequested = Signal()
    reindexRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.model.itemChanged.connect(self._on_item_changed)
        self.view = QTreeView()
        self.view.setObjectName("libraryView")
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setItemDelegateForColumn(1, _ProgressDelegate(self.view))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        header = self.view.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(1, 140)
        header.resizeSection(2, 96)
        header.resizeSection(LANGUAGE_COLUMN, 80)
        header.setStretchLastSection(False)
        self._rows: dict[str, list[QStandardItem]] = {}
        self.unchecked: set[str] = set()
        self._loading = False
        self._build()

    def _build(self) -> None:
        self.add_button = QToolButton()
        self.add_button.setText("Add Documents…")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.add_button.clicked.connect(self.addFilesRequested)
        menu = QMenu(self.add_button)
        menu.addAction("Add Files…", self.addFilesRequested.emit)
        menu.addAction("Add a Folder…", self.addFolderRequested.emit)
        self.add_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected documents from the library (Delete)")
        self.remove_button.clicked.connect(self.remove_selected)
        remove = QAction("Remove from Library", self.view)
        remove.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        remove.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove.triggered.connect(self.remove_selected)
        self.view.addAction(remove)
        self.cancel_button = QPushButton("Stop Indexing")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.cancel_button.hide()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.reindex_note = QLabel()
        self.reindex_note.setObjectName("reindexNote")
        self.reindex_note.setWordWrap(True)
        self.reindex_button = QPushButton("Re-index with the New Model")
        self.reindex_button.setToolTip(
            "Embed every document again with the embedding model chosen in Settings "
            "(vectors of two models are never mixed; Stop Indexing pauses it)"
        )
        self.reindex_button.clicked.connect(self.reindexRequested)
        self.reindex_note.hide()
        self.reindex_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        empty = QWidget()
        empty_label = QLabel(EMPTY_TEXT)
        empty_label.setObjectName("emptyState")
        empty_label.setWordWrap(True)
        empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_label.linkActivated.connect(lambda _link: self.samplesRequested.emit())
        box = QVBoxLayout(empty)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(empty_label, 1)
        self.empty = empty
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.reindex_note)
        layout.addWidget(self.reindex_button)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self._refresh_chrome()

    # ---- rows ------------------------------------------------------------------------------
    def _row(self, path: str) -> list[QStandardItem]:
        row = self._rows.get(path)
        if row is not None:
            return row
        name = QStandardItem(Path(path).name or path)
        name.setData(path, PATH_ROLE)
        name.setToolTip(path)
        name.setCheckable(True)
        row = [name, QStandardItem(), QStandardItem(), QStandardItem()]
        row[2].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.model.appendRow(row)
        self._rows[path] = row
        return row

    def _set_status(
        self, path: str, status: str, pages: int, error: str | None, ocr_pages: int = 0
    ) -> None:
        self._loading = True
        try:
            name, state, count, _language = self._row(path)
            state.setText(STATUS_TEXT.get(status, status))
            state.setData(status, STATUS_ROLE)
            state.setToolTip(error or STATUS_TEXT.get(status, status))
            count.setText(pages_text(pages, ocr_pages))
            count.setData(ocr_pages, OCR_ROLE)
            count.setToolTip(f"{ocr_pages} of {pages} pages read by OCR" if ocr_pages else "")
            usable = status in USABLE
            name.setEnabled(True)
            name.setCheckable(usable)
            if usable:
                checked = path not in self.unchecked
                name.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            else:
                name.setData(None, Qt.ItemDataRole.CheckStateRole)
            if status != "indexing":
                state.setData(None, PROGRESS_ROLE)
        finally:
            self._loading = False

    def set_documents(self, documents: Iterable) -> None:
        """Replace the rows with the library's list (DocumentStatus values)."""
        documents = list(documents)
        keep = {d.path for d in documents}
        for path in [p for p in self._rows if p not in keep]:
            row = self._rows.pop(path)
            self.model.removeRow(row[0].row())
        for doc in documents:
            ocr_pages = getattr(doc, "ocr_pages", 0)
            self._set_status(doc.path, doc.status, doc.pages, doc.error, ocr_pages)
            self._set_language(doc.path, getattr(doc, "language", ""))
        self._refresh_chrome()
        self.checkedChanged.emit()

    def _set_language(self, path: str, code: str) -> None:
        item = self._row(path)[LANGUAGE_COLUMN]
        item.setText(LANGUAGE_NAMES.get(code, code))
        item.setToolTip(f"language detected at indexing: {code}" if code else "not known yet")

    def language_of(self, path: str) -> str | None:
        row = self._rows.get(path)
        return row[LANGUAGE_COLUMN].text() if row else None

    def set_reindex_notice(self, reason: str) -> None:
        """Show why the library needs re-indexing and the button that does it ("" hides them)."""
        self.reindex_note.setText(
            f"<b>Re-index needed.</b> {reason} Searching is off until the library is re-indexed."
            if reason
            else ""
        )
        self.reindex_note.setVisible(bool(reason))
        self.reindex_button.setVisible(bool(reason))

    def add_pending(self, paths: Iterable[str]) -> None:
        """Show dropped files right away, before the library thread gets to them."""
        for path in paths:
            if path not in self._rows:
                status = "scanning" if Path(path).is_dir() else "queued"
                self._set_status(path, status, 0, None)
        self._refresh_chrome()

    def on_progress(self, progress) -> None:
        """Update one file's row from an IngestProgress."""
        ocr_pages = getattr(progress, "ocr_pages", 0)
        if progress.done:
            self._set_status(
                progress.path, progress.status, progress.pages, progress.error, ocr_pages
            )
            self.checkedChanged.emit()
        else:
            self._set_status(progress.path, "indexing", progress.pages, None, ocr_pages)
            bar = (progress.page, progress.pages, ocr_pages)
            self._row(progress.path)[1].setData(bar, PROGRESS_ROLE)
        self._refresh_chrome()

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setVisible(busy)

    # ---- choosing sources ------------------------------------------------------------------
    def _on_item_changed(self, item: QStandardItem) -> None:
        if self._loading or item.column() != 0 or not item.isCheckable():
            return
        path = item.data(PATH_ROLE)
        if item.checkState() == Qt.CheckState.Checked:
            self.unchecked.discard(path)
        else:
            self.unchecked.add(path)
        self._refresh_chrome()
        self.checkedChanged.emit()

    def checked_sources(self) -> list[str]:
        return [
            path
            for path, row in self._rows.items()
            if row[1].data(STATUS_ROLE) in USABLE and row[0].checkState() == Qt.CheckState.Checked
        ]

    def status_of(self, path: str) -> str | None:
        row = self._rows.get(path)
        return row[1].data(STATUS_ROLE) if row else None

    def progress_of(self, path: str) -> tuple[int, int] | None:
        row = self._rows.get(path)
        progress = row[1].data(PROGRESS_ROLE) if row else None
        return None if progress is None else tuple(progress[:2])

    def ocr_pages_of(self, path: str) -> int:
        row = self._rows.get(path)
        return int(row[2].data(OCR_ROLE) or 0) if row else 0

    def set_checked(self, path: str, checked: bool) -> None:
        row = self._rows.get(path)
        if row is not None and row[0].isCheckable():
            row[0].setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    # ---- removing --------------------------------------------------------------------------
    def selected_paths(self) -> list[str]:
        rows = {index.row() for index in self.view.selectionModel().selectedRows()}
        return [self.model.item(r, 0).data(PATH_ROLE) for r in sorted(rows)]

    def remove_selected(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.removeRequested.emit(paths)

    def rerun_ocr_selected(self) -> None:
        """Ask for OCR again on the selected PDFs (their scanned pages are read afresh)."""
        paths = [p for p in self.selected_paths() if p.lower().endswith(".pdf")]
        if paths:
            self.rerunOcrRequested.emit(paths)

    def _context_menu(self, pos) -> None:
        index: QModelIndex | QPersistentModelIndex = self.view.indexAt(pos)
        menu = QMenu(self)
        menu.addAction("Add Files…", self.addFilesRequested.emit)
        menu.addAction("Add a Folder…", self.addFolderRequested.emit)
        if index.isValid():
            menu.addSeparator()
            if any(p.lower().endswith(".pdf") for p in self.selected_paths()):
                menu.addAction("Re-run OCR", self.rerun_ocr_selected)
            menu.addAction("Remove from Library", self.remove_selected)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def _refresh_chrome(self) -> None:
        total = len(self._rows)
        self.stack.setCurrentWidget(self.view if total else self.empty)
        self.remove_button.setEnabled(total > 0)
        if not total:
            self.summary.setText("")
            return
        usable = sum(1 for r in self._rows.values() if r[1].data(STATUS_ROLE) in USABLE)
        chosen = len(self.checked_sources())
        ocr_pages = sum(int(r[2].data(OCR_ROLE) or 0) for r in self._rows.values())
        ocr = f" · {ocr_pages} page{'s' if ocr_pages != 1 else ''} read by OCR" if ocr_pages else ""
        self.summary.setText(
            f"{total} document{'s' if total != 1 else ''} · {usable} indexed{ocr} · "
            f"{chosen} used by the next run"
        )
