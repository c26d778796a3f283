"""The library thread: one worker owns the document library and is its only writer.

Adding, removing and listing documents are queued calls into `LibraryWorker` on its own
QThread; progress (per page, throttled to ~20 a second) and the document list come back as
queued signals. Runs get a retriever factory from `LibraryController.retriever_for`, which the
engine thread calls (the library allows readers on other threads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop.core.cancel import Cancelled, CancelToken
from desktop.core.evidence import Retriever
from desktop.gui.services import LibraryLike
from desktop.settings import Settings

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05


class LibraryWorker(QObject):
    """Lives on the library thread and owns the Library object.

    Signals: ready(object) — the opened library; documents(list) — every DocumentStatus;
    progress(object) — an IngestProgress; failed(str) — one line for the user;
    busyChanged(bool) — ingestion started or ended; warmedUp() — the embedder is loaded;
    reindexNeeded(str) — why the library must be re-indexed with the chosen model ("" if not).
    """

    ready = Signal(object)
    documents = Signal(list)
    progress = Signal(object)
    failed = Signal(str)
    busyChanged = Signal(bool)
    warmedUp = Signal()
    reindexNeeded = Signal(str)  # why the library must be re-indexed ("" when it need not)

    def __init__(self, opener: Callable[[Path, Settings], LibraryLike]) -> None:
        super().__init__()
        self._opener = opener
        self._library: LibraryLike | None = None
        self.cancel = CancelToken()
        self.closing = threading.Event()  # set from the GUI thread at shutdown
        self._last_progress = 0.0

    @Slot(object, object)
    def open(self, data_dir: Path, settings: Settings) -> None:
        if self._library is not None:  # reopened: another embedding model was chosen
            self._library.close()
            self._library = None
        try:
            self._library = self._opener(data_dir, settings)
        except Exception as exc:
            log.exception("the document library could not be opened")
            self.failed.emit(f"The document library could not be opened: {exc}")
            return
        self.ready.emit(self._library)
        self.refresh()
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the embedder and open the index now, while the user is still reading the
        window: the heavy imports then never land in the middle of indexing or a run."""
        warm_up = getattr(self._library, "warm_up", None)
        if warm_up is not None and not self.closing.is_set():
            try:
                warm_up(stop=self.closing.is_set)
            except Exception as exc:  # indexing will report the real problem, with context
                log.warning("warming up the library failed: %s", exc)
        self.warmedUp.emit()

    @Slot()
    def refresh(self) -> None:
        if self._library is None:
            return
        try:
            self.documents.emit(self._library.list())
        except Exception as exc:
            log.exception("listing the library failed")
            self.failed.emit(f"The document list could not be read: {exc}")
            return
        state = getattr(self._library, "embedder_state", None)
        if state is not None:
            current = state()
            self.reindexNeeded.emit(
                f"Built with {current.built_with}; Settings now choose {current.configured}."
                if current.needs_reindex
                else ""
            )

    @Slot()
    def reindex(self) -> None:
        """Re-embed every document with the chosen model (progress and Stop as for add)."""
        if self._library is None or self.closing.is_set():
            return
        reindex = self._library.reindex  # type: ignore[attr-defined]
        self._busy("re-indexing", lambda: reindex(progress=self._progress, cancel=self.cancel))

    def _busy(self, what: str, work: Callable[[], object]) -> None:
        """Run `work` with the busy flag raised and Stop armed; a failure is one message."""
        self.cancel.clear()
        self.busyChanged.emit(True)
        try:
            work()
        except Cancelled:
            log.info("%s cancelled", what)
        except Exception as exc:
            log.exception("%s failed", what)
            self.failed.emit(f"{what.capitalize()} failed: {exc}")
        finally:
            self.busyChanged.emit(False)
            self.refresh()

    @Slot(list)
    def add(self, paths: list[str]) -> None:
        self._index(paths, rerun_ocr=False)

    @Slot(list)
    def rerun_ocr(self, paths: list[str]) -> None:
        self._index(paths, rerun_ocr=True)

    @Slot(bool)
    def set_ocr(self, enabled: bool) -> None:
        """Turn OCR of scanned pages on or off for the next indexing (the OCR setting)."""
        if self._library is not None and hasattr(self._library, "ocr"):
            self._library.ocr = enabled  # type: ignore[attr-defined]

    def _index(self, paths: list[str], rerun_ocr: bool) -> None:
        if self._library is None:
            self.failed.emit("The document library is not open.")
            return
        if self.closing.is_set():
            return
        run = self._library.rerun_ocr if rerun_ocr else self._library.add
        files = [Path(p) for p in paths]
        self._busy("indexing", lambda: run(files, progress=self._progress, cancel=self.cancel))

    @Slot(list)
    def remove(self, paths: list[str]) -> None:
        if self._library is None:
            return
        try:
            self._library.remove([Path(p) for p in paths])
        except Exception as exc:
            log.exception("removing documents failed")
            self.failed.emit(f"The documents could not be removed: {exc}")
        self.refresh()

    @Slot()
    def close(self) -> None:
        """Close the library, then end this thread's event loop (see EngineWorker.release)."""
        try:
            if self._library is not None:
                self._library.close()
        except Exception as exc:  # e.g. connections other threads opened; the process ends anyway
            log.warning("closing the library was not clean: %s", exc)
        finally:
            self._library = None
            QThread.currentThread().quit()

    def _progress(self, progress) -> None:
        now = time.monotonic()
        final = progress.done or progress.page in (0, progress.pages)
        if final or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.progress.emit(progress)


