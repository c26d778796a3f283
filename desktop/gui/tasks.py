"""Short blocking jobs (disk reads, PDF rendering, keyring) on a thread pool.

`BackgroundTasks.submit(fn, on_done, on_error)` runs `fn()` off the GUI thread and calls the
callbacks on the GUI thread (a queued signal through a relay object that lives there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries one job's outcome to the GUI thread.

    Signals: done(object) — the job's return value; failed(object) — the exception it raised.
    """

    done = Signal(object)
    failed = Signal(object)

    def __init__(
        self,
        owner: BackgroundTasks,
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None,
    ) -> None:
        super().__init__(owner)
        self._owner = owner
        self._on_done = on_done
        self._on_error = on_error
        self.done.connect(self._deliver)
        self.failed.connect(self._fail)

    @Slot(object)
    def _deliver(self, result: object) -> None:
        self._owner._forget(self)
        self._on_done(result)

    @Slot(object)
    def _fail(self, exc: object) -> None:
        self._owner._forget(self)
        if self._on_error is not None:
            self._on_error(exc)  # type: ignore[arg-type]
        else:
            log.error("background job failed: %s", exc)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:
            log.debug("background job raised", exc_info=True)
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


class BackgroundTasks(QObject):
    """A small private thread pool; `wait` before the window goes away. Signals: none."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relays: set[_Relay] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        relay = _Relay(self, on_done, on_error)
        self._relays.add(relay)
        self._pool.start(_Job(fn, relay))

    @property
    def busy(self) -> bool:
        return bool(self._relays)

    def wait(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)

    def _forget(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        relay.deleteLater()
