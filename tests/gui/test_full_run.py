"""A whole research through the GUI with the scripted backend.

Files are dropped on the window, a run starts, the outline is edited mid-run (rename, add,
delete, lock: each must reach the model's next prompt), the run is stopped, edited while
stopped, resumed and finished; then a citation is opened and the report exported.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from desktop.gui.outline_model import SECTION_ID, STATE_ROLE
from desktop.gui.presenter import Mode
from tests.gui.fakes import make_pdfs
from tests.helpers import init_plan, nop, search, write

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"
WAIT = 10_000


def drop_files(window, paths) -> None:
    """A real drag-and-drop sequence onto the draft area (it must reach the window)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = window.draft.empty.viewport()
    pos = QPointF(40, 40)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the window must accept file drags anywhere"
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, drop)
    assert drop.isAccepted()


def edit_inline(qtbot, window, section_id: str, column: int, text: str) -> None:
    panel = window.outline_panel
    index = panel.model.index_of(section_id, column)
    panel.view.setCurrentIndex(index)
    panel.view.edit(index)
    editor = panel.view.indexWidget(index)
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    before = len(window.tracker.pending)
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next loop turn
    qtbot.waitUntil(lambda: len(window.tracker.pending) == before + 1, timeout=WAIT)


def note_kind(window, section_id: str) -> str | None:
    index = window.outline_panel.model.index_of(section_id, 2)
    return index.data(STATE_ROLE) if index.isValid() else None


class Gate:
    """Blocks the engine thread at chosen model calls until the test lets it go on."""

    def __init__(self, backend, at: tuple[int, ...]) -> None:
        self.backend = backend
        self.reached = {n: threading.Event() for n in at}
        self.release = {n: threading.Event() for n in at}
        backend.on_request = self._on_request

    def _on_request(self, request) -> None:
        n = len(self.backend.requests)
        if n in self.reached:
            self.reached[n].set()
            assert self.release[n].wait(WAIT / 1000), f"gate {n} was never released"