class LibraryController(QObject):
    """The GUI side of the library thread.

    Signals: ready(); documents(list); progress(object); failed(str); busyChanged(bool);
    warmedUp() — the embedder is loaded (the window waits for nothing; benchmarks do);
    reindexNeeded(str) — as the worker's.
    """

    ready = Signal()
    documents = Signal(list)
    progress = Signal(object)
    failed = Signal(str)
    busyChanged = Signal(bool)
    warmedUp = Signal()
    reindexNeeded = Signal(str)
    _openRequested = Signal(object, object)
    _reindexRequested = Signal()
    _addRequested = Signal(list)
    _removeRequested = Signal(list)
    _rerunOcrRequested = Signal(list)
    _ocrChanged = Signal(bool)
    _closeRequested = Signal()

    def __init__(
        self, opener: Callable[[Path, Settings], LibraryLike], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._thread = QThread(self)
        self._thread.setObjectName("draftwell-library")
        self._worker = LibraryWorker(opener)
        self._worker.moveToThread(self._thread)
        self._openRequested.connect(self._worker.open)
        self._addRequested.connect(self._worker.add)
        self._reindexRequested.connect(self._worker.reindex)
        self._worker.reindexNeeded.connect(self.reindexNeeded)
        self._removeRequested.connect(self._worker.remove)
        self._rerunOcrRequested.connect(self._worker.rerun_ocr)
        self._ocrChanged.connect(self._worker.set_ocr)
        self._closeRequested.connect(self._worker.close)
        self._worker.ready.connect(self._on_ready)
        self._worker.documents.connect(self._on_documents)
        self._worker.progress.connect(self._on_progress)
        self._worker.failed.connect(self._on_failed)
        self._worker.busyChanged.connect(self._on_busy)
        self._worker.warmedUp.connect(self._on_warmed_up)
        self._library: LibraryLike | None = None
        self.warmed_up = False
        self.busy = False
        self._pending_adds = 0
        self._thread.start()

    @property
    def is_ready(self) -> bool:
        return self._library is not None

    def open(self, data_dir: Path, settings: Settings) -> None:
        self._openRequested.emit(data_dir, settings)

    def add(self, paths: Sequence[str]) -> None:
        self._pending_adds += 1
        self._addRequested.emit([str(p) for p in paths])

    def remove(self, paths: Sequence[str]) -> None:
        self._removeRequested.emit([str(p) for p in paths])

    def reindex(self) -> None:
        """Re-embed the whole library with the embedding model the settings choose."""
        self._reindexRequested.emit()

    def rerun_ocr(self, paths: Sequence[str]) -> None:
        """Read these documents' scanned pages by OCR again, then re-index them."""
        self._pending_adds += 1
        self._rerunOcrRequested.emit([str(p) for p in paths])

    def set_ocr(self, enabled: bool) -> None:
        self._ocrChanged.emit(enabled)

    def cancel(self) -> None:
        """Stop indexing after the current page; what was indexed stays."""
        self._worker.cancel.set()

    def retriever_for(self, sources: Sequence[str]) -> Callable[[], Retriever]:
        """A factory the engine thread calls to get a retriever over `sources`."""
        library = self._library
        paths = [Path(s) for s in sources]

        def make() -> Retriever:
            if library is None:
                raise RuntimeError("the document library is not open")
            return library.retriever(paths)

        return make

    def ocr_words(self, path: str, page: int):
        """The word boxes OCR read on a page of a library document, or None (any thread)."""
        lookup = getattr(self._library, "ocr_words", None)
        return None if lookup is None else lookup(path, page)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        self._worker.closing.set()
        self.cancel()
        self._closeRequested.emit()
        finished = self._thread.wait(timeout_ms)
        if not finished:
            log.error("the library thread did not end within %d ms", timeout_ms)
        return finished

    @Slot()
    def _on_warmed_up(self) -> None:
        self.warmed_up = True
        self.warmedUp.emit()

    @Slot(object)
    def _on_ready(self, library: LibraryLike) -> None:
        self._library = library
        self.ready.emit()

    @Slot(list)
    def _on_documents(self, documents: list) -> None:
        self.documents.emit(documents)

    @Slot(object)
    def _on_progress(self, progress: object) -> None:
        self.progress.emit(progress)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self._pending_adds = max(0, self._pending_adds - 1)
        self.busy = busy or self._pending_adds > 0
        self.busyChanged.emit(self.busy)
