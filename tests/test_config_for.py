"""What a run is configured with, by model and server: budgets, hard mode, small-model guards."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from desktop.core.state import RunConfig
from desktop.session import ModelChoice, config_for
from desktop.settings import Settings

SERVER = ModelChoice(server_url="http://127.0.0.1:8000/v1")


@dataclass
class ServedModel:
    """A model server's answers to the probe config_for asks (no network)."""

    model_id: str
    supports_grammar: bool
    supports_json_schema: bool


@pytest.mark.parametrize(
    ("grammar", "schema", "hard"),
    [(False, False, True), (True, False, False), (False, True, False), (True, True, False)],
)
def test_hard_mode_is_on_by_default_only_when_a_server_constrains_nothing(grammar, schema, hard):
    backend = ServedModel("AgentCPM-Report-8B", grammar, schema)
    config = config_for(SERVER, Settings(), backend)
    assert config.hard_mode is hard
    assert config.max_tokens == Settings().budgets.max_tokens == 2048  # a real model's budget


def test_the_hard_mode_setting_wins_for_any_server():
    backend = ServedModel("AgentCPM-Report-8B", True, True)
    assert config_for(SERVER, Settings.of(hard_mode=True), backend).hard_mode is True


def test_a_small_served_model_gets_the_small_model_guards():
    backend = ServedModel("SmolLM2-135M-Instruct", True, False)
    config = config_for(SERVER, Settings(), backend)
    small = RunConfig.for_small_model()
    assert config.cite_every == small.cite_every and config.thought_chars == small.thought_chars
    big = config_for(SERVER, Settings(), ServedModel("AgentCPM-Report-8B", True, False))
    assert big.thought_chars >= 2000 and big.cite_every == 0
