"""The main window's actions, menus and run toolbar, built apart from its layout and wiring.

`build_actions(window)` makes every QAction and connects it to the window's slot;
`build_toolbar` and `build_menus` place them. Which of them are enabled is the presenter's
decision (presenter.py), rendered by the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QStyle, QToolBar

if TYPE_CHECKING:
    from desktop.gui.main_window import MainWindow


@dataclass(frozen=True, slots=True)
class MenuActions:
    """The window's actions (the outline panel keeps its own)."""

    new: QAction
    open: QAction
    add_files: QAction
    add_folder: QAction
    export: QAction
    settings: QAction
    models: QAction
    quit: QAction
    start: QAction
    pause: QAction
    resume: QAction
    stop: QAction
    copy: QAction
    select_all: QAction
    follow: QAction
    reset_layout: QAction
    about: QAction
    about_qt: QAction

    @property
    def run(self) -> list[QAction]:
        """Start, Pause, Resume and Stop, in the order the toolbar and the Run menu show."""
        return [self.start, self.pause, self.resume, self.stop]


def _action(
    window: MainWindow,
    text: str,
    slot: Callable,
    shortcut: QKeySequence.StandardKey | str | None = None,
    tip: str = "",
    icon: QStyle.StandardPixmap | None = None,
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon))
    action.triggered.connect(slot)
    return action


def build_actions(window: MainWindow) -> MenuActions:
    """Every action of the window's menus and toolbar, connected to the window's slots."""
    sp, keys = QStyle.StandardPixmap, QKeySequence.StandardKey
    settings = _action(
        window,
        "&Settings…",
        window.show_settings,
        keys.Preferences,
        "Model, performance and budgets",
    )
    if settings.shortcut().isEmpty():
        settings.setShortcut(QKeySequence("Ctrl+,"))
    quit_action = _action(window, "&Quit", window.close, keys.Quit, "Quit Draftwell")
    quit_action.setMenuRole(QAction.MenuRole.QuitRole)
    follow = _action(
        window,
        "&Follow the Writing",
        window._toggle_follow,
        None,
        "Keep the section being written in view",
    )
    follow.setCheckable(True)
    follow.setChecked(True)
    about = _action(window, "&About Draftwell", window.show_about)
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about_qt = _action(window, "About &Qt", QApplication.aboutQt)
    about_qt.setMenuRole(QAction.MenuRole.AboutQtRole)
    return MenuActions(
        new=_action(
            window,
            "&New Research",
            window.new_research,
            keys.New,
            "Clear the window for a new question",
        ),
        open=_action(
            window, "&Open Run…", window.show_history, keys.Open, "Open or resume a past run"
        ),
        add_files=_action(
            window,
            "&Add Documents…",
            window.ask_add_files,
            "Ctrl+Shift+O",
            "Add files to the library",
            sp.SP_FileDialogNewFolder,
        ),
        add_folder=_action(
            window, "Add &Folder…", window.ask_add_folder, None, "Add a folder of documents"
        ),
        export=_action(
            window,
            "&Export…",
            window.export_report,
            "Ctrl+E",
            "Save the report as Word, PDF or Markdown",
            sp.SP_DialogSaveButton,
        ),
        settings=settings,
        models=_action(
            window,
            "&Models…",
            window.show_models,
            "Ctrl+Shift+M",
            "Local models and downloads from the Hub",
        ),
        quit=quit_action,
        start=_action(
            window,
            "&Start",
            window.start_run,
            "Ctrl+Return",
            "Start researching the question",
            sp.SP_MediaPlay,
        ),
        pause=_action(
            window,
            "&Pause",
            window.pause_run,
            "Ctrl+Shift+P",
            "Pause after the current step",
            sp.SP_MediaPause,
        ),
        resume=_action(
            window,
            "&Resume",
            window.resume_run,
            "Ctrl+Shift+R",
            "Continue a paused, stopped or interrupted run",
            sp.SP_MediaSeekForward,
        ),
        stop=_action(
            window,
            "S&top",
            window.stop_run,
            "Ctrl+.",
            "Stop now; the run can be resumed later",
            sp.SP_MediaStop,
        ),
        copy=_action(window, "&Copy", copy_focused, keys.Copy),
        select_all=_action(window, "Select &All", select_all_focused, keys.SelectAll),
        follow=follow,
        reset_layout=_action(window, "&Reset Layout", window._reset_layout),
        about=about,
        about_qt=about_qt,
    )


def copy_focused() -> None:
    """Edit → Copy: whatever has the focus copies its selection (draft, log, question…)."""
    widget = QApplication.focusWidget()
    if widget is not None and hasattr(widget, "copy"):
        widget.copy()


def select_all_focused() -> None:
    widget = QApplication.focusWidget()
    if widget is not None and hasattr(widget, "selectAll"):
        widget.selectAll()


def build_toolbar(window: MainWindow, actions: MenuActions) -> QToolBar:
    """The run toolbar (Start, Pause, Resume, Stop; Add Documents, Export) at the top."""
    toolbar = QToolBar("Run")
    toolbar.setObjectName("runToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addActions(actions.run)
    toolbar.addSeparator()
    toolbar.addActions([actions.add_files, actions.export])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    return toolbar


def build_menus(
    window: MainWindow,
    actions: MenuActions,
    outline_actions: Iterable[QAction],
    docks: Iterable[QDockWidget],
    toolbar: QToolBar,
) -> None:
    """File, Edit (with the outline's actions), Run, View (docks, toolbar) and Help."""
    bar = window.menuBar()
    file = bar.addMenu("&File")
    file.addActions([actions.new, actions.open])
    file.addSeparator()
    file.addActions([actions.add_files, actions.add_folder])
    file.addSeparator()
    file.addAction(actions.export)
    file.addSeparator()
    file.addAction(actions.quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([actions.copy, actions.select_all])
    edit.addSeparator()
    outline = edit.addMenu("&Outline")
    outline.addActions(list(outline_actions))
    edit.addSeparator()
    edit.addActions([actions.models, actions.settings])
    run = bar.addMenu("&Run")
    run.addActions(actions.run)
    view = bar.addMenu("&View")
    for dock in docks:
        view.addAction(dock.toggleViewAction())
    view.addAction(toolbar.toggleViewAction())
    view.addSeparator()
    view.addActions([actions.follow, actions.reset_layout])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([actions.about, actions.about_qt])
