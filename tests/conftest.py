"""Suite-wide fixtures: offline environment, the embedded model loaded once per session."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def network_offline_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts and ends in the default offline mode with an empty network log."""
    from desktop import network

    monkeypatch.delenv(network.OFFLINE_ENV, raising=False)
    network.configure(offline=True)
    network.clear_log()
    yield
    network.configure(offline=True)
    network.clear_log()


@pytest.fixture
def fake_web():
    """A loopback fake search endpoint and web pages (tests/knowledge/test_web.py)."""
    from tests.knowledge.test_web import FakeWeb

    web = FakeWeb()
    yield web
    web.close()


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every connection attempt and name lookup fails (loopback included) and is recorded."""
    attempts: list = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("test guard: no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def pytest_unconfigure(config: pytest.Config) -> None:
    """llama-cpp-python opens /dev/null twice at import and never closes it; close it here so
    the interpreter's exit does not print a ResourceWarning after the test summary."""
    import sys

    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None:
            handle.close()
