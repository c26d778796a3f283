"""Whether a local model drafts by prompt lookup: the setting, the model's size, old files."""

from __future__ import annotations

import json

import pytest

from desktop.llm.lookup_decoding import AUTO_MIN_PARAMETERS
from desktop.session import ModelChoice, drafting, open_backend
from desktop.settings import RuntimeSettings, Settings

EMBEDDED = ModelChoice()  # the bundled 135M model


def test_auto_drafts_only_for_large_models_and_then_with_flash_attention(monkeypatch) -> None:
    assert drafting(RuntimeSettings(), EMBEDDED) == (False, False)  # 135M: compute-bound
    assert drafting(RuntimeSettings(flash_attn=True), EMBEDDED) == (False, True)
    monkeypatch.setattr("desktop.session.model_parameters", lambda _c: AUTO_MIN_PARAMETERS)
    assert drafting(RuntimeSettings(), EMBEDDED) == (True, True)
    monkeypatch.setattr("desktop.session.model_parameters", lambda _c: None)  # unreadable
    assert drafting(RuntimeSettings(), EMBEDDED) == (False, False)


def test_on_and_off_override_the_size(monkeypatch) -> None:
    monkeypatch.setattr("desktop.session.model_parameters", lambda _c: 8_000_000_000)
    assert drafting(RuntimeSettings(prompt_lookup="off"), EMBEDDED) == (False, False)
    assert drafting(RuntimeSettings(prompt_lookup="off", flash_attn=True), EMBEDDED) == (
        False,
        True,
    )
    monkeypatch.setattr("desktop.session.model_parameters", lambda _c: 135_000_000)
    assert drafting(RuntimeSettings(prompt_lookup="on"), EMBEDDED) == (True, True)


def test_the_loaded_backend_gets_what_drafting_decides(monkeypatch, tmp_path) -> None:
    made: list[dict] = []

    class Recorder:
        def __init__(self, path, **kwargs) -> None:
            made.append(kwargs)

    monkeypatch.setattr("desktop.llm.llamacpp.LlamaCppBackend", Recorder)
    monkeypatch.setattr("desktop.session.model_parameters", lambda _c: 8_000_000_000)
    open_backend(EMBEDDED, RuntimeSettings(), tmp_path)
    open_backend(EMBEDDED, RuntimeSettings(prompt_lookup="off"), tmp_path)
    assert [(m["prompt_lookup"], m["flash_attn"]) for m in made] == [(True, True), (False, False)]


@pytest.mark.parametrize(("saved", "loaded"), [(True, "on"), (False, "auto"), ("bogus", "auto")])
def test_settings_from_before_auto_load(tmp_path, saved, loaded) -> None:
    Settings.path(tmp_path).write_text(json.dumps({"prompt_lookup": saved}), encoding="utf-8")
    assert Settings.load(tmp_path).runtime.prompt_lookup == loaded
