"""The library panel: pending rows, per-page progress, run checkboxes, removal."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.gui.library_panel import LibraryPanel
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import DocumentStatus


def test_progress_status_and_checkboxes(qtbot, tmp_path):
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    assert panel.stack.currentWidget() is panel.empty
    a, b = str(tmp_path / "a.pdf"), str(tmp_path / "b.pdf")
    panel.add_pending([a, b])
    assert panel.status_of(a) == "queued" and panel.stack.currentWidget() is panel.view
    panel.on_progress(IngestProgress(a, 1, 2, 3, 10, 3, "indexing", False))
    assert panel.progress_of(a) == (3, 10) and panel.status_of(a) == "indexing"
    with qtbot.waitSignal(panel.checkedChanged):
        panel.on_progress(IngestProgress(a, 1, 2, 10, 10, 10, "indexed", True))
    assert panel.progress_of(a) is None and panel.checked_sources() == [a]
    panel.set_documents(
        [DocumentStatus(a, "indexed", 10, 10), DocumentStatus(b, "no-text", 2, 0, "scanned")]
    )
    assert panel.checked_sources() == [a]
    assert not panel.model.item(1, 0).isCheckable()  # a file without text cannot be chosen
    with qtbot.waitSignal(panel.checkedChanged):
        panel.set_checked(a, False)
    assert panel.checked_sources() == [] and a in panel.unchecked
    assert "0 used by the next run" in panel.summary.text()


def test_remove_asks_for_the_selected_paths(qtbot, tmp_path):
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    a = str(tmp_path / "a.pdf")
    panel.set_documents([DocumentStatus(a, "indexed", 1, 1)])
    panel.view.setCurrentIndex(panel.model.index(0, 0))
    panel.view.selectionModel().select(
        panel.model.index(0, 0),
        panel.view.selectionModel().SelectionFlag.Rows
        | panel.view.selectionModel().SelectionFlag.Select,
    )
    with qtbot.waitSignal(panel.removeRequested) as removed:
        qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert removed.args[0] == [a]


def test_ocr_pages_are_counted_and_a_pdf_can_be_ocrd_again(qtbot, tmp_path):
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    scan, notes = str(tmp_path / "scan.pdf"), str(tmp_path / "notes.md")
    panel.on_progress(IngestProgress(scan, 1, 1, 2, 3, 4, "indexing", False, ocr_pages=2))
    assert panel.progress_of(scan) == (2, 3) and panel.ocr_pages_of(scan) == 2
    panel.set_documents(
        [DocumentStatus(scan, "indexed", 3, 6, ocr_pages=3), DocumentStatus(notes, "indexed", 0, 1)]
    )
    assert panel.model.item(0, 2).text() == "3 · 3 OCR"
    assert "3 of 3 pages read by OCR" in panel.model.item(0, 2).toolTip()
    assert "3 pages read by OCR" in panel.summary.text()
    selection = panel.view.selectionModel()
    for row in (0, 1):
        selection.select(
            panel.model.index(row, 0), selection.SelectionFlag.Rows | selection.SelectionFlag.Select
        )
    with qtbot.waitSignal(panel.rerunOcrRequested) as asked:
        panel.rerun_ocr_selected()
    assert asked.args[0] == [scan]  # only PDFs have pages to OCR
