"""The outline as a Qt item model: one row per section, updated in place from engine snapshots.

Columns: the section (state icon, number and title), its plan, and the latest edit note. The
model never changes the outline itself: inline edits and drags become commands
(`commandRequested`), the engine applies them, and the next snapshot shows the result.
Snapshots with the same tree shape update rows in place (an open editor survives); a new
shape rebuilds the rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QStandardItem, QStandardItemModel

from desktop.core.commands import MoveSection
from desktop.core.outline import MAX_DEPTH, Node
from desktop.gui.edits import Preview
from desktop.gui.icons import SectionState, icon

log = logging.getLogger(__name__)

SECTION_ID = Qt.ItemDataRole.UserRole + 1
TITLE_ROLE = Qt.ItemDataRole.UserRole + 2
PLAN_ROLE = Qt.ItemDataRole.UserRole + 3
STATE_ROLE = Qt.ItemDataRole.UserRole + 4
ICON_KEY = Qt.ItemDataRole.UserRole + 5
MIME_TYPE = "application/x-draftwell-section"
COLUMNS = ("Section", "Plan", "Edits")

ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class TreeSnapshot:
    """Everything the tree shows: the previewed outline, the engine's focus, and editability."""

    preview: Preview
    active_id: str | None = None
    active_phase: str | None = None
    editable: bool = False


def section_state(node: Node, active_id: str | None, active_phase: str | None) -> SectionState:
    if node.locked:
        return SectionState.LOCKED
    if node.section.id == active_id and active_phase == "write":
        return SectionState.WRITING
    if node.section.id == active_id and active_phase == "search":
        return SectionState.SEARCHING
    if node.section.content is not None:
        return SectionState.WRITTEN
    return SectionState.PLANNED


def _tooltip(node: Node, state: SectionState) -> str:
    lines = [f"{node.position} · {state.value}", f"Plan: {node.section.plan or '—'}"]
    if node.section.content:
        lines.append(f"{len(node.section.content.split())} words written")
    if node.section.locked:
        lines.append("Locked: the model will not rewrite or expand it")
    return "\n".join(lines)


