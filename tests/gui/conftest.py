"""GUI fixtures: a main window with injected fakes (no real model, no embeddings)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop.gui.main_window import MainWindow  # noqa: E402
from desktop.gui.services import Services  # noqa: E402
from desktop.llm.scripted import ScriptedBackend  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from tests.gui.fakes import CannedPrompts, PdfLibrary, ScriptedModels  # noqa: E402


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def make_window(qtbot, data_dir, tmp_path) -> Callable[..., MainWindow]:
    """Build a MainWindow on fakes; every window is closed (threads joined) after the test."""
    windows: list[MainWindow] = []

    def make(
        replies=(),
        *,
        settings: Settings | None = None,
        check_interrupted: bool = False,
        page_delay: float = 0.0,
        backend: ScriptedBackend | None = None,
    ) -> MainWindow:
        (settings or Settings.of(max_step=40, max_extend=1)).save(data_dir)
        backend = backend or ScriptedBackend(list(replies))
        prompts = CannedPrompts()
        libraries: list[PdfLibrary] = []

        def open_library(path, s):
            library = PdfLibrary(path, s, page_delay=page_delay)
            libraries.append(library)
            return library

        services = Services(
            data_dir,
            open_library=open_library,
            models=ScriptedModels(backend),
            prompts=prompts,
            ui_settings_file=tmp_path / "ui.ini",
            notify_after_seconds=3600,
            check_interrupted_runs=check_interrupted,
        )
        window = MainWindow(services)
        window.backend, window.prompts, window.libraries = backend, prompts, libraries
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.library.is_ready, timeout=5000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.prompts.confirms[:0] = [True]
        window.close()
