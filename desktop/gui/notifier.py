"""Telling the user a long run ended while they looked elsewhere: taskbar alert, tray message.

Short runs (under the services' `notify_after_seconds`) and a window in front get no message;
the tray icon is made on first use and hidden at shutdown.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from desktop.gui import icons

log = logging.getLogger(__name__)


class Notifier:
    """The window's end-of-run notifications."""

    def __init__(self, window: QWidget, after_seconds: float) -> None:
        self.window, self.after_seconds = window, after_seconds
        self.tray: QSystemTrayIcon | None = None

    def run_ended(self, started_at: float | None, title: str, message: str) -> None:
        """Alert (and, behind other windows, a tray message) when the run took long enough."""
        if started_at is None or time.monotonic() - started_at < self.after_seconds:
            return
        QApplication.alert(self.window)
        if self.window.isActiveWindow() or not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if self.tray is None:
            self.tray = QSystemTrayIcon(icons.app_icon(), self.window)
            self.tray.activated.connect(self._bring_to_front)
        log.debug("tray message: %s", title)
        self.tray.show()
        self.tray.showMessage(title, message, icons.app_icon(), 10000)

    def _bring_to_front(self, *_reason) -> None:
        self.window.showNormal()
        self.window.activateWindow()

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()