class OutlineModel(QStandardItemModel):
    """Sections as rows (see the module docstring).

    Signals: commandRequested(object) — a command from a drag (MoveSection).
    """

    commandRequested = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self._shape: tuple = ()
        self._rows: dict[str, list[QStandardItem]] = {}
        self.snapshot = TreeSnapshot(Preview(None))

    # ---- reading -------------------------------------------------------------------------
    def index_of(self, section_id: str, column: int = 0) -> QModelIndex:
        items = self._rows.get(section_id)
        return self.indexFromItem(items[column]) if items else QModelIndex()

    def node_of(self, index: ModelIndex) -> Node | None:
        outline = self.snapshot.preview.outline
        section_id = index.siblingAtColumn(0).data(SECTION_ID) if index.isValid() else None
        if outline is None or section_id is None or not outline.has(section_id):
            return None
        return outline.node(section_id)

    def is_editable(self, section_id: str) -> bool:
        p = self.snapshot.preview
        return (
            self.snapshot.editable
            and section_id not in p.provisional
            and section_id not in p.struck
        )

    # ---- updating ------------------------------------------------------------------------
    def show(self, snapshot: TreeSnapshot) -> bool:
        """Display a snapshot; return True when the rows were rebuilt."""
        self.snapshot = snapshot
        outline = snapshot.preview.outline
        nodes = list(outline.walk()) if outline else []
        shape = tuple((n.section.id, n.parent_id) for n in nodes)
        rebuilt = shape != self._shape
        if rebuilt:
            self._rebuild(nodes)
            self._shape = shape
        for node in nodes:
            self._update(node)
        root = self.invisibleRootItem()
        root.setDropEnabled(snapshot.editable)
        return rebuilt

    def _rebuild(self, nodes: list[Node]) -> None:
        self.removeRows(0, self.rowCount())
        self._rows = {}
        for node in nodes:
            items = [QStandardItem() for _ in COLUMNS]
            for item in items:
                item.setData(node.section.id, SECTION_ID)
            parent = self._rows[node.parent_id][0] if node.parent_id else self.invisibleRootItem()
            parent.appendRow(items)
            self._rows[node.section.id] = items

    def _update(self, node: Node) -> None:
        snap, preview = self.snapshot, self.snapshot.preview
        title, plan, note_item = self._rows[node.section.id]
        sid = node.section.id
        state = section_state(node, snap.active_id, snap.active_phase)
        _set(title, Qt.ItemDataRole.DisplayRole, f"{node.number}  {node.section.title}")
        _set(title, TITLE_ROLE, node.section.title)
        _set(title, STATE_ROLE, state.value)
        _set(title, Qt.ItemDataRole.ToolTipRole, _tooltip(node, state))
        _set(plan, Qt.ItemDataRole.DisplayRole, node.section.plan)
        _set(plan, PLAN_ROLE, node.section.plan)
        _set(plan, Qt.ItemDataRole.ToolTipRole, node.section.plan)
        _set_icon(title, state.value)
        font = QFont()
        font.setStrikeOut(sid in preview.struck)
        font.setItalic(sid in preview.provisional)
        font.setBold(state in (SectionState.WRITING, SectionState.SEARCHING))
        if title.font() != font:
            title.setFont(font)
            plan.setFont(font)
        self._update_note(note_item, sid)
        self._update_flags(node, title, plan, note_item)

    def _update_note(self, item: QStandardItem, section_id: str) -> None:
        preview = self.snapshot.preview
        note = preview.notes.get(section_id)
        if section_id in preview.provisional:
            kind, text, tip = "pending", "add · pending", "applied before the model's next step"
        elif note is None:
            kind, text, tip = None, "", ""
        else:
            kind, text, tip = note.kind, note.text, note.detail
        _set(item, Qt.ItemDataRole.DisplayRole, text)
        _set(item, Qt.ItemDataRole.ToolTipRole, f"{text} — {tip}" if tip else text)
        _set(item, STATE_ROLE, kind)
        _set_icon(item, kind)

    def _update_flags(self, node: Node, *items: QStandardItem) -> None:
        editable = self.is_editable(node.section.id)
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        for column, item in enumerate(items):
            flags = base
            if editable and column < 2:
                flags |= Qt.ItemFlag.ItemIsEditable
            if editable and column == 0:
                flags |= Qt.ItemFlag.ItemIsDragEnabled
                if node.depth < MAX_DEPTH:
                    flags |= Qt.ItemFlag.ItemIsDropEnabled
            if item.flags() != flags:
                item.setFlags(flags)

    def forget_icons(self) -> None:
        """Redraw every icon on the next `show` (the palette changed)."""
        for items in self._rows.values():
            for item in items:
                item.setData(None, ICON_KEY)

    # ---- drag and drop -------------------------------------------------------------------
    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeData(self, indexes) -> QMimeData:
        data = QMimeData()
        for index in indexes:
            section_id = index.data(SECTION_ID)
            if section_id:
                data.setData(MIME_TYPE, section_id.encode("utf-8"))
                break
        return data

    def dropMimeData(self, data, action, row: int, column: int, parent: ModelIndex) -> bool:
        """Turn a drop into MoveSection; the engine's answer moves the row, not the view."""
        command = self.move_for_drop(data, row, parent)
        if command is not None:
            self.commandRequested.emit(command)
        return False  # never let the view move or delete rows itself

    def move_for_drop(self, data: QMimeData, row: int, parent: ModelIndex) -> MoveSection | None:
        if not self.snapshot.editable or not data.hasFormat(MIME_TYPE):
            return None
        section_id = bytes(data.data(MIME_TYPE).data()).decode("utf-8")
        items = self._rows.get(section_id)
        if not items:
            return None
        parent = parent.siblingAtColumn(0) if parent.isValid() else QModelIndex()
        parent_id = parent.data(SECTION_ID) if parent.isValid() else None
        parent_item = self.itemFromIndex(parent) if parent.isValid() else None
        children = (parent_item or self.invisibleRootItem()).rowCount()
        index = children if row < 0 else row
        current_parent = items[0].parent()
        current_parent_id = current_parent.data(SECTION_ID) if current_parent else None
        if current_parent_id == parent_id:
            if items[0].row() < index:
                index -= 1
            if items[0].row() == index:
                return None
        if parent_id == section_id:
            return None
        return MoveSection(section_id, parent_id, index)


def _set_icon(item: QStandardItem, name: str | None) -> None:
    if item.data(ICON_KEY) == name:
        return
    item.setData(name, ICON_KEY)
    item.setIcon(icon(name) if name else QIcon())


def _set(item: QStandardItem, role: int, value: object) -> None:
    if item.data(role) != value:
        item.setData(value, role)
