"""The engine thread: one long-lived QThread that owns the model and runs one research at a time.

The GUI asks for a run with a `RunRequest` (a queued signal into `EngineWorker.run`); the worker
loads the model through the `ModelProvider`, opens a `ResearchSession` and blocks in
`session.run()`. Control goes the other way without the worker's event loop: `RunHandle` holds
the cancel token, the command queue and (once it exists) the engine, whose `pause`, `resume`
and `stop` are thread-safe. Events come back through `QtEventSink` as queued signals.

The run itself goes through `desktop.session.open_run`, as the CLI's does: every outgoing request
made while the run is open (the model server's probe included) goes to the run journal's network
log. A new run searches the web as the settings say; a resumed run as it did when it started
(the plan stored in its journal), whatever the settings say now; offline mode still wins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop import network
from desktop.core.cancel import Cancelled, CancelToken
from desktop.core.commands import Command, CommandQueue
from desktop.core.engine import Engine
from desktop.core.evidence import Retriever
from desktop.core.state import RunStatus
from desktop.gui.bridge import EventRelay, QtEventSink
from desktop.gui.run_view import RunEnded, RunOpened
from desktop.gui.services import ModelProvider
from desktop.settings import Settings

if TYPE_CHECKING:
    from desktop.session import ResearchSession
    from desktop.store.journal import RunJournal

log = logging.getLogger(__name__)


class RunHandle:
    """Thread-safe controls of one run, usable before the engine exists."""

    def __init__(self) -> None:
        self.cancel = CancelToken()
        self.commands = CommandQueue()
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._paused = False
        self.stop_requested_at: float | None = None

    def attach(self, engine: Engine) -> None:
        """Called on the engine thread once the session exists (its engine was given
        `commands`): pause, resume and stop reach it from now on."""
        with self._lock:
            self._engine = engine
            if self._paused:
                engine.pause()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self._engine is not None:
                self._engine.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._engine is not None:
                self._engine.resume()

    def stop(self) -> None:
        with self._lock:
            if self.stop_requested_at is None:
                self.stop_requested_at = time.monotonic()
            self.cancel.set()
            if self._engine is not None:
                self._engine.stop()

    def put(self, command: Command) -> None:
        self.commands.put(command)

    @property
    def stopping(self) -> bool:
        return self.cancel.is_set


@dataclass(frozen=True)
class RunRequest:
    """Everything the engine thread needs to start (or resume) a run."""

    data_dir: Path
    settings: Settings
    retriever: Callable[[], Retriever]  # the local documents' retriever, made on the engine thread
    handle: RunHandle
    question: str = ""
    sources: tuple[str, ...] = ()
    resume_run_id: str | None = None
    commands: tuple[Command, ...] = field(default=())  # edits to apply before the first step


class EngineWorker(QObject):
    """Lives on the engine thread; runs one research per `run` call.

    Signals: loading(str) — a progress message before the run starts; opened(object) — a
    RunOpened; ended(object) — a RunEnded, always sent once per `run` call.
    """

    loading = Signal(str)
    opened = Signal(object)
    ended = Signal(object)

    def __init__(self, models: ModelProvider, relay: EventRelay) -> None:
        super().__init__()
        self._models = models
        self._relay = relay

    @Slot(object)
    def run(self, request: RunRequest) -> None:
        run_id: str | None = request.resume_run_id
        status: RunStatus = "failed"
        message = ""
        try:
            run_id, status, message = self._run(request)
        except Cancelled:
            status, message = "stopped", "stopped before the run began"
        except Exception as exc:  # shown to the user; the run journal keeps the details
            log.exception("the run could not continue")
            message = str(exc) or type(exc).__name__
        latency = None
        if request.handle.stop_requested_at is not None:
            latency = time.monotonic() - request.handle.stop_requested_at
        self.ended.emit(RunEnded(run_id, status, message, latency))

    def _run(self, request: RunRequest) -> tuple[str, RunStatus, str]:
        from desktop.store.journal import RunJournal

        if request.resume_run_id is None:
            return self._open_and_drive(request, None)
        # Claimed before the model loads: a run held elsewhere is refused at once (one line
        # naming the holder), and nobody can take it while the model loads.
        claimed = RunJournal.open(request.data_dir, request.resume_run_id)
        try:
            claimed.claim()
            return self._open_and_drive(request, claimed)
        finally:
            claimed.close()  # (the session closed it already when it ran)

    def _open_and_drive(
        self, request: RunRequest, claimed: RunJournal | None
    ) -> tuple[str, RunStatus, str]:
        from desktop.knowledge.web import plan_from_settings
        from desktop.session import RunSpec, open_run

        handle = request.handle
        self.loading.emit("Loading the model…")
        early = network.EntryBuffer()  # a model server's probe, for the run's journal
        with network.recording_to(early):
            opened = self._models.open(request.settings, request.data_dir)
        handle.cancel.raise_if_set()
        self.loading.emit("Opening the document index…")
        sink = QtEventSink(self._relay)
        local = request.retriever()
        handle.cancel.raise_if_set()
        # A resumed run searches as its journal says; a new one as the settings say now.
        run: RunSpec | RunJournal = claimed or RunSpec(
            request.question,
            request.sources,
            opened.config,
            opened.name,
            plan_from_settings(request.settings.web),
        )
        with open_run(
            request.data_dir,
            run,
            backend=opened.backend,
            local=local,
            sink=sink,
            cancel=handle.cancel,
            commands=handle.commands,
            early=early,
        ) as session:
            if session.notice:
                self.loading.emit(session.notice[:1].upper() + session.notice[1:])
            return self._drive(session, request, sink, opened.name)

    def _drive(self, session: ResearchSession, request: RunRequest, sink: QtEventSink, model: str):
        sink.watch(lambda: session.state)
        request.handle.attach(session.engine)
        state = session.state
        self.opened.emit(
            RunOpened(
                session.run_id,
                state.question,
                model,
                session.config.max_step,
                state.step,
                request.resume_run_id is not None,
                tuple(session.journal.sources),
                state.language,
            )
        )
        session.run()
        sink.flush()
        error = (session.journal.info().error or "") if session.status == "failed" else ""
        return session.run_id, session.status, error

    @Slot()
    def release(self) -> None:
        """Close the model on the thread that owns it, then end the thread's event loop.

        Quitting from here (not from the GUI thread) guarantees this runs first: a quit
        requested while `run` is busy would skip the events queued behind it.
        """
        try:
            self._models.release()
        except Exception:
            log.exception("closing the model failed")
        finally:
            QThread.currentThread().quit()


class RunController(QObject):
    """The GUI side of the engine thread: start, resume, steer and stop runs.

    Signals: loading(str); opened(object) — RunOpened; event(object) — an engine event or
    EvidenceUpdated; ended(object) — RunEnded; activeChanged(bool).
    """

    loading = Signal(str)
    opened = Signal(object)
    event = Signal(object)
    ended = Signal(object)
    activeChanged = Signal(bool)
    _runRequested = Signal(object)
    _releaseRequested = Signal()

    def __init__(self, models: ModelProvider, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay = EventRelay(self)
        self._relay.event.connect(self.event)
        self._thread = QThread(self)
        self._thread.setObjectName("draftwell-engine")
        self._worker = EngineWorker(models, self._relay)
        self._worker.moveToThread(self._thread)
        self._runRequested.connect(self._worker.run)
        self._releaseRequested.connect(self._worker.release)
        self._worker.loading.connect(self._on_loading)
        self._worker.opened.connect(self._on_opened)
        self._worker.ended.connect(self._on_ended)
        self._thread.start()
        self.handle: RunHandle | None = None

    @property
    def active(self) -> bool:
        return self.handle is not None

    def start(
        self,
        data_dir: Path,
        settings: Settings,
        retriever: Callable[[], Retriever],
        question: str,
        sources: Sequence[str],
    ) -> RunHandle:
        return self._submit(
            RunRequest(
                data_dir,
                settings,
                retriever,
                RunHandle(),
                question=question,
                sources=tuple(sources),
            )
        )

    def resume(
        self,
        data_dir: Path,
        settings: Settings,
        retriever: Callable[[], Retriever],
        run_id: str,
        commands: Sequence[Command] = (),
    ) -> RunHandle:
        return self._submit(
            RunRequest(
                data_dir,
                settings,
                retriever,
                RunHandle(),
                resume_run_id=run_id,
                commands=tuple(commands),
            )
        )

    def _submit(self, request: RunRequest) -> RunHandle:
        if self.handle is not None:
            raise RuntimeError("a run is already active")
        self.handle = request.handle
        for command in request.commands:  # before any edit the user makes from now on
            request.handle.put(command)
        self.activeChanged.emit(True)
        self._runRequested.emit(request)
        return request.handle

    def pause(self) -> None:
        if self.handle is not None:
            self.handle.pause()

    def unpause(self) -> None:
        if self.handle is not None:
            self.handle.resume()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()

    def queue(self, command: Command) -> bool:
        """Send an edit to the running engine; False when no run is active."""
        if self.handle is None:
            return False
        self.handle.put(command)
        return True

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop any run, close the model on its thread and end the thread."""
        self.stop()
        self._releaseRequested.emit()
        finished = self._thread.wait(timeout_ms)
        if not finished:
            log.error("the engine thread did not end within %d ms", timeout_ms)
        return finished

    @Slot(str)
    def _on_loading(self, message: str) -> None:
        self.loading.emit(message)

    @Slot(object)
    def _on_opened(self, opened: RunOpened) -> None:
        self.opened.emit(opened)

    @Slot(object)
    def _on_ended(self, ended: RunEnded) -> None:
        self.handle = None
        self.activeChanged.emit(False)
        self.ended.emit(ended)
