"""What the window needs from the outside world, injectable for tests.

`Services` bundles the data dir, how to open the document library (on the library thread),
how to load a model (on the engine thread) and the blocking prompts (file dialogs, confirms).
Tests pass a fake library, a scripted backend and canned prompt answers; `Services.default`
wires the real Library, llama.cpp / HTTP backends and Qt dialogs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from desktop.core.cancel import CancelToken
from desktop.core.chat import ChatBackend
from desktop.core.evidence import Retriever
from desktop.core.state import RunConfig
from desktop.settings import ModelSettings, RuntimeSettings, Settings

if TYPE_CHECKING:
    from desktop.knowledge.library import DocumentStatus, IngestProgress

log = logging.getLogger(__name__)


class LibraryLike(Protocol):
    """What the window needs from `desktop.knowledge.library.Library`."""

    def add(
        self,
        paths: Sequence[Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[DocumentStatus]: ...

    def list(self) -> list[DocumentStatus]: ...

    def remove(self, paths: Sequence[Path]) -> list[Path]: ...

    def rerun_ocr(
        self,
        paths: Sequence[Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[DocumentStatus]: ...

    def retriever(self, sources: Sequence[Path] | None = None) -> Retriever: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class OpenedModel:
    """A loaded backend, the name runs record, and the run budgets that suit it."""

    backend: ChatBackend
    name: str
    config: RunConfig


class ModelProvider(Protocol):
    """Loads models; both methods are only ever called on the engine thread."""

    def open(self, settings: Settings, data_dir: Path) -> OpenedModel: ...

    def release(self) -> None: ...


def model_label(settings: Settings) -> str:
    """A short name of the configured model for the status bar (cheap: no loading)."""
    model = settings.model
    if model.server_url:
        return f"{model.server_model or 'server'} @ {model.server_url}"
    if model.model_path:
        return Path(model.model_path).name
    return "SmolLM2-135M (embedded)"


class DefaultModelProvider:
    """Loads the configured model once and keeps it while the model settings stay the same."""

    def __init__(self) -> None:
        self._key: tuple[ModelSettings, RuntimeSettings] | None = None
        self._opened: OpenedModel | None = None

    @staticmethod
    def _model_key(settings: Settings) -> tuple[ModelSettings, RuntimeSettings]:
        """What the loaded model is made of: any change to either group loads it again."""
        return settings.model, settings.runtime

    def open(self, settings: Settings, data_dir: Path) -> OpenedModel:
        from desktop.session import ModelChoice, config_for, open_backend, resolve_model_path

        choice = ModelChoice.from_settings(settings.model)
        key = self._model_key(settings)
        if self._opened is not None and key == self._key:
            # Budgets may have changed since loading; the small-model guards follow the model.
            config = config_for(choice, settings, self._opened.backend)
            return OpenedModel(self._opened.backend, self._opened.name, config)
        self.release()
        backend = open_backend(choice, settings.runtime, data_dir)
        config = config_for(choice, settings, backend)
        if choice.server_url:
            name = choice.server_model or choice.server_url
        else:
            name = resolve_model_path(choice).name
        self._key, self._opened = key, OpenedModel(backend, name, config)
        return self._opened

    def release(self) -> None:
        if self._opened is not None:
            log.info("closing model %s", self._opened.name)
            self._opened.backend.close()
        self._key, self._opened = None, None


def open_real_library(data_dir: Path, settings: Settings) -> LibraryLike:
    """The real document library (imported here, on the library thread)."""
    from desktop.session import open_library

    return open_library(data_dir, settings.library)


class Prompts:
    """Blocking questions to the user. Tests replace this with canned answers."""

    def confirm(self, parent, title: str, text: str, ok: str = "OK") -> bool:
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        accept = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(accept)
        box.exec()
        return box.clickedButton() is accept

    def new_section(self, parent, heading: str) -> tuple[str, str] | None:
        from desktop.gui.outline_view import SectionDialog

        dialog = SectionDialog(heading, parent)
        if dialog.exec() != SectionDialog.DialogCode.Accepted:
            return None
        return dialog.values()

    def open_files(self, parent) -> list[str]:
        from PySide6.QtWidgets import QFileDialog

        files, _ = QFileDialog.getOpenFileNames(
            parent,
            "Add documents",
            "",
            "Documents (*.pdf *.docx *.md *.markdown *.txt *.html *.htm *.epub);;All files (*)",
        )
        return files

    def open_folder(self, parent) -> str | None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(parent, "Add a folder of documents")
        return folder or None

    def save_file(self, parent, suggested: str) -> tuple[str, str] | None:
        """A target path and format ("md", "docx", "pdf"); None when cancelled."""
        from PySide6.QtWidgets import QFileDialog

        filters = {"Word document (*.docx)": "docx", "PDF (*.pdf)": "pdf", "Markdown (*.md)": "md"}
        path, chosen = QFileDialog.getSaveFileName(
            parent,
            "Export report",
            suggested,
            ";;".join(filters),
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not path:
            return None
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in ("md", "docx", "pdf"):
            fmt = filters.get(chosen, "docx")
            path = f"{path}.{fmt}"
        return path, fmt

    def open_gguf(self, parent) -> str | None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            parent, "Choose a GGUF model", "", "GGUF models (*.gguf);;All files (*)"
        )
        return path or None


@dataclass(frozen=True)
class Services:
    """Everything the main window gets from outside; see the module docstring."""

    data_dir: Path
    open_library: Callable[[Path, Settings], LibraryLike] = open_real_library
    models: ModelProvider = field(default_factory=DefaultModelProvider)
    prompts: Prompts = field(default_factory=Prompts)
    ui_settings_file: Path | None = None  # None: the platform's QSettings location
    notify_after_seconds: float = 60.0  # runs longer than this notify when they end
    check_interrupted_runs: bool = True
