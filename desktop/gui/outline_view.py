"""The outline panel: a live tree of sections the user steers while the model works.

Inline edits (title, plan), drags, and the context-menu / keyboard actions (add section, add
subsection, delete, lock/unlock, rewrite, deepen) all become engine commands through
`commandRequested`; the panel never changes the outline itself. Rows show each section's state
by icon and, in the Edits column, whether an edit is pending, applied or rejected.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QStackedWidget,
    QStyledItemDelegate,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.commands import (
    AddSection,
    Command,
    DeepenSection,
    DeleteSection,
    LockSection,
    RenameSection,
    ReplanSection,
    RewriteSection,
    UnlockSection,
)
from desktop.core.outline import MAX_DEPTH, Node
from desktop.gui.outline_model import (
    PLAN_ROLE,
    SECTION_ID,
    TITLE_ROLE,
    OutlineModel,
    TreeSnapshot,
)
from desktop.gui.services import Prompts

log = logging.getLogger(__name__)

PLAN_SHARE = 0.3  # of the tree's width: the section title gets the most room
EDITS_WIDTH = 112
PLAN_MIN_WIDTH = 90
EMPTY_TEXT = (
    "The outline appears here after the model's first search.\n\n"
    "While the run goes on you can rename sections and change their plans (double-click), "
    "add, delete, lock or drag them, or ask for a section to be rewritten or deepened. "
    "Each edit is applied before the model's next step."
)


class SectionDialog(QDialog):
    """Ask for a new section's title and plan. Signals: none beyond QDialog's."""

    def __init__(self, heading: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(heading)
        self.title = QLineEdit()
        self.title.setPlaceholderText("Section title")
        self.plan = QPlainTextEdit()
        self.plan.setPlaceholderText("What should this section cover? (optional)")
        self.plan.setTabChangesFocus(True)
        form = QFormLayout()
        form.addRow("&Title:", self.title)
        form.addRow("&Plan:", self.plan)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self._ok.setEnabled(False)
        self.title.textChanged.connect(lambda text: self._ok.setEnabled(bool(text.strip())))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(420, 220)

    def values(self) -> tuple[str, str]:
        title = self.title.text().strip()
        return title, self.plan.toPlainText().strip() or title


class _EditDelegate(QStyledItemDelegate):
    """Edits the raw title or plan (not the numbered label) and turns the result into a command.

    Signals: none beyond QStyledItemDelegate's.
    """

    def __init__(self, panel: OutlinePanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        role = TITLE_ROLE if index.column() == 0 else PLAN_ROLE
        if isinstance(editor, QLineEdit):
            editor.setText(index.siblingAtColumn(0 if role == TITLE_ROLE else 1).data(role) or "")
        else:
            super().setEditorData(editor, index)

    def setModelData(self, editor: QWidget, model, index) -> None:
        if isinstance(editor, QLineEdit):
            self._panel.inline_edit(index, editor.text())


class OutlinePanel(QWidget):
    """The outline tree with its actions (see the module docstring).

    Signals: commandRequested(object) — a command for the engine; sectionActivated(str) — a
    section id the user double-clicked in the Edits column or chose to show in the draft.
    """

    commandRequested = Signal(object)
    sectionActivated = Signal(str)

    def __init__(self, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prompts = prompts
        self.model = OutlineModel(self)
        self.model.commandRequested.connect(self.commandRequested)
        self.view = QTreeView()
        self.view.setObjectName("outlineTree")
        self.view.setModel(self.model)
        self.view.setItemDelegate(_EditDelegate(self))
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setUniformRowHeights(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        # The edit note ("rename · applied at step 3") is elided; its whole text is the tooltip.
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(2, EDITS_WIDTH)
        self.view.viewport().installEventFilter(self)
        self.view.collapsed.connect(self._on_collapsed)
        self.view.expanded.connect(self._on_expanded)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_actions())
        self.view.doubleClicked.connect(self._on_double_clicked)
        self._collapsed: set[str] = set()
        self._deferred: TreeSnapshot | None = None
        self.view.itemDelegate().closeEditor.connect(self._apply_deferred)

        empty = QLabel(EMPTY_TEXT)
        empty.setObjectName("emptyState")
        empty.setWordWrap(True)
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty = empty
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self._make_actions()
        self._update_actions()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        """Keep the plan column at about 30% of the tree's width as the panel resizes,
        so titles and plans both stay readable at the default dock width."""
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            width = event.size().width()
            self.view.header().resizeSection(1, max(PLAN_MIN_WIDTH, int(width * PLAN_SHARE)))
        return super().eventFilter(watched, event)

    # ---- actions ---------------------------------------------------------------------------

    def _action(self, text: str, shortcut: QKeySequence | str, slot, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.view.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.act_add = self._action(
            "&Add Section…", "Ins", self.add_section, "Add a section after the selected one"
        )
        self.act_add_sub = self._action(
            "Add &Subsection…", "Alt+Ins", self.add_subsection, "Add a subsection"
        )
        self.act_rename = self._action(
            "Re&name", "F2", self.rename_current, "Edit the section's title"
        )
        self.act_replan = self._action(
            "Edit &Plan", "Shift+F2", self.replan_current, "Edit what the section should cover"
        )
        self.act_delete = self._action(
            "&Delete Section", QKeySequence.StandardKey.Delete, self.delete_current,
            "Delete the section and its subsections",
        )  # fmt: skip
        self.act_lock = self._action(
            "&Lock", "Ctrl+L", self.toggle_lock, "Keep the model from rewriting or expanding it"
        )
        self.act_rewrite = self._action(
            "&Rewrite",
            "Ctrl+R",
            self.rewrite_current,
            "Clear the text so the model writes it again",
        )
        self.act_deepen = self._action(
            "Dee&pen", "Ctrl+D", self.deepen_current, "Have the next extension add subsections here"
        )
        self.actions_list = [
            self.act_add,
            self.act_add_sub,
            self.act_rename,
            self.act_replan,
            self.act_delete,
            self.act_lock,
            self.act_rewrite,
            self.act_deepen,
        ]

    def _update_actions(self) -> None:
        node = self.current_node()
        editable = self.model.snapshot.editable
        has_outline = self.model.snapshot.preview.outline is not None
        ok = node is not None and editable and self.model.is_editable(node.section.id)
        self.act_add.setEnabled(editable and has_outline)
        self.act_add_sub.setEnabled(ok and node.depth < MAX_DEPTH)
        self.act_rename.setEnabled(ok)
        self.act_replan.setEnabled(ok)
        self.act_delete.setEnabled(ok)
        self.act_lock.setEnabled(ok)
        self.act_lock.setText("Un&lock" if node is not None and node.section.locked else "&Lock")
        self.act_rewrite.setEnabled(ok and node.section.content is not None and not node.locked)
        self.act_deepen.setEnabled(
            ok and node.depth < MAX_DEPTH and not node.section.subsections and not node.locked
        )

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if index.isValid():
            self.view.setCurrentIndex(index)
        self._update_actions()
        menu = QMenu(self)
        menu.addActions([self.act_add, self.act_add_sub])
        menu.addSeparator()
        menu.addActions([self.act_rename, self.act_replan, self.act_lock])
        menu.addSeparator()
        menu.addActions([self.act_rewrite, self.act_deepen])
        menu.addSeparator()
        menu.addAction(self.act_delete)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    # ---- showing ---------------------------------------------------------------------------
    def show_snapshot(self, snapshot: TreeSnapshot) -> None:
        """Display a snapshot; wait for an open inline editor before reshaping the tree."""
        if self.view.state() == QAbstractItemView.State.EditingState:
            shape_changes = self._shape_of(snapshot) != self._shape_of(self.model.snapshot)
            if shape_changes:
                self._deferred = snapshot
                return
        self._show(snapshot)

    @staticmethod
    def _shape_of(snapshot: TreeSnapshot) -> tuple:
        outline = snapshot.preview.outline
        return tuple((n.section.id, n.parent_id) for n in outline.walk()) if outline else ()

    def _show(self, snapshot: TreeSnapshot) -> None:
        current = self.current_node()
        rebuilt = self.model.show(snapshot)
        if rebuilt:
            self._restore_expansion()
            if current is not None:
                self.select(current.section.id)
        self.stack.setCurrentWidget(self.view if snapshot.preview.outline else self.empty)
        self.view.setDragEnabled(snapshot.editable)
        self._update_actions()

    @Slot()
    def _apply_deferred(self, *args) -> None:
        if self._deferred is not None:
            snapshot, self._deferred = self._deferred, None
            self._show(snapshot)

    def _restore_expansion(self) -> None:
        self.view.expandAll()
        for section_id in self._collapsed:
            index = self.model.index_of(section_id)
            if index.isValid():
                self.view.collapse(index)

    def _on_collapsed(self, index) -> None:
        self._collapsed.add(index.data(SECTION_ID))

    def _on_expanded(self, index) -> None:
        self._collapsed.discard(index.data(SECTION_ID))

    def _on_double_clicked(self, index) -> None:
        if index.column() == 2 or not self.model.is_editable(index.data(SECTION_ID) or ""):
            self.sectionActivated.emit(index.data(SECTION_ID) or "")

    def select(self, section_id: str) -> None:
        index = self.model.index_of(section_id)
        if index.isValid():
            self.view.setCurrentIndex(index)

    def current_node(self) -> Node | None:
        return self.model.node_of(self.view.currentIndex())

    # ---- commands --------------------------------------------------------------------------
    def _send(self, command: Command) -> None:
        log.debug("outline edit: %s", command)
        self.commandRequested.emit(command)

    def inline_edit(self, index, text: str) -> None:
        node = self.model.node_of(index)
        if node is None or not text.strip():
            return
        if index.column() == 0 and text.strip() != node.section.title:
            self._send(RenameSection(node.section.id, text.strip()))
        elif index.column() == 1 and text.strip() != node.section.plan:
            self._send(ReplanSection(node.section.id, text.strip()))

    def add_section(self) -> None:
        node = self.current_node()
        values = self._prompts.new_section(self, "Add Section")
        if values is None:
            return
        if node is None:
            self._send(AddSection(values[0], values[1]))
            return
        siblings = self._siblings(node)
        self._send(
            AddSection(values[0], values[1], node.parent_id, siblings.index(node.section.id) + 1)
        )

    def _siblings(self, node: Node) -> list[str]:
        outline = self.model.snapshot.preview.outline
        if node.parent_id is None:
            return [s.id for s in outline.sections]
        return [s.id for s in outline.get(node.parent_id).subsections]

    def add_subsection(self) -> None:
        node = self.current_node()
        if node is None:
            return
        values = self._prompts.new_section(self, f"Add Subsection to “{node.section.title}”")
        if values is not None:
            self._send(AddSection(values[0], values[1], node.section.id, None))

    def rename_current(self) -> None:
        self.view.edit(self.view.currentIndex().siblingAtColumn(0))

    def replan_current(self) -> None:
        self.view.edit(self.view.currentIndex().siblingAtColumn(1))

    def delete_current(self) -> None:
        node = self.current_node()
        if node is None or not self.act_delete.isEnabled():
            return
        has_work = node.section.content is not None or node.section.subsections
        if has_work and not self._prompts.confirm(
            self,
            "Delete Section",
            f"Delete “{node.section.title}” with its text and subsections?",
            "Delete",
        ):
            return
        self._send(DeleteSection(node.section.id))

    def toggle_lock(self) -> None:
        node = self.current_node()
        if node is not None and self.act_lock.isEnabled():
            cls = UnlockSection if node.section.locked else LockSection
            self._send(cls(node.section.id))

    def rewrite_current(self) -> None:
        node = self.current_node()
        if node is not None and self.act_rewrite.isEnabled():
            self._send(RewriteSection(node.section.id))

    def deepen_current(self) -> None:
        node = self.current_node()
        if node is not None and self.act_deepen.isEnabled():
            self._send(DeepenSection(node.section.id))
