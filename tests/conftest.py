"""Suite-wide fixtures: offline environment, the embedded model loaded once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def embedded_model_path():
    from desktop.llm.models import embedded_model_path

    return embedded_model_path()


@pytest.fixture(scope="session")
def llama_backend(embedded_model_path):
    """The real llama.cpp with the bundled SmolLM2-135M (one load for the whole session)."""
    from desktop.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(embedded_model_path, n_ctx=8192)
    yield backend
    backend.close()
