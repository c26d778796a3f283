"""A cancellable piece of work on its own Python thread, owned by a QObject that signals.

The model and embedder downloads run this way (not on a QThread): their work is a blocking
call that polls a CancelToken, and their signals cross to the GUI thread as queued
connections. A subclass names its thread and implements `_run`.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject

from desktop.core.cancel import CancelToken


class ThreadJob(QObject):
    """start() runs `_run` on a daemon thread; stop() sets `cancel`; wait() joins it."""

    thread_name = "job"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cancel = CancelToken()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.cancel.set()

    def wait(self, seconds: float) -> bool:
        """Join the thread for up to `seconds`; True if it has ended."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
