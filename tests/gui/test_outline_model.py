"""The outline tree: state icons, in-place updates, drags as MoveSection, deferred reshapes."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView

from desktop.core.commands import (
    AddSection,
    DeepenSection,
    LockSection,
    MoveSection,
    RewriteSection,
)
from desktop.core.outline import Outline
from desktop.gui.edits import Preview
from desktop.gui.outline_model import STATE_ROLE, OutlineModel, TreeSnapshot
from desktop.gui.outline_view import OutlinePanel
from tests.gui.fakes import CannedPrompts


def outline() -> Outline:
    o = Outline.initial("T", [("A", "a"), ("B", "b"), ("C", "c")])
    o, _ = o.inserted("s1", 0, "A1", "a1")  # s4 under s1
    o = o.with_content("s1", "Text of A.")
    return o.updated("s3", lambda s: s.__class__(s.id, s.title, s.plan, locked=True))


def snapshot(o=None, **kw) -> TreeSnapshot:
    return TreeSnapshot(Preview(o or outline()), **kw)


def test_rows_show_state_icons_and_numbers(qtbot):
    model = OutlineModel()
    model.show(snapshot(active_id="s4", active_phase="search", editable=True))
    states = {sid: model.index_of(sid).data(STATE_ROLE) for sid in ("s1", "s2", "s3", "s4")}
    assert states == {"s1": "written", "s2": "planned", "s3": "locked", "s4": "searching"}
    assert model.index_of("s4").data(Qt.ItemDataRole.DisplayRole) == "1.1  A1"
    model.show(snapshot(active_id="s4", active_phase="write", editable=True))
    assert model.index_of("s4").data(STATE_ROLE) == "writing"


def test_same_shape_updates_in_place_new_shape_rebuilds(qtbot):
    model = OutlineModel()
    assert model.show(snapshot(editable=True))
    index = model.index_of("s2")
    renamed = outline().updated("s2", lambda s: s.__class__(s.id, "Bee", s.plan))
    assert not model.show(snapshot(renamed, editable=True))
    assert index.isValid() and model.index_of("s2") == index
    assert index.data(Qt.ItemDataRole.DisplayRole) == "2  Bee"
    grown, _ = renamed.inserted(None, 9, "D", "d")
    assert model.show(snapshot(grown, editable=True))


def test_drops_become_move_commands(qtbot):
    model = OutlineModel()
    model.show(snapshot(editable=True))
    got = []
    model.commandRequested.connect(got.append)
    data = model.mimeData([model.index_of("s2")])
    # dropped between rows at the top level: after C (row 3) → index 2 once B is taken out
    assert not model.dropMimeData(data, Qt.DropAction.MoveAction, 3, 0, QModelIndex())
    # dropped onto A: appended as A's last subsection
    model.dropMimeData(data, Qt.DropAction.MoveAction, -1, 0, model.index_of("s1"))
    assert got == [MoveSection("s2", None, 2), MoveSection("s2", "s1", 1)]
    # read-only snapshots refuse drags
    model.show(snapshot(editable=False))
    assert model.move_for_drop(data, 0, QModelIndex()) is None
    assert not model.flags(model.index_of("s1")) & Qt.ItemFlag.ItemIsEditable


def test_actions_send_commands_and_follow_the_selection(qtbot):
    prompts = CannedPrompts()
    panel = OutlinePanel(prompts)
    qtbot.addWidget(panel)
    got = []
    panel.commandRequested.connect(got.append)
    panel.show_snapshot(snapshot(editable=True))
    panel.select("s1")
    assert panel.act_rewrite.isEnabled() and not panel.act_deepen.isEnabled()
    panel.act_rewrite.trigger()
    panel.select("s2")
    assert not panel.act_rewrite.isEnabled() and panel.act_deepen.isEnabled()
    panel.act_deepen.trigger()
    panel.act_lock.trigger()
    prompts.sections.append(("New", "plan"))
    panel.act_add_sub.trigger()
    panel.select("s3")
    assert panel.act_lock.text() == "Un&lock"
    assert got == [
        RewriteSection("s1"),
        DeepenSection("s2"),
        LockSection("s2"),
        AddSection("New", "plan", "s2", None),
    ]
    panel.show_snapshot(snapshot(editable=False))
    assert not any(a.isEnabled() for a in panel.actions_list)


def test_a_reshape_waits_for_the_open_editor(qtbot):
    panel = OutlinePanel(CannedPrompts())
    qtbot.addWidget(panel)
    panel.show()
    panel.show_snapshot(snapshot(editable=True))
    index = panel.model.index_of("s2")
    panel.view.setCurrentIndex(index)
    panel.view.edit(index)
    assert panel.view.state() == QAbstractItemView.State.EditingState
    grown, _ = outline().inserted(None, 9, "D", "d")
    panel.show_snapshot(snapshot(grown, editable=True))
    assert not panel.model.index_of("s5").isValid()  # deferred: the editor stays open
    qtbot.keyClick(panel.view.indexWidget(index), Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: panel.model.index_of("s5").isValid(), timeout=2000)
