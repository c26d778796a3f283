"""The models page: the GGUF models on this computer and downloads from the Hugging Face Hub.

"On this computer" lists every local model (the embedded one, the models folder, files added by
reference) with its architecture, parameters, quantization, context length, size and whether it
fits this machine (RAM, and VRAM on a GPU build); a model is added with a file chooser or by
dropping a ``.gguf`` on the page or the main window, removed (a file in the models folder is
deleted after a confirmation), or made active. Which llama.cpp build is installed is shown, with
the command that switches a CPU build to the GPU that was found.

"Download" lists a repository's GGUF files through `desktop.llm.hub` (the catalogue's
AgentCPM-Report, or any repo id typed in), with sizes and the quantization recommended for this
RAM, and downloads one with a progress bar, speed and time left, Pause, Resume and Cancel. With
Offline on, the download is refused with one line naming the setting and a one-time "Allow this
download" button: it covers one listing and one download of the refused repository, and the
network log records it once (model downloads also go to the data dir's durable network log). A
finished download is added and made active; Download on a file already here makes it active; a
partial download left by an earlier session is offered as paused, with Resume and Cancel.
`show_download` opens the Hub tab on the catalogue's AgentCPM-Report and lists it (the first-run
page's and the demo model's offer). Listing and downloading run on worker threads; nothing
blocks the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import network
from desktop.core.cancel import Cancelled
from desktop.gui.library_panel import local_paths
from desktop.gui.offline_refusal import WARNING_STYLE, OfflineRefusal
from desktop.gui.services import Prompts
from desktop.gui.tasks import BackgroundTasks
from desktop.gui.thread_job import ThreadJob
from desktop.llm import hub, models
from desktop.llm.gguf import format_bytes, format_parameter_count
from desktop.llm.hardware import Machine, probe_machine
from desktop.settings import Settings

log = logging.getLogger(__name__)

LOCAL_COLUMNS = ("", "Name", "Architecture", "Parameters", "Quant", "Context", "Size", "Fits")
HUB_COLUMNS = ("Quantization", "File", "Size", "Fits this machine", "")
_ANY_REPO_NOTE = "Any Hub repository with GGUF files, e.g. owner/Model-GGUF."


def fits_text(size: int, machine: Machine | None) -> str:
    """Whether a model of this file size fits: RAM, and VRAM when a GPU build is active."""
    if machine is None:
        return "…"
    ram = hub.fits(size, machine.ram_total)
    if ram is None:
        return "RAM unknown"
    text = "yes" if ram else f"no (needs ~{format_bytes(hub.memory_needed(size))} RAM)"
    if machine.build.gpu_offload and machine.vram_total:
        vram = hub.memory_needed(size) <= machine.vram_total
        text += f"; {'fits' if vram else 'too big for'} {format_bytes(machine.vram_total)} VRAM"
    return text


class DownloadJob(ThreadJob):
    """One download on a Python thread (`hub.download_file`, via models.download_hub_file).

    Signals: progress(object) — a DownloadProgress; finished(object) — the ModelInfo;
    paused() — stopped by Pause or Cancel (the part is kept); failed(str) — one line.
    """

    progress = Signal(object)
    finished = Signal(object)
    paused = Signal()
    failed = Signal(str)
    thread_name = "model-download"

    def __init__(
        self,
        repo: str,
        file: hub.HubFile,
        data_dir: Path,
        *,
        allow_once: bool,
        allowance_logged: bool = False,
        revision: str = "main",
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.repo, self.file, self.data_dir, self.allow_once = repo, file, data_dir, allow_once
        self.allowance_logged, self.revision = allowance_logged, revision

    def _run(self) -> None:
        try:
            info = models.download_hub_file(
                self.repo,
                self.file,
                self.data_dir,
                allow_once=self.allow_once,
                allowance_logged=self.allowance_logged,
                revision=self.revision,  # the listed commit: one version of the file
                progress=self.progress.emit,
                cancel=self.cancel,
            )
        except Cancelled:
            self.paused.emit()
        except models.ModelError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must end as a message, not a dead thread
            log.exception("the download failed")
            self.failed.emit(f"the download failed: {exc}")
        else:
            self.finished.emit(info)


class ModelsDialog(QDialog):
    """The models page (see the module docstring).

    Signals: activated(object) — the Settings saved after a model was made active;
    listed(object) — a RepoListing shown; localListed() — the local table was refreshed;
    downloadEnded(str) — "finished", "paused", "cancelled" or "failed".
    """

    activated = Signal(object)
    listed = Signal(object)
    localListed = Signal()
    downloadEnded = Signal(str)

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        tasks: BackgroundTasks,
        prompts: Prompts,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.setAcceptDrops(True)
        self.settings, self.data_dir, self.tasks, self.prompts = settings, data_dir, tasks, prompts
        self.machine: Machine | None = None
        self.local: list[models.ModelInfo] = []
        self.listing: hub.RepoListing | None = None
        self.recommended: hub.HubFile | None = None
        self.job: DownloadJob | None = None
        # The one-time exception to Offline: the repository it is for (the one refused), and
        # whether the network log has recorded it yet; it covers one listing and one download.
        self._allowed_repo: str | None = None
        self._allowance_logged = False
        self._refused_repo: str | None = None  # the repository Offline refused last
        self._discard_on_stop = False
        self._pending: str | None = None  # "list" or "download", retried after "allow once"
        self._file: hub.HubFile | None = None  # the file being (or last) downloaded
        self._closed = False  # set when the page closes: late worker results are dropped
        # Listings, allowances and transfers also go to the data dir's durable network log.
        self._durable_log = network.DurableLog.in_data_dir(
            data_dir, lambda entry: hub.is_download_purpose(entry.purpose)
        )
        network.add_listener(self._durable_log)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._local_tab(), "On this computer")
        self.tabs.addTab(self._hub_tab(), "Download from the Hub")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        self.resize(980, 560)
        self.refresh_local()
        self._submit(probe_machine, self._on_machine, lambda exc: log.warning("probe: %s", exc))

    # ---- layout ----------------------------------------------------------------------------
    def _local_tab(self) -> QWidget:
        page = QWidget()
        self.local_table = _table("localModels", LOCAL_COLUMNS)
        self.local_table.itemSelectionChanged.connect(self._update_buttons)
        self.local_table.itemDoubleClicked.connect(lambda _item: self.make_active())
        self.add_button = QPushButton("Add a GGUF File…")
        self.add_button.clicked.connect(self.ask_add)
        self.activate_button = QPushButton("Make Active")
        self.activate_button.clicked.connect(self.make_active)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        row = QHBoxLayout()
        for button in (self.add_button, self.activate_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        self.build_label = QLabel("Checking this machine and the llama.cpp build…")
        self.build_label.setObjectName("buildLabel")
        self.build_label.setWordWrap(True)
        self.build_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QLabel("Drop a .gguf file here (or on the main window) to add it.")
        hint.setEnabled(False)
        box = QVBoxLayout(page)
        box.addWidget(self.local_table, 1)
        box.addLayout(row)
        box.addWidget(hint)
        box.addWidget(self.build_label)
        return page

    def _hub_tab(self) -> QWidget:
        page = QWidget()
        self.catalogue = QComboBox()
        for entry in hub.CATALOGUE:
            self.catalogue.addItem(f"{entry.title} — {entry.repo_id}", entry.repo_id)
        self.catalogue.addItem("Another repository (type its id)", "")
        self.catalogue.currentIndexChanged.connect(self._on_catalogue)
        self.repo_edit = QLineEdit(hub.CATALOGUE[0].repo_id)
        self.repo_edit.setObjectName("repoEdit")
        self.repo_edit.setPlaceholderText("owner/name of a GGUF repository")
        self.repo_edit.returnPressed.connect(self.list_files)
        self.repo_edit.textChanged.connect(self._on_repo_typed)
        self.list_button = QPushButton("List Files")
        self.list_button.clicked.connect(self.list_files)
        top = QHBoxLayout()
        top.addWidget(self.catalogue, 1)
        top.addWidget(self.repo_edit, 1)
        top.addWidget(self.list_button)
        self.catalogue_note = QLabel(hub.CATALOGUE[0].note)
        self.catalogue_note.setWordWrap(True)
        self.hub_table = _table("hubFiles", HUB_COLUMNS)
        self.hub_table.itemSelectionChanged.connect(self._update_buttons)
        self.recommend_label = QLabel("List a repository to see its quantizations.")
        self.recommend_label.setWordWrap(True)
        self.refusal = OfflineRefusal(
            "offlineRefusal",
            "Once, for this repository; the network log records it",
            self.allow_once,
            button_name="allowOnce",
        )
        self.offline_label, self.allow_button = self.refusal.label, self.refusal.button
        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.status = QLabel("")
        self.status.setObjectName("downloadStatus")
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.pause)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton("Cancel Download")
        self.cancel_button.clicked.connect(self.cancel_download)
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        for button in (
            self.download_button,
            self.pause_button,
            self.resume_button,
            self.cancel_button,
        ):
            controls.addWidget(button)
        box = QVBoxLayout(page)
        box.addLayout(top)
        box.addWidget(self.catalogue_note)
        box.addWidget(self.hub_table, 1)
        box.addWidget(self.recommend_label)
        box.addLayout(self.refusal.row)
        box.addLayout(controls)
        box.addWidget(self.status)
        self._update_buttons()
        return page

    # ---- local models ----------------------------------------------------------------------
    def refresh_local(self) -> None:
        data_dir, chosen = self.data_dir, self.settings.model
        active = None if chosen.server_url else chosen.model_path  # a file chosen in Settings too
        self._submit(
            lambda: models.list_models(data_dir, active=active), self._show_local, self._on_error
        )

    def _show_local(self, infos: list[models.ModelInfo]) -> None:
        self.local = list(infos)
        table = self.local_table
        table.setRowCount(0)
        for info in self.local:
            row = table.rowCount()
            table.insertRow(row)
            meta = info.meta
            active = self._is_active(info)
            where = {
                models.EMBEDDED: "embedded (demo only)",
                models.FOLDER: "models folder",
                models.CHOSEN: "chosen in Settings",
            }
            cells = [
                "●" if active else "",
                _local_name(info),
                meta.architecture if meta else "",
                format_parameter_count(meta.parameter_count) if meta else "",
                (meta.quantization or "") if meta else "",
                str(meta.context_length or "") if meta else "",
                format_bytes(info.size_bytes),
                fits_text(info.size_bytes, self.machine) if info.ok else "unusable",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{info.path} ({where.get(info.source, 'added by reference')})")
                if active:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        self._update_buttons()
        self.localListed.emit()

    def _is_active(self, info: models.ModelInfo) -> bool:
        chosen = self.settings.model
        return not chosen.server_url and models.is_active(info, chosen.model_path)

    def selected_local(self) -> models.ModelInfo | None:
        rows = {i.row() for i in self.local_table.selectedIndexes()}
        return self.local[min(rows)] if rows and min(rows) < len(self.local) else None

    def ask_add(self) -> None:
        path = self.prompts.open_gguf(self)
        if path:
            self.add_paths([path])

    def add_paths(self, paths: list[str]) -> None:
        """Register dropped or chosen GGUF files (by reference; the files stay where they are)."""
        data_dir = self.data_dir

        def add() -> list[str]:
            problems = []
            for path in paths:
                try:
                    models.add_model(path, data_dir)
                except models.ModelError as exc:
                    problems.append(str(exc))
            return problems

        def done(problems: list[str]) -> None:
            if problems:
                self._warn("\n".join(problems))
            self.refresh_local()

        self.tabs.setCurrentIndex(0)
        self._submit(add, done, self._on_error)

    def make_active(self, info: models.ModelInfo | None = None) -> None:
        info = info or self.selected_local()
        if info is None or not info.ok:
            return
        path = None if info.source == models.EMBEDDED else str(info.path)
        self._save(self.settings.with_(model_path=path, server_url=None))
        self.refresh_local()

    def remove_selected(self) -> None:
        info = self.selected_local()
        if info is None:
            return
        if info.source == models.EMBEDDED:
            self._warn("The embedded model is part of the app and cannot be removed.")
            return
        if info.source == models.CHOSEN:  # not registered: stop using it, the file stays
            question = f"Stop using {info.path.name}? The file stays where it is:\n{info.path}"
            if self.prompts.confirm(self, "Remove Model", question, "Stop Using"):
                self._save(self.settings.with_(model_path=None))
                self.refresh_local()
            return
        if info.source == models.FOLDER:
            question = (
                f"Delete {info.path.name} ({format_bytes(info.size_bytes)}) from the models "
                "folder? The file is removed from this computer."
            )
            ok = "Delete"
        else:
            question = f"Forget {info.path.name}? The file stays where it is:\n{info.path}"
            ok = "Forget"
        if not self.prompts.confirm(self, "Remove Model", question, ok):
            return
        try:
            models.remove_model(info.path, self.data_dir)
        except (models.ModelError, OSError) as exc:
            self._warn(f"The model could not be removed: {exc}")
            return
        if self._is_active(info):
            self._save(self.settings.with_(model_path=None))
        self.refresh_local()

    def _save(self, settings: Settings) -> None:
        try:
            settings.save(self.data_dir)
        except Exception as exc:
            log.exception("saving settings failed")
            self._warn(f"The settings could not be saved: {exc}")
            return
        self.settings = settings
        self.activated.emit(settings)

    # ---- the Hub ---------------------------------------------------------------------------
    def show_download(self, repo: str = models.DEFAULT_DOWNLOAD_REPO) -> None:
        """The Hub tab with `repo` (the catalogue's AgentCPM-Report) chosen and its files listed
        (with Offline on: the one-line refusal and the one-time Allow button instead)."""
        self.tabs.setCurrentIndex(1)
        repos = [self.catalogue.itemData(i) for i in range(self.catalogue.count())]
        if repo in repos:
            self.catalogue.setCurrentIndex(repos.index(repo))
        self.repo_edit.setText(repo)
        if self.job is None and (self.listing is None or self.listing.repo_id != repo):
            self.list_files()

    def _on_catalogue(self, index: int) -> None:
        repo = self.catalogue.itemData(index)
        if repo:
            self.repo_edit.setText(repo)
            self.catalogue_note.setText(hub.CATALOGUE[index].note)
        else:
            self.repo_edit.clear()
            self.repo_edit.setFocus()
            self.catalogue_note.setText(_ANY_REPO_NOTE)

    def _on_repo_typed(self, text: str) -> None:
        """A typed repo id that is not in the catalogue selects "Another repository"."""
        repos = [self.catalogue.itemData(i) for i in range(self.catalogue.count())]
        index = repos.index(text.strip()) if text.strip() in repos else len(repos) - 1
        if index != self.catalogue.currentIndex():
            self.catalogue.blockSignals(True)
            self.catalogue.setCurrentIndex(index)
            self.catalogue.blockSignals(False)
            entry = hub.CATALOGUE[index] if index < len(hub.CATALOGUE) else None
            self.catalogue_note.setText(entry.note if entry else _ANY_REPO_NOTE)

    def list_files(self) -> None:
        repo = self.repo_edit.text().strip()
        if not repo or self.job is not None:
            return
        self._pending = "list"
        allow, logged = self._allowance_for(repo)
        self.status.setText(f"Listing {repo}…")
        self.status.setStyleSheet("")
        self.list_button.setEnabled(False)
        self._submit(
            lambda: models.list_hub_repo(repo, allow_once=allow, allowance_logged=logged),
            self._show_listing,
            self._on_hub_error,
        )

    def _show_listing(self, listing: hub.RepoListing) -> None:
        self.listing, self._pending = listing, None
        self.list_button.setEnabled(True)
        if self._allowed_repo is not None and self._allowed_repo == listing.repo_id:
            self._allowance_logged = True  # the listing used it: the log has it
        self.refusal.hide()
        self.status.setText("")
        ram = self.machine.ram_total if self.machine else None
        pick = hub.recommend(listing.models(), ram)
        self.recommended = pick.file
        if self._file is None or self._file not in listing.models():
            self._file = self._paused_file(listing)  # a part left by an earlier session
        table = self.hub_table
        table.setRowCount(0)
        for file in listing.models():
            row = table.rowCount()
            table.insertRow(row)
            folder = models.models_dir(self.data_dir)
            partial = hub.partial_bytes(folder, file)
            mark = "recommended" if file == pick.file else ""
            if (folder / file.name).exists():
                mark = f"{mark}, already downloaded".lstrip(", ")
            elif partial:
                paused = f"paused, {partial / file.size:.0%} — Resume"
                mark = f"{mark}, {paused}".lstrip(", ")
            cells = [file.quant or "?", file.path, format_bytes(file.size)]
            cells += [fits_text(file.size, self.machine), mark]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"sha256 {file.sha256}" if file.sha256 else file.path)
                if file == pick.file:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
            if file == (self._file if self._file in listing.models() else pick.file):
                table.selectRow(row)
        split = listing.split_models()
        note = f" ({len(split)} split files are not offered.)" if split else ""
        self.recommend_label.setText(f"Recommended for this machine: {pick.reason}.{note}")
        self._update_buttons()
        if self.job is None and self._file is not None and self._partial(self._file):
            done = self._partial(self._file) / self._file.size
            self.progress.setValue(round(done * 1000))
            if not self.status.text():
                self.status.setText(
                    f"{self._file.name} is paused at {done:.0%} — Resume continues it."
                )
        self.listed.emit(listing)

    def _paused_file(self, listing: hub.RepoListing) -> hub.HubFile | None:
        """The listed file with a partial download (.part) in the models folder, if any."""
        return next((f for f in listing.models() if self._partial(f)), None)

    def _partial(self, file: hub.HubFile) -> int:
        return hub.partial_bytes(models.models_dir(self.data_dir), file)

    def _downloaded(self, file: hub.HubFile | None) -> bool:
        return file is not None and (models.models_dir(self.data_dir) / file.name).is_file()

    def selected_hub_file(self) -> hub.HubFile | None:
        rows = {i.row() for i in self.hub_table.selectedIndexes()}
        files = self.listing.models() if self.listing else ()
        return files[min(rows)] if rows and min(rows) < len(files) else None

    def download(self) -> None:
        """Download the selected file, or resume its part; one already here is made active."""
        file = self.selected_hub_file()
        if file is None or self.job is not None or self.listing is None:
            return
        if self._downloaded(file):
            self._activate_downloaded(file)
            return
        self._start(file)

    def _activate_downloaded(self, file: hub.HubFile) -> None:
        path, data_dir = models.models_dir(self.data_dir) / file.name, self.data_dir

        def done(info: models.ModelInfo) -> None:
            self.make_active(info)
            self.status.setStyleSheet("")
            self.status.setText(f"{file.name} was already downloaded; it is now the active model.")
            self._update_buttons()

        self._submit(lambda: models.add_model(path, data_dir), done, self._on_error)

    def _start(self, file: hub.HubFile) -> None:
        assert self.listing is not None
        self._pending, self._file, self._discard_on_stop = "download", file, False
        allow, logged = self._allowance_for(self.listing.repo_id)
        job = DownloadJob(
            self.listing.repo_id,
            file,
            self.data_dir,
            allow_once=allow,
            allowance_logged=logged,
            revision=self.listing.download_revision,
            parent=self,
        )
        self._allowance_logged = self._allowance_logged or allow
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_downloaded)
        job.paused.connect(self._on_paused)
        job.failed.connect(self._on_download_failed)
        self.job = job
        self.status.setStyleSheet("")
        self.status.setText(f"Starting {file.name}…")
        self._update_buttons()
        job.start()

    def pause(self) -> None:
        if self.job is not None:
            self.status.setText("Pausing…")
            self.job.stop()

    def _resumable(self) -> hub.HubFile | None:
        """The paused download Resume and Cancel act on: the selected file's, else the last."""
        for file in (self.selected_hub_file(), self._file):
            if file is not None and not self._downloaded(file) and self._partial(file):
                return file
        return None

    def resume(self) -> None:
        file = self._resumable()
        if self.job is None and file is not None and self.listing is not None:
            self._start(file)

    def cancel_download(self) -> None:
        if self.job is not None:
            self._discard_on_stop = True
            self.job.stop()
        elif (file := self._resumable()) is not None:
            hub.discard_partial(models.models_dir(self.data_dir), file)
            self.progress.setValue(0)
            self._end_allowance()
            self._ended("cancelled", "Download cancelled; the partial file was deleted.")

    def allow_once(self) -> None:
        """The one-time exception to Offline for the refused repository: one listing and one
        download (its resumes included), recorded once in the network log."""
        self._allowed_repo = self._refused_repo
        self._allowance_logged = False
        self.refusal.hide()
        if self._pending == "download" and self._file is not None and self.listing is not None:
            self._start(self._file)
        else:
            self.list_files()

    def _on_progress(self, progress: hub.DownloadProgress) -> None:
        self.progress.setValue(round(progress.fraction * 1000))
        self.status.setText(progress.text())

    def _allowance_for(self, repo: str) -> tuple[bool, bool]:
        """(allowed once, already recorded in the network log) for a request about `repo`."""
        allowed = self._allowed_repo is not None and repo == self._allowed_repo
        return allowed, allowed and self._allowance_logged

    def _end_allowance(self) -> None:
        self._allowed_repo, self._allowance_logged = None, False

    def _on_downloaded(self, info: models.ModelInfo) -> None:
        self.job = None
        self._end_allowance()  # used up: one download
        self.progress.setValue(1000)
        self.make_active(info)
        self.tabs.setCurrentIndex(0)
        self._ended(
            "finished", f"{info.path.name} is downloaded, checked and now the active model."
        )

    def _on_paused(self) -> None:
        self.job = None
        if self._discard_on_stop and self._file is not None:
            hub.discard_partial(models.models_dir(self.data_dir), self._file)
            self.progress.setValue(0)
            self._end_allowance()
            self._ended("cancelled", "Download cancelled; the partial file was deleted.")
            return
        self._ended("paused", f"Paused at {self.progress.value() / 10:.0f}% — Resume continues it.")

    def _on_download_failed(self, message: str) -> None:
        self.job = None
        if isinstance(message, str) and message.startswith("offline mode"):
            self._refused_repo = self.listing.repo_id if self.listing else None
            self._show_offline(message)
            self._update_buttons()
            return
        self.status.setStyleSheet(WARNING_STYLE)
        self._end_allowance()
        self._ended("failed", message)

    def _ended(self, how: str, message: str) -> None:
        if self.listing is not None:
            self._show_listing(self.listing)  # the "downloaded" marks change
        self.status.setText(message)
        self._update_buttons()
        self.downloadEnded.emit(how)

    def _on_hub_error(self, exc: Exception) -> None:
        self.list_button.setEnabled(True)
        if isinstance(exc, models.OfflineRefused):
            self._refused_repo = self.repo_edit.text().strip()
            self._show_offline(str(exc))
            return
        self._pending = None
        self.status.setStyleSheet(WARNING_STYLE)
        self.status.setText(str(exc) if isinstance(exc, models.ModelError) else f"Failed: {exc}")

    def _show_offline(self, message: str) -> None:
        self.status.setText("")
        self.refusal.show_message(message)

    # ---- machine, buttons, drops -----------------------------------------------------------
    def _on_machine(self, machine: Machine) -> None:
        self.machine = machine
        advice = machine.switch_advice()
        text = f"This machine: {machine.describe()}."
        if advice:
            text += f"\n{advice}"
        elif not machine.build.gpu_offload and machine.gpu_name is None:
            text += " No GPU was found; models run on the CPU."
        self.build_label.setText(text)
        self._show_local(self.local)
        if self.listing is not None:
            self._show_listing(self.listing)

    def _update_buttons(self) -> None:
        info = self.selected_local() if hasattr(self, "local_table") else None
        if hasattr(self, "activate_button"):
            self.activate_button.setEnabled(info is not None and info.ok)
            self.remove_button.setEnabled(info is not None and info.source != models.EMBEDDED)
        if not hasattr(self, "download_button"):
            return
        running = self.job is not None
        partial = self._resumable() is not None
        selected = self.selected_hub_file()
        here = self._downloaded(selected)
        self.download_button.setText("Make Active" if here else "Download")
        self.download_button.setEnabled(not running and selected is not None)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(not running and partial)
        self.cancel_button.setEnabled(running or partial)
        self.list_button.setEnabled(not running)

    def dragEnterEvent(self, event) -> None:
        if _ggufs(local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = _ggufs(local_paths(event.mimeData()))
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def _warn(self, message: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Models", message, QMessageBox.StandardButton.Ok, self
        )
        box.finished.connect(box.deleteLater)
        box.open()

    def _on_error(self, exc: Exception) -> None:
        log.warning("models page: %s", exc)
        self._warn(str(exc))

    def _submit(self, fn, on_done, on_error) -> None:
        """A worker job whose answer is dropped if the page has closed meanwhile."""
        self.tasks.submit(
            fn,
            lambda result: None if self._closed else on_done(result),
            lambda exc: None if self._closed else on_error(exc),
        )

    def done(self, result: int) -> None:
        """Closing pauses a running download (the part is kept for Resume)."""
        self._closed = True
        if self.job is not None:
            self.job.stop()
            self.job.wait(5)
        network.remove_listener(self._durable_log)
        super().done(result)


def _local_name(info: models.ModelInfo) -> str:
    if not info.ok:
        return f"{info.path.name}: {info.error}"
    if info.source == models.EMBEDDED:
        return f"{info.name} (embedded demo)"
    return info.name


def _ggufs(paths: list[str]) -> list[str]:
    return [p for p in paths if p.lower().endswith(".gguf")]


def _table(name: str, columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table
