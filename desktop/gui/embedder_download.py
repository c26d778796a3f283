"""Download an embedding model from the Hugging Face Hub (opened from Settings → Documents).

The user types a Hub model id (a sentence-transformers repository such as
``intfloat/multilingual-e5-small``); `desktop.downloads.download_embedder` fetches it
on a Python thread through the model manager's downloader (`desktop.llm.hub`: the network log,
free-space check, sha256 per file, resume), while the dialog shows a progress bar with bytes,
speed and time left, and a Cancel button (the unfinished folder is deleted). With Offline on
the download is refused with one line naming the setting and a one-time "Allow This Download"
button, recorded in the network log, exactly as on the models page. A finished download is
announced with `downloaded(repo_id)`: the settings dialog then points its embedding model at it,
and saving the settings reopens the library, which asks for the re-index.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import downloads
from desktop.core.cancel import Cancelled
from desktop.gui.offline_refusal import WARNING_STYLE, OfflineRefusal
from desktop.gui.thread_job import ThreadJob
from desktop.knowledge import embedder

log = logging.getLogger(__name__)

SUGGESTION = "intfloat/multilingual-e5-small"
_HINT = (
    "A sentence-transformers model on the Hugging Face Hub, as owner/name. For Chinese and "
    f"other non-English documents pick a multilingual one, e.g. {SUGGESTION} or "
    "BAAI/bge-small-zh-v1.5."
)


class EmbedderDownloadJob(ThreadJob):
    """One embedding-model download on a Python thread.

    Signals: progress(object) — a hub.DownloadProgress over all the model's files;
    finished(str) — the model's folder; cancelled() — stopped by Cancel (the unfinished folder
    is deleted); refused(str) — Offline mode said no (one line); failed(str) — one line.
    """

    progress = Signal(object)
    finished = Signal(str)
    cancelled = Signal()
    refused = Signal(str)
    failed = Signal(str)
    thread_name = "embedder-download"

    def __init__(self, repo_id: str, data_dir: Path, *, allow_once: bool, parent=None) -> None:
        super().__init__(parent)
        self.repo_id, self.data_dir, self.allow_once = repo_id, data_dir, allow_once

    def _run(self) -> None:
        try:
            folder = downloads.download_embedder(
                self.repo_id,
                self.data_dir,
                progress=self.progress.emit,
                cancel=self.cancel,
                allow_once=self.allow_once,
            )
        except Cancelled:
            embedder.discard_download(self.data_dir, self.repo_id)
            self.cancelled.emit()
        except embedder.EmbedderDownloadRefused as exc:
            self.refused.emit(str(exc))
        except embedder.EmbedderError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must end as a message, not a dead thread
            log.exception("the embedding model download failed")
            self.failed.emit(f"the download failed: {exc}")
        else:
            self.finished.emit(str(folder))


class EmbedderDownloadDialog(QDialog):
    """See the module docstring.

    Signals: downloaded(str) — the Hub model id, once every file is in;
    ended(str) — "finished", "cancelled", "refused" or "failed".
    """

    downloaded = Signal(str)
    ended = Signal(str)

    def __init__(self, data_dir: Path, repo_id: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download an Embedding Model")
        self.setObjectName("embedderDownloadDialog")
        self.data_dir = data_dir
        self.job: EmbedderDownloadJob | None = None
        self._allowed_repo: str | None = None  # the one repository allowed once while Offline
        self.repo_edit = QLineEdit(repo_id)
        self.repo_edit.setObjectName("embedderRepo")
        self.repo_edit.setPlaceholderText(f"owner/name, e.g. {SUGGESTION}")
        self.repo_edit.textChanged.connect(self._update_buttons)
        self.repo_edit.returnPressed.connect(self.download)
        hint = QLabel(_HINT)
        hint.setWordWrap(True)
        self.refusal = OfflineRefusal(
            "embedderOfflineRefusal",
            "Once, for this model; the network log records it",
            self.allow_once,
        )
        self.offline_label, self.allow_button = self.refusal.label, self.refusal.button
        self.progress = QProgressBar()
        self.progress.setObjectName("embedderDownloadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.status = QLabel("")
        self.status.setObjectName("embedderDownloadStatus")
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.download)
        self.cancel_button = QPushButton("Cancel Download")
        self.cancel_button.clicked.connect(self.cancel_download)
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.download_button)
        controls.addWidget(self.cancel_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Hub model id:"))
        layout.addWidget(self.repo_edit)
        layout.addWidget(hint)
        layout.addLayout(self.refusal.row)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.setMinimumSize(560, 250)  # room for the wrapped hint, refusal and status lines
        self.resize(640, 270)
        self._update_buttons()

    def repo_id(self) -> str:
        return self.repo_edit.text().strip()

    def download(self) -> None:
        repo = self.repo_id()
        if self.job is not None or not repo:
            return
        self.refusal.hide()
        if embedder.is_downloaded(self.data_dir, repo):
            self.progress.setValue(1000)
            self._finish(f"{repo} is already downloaded.")
            return
        job = EmbedderDownloadJob(
            repo, self.data_dir, allow_once=repo == self._allowed_repo, parent=self
        )
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.cancelled.connect(self._on_cancelled)
        job.refused.connect(self._on_refused)
        job.failed.connect(self._on_failed)
        self.job = job
        self.progress.setValue(0)
        self._set_status(f"Listing {repo} on the Hub…")
        self._update_buttons()
        job.start()

    def cancel_download(self) -> None:
        if self.job is not None:
            self._set_status("Cancelling…")
            self.job.stop()

    def allow_once(self) -> None:
        """The one-time exception to Offline for this model (logged when it is used)."""
        self._allowed_repo = self.repo_id()
        self.download()

    # ---- the job's answers (queued to the GUI thread) ----------------------------------------
    def _on_progress(self, step) -> None:
        if self.job is None:
            return
        self.progress.setValue(round(step.fraction * 1000))
        self._set_status(f"{self.job.repo_id}: {step.text()}")

    def _on_finished(self, folder: str) -> None:
        repo = self.job.repo_id if self.job else self.repo_id()
        self.job, self._allowed_repo = None, None  # the allowance is used up
        self.progress.setValue(1000)
        log.info("embedding model %s downloaded into %s", repo, folder)
        self._finish(f"{repo} is downloaded.")

    def _finish(self, message: str) -> None:
        repo = self.repo_id()
        self._set_status(
            f"{message} It is now the embedding model in Settings: Save there to use it "
            "(the library is then re-indexed with it)."
        )
        self._update_buttons()
        self.downloaded.emit(repo)
        self.ended.emit("finished")

    def _on_cancelled(self) -> None:
        self.job = None
        self.progress.setValue(0)
        self._set_status("Download cancelled; the unfinished files were deleted.")
        self._update_buttons()
        self.ended.emit("cancelled")

    def _on_refused(self, message: str) -> None:
        self.job = None
        self._set_status("")
        self.refusal.show_message(message)
        self._update_buttons()
        self.ended.emit("refused")

    def _on_failed(self, message: str) -> None:
        self.job = None
        self._set_status(message[:1].upper() + message[1:], warning=True)
        self._update_buttons()
        self.ended.emit("failed")

    def _set_status(self, text: str, *, warning: bool = False) -> None:
        self.status.setStyleSheet(WARNING_STYLE if warning else "")
        self.status.setText(text)

    def _update_buttons(self) -> None:
        running = self.job is not None
        self.download_button.setEnabled(not running and bool(self.repo_id()))
        self.cancel_button.setEnabled(running)
        self.repo_edit.setEnabled(not running)

    def done(self, result: int) -> None:
        """Closing cancels a running download (its unfinished files are deleted)."""
        if self.job is not None:
            job, self.job = self.job, None
            job.stop()
            job.wait(5)
        super().done(result)
