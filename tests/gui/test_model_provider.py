"""The GUI's model provider: a served model gets the same small-model guards as the CLI."""

from __future__ import annotations

from desktop.gui.services import DefaultModelProvider
from desktop.settings import Settings


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
    opened = provider.open(Settings(server_url="http://127.0.0.1:9/v1", **settings), tmp_path)
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
    again = provider.open(Settings(server_url="http://127.0.0.1:9/v1", max_step=7), tmp_path)
    assert again.backend is served
    assert again.config.max_step == 7 and again.config.cite_every == 3