def test_drop_run_edit_stop_resume_finish_and_cite(qtbot, make_window, tmp_path):
    replies = [
        search("heat pump"),  # 1
        init_plan("Home heating", "Heat pumps", "Gas boilers", "Costs"),  # 2: s1, s2, s3
        search("heat pump"),  # 3: for s1
        write("A heat pump moves heat with a compressor"),  # 4: s1 (gate: edits happen here)
        search("gas boiler"),  # 5: for s2, after the edits
        write("This reply is cut short by Stop"),  # 6: s2 (gate: Stop here)
        write("A condensing gas boiler is efficient"),  # 7: s2 again, after resume
        search("carbon dioxide"),  # 8: for the added section
        write("Burning gas releases carbon dioxide"),  # 9
        nop(),  # 10: the model ends the run
    ]
    window = make_window(replies)
    backend = window.backend
    gate = Gate(backend, at=(4, 6))
    chunks: list[tuple[int, int]] = []  # (call, chunks streamed so far) at each stream checkpoint
    backend.on_chunk = lambda sent, cancel: chunks.append((len(backend.requests), sent))

    def streamed_of(call: int) -> list[int]:
        return [sent for n, sent in chunks if n == call]

    # -- drop two PDFs anywhere on the window: per-file rows, then indexed with page counts
    pdfs = make_pdfs(tmp_path / "docs")
    drop_files(window, pdfs)
    panel = window.library_panel
    qtbot.waitUntil(lambda: all(panel.status_of(str(p)) == "indexed" for p in pdfs), timeout=WAIT)
    assert sorted(panel.checked_sources()) == sorted(str(p) for p in pdfs)
    assert "MainThread" not in window.libraries[0].threads  # indexing ran on the worker

    # -- start
    assert not window.menu_actions.start.isEnabled()  # no question yet
    window.question_box.setPlainText(QUESTION)
    assert window.menu_actions.start.isEnabled()
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert window.mode in (Mode.LOADING, Mode.RUNNING)
    qtbot.waitUntil(gate.reached[4].is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: window.outline_panel.model.rowCount() == 3, timeout=WAIT)
    assert window.mode == Mode.RUNNING and window.outline_panel.model.snapshot.editable

    # -- mid-run edits through the tree: rename (inline), add, delete, lock
    edit_inline(qtbot, window, "s2", 0, "Condensing gas boilers")
    window.prompts.sections.append(("Emissions", "Compare carbon dioxide per kilowatt hour."))
    window.outline_panel.select("s3")
    window.outline_panel.act_add.trigger()
    window.outline_panel.select("s3")
    window.outline_panel.act_delete.trigger()
    window.outline_panel.select("s1")
    window.outline_panel.act_lock.trigger()
    assert [type(c).__name__ for c in window.tracker.pending] == [
        "RenameSection",
        "AddSection",
        "DeleteSection",
        "LockSection",
    ]
    # pending edits are visible before the engine gets to them
    model = window.outline_panel.model
    assert note_kind(window, "s2") == "pending" and note_kind(window, "s1") == "pending"
    assert model.index_of("s2").data(Qt.ItemDataRole.DisplayRole).endswith("Condensing gas boilers")
    assert model.index_of("s3").data(Qt.ItemDataRole.FontRole).strikeOut()
    provisional = [i for i in model.snapshot.preview.provisional]
    assert len(provisional) == 1 and note_kind(window, provisional[0]) == "pending"

    gate.release[4].set()
    qtbot.waitUntil(gate.reached[6].is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.tracker.pending, timeout=WAIT)
    # the engine applied every edit, and the tree says so
    assert note_kind(window, "s2") == "applied" and note_kind(window, "s1") == "applied"
    assert "applied at step" in model.index_of("s2", 2).data(Qt.ItemDataRole.DisplayRole)
    assert not model.index_of("s3").isValid()
    titles = [n.section.title for n in window.view.outline.walk()]
    assert titles == ["Heat pumps", "Condensing gas boilers", "Emissions"]
    added = window.view.outline.sections[2].id
    assert note_kind(window, added) == "applied"
    assert model.index_of("s1").data(STATE_ROLE) == "locked"
    # ... and the model's very next prompt shows them
    next_prompt = backend.requests[4].prompt_text
    assert "# Section-2 [Condensing gas boilers]: [PLAN]" in next_prompt
    assert "# Section-3 [Emissions]: [PLAN]" in next_prompt
    assert "Costs" not in next_prompt
    assert "You need to update section-2" in next_prompt  # locked section-1 is not the cursor

    # -- stop while the model writes section 2 (the engine thread is already inside the call;
    # the event that says so reaches the window on a later turn of its loop)
    qtbot.waitUntil(lambda: model.index_of("s2").data(STATE_ROLE) == "writing", timeout=WAIT)
    with qtbot.waitSignal(window.runEnded, timeout=WAIT) as ended:
        window.menu_actions.stop.trigger()
        assert window.mode == Mode.STOPPING
        gate.release[6].set()
    assert ended.args[0].status == "stopped"
    # Stop was set before the gate let the reply go: the stream's first checkpoint ended it
    # (nothing of it streamed) and the run made no further call.
    assert len(backend.requests) == 6 and streamed_of(6) == [0]
    assert window.mode == Mode.STOPPED and window.menu_actions.resume.isEnabled()
    assert not window.menu_actions.stop.isEnabled()

    # -- an edit while stopped waits for the resume
    edit_inline(qtbot, window, added, 1, "Grams of carbon dioxide per kilowatt hour of heat.")
    assert note_kind(window, added) == "pending"

    # -- resume and let the model finish (nop)
    with qtbot.waitSignal(window.runEnded, timeout=WAIT) as ended:
        window.menu_actions.resume.trigger()
    assert ended.args[0].status == "finished", ended.args[0].message
    assert backend.remaining == 0
    assert "Grams of carbon dioxide per kilowatt hour of heat." in backend.requests[6].prompt_text
    assert window.mode == Mode.FINISHED and not window.outline_panel.model.snapshot.editable
    states = {
        model.index_of(n.section.id).data(SECTION_ID): model.index_of(n.section.id).data(STATE_ROLE)
        for n in window.view.outline.walk()
    }
    assert states == {"s1": "locked", "s2": "written", added: "written"}
    text = window.draft.plain_text()
    assert "Condensing gas boilers" in text and "References" in text
    assert "A condensing gas boiler is efficient" in text
    assert window.activity.model.rowCount() > 10

    # -- open a citation: the cited PDF page, rendered, with the passage highlighted
    assert window.report.references
    with qtbot.waitSignal(window.citations.rendered, timeout=WAIT) as rendered:
        window.draft.browser.anchorClicked.emit(QUrl("cite:1"))
    assert rendered.args[0] >= 1
    assert window.citation_dock.isVisible()
    assert window.citations.image is not None and not window.citations.image.isNull()
    reference = window.report.references[0]
    assert reference.passage.source in {str(p) for p in pdfs}

    # -- export (the overwrite question comes first when the file exists)
    out = tmp_path / "report.md"
    out.write_text("old", encoding="utf-8")
    window.prompts.save_as = (str(out), "md")
    window.prompts.confirms.append(True)
    with qtbot.waitSignal(window.exported, timeout=WAIT):
        window.menu_actions.export.trigger()
    assert "Export" in window.prompts.asked
    exported = out.read_text(encoding="utf-8")
    assert "Condensing gas boilers" in exported and "References" in exported
