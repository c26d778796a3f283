"""The OpenAI-compatible backend goes through the network gate (desktop.network).

A server on loopback is allowed in offline mode and every request to it is in the network log
(purpose "model server"); a server beyond loopback is refused in offline mode with one clear
line before any socket is opened, and is not retried; offline mode switched on between two
requests stops the next one at once.
"""

from __future__ import annotations

import pytest

from desktop import network
from desktop.core.chat import BackendError, ChatRequest
from desktop.llm.openai_http import MODEL_SERVER, OpenAICompatBackend, ServerOfflineError
from tests.llm.test_openai_http import make_server


class ListSink:
    def __init__(self) -> None:
        self.entries: list[network.NetworkEntry] = []

    def record_network(self, entry: network.NetworkEntry) -> None:
        self.entries.append(entry)


def test_a_loopback_server_works_offline_and_every_request_is_logged(stub) -> None:
    server = stub(make_server("llama.cpp"))
    assert network.is_offline()
    sink = ListSink()
    backend = OpenAICompatBackend(server.url, retries=0)
    try:
        with network.recording_to(sink):
            assert backend.count_tokens("three tokens here") == 3
            result = backend.chat(ChatRequest.user("hi"))
    finally:
        backend.close()
    assert result.text == "Hello"
    # one log entry per request the server saw: GET /v1/models, GET /props, POST /tokenize,
    # POST /v1/chat/completions
    assert len(server.requests) == 4
    assert len(sink.entries) == len(server.requests)
    assert [(e.host, e.purpose, e.outcome) for e in sink.entries] == [
        ("127.0.0.1", MODEL_SERVER, "ok")
    ] * 4
    assert [e.method for e in sink.entries] == ["GET", "GET", "POST", "POST"]
    assert all(e.status == 200 and e.bytes_received > 0 for e in sink.entries)
    chat = sink.entries[-1]
    assert chat.bytes_sent == len(server.posts()[0].body)  # the request body, counted
    assert network.recent_entries() == sink.entries  # the in-memory log (the GUI's) has them too


def test_localhost_by_name_is_loopback_too(stub) -> None:
    server = stub(make_server("vllm"))
    url = server.url.replace("127.0.0.1", "localhost")
    backend = OpenAICompatBackend(url, retries=0)
    try:
        assert backend.server_kind == "vllm"
    finally:
        backend.close()
    assert [e.host for e in network.recent_entries()] == ["localhost"]


def test_a_remote_server_is_refused_offline_before_any_socket(no_sockets: list, waits) -> None:
    url = "http://models.example.org:8080/v1"
    backend = OpenAICompatBackend(url, retries=3, backoff=5.0, wait=waits)
    try:
        with pytest.raises(ServerOfflineError) as probe_error:
            backend.probe()
        with pytest.raises(BackendError) as chat_error:
            backend.chat(ChatRequest.user("hi"))
    finally:
        backend.close()
    assert waits.delays == []  # refused at once: no retries, no backoff
    message = str(probe_error.value)
    assert message.startswith("offline mode is on: the model server would contact models.example")
    assert "\n" not in message and str(chat_error.value) == message
    assert no_sockets == []  # not even a DNS lookup
    entries = network.recent_entries()
    assert [(e.host, e.purpose, e.outcome) for e in entries] == [
        ("models.example.org", MODEL_SERVER, "refused")
    ] * 2


def test_offline_switched_on_mid_run_stops_the_next_request(stub, monkeypatch, waits) -> None:
    """A server that is allowed at first (here: loopback, then treated as remote) and refused
    later: the streaming chat fails with the gate's line, without retries."""
    server = stub(make_server("llama.cpp"))
    backend = OpenAICompatBackend(server.url, retries=3, backoff=5.0, wait=waits)
    try:
        backend.probe()
        seen = len(server.requests)
        monkeypatch.setattr(network, "is_loopback", lambda host: False)
        with pytest.raises(ServerOfflineError, match="offline mode is on: the model server"):
            backend.chat(ChatRequest.user("hi"))
        assert waits.delays == []
    finally:
        backend.close()
    assert len(server.requests) == seen  # the chat request never reached the server
    assert network.recent_entries(1)[0].outcome == "refused"


def test_online_mode_lets_a_server_beyond_loopback_through_the_gate(
    monkeypatch, no_sockets: list
) -> None:
    """Online, the gate passes the request on (the test's socket guard then stops it)."""
    network.configure(offline=False)
    backend = OpenAICompatBackend("http://models.example.org:8080/v1", retries=0)
    try:
        with pytest.raises(BackendError) as exc:
            backend.probe()
    finally:
        backend.close()
    assert not isinstance(exc.value, ServerOfflineError)
    assert no_sockets  # the request really tried to go out
    entry = network.recent_entries(1)[0]
    assert (entry.host, entry.purpose, entry.outcome) == (
        "models.example.org",
        MODEL_SERVER,
        "error",
    )
