"""The main window: library, question, live outline, streaming draft, citations and activity.

The window owns two worker threads (engine and library, see engine_worker.py and library.py)
and a small pool for short disk jobs. It reacts to engine events only (it never polls the
engine): tree and log updates are immediate and cheap, the full draft re-render is coalesced,
and the streaming paragraph is patched in place. User edits become engine commands; the tree
shows them pending until the engine answers.

The window keeps layout and wiring. What it shows of a run is a `RunView` (run_view.py) that
every event and request replaces (`view = view.apply(event)`); which mode that is, which actions
are enabled and what the status bar says are the presenter's decisions (presenter.py); the
actions, menus and toolbar are built in window_actions.py.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.actions import action_text
from desktop.core.commands import Command
from desktop.core.events import (
    CommandApplied,
    CommandRejected,
    OutlineChanged,
    RunFailed,
    RunStarted,
    SectionChecked,
    StepCompleted,
    StepStarted,
    TimeEstimated,
    TokensStreamed,
)
from desktop.core.report import Report
from desktop.core.support import checked_report, reference_numbers
from desktop.gui import icons, presenter
from desktop.gui.activity import ActivityLog
from desktop.gui.citation import CitationViewer
from desktop.gui.draft import DraftView, stream_preview
from desktop.gui.edits import EditTracker, verb
from desktop.gui.engine_worker import RunController
from desktop.gui.history import (
    LoadedRun,
    RunHistoryDialog,
    interrupted,
    list_runs,
    load_run,
    offer_resume,
)
from desktop.gui.library import LibraryController
from desktop.gui.library_panel import LibraryPanel, local_paths
from desktop.gui.models_dialog import ModelsDialog
from desktop.gui.notifier import Notifier
from desktop.gui.outline_model import TreeSnapshot
from desktop.gui.outline_view import OutlinePanel
from desktop.gui.presenter import Mode, ModelFacts, WindowFacts
from desktop.gui.question_box import QuestionBox
from desktop.gui.report_export import ReportExport
from desktop.gui.resources import read_text, resource
from desktop.gui.run_status import RunStatusBar
from desktop.gui.run_view import (
    EvidenceUpdated,
    PauseRequested,
    ResumeRequested,
    RunEnded,
    RunOpened,
    RunView,
    StartRequested,
    StopRequested,
    UnpauseRequested,
)
from desktop.gui.services import Services, model_label
from desktop.gui.settings_dialog import SettingsDialog
from desktop.gui.tasks import BackgroundTasks
from desktop.gui.window_actions import build_actions, build_menus, build_toolbar
from desktop.settings import Settings

log = logging.getLogger(__name__)

RENDER_DELAY_MS = 40  # coalesce bursts of events into one draft render
SHUTDOWN_SECONDS = 10.0  # what closing waits for the workers, all of them together
SAMPLE_QUESTION = (
    "How do heat pumps compare with gas boilers for heating a home: running costs, emissions "
    "and satisfaction?"
)
READ_ONLY_NOTICE = "Read-only data folder: past runs open and export; nothing can be changed"
READ_ONLY_REFUSAL = "{what} needs a writable data folder; this one is read-only"
EMBEDDED_RUN_NOTE = (
    "The embedded model only demonstrates the pipeline; for a real report download "
    "AgentCPM-Report (Edit → Models…) or use a model server (Edit → Settings…)."
)


class MainWindow(QMainWindow):
    """Draftwell's main window (see the module docstring).

    Signals: modeChanged(str) — the Mode's value; runEnded(object) — a RunEnded;
    draftRendered() — the draft was re-rendered; exported(str) — a report was written;
    shuttingDown() — the window started stopping its workers (the app arms an exit deadline).
    """

    modeChanged = Signal(str)
    runEnded = Signal(object)
    draftRendered = Signal()
    exported = Signal(str)
    shuttingDown = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.data_dir = services.data_dir
        self.settings = Settings.load(self.data_dir)
        self.setWindowTitle("Draftwell")
        self.setObjectName("mainWindow")
        self.setWindowIcon(icons.app_icon())
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.tasks = BackgroundTasks(self)
        self.engine_warm = True  # set False while _preload_engine runs (see _after_show)
        self.workers_ended = True  # see shutdown()
        self.runs = RunController(services.models, self)
        self.library = LibraryController(services.open_library, self)
        self.tracker = EditTracker()
        self.view = RunView()
        self.report: Report | None = None
        self._numbers: dict[str, int] = {}
        self.resume_offer: QMessageBox | None = None
        self.history_dialog: RunHistoryDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.models_dialog: ModelsDialog | None = None
        self._noted_runs: set[str] = set()  # runs whose log has the embedded-model note
        self.notifier = Notifier(self, services.notify_after_seconds)
        self.export = ReportExport(self.tasks, services.prompts, self)
        self._closing = False
        self._engine_preloading = False
        self.read_only = False  # see open_read_only
        self._build_central()
        self._build_docks()
        self.menu_actions = build_actions(self)
        self.toolbar = build_toolbar(self, self.menu_actions)
        self.start_button = self.toolbar.widgetForAction(self.menu_actions.start)
        build_menus(
            self,
            self.menu_actions,
            self.outline_panel.actions_list,
            (self.library_dock, self.outline_dock, self.activity_dock, self.citation_dock),
            self.toolbar,
        )
        self._build_status_bar()
        self._connect()
        self._timers()
        self._restore_ui()
        self._show_mode()
        # Queued to the library thread now, so documents added before the first paint
        # (command-line paths, an early drop) find the library open.
        self.library.open(self.data_dir, self.settings)
        QTimer.singleShot(0, self._after_show)

    # ---- construction ------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.question_box = QuestionBox()
        self.question_box.textChanged.connect(self._update_actions)
        self.draft = DraftView()
        bar = QHBoxLayout()
        bar.addWidget(self.question_box, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(bar)
        layout.addWidget(self.draft, 1)
        self.setCentralWidget(central)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.library_panel = LibraryPanel()
        self.outline_panel = OutlinePanel(self.services.prompts)
        self.activity = ActivityLog()
        self.citations = CitationViewer(
            self.tasks,
            confirm=lambda parent, title, text: self.services.prompts.confirm(
                parent, title, text, "Open"
            ),
            ocr_words=self.library.ocr_words,
        )
        self.library_dock = self._dock("Library", "libraryDock", self.library_panel, left)
        self.outline_dock = self._dock("Outline", "outlineDock", self.outline_panel, left)
        self.activity_dock = self._dock(
            "Activity", "activityDock", self.activity, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.citation_dock = self._dock("Citation", "citationDock", self.citations, right)
        self.splitDockWidget(self.library_dock, self.outline_dock, Qt.Orientation.Vertical)
        self.citation_dock.hide()
        self.resize(1320, 860)
        self.resizeDocks(
            [self.library_dock, self.outline_dock], [250, 400], Qt.Orientation.Vertical
        )
        self.resizeDocks([self.library_dock], [500], Qt.Orientation.Horizontal)
        self.resizeDocks([self.activity_dock], [170], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.run_status = RunStatusBar(self.statusBar(), self._on_model_button)
        self._apply_network_mode()
        self._update_status()

    def _connect(self) -> None:
        self.runs.loading.connect(self._on_loading)
        self.runs.opened.connect(self._on_opened)
        self.runs.event.connect(self._on_event)
        self.runs.ended.connect(self._on_ended)
        self.library.ready.connect(self._update_actions)
        self.library.documents.connect(self.library_panel.set_documents)
        self.library.progress.connect(self.library_panel.on_progress)
        self.library.busyChanged.connect(self._on_library_busy)
        self.library.failed.connect(self._on_library_failed)
        self.library_panel.addFilesRequested.connect(self.ask_add_files)
        self.library_panel.addFolderRequested.connect(self.ask_add_folder)
        self.library_panel.removeRequested.connect(self.remove_documents)
        self.library_panel.rerunOcrRequested.connect(self.library.rerun_ocr)
        self.library_panel.cancelRequested.connect(self.library.cancel)
        self.library.reindexNeeded.connect(self.library_panel.set_reindex_notice)
        self.library_panel.reindexRequested.connect(self.library.reindex)
        self.library_panel.samplesRequested.connect(self.add_sample_documents)
        self.library_panel.checkedChanged.connect(self._on_sources_changed)
        self.outline_panel.commandRequested.connect(self.queue_edit)
        self.outline_panel.sectionActivated.connect(self.draft.scroll_to_section)
        self.draft.citationClicked.connect(self.show_citation)
        self.draft.samplesRequested.connect(self.add_sample_documents)
        self.draft.webLinkClicked.connect(self.citations.open_url)
        self.draft.modelsRequested.connect(lambda: self.show_models(download=True))
        self.draft.settingsRequested.connect(self.show_settings)
        self.export.started.connect(self._on_export_started)
        self.export.exported.connect(self._on_exported)
        self.export.failed.connect(self._on_export_failed)

    def _timers(self) -> None:
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_DELAY_MS)
        self._render_timer.timeout.connect(self._render_draft)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

    def _ui_settings(self) -> QSettings:
        path = self.services.ui_settings_file
        if path is not None:
            return QSettings(str(path), QSettings.Format.IniFormat)
        return QSettings()

    def _restore_ui(self) -> None:
        ui = self._ui_settings()
        self._default_state = self.saveState()
        geometry, state = ui.value("window/geometry"), ui.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        follow = ui.value("draft/follow", True)
        self.menu_actions.follow.setChecked(follow not in (False, "false"))
        self.draft.follow = self.menu_actions.follow.isChecked()
        unchecked = ui.value("library/unchecked", []) or []
        self.library_panel.unchecked = set([unchecked] if isinstance(unchecked, str) else unchecked)

    def _save_ui(self) -> None:
        ui = self._ui_settings()
        ui.setValue("window/geometry", self.saveGeometry())
        ui.setValue("window/state", self.saveState())
        ui.setValue("draft/follow", self.menu_actions.follow.isChecked())
        ui.setValue("library/unchecked", sorted(self.library_panel.unchecked))
        ui.sync()

    def _after_show(self) -> None:
        """Start-up work that must not delay the first paint."""
        self.tasks.submit(_preload_renderer, lambda _: None)
        if not self.settings.model.server_url:
            # After the library's warm-up, not beside it: both import numpy, and two threads
            # importing it (plus torch and llama.cpp's libraries) at once can stall start-up.
            self.engine_warm = False
            if self.library.warmed_up:
                self._preload_engine()
            else:
                self.library.warmedUp.connect(self._preload_engine)
                self.library.failed.connect(self._preload_engine)  # no warm-up will come
        if self.services.check_interrupted_runs and not self.read_only:
            self.tasks.submit(lambda: interrupted(list_runs(self.data_dir)), self._offer_resume)
        self.question_box.setFocus()

    def _preload_engine(self, *_unused) -> None:
        if not self._closing and not self._engine_preloading:
            self._engine_preloading = True
            self.tasks.submit(_preload_engine, self._on_engine_warm, self._on_engine_warm)

    def _on_engine_warm(self, _result) -> None:
        self.engine_warm = True

    @property
    def warmed_up(self) -> bool:
        """The start-up warm-up (embedder, llama.cpp) is over; benchmarks wait for it."""
        return self.library.warmed_up and self.engine_warm

    # ---- the view, its mode and the actions ---------------------------------------------------
    @property
    def mode(self) -> Mode:
        """What the window is doing (the presenter's reading of the view)."""
        return presenter.mode_of(self.view)

    @property
    def editable(self) -> bool:
        """Whether outline edits are accepted (queued now, or applied on resume)."""
        return presenter.editable(self.view)

    def _set_view(self, view: RunView, announce: bool = False) -> bool:
        """Show `view`; when its mode or state text differ (or `announce`), refresh the actions,
        the status bar and the tree and emit modeChanged. True when it did."""
        before = (self.mode, presenter.state_text(self.view))
        self.view = view
        if announce or before != (self.mode, presenter.state_text(view)):
            self._show_mode()
            return True
        return False

    def _show_mode(self) -> None:
        self._update_actions()
        self._update_status()
        self._refresh_tree()
        self.modeChanged.emit(self.mode.value)

    def _facts(self) -> WindowFacts:
        return WindowFacts(
            question=self.question_box.question(),
            sources=len(self.library_panel.checked_sources()),
            library_ready=self.library.is_ready,
            worker_busy=self.runs.active,
        )

    def _update_actions(self) -> None:
        decided, acts = presenter.actions_for(self.view, self._facts()), self.menu_actions
        acts.start.setEnabled(decided.start)
        acts.pause.setEnabled(decided.pause)
        acts.resume.setEnabled(decided.resume)
        acts.stop.setEnabled(decided.stop)
        acts.export.setEnabled(decided.export)
        acts.new.setEnabled(decided.new)
        acts.open.setEnabled(decided.open)
        acts.start.setToolTip(decided.start_tip)
        self.question_box.setReadOnly(decided.question_read_only)

    def _update_status(self) -> None:
        embedded = self.embedded_model_active
        line = presenter.status_line(
            self.view,
            ModelFacts(
                model_label(self.settings), embedded, _embedded_file_name() if embedded else ""
            ),
        )
        self.run_status.show_line(line)
        if embedded != getattr(self, "_embedded_note_shown", None):
            self._embedded_note_shown = embedded
            self.draft.set_embedded_note(embedded)
        self._tick()

    @Slot()
    def _tick(self) -> None:
        elapsed = presenter.elapsed_text(self.view, time.monotonic())
        self.run_status.show_elapsed(elapsed)
        if elapsed and self.tracker.expire():
            self._refresh_tree()

    # ---- library -----------------------------------------------------------------------------------
    def ask_add_files(self) -> None:
        paths = self.services.prompts.open_files(self)
        if paths:
            self.add_documents(paths)

    def ask_add_folder(self) -> None:
        folder = self.services.prompts.open_folder(self)
        if folder:
            self.add_documents([folder])

    def open_read_only(self) -> None:
        """Work on a data folder this app cannot write (app.lock could not be made): a
        permanent line in the status bar says so; runs still open and export, and whatever
        would write (start, resume, adding or removing documents) is refused in one line."""
        self.read_only = True
        self.read_only_notice = QLabel(READ_ONLY_NOTICE)
        self.statusBar().addPermanentWidget(self.read_only_notice)

    def _refused_read_only(self, what: str) -> bool:
        """True when the data folder is read-only; the read-only notice then says what was
        refused (in its own place: the status bar's message area is narrow beside it)."""
        if self.read_only:
            self.read_only_notice.setText(READ_ONLY_REFUSAL.format(what=what))
        return self.read_only

    def add_documents(self, paths: list[str]) -> None:
        """Index files or folders on the library thread (dropped, or chosen in a dialog)."""
        paths = [p for p in paths if Path(p).exists()]
        if not paths or self._refused_read_only("Adding documents"):
            return
        self.library_dock.show()
        self.library_panel.add_pending(paths)
        self.library.add(paths)
        names = ", ".join(Path(p).name for p in paths[:3]) + ("…" if len(paths) > 3 else "")
        self.statusBar().showMessage(f"Indexing {names}", 5000)

    def add_sample_documents(self) -> None:
        """The first-run offer: index the bundled sample PDFs and suggest a question on them."""
        folder = resource("samples")
        if not folder.is_dir():
            self._warn("Sample documents", f"The sample documents are missing ({folder}).")
            return
        self.add_documents([str(folder)])
        if not self.question_box.question() and not self.runs.active:
            self.question_box.setPlainText(SAMPLE_QUESTION)

    def remove_documents(self, paths: list[str]) -> None:
        if self._refused_read_only("Removing documents"):
            return
        names = "\n".join(Path(p).name for p in paths[:8])
        if self.services.prompts.confirm(
            self, "Remove Documents", f"Remove from the library?\n\n{names}", "Remove"
        ):
            self.library.remove(paths)

    def _on_library_busy(self, busy: bool) -> None:
        self.library_panel.set_busy(busy)
        if not busy:
            self.statusBar().showMessage("Indexing finished", 4000)

    def _on_library_failed(self, message: str) -> None:
        if self.read_only:  # the permanent notice already says why (a read-only folder)
            log.info("library: %s", message)
            return
        self.statusBar().showMessage(message, 10000)
        self._warn("Library", message)

    def _on_sources_changed(self) -> None:
        self._update_actions()

    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            ggufs = [p for p in paths if p.lower().endswith(".gguf")]
            if ggufs:  # a model, not a document: to the models page
                self.show_models()
                self.models_dialog.add_paths(ggufs)
            documents = [p for p in paths if p not in ggufs]
            if documents:
                self.add_documents(documents)

    # ---- starting and steering runs ---------------------------------------------------------------
    def new_research(self) -> None:
        if self.runs.active:
            return
        self._reset_run()
        self.view = RunView()
        self.setWindowTitle("Draftwell")
        self.question_box.clear()
        self.question_box.setFocus()
        self._show_mode()

    def _reset_run(self) -> None:
        """Clear what the last run left in the widgets (the caller sets the new view)."""
        self.tracker.clear()
        self.report = None
        self.activity.clear()
        self.draft.plans = {}
        self.draft.clear()
        self.citation_dock.hide()

    def start_run(self) -> None:
        if self._refused_read_only("Starting a research"):
            return
        question = self.question_box.question()
        sources = self.library_panel.checked_sources()
        if not presenter.can_start(self.view, self._facts()) or not question or not sources:
            return
        self._reset_run()
        asked = StartRequested(
            question, tuple(sources), model_label(self.settings), time.time(), time.monotonic()
        )
        self.view = self.view.apply(asked)
        self.draft.show_message(
            f"<h2>{_escape(question)}</h2><p>Searching your documents and planning the outline…</p>"
        )
        self._show_mode()
        self.runs.start(
            self.data_dir, self.settings, self._retriever_for(sources), question, sources
        )

    def _retriever_for(self, sources):
        """The library's retriever factory (the engine worker adds the run's web search)."""
        return self.library.retriever_for(sources)

    def pause_run(self) -> None:
        if presenter.can_pause(self.view):
            self.runs.pause()
            self._set_view(self.view.apply(PauseRequested()), announce=True)
            self.statusBar().showMessage("Pausing after the current step; edits still apply.", 5000)

    def resume_run(self) -> None:
        if self._refused_read_only("Resuming a run"):
            return
        kind = presenter.resume_kind(self.view, self._facts())
        if kind == "unpause":
            self.runs.unpause()
            self._set_view(self.view.apply(UnpauseRequested()), announce=True)
            return
        if kind is None or self.view.run_id is None:
            return
        self._set_view(self.view.apply(ResumeRequested(time.monotonic())), announce=True)
        self.runs.resume(
            self.data_dir,
            self.settings,
            self._retriever_for(self.view.sources),
            self.view.run_id,
            list(self.tracker.pending),
        )

    def stop_run(self) -> None:
        if presenter.can_stop(self.view):
            self.runs.stop()
            self._set_view(self.view.apply(StopRequested()), announce=True)

    def queue_edit(self, command: Command) -> None:
        """An outline edit from the tree: to the engine now, or kept until the run resumes."""
        if not self.editable:
            self.statusBar().showMessage("This run is read-only.", 4000)
            return
        self.tracker.queue(command)
        sent = self.runs.queue(command)
        when = "before the model's next step" if sent else "when the run resumes"
        self.statusBar().showMessage(f"{verb(command).capitalize()}: will be applied {when}", 5000)
        self._refresh_tree()

    # ---- engine events ---------------------------------------------------------------------------
    @Slot(str)
    def _on_loading(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    @Slot(object)
    def _on_opened(self, opened: RunOpened) -> None:
        self.statusBar().clearMessage()  # "Opening the document index…" is over
        if not self._set_view(self.view.apply(opened)):
            self._update_status()
        self.setWindowTitle(f"{opened.question[:80]} — Draftwell")
        if self.embedded_model_active and opened.run_id not in self._noted_runs:
            self._noted_runs.add(opened.run_id)
            self.activity.add_row("", "model", EMBEDDED_RUN_NOTE)

    @Slot(object)
    def _on_event(self, event) -> None:
        before = self.view
        self._set_view(before.apply(event))
        match event:
            case TokensStreamed(_, phase, _):
                if phase == "write":
                    self._show_stream()
                return
            case StepStarted():
                self.draft.reset_stream()
                self._refresh_tree()
                self._schedule_draft()
                self._update_status()
                return
            case OutlineChanged():
                if before.outline is None:
                    self._update_actions()  # Export becomes possible
                self._refresh_tree()
                self._schedule_draft()
            case SectionChecked():
                self._schedule_draft()
            case StepCompleted():
                self._update_status()
            case TimeEstimated():
                self._update_status()
                return
            case EvidenceUpdated():
                self._schedule_draft()
                return
            case CommandApplied(command, outline, _):
                self.tracker.applied(command, before.step, before.outline, outline)
                self._refresh_tree()
                self._schedule_draft()
            case CommandRejected(command, reason):
                self.tracker.rejected(command, reason)
                self.statusBar().showMessage(
                    f"{verb(command).capitalize()} rejected: {reason}", 8000
                )
                self._refresh_tree()
            case RunStarted(_, _, _, resumed) if resumed:
                self._schedule_draft()
            case RunFailed(_, error):
                self.statusBar().showMessage(f"The run failed: {error}", 15000)
        self.activity.add_event(event)

    def _show_stream(self) -> None:
        body = action_text(self.view.stream_raw)
        self.draft.set_stream(stream_preview(body, self._numbers))

    @Slot(object)
    def _on_ended(self, ended: RunEnded) -> None:
        if ended.stop_latency is not None:
            log.info("stop took %.2f s", ended.stop_latency)
        view = self.view.apply(ended)
        if presenter.mode_of(view) == Mode.IDLE:
            self.draft.clear()  # stopped before the run had a journal: nothing to show
        self._set_view(view, announce=True)
        self._render_draft()
        self._announce(ended)
        self.runEnded.emit(ended)

    def _announce(self, ended: RunEnded) -> None:
        notice = presenter.end_notice(self.view, ended)
        if notice.message:
            self.statusBar().showMessage(notice.message, notice.message_ms)
        if notice.failure:
            if not self.view.failure_logged:
                self.activity.add_row("", "run", f"Failed: {notice.failure}", kind="error")
            self._warn("The run stopped with an error", notice.failure)
        if notice.title:
            self.notifier.run_ended(self.view.started_at, notice.title, notice.text)

    # ---- showing the run ---------------------------------------------------------------------------
    def _tree_snapshot(self) -> TreeSnapshot:
        preview = self.tracker.preview(self.view.outline)
        return TreeSnapshot(preview, self.view.active_id, self.view.active_phase, self.editable)

    def _refresh_tree(self) -> None:
        self.outline_panel.show_snapshot(self._tree_snapshot())

    def _schedule_draft(self) -> None:
        if not self._render_timer.isActive():
            self._render_timer.start()

    @Slot()
    def _render_draft(self) -> None:
        self._render_timer.stop()
        view, outline = self.view, self.view.outline
        if outline is None:
            return
        # Built by the core, as the CLI's export builds it; the draft numbers citations as
        # this report does.
        self.report = checked_report(
            outline,
            view.registry,
            view.checks,
            question=view.question,
            created=view.created,
            model=view.model,
            finished=view.status == "finished",
            language=view.language,
            appendix=self.settings.checks.check_appendix,
        )
        self._numbers = reference_numbers(self.report, view.registry)
        self.draft.plans = {n.section.id: n.section.plan for n in outline.walk()}
        locked = frozenset(n.section.id for n in outline.walk() if n.locked)
        self.draft.show_report(self.report, view.active_id, view.active_phase, locked)
        if view.stream_raw:
            self._show_stream()
        self.draftRendered.emit()

    def show_citation(self, number: int) -> None:
        report = self.report
        if report is None:
            return
        for reference in report.references:
            if reference.number == number:
                first_time = not self.citation_dock.isVisible()
                self.citation_dock.show()
                self.citation_dock.raise_()
                if first_time and self.citation_dock.width() < 420:
                    self.resizeDocks([self.citation_dock], [470], Qt.Orientation.Horizontal)
                self.citations.show_reference(reference)
                return
        log.warning("no reference number %d", number)

    # ---- history ---------------------------------------------------------------------------------
    def show_history(self) -> None:
        if self.runs.active:
            return
        dialog = RunHistoryDialog(self.data_dir, self.tasks, None, self)
        dialog.openRequested.connect(lambda run_id: self.open_run(run_id))
        dialog.resumeRequested.connect(lambda run_id: self.open_run(run_id, resume=True))
        dialog.finished.connect(dialog.deleteLater)
        self.history_dialog = dialog
        dialog.open()

    def open_run(self, run_id: str, resume: bool = False) -> None:
        """Load a run from its journal (on a worker); show it, and resume it if asked."""
        if self.runs.active:
            return
        self.statusBar().showMessage("Opening the run…", 3000)
        self.tasks.submit(
            lambda: load_run(self.data_dir, run_id),
            lambda loaded: self.show_loaded(loaded, resume),
            lambda exc: self._warn("Open Run", f"The run could not be opened: {exc}"),
        )

    def show_loaded(self, loaded: LoadedRun, resume: bool = False) -> None:
        info, state = loaded.info, loaded.state
        self._reset_run()
        self.view = RunView.of_journal(
            run_id=info.id,
            status=info.status,
            model=info.model,
            created=info.created,
            sources=info.sources,
            state=state,
            max_step=loaded.max_step,
            checks=tuple(loaded.checks),
        )
        self.activity.load_history(loaded.snapshots, loaded.commands)
        self.question_box.setPlainText(state.question)
        self.setWindowTitle(f"{state.question[:80]} — Draftwell")
        self._show_mode()  # read-only (finished, or running in another window), or resumable
        if state.outline is None:
            self.draft.show_message(f"<h2>{_escape(state.question)}</h2><p>No outline yet.</p>")
        else:
            self._render_draft()
        if resume:
            self.resume_run()  # nothing when the run is read-only

    def _offer_resume(self, runs: list) -> None:
        if not runs or self.runs.active or self._closing:
            return
        info = runs[0]

        def answered(choice: str) -> None:
            if choice == "resume":
                self.open_run(info.id, resume=True)
            elif choice == "show":
                self.open_run(info.id)
            self.resume_offer = None

        self.resume_offer = offer_resume(self, info, answered)

    # ---- export, settings, about -------------------------------------------------------------------
    def export_report(self) -> None:
        report = self.report
        if report is None and self.view.outline is not None:
            self._render_draft()
            report = self.report
        if report is None:
            return
        self.export.ask_and_write(report, self.view.question, self.settings.export.page_size)

    def _on_export_started(self, name: str) -> None:
        self.statusBar().showMessage(f"Exporting {name}…")

    def _on_exported(self, path: str) -> None:
        self.statusBar().showMessage(f"Exported {path}", 10000)
        self.exported.emit(path)

    def _on_export_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self._warn("Export", message)

    def show_settings(self) -> None:
        dialog = SettingsDialog(
            self.settings, self.data_dir, self.tasks, self.services.prompts, self
        )
        dialog.saved.connect(self._on_settings_saved)
        dialog.secretSaved.connect(
            lambda where: self.statusBar().showMessage(f"API key stored in {where}", 6000)
        )
        dialog.finished.connect(dialog.deleteLater)
        self.settings_dialog = dialog
        dialog.open()

    @property
    def embedded_model_active(self) -> bool:
        """Whether the embedded demo model answers (no GGUF file and no server chosen)."""
        return not self.settings.model.server_url and not self.settings.model.model_path

    def show_models(self, *, download: bool = False) -> None:
        """The models page (local models, Hub downloads); one at a time. `download`: on the Hub
        tab with AgentCPM-Report chosen and listed (the first-run page's and demo model's offer)."""
        if self.models_dialog is not None:
            self.models_dialog.raise_()
            self.models_dialog.activateWindow()
        else:
            dialog = ModelsDialog(
                self.settings, self.data_dir, self.tasks, self.services.prompts, self
            )
            dialog.activated.connect(self._on_model_activated)
            dialog.finished.connect(lambda _result: self._forget_models_dialog(dialog))
            self.models_dialog = dialog
            dialog.open()
        if download:
            self.models_dialog.show_download()

    def _on_model_button(self) -> None:
        """The status bar's model name: on the demo model it offers the real one's download."""
        self.show_models(download=self.embedded_model_active)

    def _forget_models_dialog(self, dialog: ModelsDialog) -> None:
        if self.models_dialog is dialog:
            self.models_dialog = None
        dialog.deleteLater()

    def _on_model_activated(self, settings: Settings) -> None:
        self.settings = settings
        note = " (applies to the next run)" if self.runs.active else ""
        self.statusBar().showMessage(f"Model: {model_label(settings)}{note}", 6000)
        self._update_status()

    def _apply_network_mode(self) -> None:
        """Offline mode for the whole app, shown at all times in the status bar."""
        from desktop import network

        network.configure(offline=self.settings.privacy.offline)
        text = presenter.network_text(network.is_offline(), self.settings.web.web_search)
        self.run_status.show_network(*text)

    def _on_settings_saved(self, settings: Settings) -> None:
        if settings.library.embedder != self.settings.library.embedder and not self.runs.active:
            self.library.open(self.data_dir, settings)  # reopened with the new embedding model
        self.settings = settings
        self.library.set_ocr(settings.library.ocr)
        self._apply_network_mode()
        note = " (applies to the next run)" if self.runs.active else ""
        self.statusBar().showMessage(f"Settings saved{note}", 5000)
        self._update_status()

    def show_about(self) -> None:
        from desktop.gui.about import AboutDialog

        dialog = AboutDialog(
            read_text("licenses", "README.md"), read_text("licenses", "Apache-2.0.txt"), self
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _warn(self, title: str, message: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.finished.connect(box.deleteLater)
        box.open()

    # ---- small actions --------------------------------------------------------------------------
    def _toggle_follow(self, checked: bool) -> None:
        self.draft.follow = checked

    def _reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.library_dock, self.outline_dock, self.activity_dock):
            dock.show()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            icons.clear_cache()
            self.outline_panel.model.forget_icons()
            self._refresh_tree()
            self._schedule_draft()
        super().changeEvent(event)

    # ---- closing ---------------------------------------------------------------------------------
    def quit_without_asking(self) -> None:
        """Close for the system (SIGTERM at logout, Ctrl+C): a running research is stopped
        and stays resumable, the layout is saved, nothing waits for a dialog."""
        self._quit_requested = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        asked = not getattr(self, "_quit_requested", False)
        if (
            asked
            and self.runs.active
            and not self.services.prompts.confirm(
                self,
                "Quit Draftwell",
                "A research run is in progress. Stop it and quit? You can resume it next time.",
                "Stop and Quit",
            )
        ):
            event.ignore()
            return
        self._closing = True
        self._save_ui()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the run and the workers; wait for them (Stop takes effect within a second)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        self.shuttingDown.emit()
        if self.models_dialog is not None:
            self.models_dialog.reject()  # pauses a download; its part is kept for Resume
        self._clock.stop()
        self._render_timer.stop()
        deadline = time.monotonic() + SHUTDOWN_SECONDS

        def left_ms() -> int:
            return max(0, int((deadline - time.monotonic()) * 1000))

        # One budget for all workers: a logout must not wait for each one in turn.
        ended = [self.runs.shutdown(left_ms()), self.library.shutdown(left_ms())]
        ended.append(self.tasks.wait(left_ms()))
        # False when a worker is still busy (say, a slow import at start-up): the app then
        # exits without waiting for it (see app.run_gui); every store it writes is crash-safe.
        self.workers_ended = all(ended)
        self.notifier.hide()


@functools.cache
def _embedded_file_name() -> str:
    """The embedded GGUF's file name (what a run on it records as its model), or ""."""
    from desktop.llm.models import ModelError, embedded_model_path

    try:
        return embedded_model_path().name
    except ModelError:
        return ""


def _preload_engine() -> None:
    """Import llama.cpp and the engine on a worker while the window is idle: loading their
    shared libraries holds Python's GIL, which would otherwise stall the first run's start."""
    import llama_cpp  # noqa: F401

    import desktop.session  # noqa: F401


def _preload_renderer() -> None:
    """Import Markdown and its extensions on a worker, so the first draft does not stall."""
    from desktop.gui.draft import DraftRenderer

    DraftRenderer().body_html("*warm-up* text\n\n| a | b |\n|---|---|\n| 1 | 2 |")


def _escape(text: str) -> str:
    import html

    return html.escape(text)
