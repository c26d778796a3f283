"""The GUI's model provider: a served model gets the same small-model guards as the CLI."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from desktop.gui.services import DefaultModelProvider
from desktop.settings import (
    BudgetSettings,
    ModelSettings,
    PrivacySettings,
    RuntimeSettings,
    Settings,
    WebSettings,
)


class _ServedModel:
    supports_grammar = True  # a llama.cpp server: constrained, so hard mode stays off
    supports_json_schema = True

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _open(monkeypatch, tmp_path, model_id: str, **settings):
    served = _ServedModel(model_id)
    monkeypatch.setattr("desktop.session.open_backend", lambda choice, s, data_dir: served)
    provider = DefaultModelProvider()
    opened = provider.open(Settings.of(server_url="http://127.0.0.1:9/v1", **settings), tmp_path)
    return provider, opened, served


def test_small_served_model_gets_guards(monkeypatch, tmp_path):
    provider, opened, _ = _open(monkeypatch, tmp_path, "SmolLM2-135M-Instruct")
    assert opened.config.cite_every == 3
    provider.release()


def test_large_served_model_runs_unguarded(monkeypatch, tmp_path):
    provider, opened, served = _open(monkeypatch, tmp_path, "AgentCPM-Report-8B")
    assert opened.config.cite_every == 0
    provider.release()
    assert served.closed


def test_reopen_with_new_budgets_keeps_model_and_guards(monkeypatch, tmp_path):
    provider, opened, served = _open(monkeypatch, tmp_path, "SmolLM2-135M-Instruct")
    again = provider.open(Settings.of(server_url="http://127.0.0.1:9/v1", max_step=7), tmp_path)
    assert again.backend is served
    assert again.config.max_step == 7 and again.config.cite_every == 3
    provider.release()


# Every runtime field, changed to a value it does not have by default.
RUNTIME_CHANGES = {
    "n_ctx": 4096,
    "n_threads": 3,
    "n_gpu_layers": 0,
    "flash_attn": True,
    "kv_cache_type": "q8_0",
    "reuse_moved_text": True,
    "prompt_lookup": "on",
}


def test_any_runtime_change_loads_the_model_again(monkeypatch, tmp_path):
    """Flash attention, the KV-cache type and moved-text reuse used to keep the loaded model
    until a restart: the key is now the whole model and runtime groups."""
    assert set(RUNTIME_CHANGES) == {f.name for f in fields(RuntimeSettings)}  # none forgotten
    loaded: list[tuple[RuntimeSettings, _ServedModel]] = []

    def load(choice, runtime, data_dir):
        loaded.append((runtime, _ServedModel("AgentCPM-Report-8B")))
        return loaded[-1][1]

    monkeypatch.setattr("desktop.session.open_backend", load)
    provider = DefaultModelProvider()
    base = Settings.of(server_url="http://127.0.0.1:9/v1")
    first = provider.open(base, tmp_path).backend
    assert provider.open(base.with_(max_step=9, web_share=0.1), tmp_path).backend is first
    for name, value in RUNTIME_CHANGES.items():
        before = loaded[-1][1]
        changed = base.with_(**{name: value})
        assert provider.open(changed, tmp_path).backend is not before, name
        assert before.closed and getattr(loaded[-1][0], name) == value
    provider.release()
    assert len(loaded) == 1 + len(RUNTIME_CHANGES)


def test_the_groups_and_the_flat_settings_agree() -> None:
    """The file stays flat (old settings.json files load as they are, unknown keys ignored);
    Settings is made of the groups, so a group cannot drift from what is saved."""
    settings = Settings()
    assert settings.model == ModelSettings() and settings.runtime == RuntimeSettings()
    assert settings.budgets == BudgetSettings() and settings.web == WebSettings()
    assert settings.privacy == PrivacySettings()
    changed = Settings.of(flash_attn=True, web_share=0.2, server_url="http://h/v1", max_step=3)
    assert changed.runtime.flash_attn and changed.web.web_share == 0.2
    assert changed.model.server_url == "http://h/v1" and changed.budgets.max_step == 3
    assert Settings.of(**changed.flat()) == changed and len(changed.flat()) == 27
    with pytest.raises(TypeError, match="unknown settings: n_ctxx"):
        changed.with_(n_ctxx=4096)


def test_an_old_flat_settings_file_loads_into_the_groups(tmp_path: Path) -> None:
    old = {"model_path": "/m/a.gguf", "flash_attn": True, "ocr": False, "retired_key": 1}
    Settings.path(tmp_path).write_text(json.dumps(old), encoding="utf-8")
    loaded = Settings.load(tmp_path)
    assert loaded.model.model_path == "/m/a.gguf" and loaded.runtime.flash_attn
    assert loaded.library.ocr is False and loaded.budgets == BudgetSettings()
    loaded.save(tmp_path)
    saved = json.loads(Settings.path(tmp_path).read_text(encoding="utf-8"))
    assert saved == loaded.flat() and "retired_key" not in saved and saved["flash_attn"] is True
