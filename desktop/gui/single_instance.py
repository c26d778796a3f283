"""One app window per data folder: a second launch brings the first to the front and exits.

Whether an app is already open on a data folder is decided by an OS lock on
`DATA_DIR/app.lock` (desktop.locks), held for the app's lifetime and dropped by the operating
system however the app ends, so a crashed app never blocks the next launch. The first app also
listens on a local socket (QLocalServer: a Unix socket or a Windows named pipe) named after the
data folder; a second launch that finds the lock taken connects to it, hands over the
documents it was given, and exits with one line saying so.

A data folder where `app.lock` cannot be made (a read-only folder or disk) is claimed
read-only: nobody can write there, so several apps may read it at once; the window then opens
runs and exports them but changes nothing (MainWindow.open_read_only).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop.locks import LockBusy, ProcessLock, describe

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 2000


def server_name(data_dir: Path) -> str:
    """A local socket name unique to the (resolved) data folder."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode("utf-8")).hexdigest()
    return f"draftwell-{digest[:20]}"


class SingleInstance(QObject):
    """The app's claim on its data folder.

    Signals: activated(list) — a second launch asked this app to come to the front; the list
    holds the document paths it was given (maybe empty).
    """

    activated = Signal(list)

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(data_dir)
        self._lock = ProcessLock(Path(data_dir) / "app.lock", "Draftwell on this data folder")
        self._server: QLocalServer | None = None
        self.holder_text = ""
        self.read_only = False  # claimed, but app.lock could not be made: see the docstring

    def claim(self) -> bool:
        """Become the app of this data folder (True), or learn who already is (False)."""
        try:
            self._lock.acquire(timeout=0)
        except LockBusy as exc:
            self.holder_text = describe(exc.holder)
            return False
        except OSError as exc:
            log.warning("cannot lock %s (%s): opening the folder read-only", self._lock.path, exc)
            self.read_only = True
            return True
        QLocalServer.removeServer(self.name)  # we hold the lock: any socket left is a dead app's
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def forward(self, paths: list[str]) -> bool:
        """Ask the app that holds the folder to come to the front (and add `paths`)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            log.warning("cannot reach the open app: %s", socket.errorString())
            return False
        socket.write(json.dumps({"paths": paths}).encode("utf-8") + b"\n")
        sent = socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        return sent

    def release(self) -> None:
        if self._server is not None:
            self._server.close()  # the object lives on with this one (its sockets are children)
        self._lock.release()

    def _on_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(self._on_ready_read)
            socket.disconnected.connect(socket.deleteLater)

    def _on_ready_read(self) -> None:
        socket = self.sender()
        if not isinstance(socket, QLocalSocket) or not socket.canReadLine():
            return
        try:
            message = json.loads(bytes(socket.readLine()).decode("utf-8"))
            paths = [str(p) for p in message.get("paths", [])]
        except (ValueError, AttributeError, TypeError):
            log.warning("ignoring a malformed message from a second launch")
            return
        self.activated.emit(paths)


def bring_to_front(window, paths: list[str]) -> None:
    """Show `window` on top (restored if minimised) and add the documents handed over."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()
    if paths:
        window.add_documents(paths)
