"""Settings → Documents → Download…: a Hub embedding model downloaded from a fake Hub on loopback
(tests.fakehub serving a real, tiny sentence-transformers model; never the real Hub) with
progress, cancel, the offline refusal with its one-time allowance, and one line for a dead
server; a finished download becomes the setting and saving it reopens the library."""

from __future__ import annotations

import hashlib

import pytest

from desktop import network
from desktop.gui import settings_dialog
from desktop.gui.settings_dialog import Environment
from desktop.knowledge.embedder import downloaded_path, is_downloaded
from desktop.settings import Settings
from tests.fakehub import EMBEDDER_REPO, FakeHub, tiny_embedder_files


@pytest.fixture
def hub(tmp_path_factory, monkeypatch):
    files = tiny_embedder_files(tmp_path_factory.getbasetemp() / "tiny-embedder")
    server = FakeHub(files, repo=EMBEDDER_REPO)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    env = Environment((), "SmolLM2 (embedded)", False, "a test keyring", False)
    monkeypatch.setattr(settings_dialog, "probe_environment", lambda data_dir: env)
    yield server
    server.release()
    server.close()


def _download_dialog(make_window, qtbot, *, offline: bool):
    window = make_window(settings=Settings.of(max_step=40, max_extend=1, offline=offline))
    window.show_settings()
    settings = window.settings_dialog
    settings.embedder_download_button.click()
    dialog = settings.embedder_download
    qtbot.waitExposed(dialog)
    dialog.repo_edit.setText(EMBEDDER_REPO)
    return window, settings, dialog


def _tree(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_download_shows_progress_becomes_the_setting_and_reopens_the_library(
    make_window, qtbot, hub, data_dir
):
    window, settings, dialog = _download_dialog(make_window, qtbot, offline=False)
    values: list[int] = []
    dialog.progress.valueChanged.connect(values.append)
    with qtbot.waitSignal(dialog.ended, timeout=30_000) as ended:
        dialog.download_button.click()
        assert not dialog.download_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert ended.args == ["finished"]
    assert values[-1] == 1000 and any(0 < v < 1000 for v in values)  # progress in between
    assert values == sorted(values)
    folder = downloaded_path(data_dir, EMBEDDER_REPO)
    served = {name: hashlib.sha256(data).hexdigest() for name, data in hub.files.items()}
    assert _tree(folder) == served and is_downloaded(data_dir, EMBEDDER_REPO)
    assert "is downloaded" in dialog.status.text() and "Save" in dialog.status.text()
    assert settings.values().library.embedder == EMBEDDER_REPO  # the combo points at it
    dialog.accept()
    opened = len(window.libraries)
    with qtbot.waitSignal(settings.saved) as saved:
        settings.accept()
    assert saved.args[0].library.embedder == EMBEDDER_REPO
    assert window.settings.library.embedder == EMBEDDER_REPO
    qtbot.waitUntil(lambda: len(window.libraries) > opened, timeout=10_000)  # re-opened


def test_cancel_stops_mid_download_and_keeps_nothing(make_window, qtbot, hub, data_dir):
    hub.hold = "model.safetensors"
    _window, settings, dialog = _download_dialog(make_window, qtbot, offline=False)
    before = settings.values().library.embedder
    dialog.download_button.click()
    qtbot.waitUntil(hub.holding.is_set, timeout=30_000)  # half the weights are sent
    with qtbot.waitSignal(dialog.ended, timeout=30_000) as ended:
        dialog.cancel_button.click()
        hub.release()  # the next bytes arrive; the worker sees Cancel there
    assert ended.args == ["cancelled"]
    assert "cancelled" in dialog.status.text()
    assert not downloaded_path(data_dir, EMBEDDER_REPO).exists()
    assert settings.values().library.embedder == before
    assert dialog.download_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_offline_refuses_in_one_line_and_allows_once_with_a_log_entry(
    make_window, qtbot, hub, data_dir
):
    _window, settings, dialog = _download_dialog(make_window, qtbot, offline=True)
    with qtbot.waitSignal(dialog.ended, timeout=10_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["refused"]
    text = dialog.offline_label.text()
    assert text.startswith("Offline mode is on") and "Settings" in text and "\n" not in text
    assert dialog.allow_button.isVisibleTo(dialog)
    assert hub.requests == [] and network.recent_entries(1)[-1].outcome == "refused"
    with qtbot.waitSignal(dialog.ended, timeout=30_000) as ended:
        dialog.allow_button.click()
    assert ended.args == ["finished"]
    outcomes = [(e.purpose, e.outcome) for e in network.recent_entries(100)]
    assert (f"model download ({EMBEDDER_REPO})", "allowed once") in outcomes
    assert network.is_offline()  # the allowance did not switch Offline off
    assert settings.values().library.embedder == EMBEDDER_REPO
    assert not dialog.offline_label.isVisibleTo(dialog)


def test_a_dead_server_gives_one_clear_line(make_window, qtbot, hub, data_dir, monkeypatch):
    dead = FakeHub({}, repo=EMBEDDER_REPO)
    monkeypatch.setenv("HF_ENDPOINT", dead.url)
    dead.close()  # nothing listens on its port any more
    _window, settings, dialog = _download_dialog(make_window, qtbot, offline=False)
    with qtbot.waitSignal(dialog.ended, timeout=30_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["failed"]
    message = dialog.status.text()
    assert message.startswith("Cannot reach 127.0.0.1") and "\n" not in message
    assert not is_downloaded(data_dir, EMBEDDER_REPO)
    assert settings.values().library.embedder is None
