"""The settings dialog: values round-trip, saving persists, the API key goes to desktop.secrets."""

from __future__ import annotations

import json

import pytest

from desktop.gui import settings_dialog
from desktop.gui.settings_dialog import Environment, SettingsDialog
from desktop.gui.tasks import BackgroundTasks
from desktop.settings import Settings
from tests.gui.fakes import CannedPrompts


@pytest.fixture
def environment(monkeypatch):
    env = Environment(
        (("/models/big.gguf", "Big 8B"),), "SmolLM2 (embedded)", False, "a test keyring", True
    )
    monkeypatch.setattr(settings_dialog, "probe_environment", lambda data_dir: env)
    stored = []
    monkeypatch.setattr(
        "desktop.secrets.set_secret",
        lambda name, value, data_dir: stored.append((name, value)) or "a test keyring",
    )
    return stored


def open_dialog(qtbot, data_dir, settings):
    tasks = BackgroundTasks()
    dialog = SettingsDialog(settings, data_dir, tasks, CannedPrompts())
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "test keyring" in dialog.secret_note.text(), timeout=5000)
    return dialog, tasks


def test_values_round_trip_and_save(qtbot, data_dir, environment):
    start = Settings.of(
        max_step=60,
        max_extend=3,
        n_threads=4,
        page_size="Letter",
        chroma_url="http://c",
        reuse_moved_text=True,
    )
    dialog, tasks = open_dialog(qtbot, data_dir, start)
    assert dialog.values() == start
    assert "CPU only" in dialog.gpu_note.text() and "A key is stored" in dialog.secret_note.text()
    dialog.use_server.setChecked(True)
    dialog.server_url.setText("http://localhost:8080/v1")
    dialog.server_model.setText("agentcpm")
    dialog.api_key.setText("sk-test")
    dialog.max_step.setValue(90)
    dialog.hard_mode.setChecked(True)
    dialog.context.setValue(8192)
    dialog.reuse_moved_text.setChecked(False)
    with qtbot.waitSignal(dialog.saved) as saved, qtbot.waitSignal(dialog.secretSaved):
        dialog.accept()
    written = json.loads(Settings.path(data_dir).read_text())
    assert saved.args[0] == Settings.load(data_dir)
    assert written["server_url"] == "http://localhost:8080/v1" and written["max_step"] == 90
    assert written["hard_mode"] is True and written["n_ctx"] == 8192
    assert written["reuse_moved_text"] is False
    assert written["chroma_url"] == "http://c"  # fields the dialog does not show are kept
    assert "sk-test" not in Settings.path(data_dir).read_text()  # never in settings.json
    assert environment == [("api-key", "sk-test")]
    tasks.wait()


def test_drafting_is_automatic_by_default_and_each_choice_round_trips(qtbot, data_dir, environment):
    dialog, tasks = open_dialog(qtbot, data_dir, Settings())
    assert dialog.prompt_lookup.currentData() == "auto" and dialog.values() == Settings()
    dialog.close()
    for choice in ("on", "off"):
        dialog, _ = open_dialog(qtbot, data_dir, Settings.of(prompt_lookup=choice))
        assert dialog.values().runtime.prompt_lookup == choice
        dialog.prompt_lookup.setCurrentIndex(dialog.prompt_lookup.findData("auto"))
        assert dialog.values() == Settings()
        dialog.close()
    tasks.wait()


def test_a_missing_model_file_is_refused(qtbot, data_dir, environment):
    dialog, tasks = open_dialog(qtbot, data_dir, Settings())
    dialog.use_file.setChecked(True)
    dialog.model_path.setEditText(str(data_dir / "missing.gguf"))
    assert "does not exist" in dialog.problem(dialog.values())
    dialog.use_embedded.setChecked(True)
    assert dialog.problem(dialog.values()) is None and dialog.values().model.model_path is None
    tasks.wait()


def test_closing_before_the_environment_probe_answers_drops_the_answer(
    qtbot, data_dir, monkeypatch
):
    import threading

    release, answered = threading.Event(), threading.Event()
    env = Environment((), "SmolLM2 (embedded)", False, "a test keyring", False)

    def slow_probe(_data_dir):
        release.wait(5)
        answered.set()
        return env

    monkeypatch.setattr(settings_dialog, "probe_environment", slow_probe)
    tasks = BackgroundTasks()
    dialog = SettingsDialog(Settings(), data_dir, tasks, CannedPrompts())
    dialog.reject()
    dialog.deleteLater()
    qtbot.wait(10)  # the C++ dialog is gone before the probe answers
    release.set()
    assert answered.wait(5)
    calls = []
    monkeypatch.setattr(SettingsDialog, "_on_environment", lambda self, e: calls.append(e))
    qtbot.wait(100)  # let the answer reach the GUI thread
    assert calls == []
