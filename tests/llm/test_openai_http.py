"""The OpenAI-compatible backend against a real llama-cpp-python server, and a stub for the rest.

The real server (`python -m llama_cpp.server` with the embedded SmolLM2-135M, n_ctx 2048) covers
streaming, a grammar-constrained action, JSON-schema passthrough, a cancel mid-stream, a 404, a
context overflow and a dead server. A loopback stub covers what a real server will not do on
demand: 401, 5xx with retries, a silent server during cancel, broken streams, and what each kind
of server is sent.
"""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest

from desktop.core.cancel import CancelToken
from desktop.core.chat import BackendError, ChatBackend, ChatRequest
from desktop.llm.openai_http import (
    ContextOverflowError,
    OpenAICompatBackend,
    estimate_tokens,
    normalize_base_url,
)

# A WARP search action, as the engine constrains it: thought text, then the JSON action in tags.
SEARCH_GRAMMAR = r"""
root    ::= "<thought>" thought "</thought>\n<action>" action "</action>"
thought ::= [a-zA-Z ,.]{1,60}
action  ::= "{\"name\": \"search\", \"keywords\": [" kw (", " kw){0,2} "]}"
kw      ::= "\"" [a-z]{1,12} ( " " [a-z]{1,12} )? "\""
"""

SEARCH_PROMPT = (
    "You research the question: Why do cats purr? Decide what to search for next. "
    'Answer as <thought>...</thought> then <action>{"name": "search", "keywords": [...]}</action>.'
)


@pytest.fixture
def backend(llama_server: str):
    b = OpenAICompatBackend(llama_server, retries=1, backoff=0.05)
    yield b
    b.close()


# --- the real server ----------------------------------------------------------------------------


@pytest.mark.slow
def test_probe_sees_llama_cpp_python(backend: OpenAICompatBackend) -> None:
    as_protocol: ChatBackend = backend  # the static check is mypy's; this documents the intent
    assert as_protocol is backend
    info = backend.probe()
    assert info.kind == "llama-cpp-python"
    assert backend.supports_grammar and backend.supports_json_schema
    assert backend.model_id.endswith(".gguf")
    # The server has a tokenizer endpoint: the count is the model's own, not the estimate.
    assert backend.count_tokens("Hello world, this is a test.") == 8
    assert estimate_tokens("Hello world, this is a test.") >= 8
    # llama-cpp-python does not report its context size: the setting default holds until told.
    assert backend.context_length == 8192


@pytest.mark.slow
def test_streaming_reply(backend: OpenAICompatBackend) -> None:
    deltas: list[str] = []
    result = backend.chat(
        ChatRequest.user("Name three colours.", max_tokens=24, temperature=0.0, seed=1),
        on_delta=deltas.append,
    )
    assert len(deltas) >= 2
    assert "".join(deltas) == result.text and result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.completion_tokens == len(deltas)
    assert result.prompt_tokens > 0 and result.prefilled_tokens == result.prompt_tokens
    assert 0 < result.first_token_seconds <= result.seconds
    assert result.tokens_per_second > 0


@pytest.mark.slow
def test_grammar_constrained_action(backend: OpenAICompatBackend) -> None:
    result = backend.chat(
        ChatRequest.user(
            SEARCH_PROMPT, max_tokens=256, temperature=0.2, seed=7, grammar=SEARCH_GRAMMAR
        )
    )
    assert result.finish_reason == "stop", result.text
    match = re.fullmatch(r"<thought>(.+)</thought>\n<action>(.+)</action>", result.text, re.S)
    assert match, result.text
    action = json.loads(match.group(2))
    assert action["name"] == "search"
    assert 1 <= len(action["keywords"]) <= 3


@pytest.mark.slow
def test_json_schema_passthrough(backend: OpenAICompatBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
    }
    result = backend.chat(
        ChatRequest.user(
            "Pick a colour, answer in JSON.", max_tokens=40, temperature=0.0, json_schema=schema
        )
    )
    assert json.loads(result.text)["colour"] in ("red", "green", "blue")


@pytest.mark.slow
def test_cancel_between_chunks(backend: OpenAICompatBackend) -> None:
    cancel = CancelToken()
    deltas: list[str] = []

    def on_delta(text: str) -> None:
        deltas.append(text)
        if len(deltas) == 4:
            cancel.set()

    result = backend.chat(
        ChatRequest.user("Tell a very long story about a lighthouse keeper.", max_tokens=600),
        on_delta=on_delta,
        cancel=cancel,
    )
    assert result.finish_reason == "cancelled"
    assert len(deltas) == 4 and result.text == "".join(deltas)
    # The server noticed the dropped stream and serves the next request at once.
    after = backend.chat(ChatRequest.user("Say hi.", max_tokens=4))
    assert after.finish_reason in ("stop", "length") and after.text


@pytest.mark.slow
def test_cancel_from_another_thread_is_prompt(backend: OpenAICompatBackend) -> None:
    """Set while the stream flows: at most the delta being handled then still arrives."""
    cancel = CancelToken()
    deltas: list[str] = []
    flowing = threading.Event()
    seen_at_cancel: list[int] = []

    def on_delta(text: str) -> None:
        deltas.append(text)
        if len(deltas) == 4:
            flowing.set()

    def stop() -> None:
        if flowing.wait(60):
            cancel.set()
            seen_at_cancel.append(len(deltas))

    canceller = threading.Thread(target=stop)
    canceller.start()
    try:
        result = backend.chat(
            ChatRequest.user("Write a long essay about the sea.", max_tokens=1500),
            on_delta=on_delta,
            cancel=cancel,
        )
    finally:
        flowing.set()
        canceller.join()
    assert result.finish_reason == "cancelled"
    assert len(deltas) <= seen_at_cancel[0] + 1
    assert result.completion_tokens == len(deltas) < 1500


@pytest.mark.slow
def test_wrong_url_is_a_clear_404(llama_server: str) -> None:
    wrong = llama_server.removesuffix("/v1") + "/api/openai/v1"
    b = OpenAICompatBackend(wrong, retries=0)
    try:
        with pytest.raises(BackendError) as exc:
            b.chat(ChatRequest.user("hi", max_tokens=2))
    finally:
        b.close()
    message = str(exc.value)
    assert "404" in message and "check the URL" in message and "\n" not in message


@pytest.mark.slow
def test_context_overflow_teaches_the_real_context(backend: OpenAICompatBackend) -> None:
    with pytest.raises(ContextOverflowError) as exc:
        backend.chat(ChatRequest.user("word " * 3000, max_tokens=8))
    assert exc.value.n_ctx == 2048
    assert "context window of 2048 tokens" in str(exc.value)
    assert backend.context_length == 2048


def test_dead_server_is_a_clear_error(closed_port: int, waits) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    b = OpenAICompatBackend(url, retries=2, backoff=0.01, wait=waits)
    try:
        with pytest.raises(BackendError) as exc:
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert str(exc.value) == f"no server answers at {url}"
    assert waits.delays == [0.01, 0.02]  # the probe retried twice, then gave up


# --- the stub: kinds, errors, retries -----------------------------------------------------------


def _models(owned_by: str, **extra) -> dict:
    return {
        "object": "list",
        "data": [{"id": "m1", "object": "model", "owned_by": owned_by, **extra}],
    }


def make_server(kind: str, chat=None):
    """A handler imitating one kind of server; `chat(rec, h)` answers chat completions."""

    def handle(rec, h) -> None:
        path = rec.path
        if path == "/v1/models":
            owned = {
                "llama.cpp": "llamacpp",
                "vllm": "vllm",
                "lmstudio": "organization_owner",
                "ollama": "library",
                "openai-compatible": "someone",
            }[kind]
            extra = {"max_model_len": 32768} if kind == "vllm" else {}
            STUB.send_json(h, 200, _models(owned, **extra))
        elif path == "/props" and kind == "llama.cpp":
            STUB.send_json(h, 200, {"default_generation_settings": {"n_ctx": 4096}})
        elif path == "/api/version" and kind == "ollama":
            STUB.send_json(h, 200, {"version": "0.6.0"})
        elif path == "/api/v0/models" and kind == "lmstudio":
            STUB.send_json(h, 200, {"data": [{"id": "m1", "loaded_context_length": 16384}]})
        elif path == "/tokenize" and kind == "llama.cpp":
            STUB.send_json(h, 200, {"tokens": [1, 2, 3]})
        elif path == "/v1/chat/completions":
            (chat or default_chat)(rec, h)
        else:
            STUB.send_json(h, 404, {"error": {"message": "Not Found"}})

    return handle


class STUB:
    """The answer helpers (same as the stub fixture's), usable inside handlers."""

    @staticmethod
    def send_json(h, status: int, doc) -> None:
        body = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def send_sse(h, events: list, *, done: bool = True) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b": ping\n\n")  # a comment line, as sse-starlette sends
        for ev in events:
            h.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
            h.wfile.flush()
        if done:
            h.wfile.write(b"data: [DONE]\n\n")
        h.close_connection = True

    @staticmethod
    def chunk(content: str | None = None, finish: str | None = None, **extra) -> dict:
        delta = {"content": content} if content is not None else {}
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def default_chat(rec, h) -> None:
    STUB.send_sse(
        h,
        [
            STUB.chunk("Hel"),
            STUB.chunk("lo"),
            STUB.chunk(None, "stop"),
            {
                "choices": [],
                "usage": {"prompt_tokens": 50, "completion_tokens": 2},
                "timings": {
                    "prompt_n": 7,
                    "prompt_ms": 10.0,
                    "predicted_n": 2,
                    "predicted_ms": 20.0,
                },
            },
        ],
    )


REQUEST = ChatRequest.user(
    "hi",
    max_tokens=5,
    grammar='root ::= "a"',
    json_schema={"type": "object", "properties": {"a": {"type": "string"}}},
)


@pytest.mark.parametrize(
    ("kind", "context", "sent"),
    [
        ("llama.cpp", 4096, "grammar"),
        ("vllm", 32768, "response_format"),
        ("lmstudio", 16384, "response_format"),
        ("ollama", 8192, "response_format"),
        ("openai-compatible", 8192, None),
    ],
)
def test_each_kind_gets_what_it_accepts(stub, kind: str, context: int, sent: str | None) -> None:
    server = stub(make_server(kind))
    b = OpenAICompatBackend(server.url, retries=0)
    try:
        assert b.server_kind == kind
        assert b.context_length == context
        result = b.chat(REQUEST)
    finally:
        b.close()
    assert result.text == "Hello" and result.finish_reason == "stop"
    body = server.posts()[0].json()
    assert body["model"] == "m1" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert ("grammar" in body) == (sent == "grammar")
    assert ("response_format" in body) == (sent == "response_format")
    thinking_off = {
        "llama.cpp": {"chat_template_kwargs": {"enable_thinking": False}},
        "vllm": {"chat_template_kwargs": {"enable_thinking": False}},
        "ollama": {"reasoning_effort": "none"},
    }.get(kind, {})
    switches = {k: body[k] for k in ("chat_template_kwargs", "reasoning_effort") if k in body}
    assert switches == thinking_off
    if sent == "response_format":
        assert body["response_format"]["json_schema"]["schema"] == REQUEST.json_schema
    # usage and llama.cpp-style timings are read from the final chunk
    assert (result.prompt_tokens, result.completion_tokens, result.prefilled_tokens) == (50, 2, 7)
    assert result.model_seconds == pytest.approx(0.03)


def test_count_tokens_uses_the_llama_cpp_tokenizer(stub) -> None:
    server = stub(make_server("llama.cpp"))
    b = OpenAICompatBackend(server.url)
    try:
        assert b.count_tokens("anything at all") == 3
    finally:
        b.close()
    assert server.posts("/tokenize")[0].json() == {
        "content": "anything at all",
        "add_special": False,
    }


def test_a_generic_server_gets_the_estimate(stub) -> None:
    server = stub(make_server("openai-compatible"))
    b = OpenAICompatBackend(server.url, context_length=1000)
    try:
        assert b.count_tokens("a" * 35) == 10
        assert b.count_tokens("猫" * 5) == 5  # every non-ASCII character counts as a token
        assert b.context_length == 1000  # the setting overrides
    finally:
        b.close()


def test_401_with_a_key_is_refused_key(stub) -> None:
    server = stub(lambda rec, h: STUB.send_json(h, 401, {"error": {"message": "bad key"}}))
    b = OpenAICompatBackend(server.url, api_key="k-123")
    try:
        with pytest.raises(BackendError) as exc:
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert str(exc.value).startswith("the server refused the API key")
    assert server.requests[0].headers.get("Authorization") == "Bearer k-123"
    assert len(server.requests) == 1  # a 4xx is not retried


def test_401_without_a_key_says_one_is_needed(stub) -> None:
    server = stub(lambda rec, h: STUB.send_json(h, 401, {"detail": "Invalid API key"}))
    b = OpenAICompatBackend(server.url)
    try:
        with pytest.raises(BackendError, match="needs an API key"):
            b.probe()
    finally:
        b.close()
    assert "Authorization" not in server.requests[0].headers


def test_5xx_is_retried_with_backoff(stub, waits, caplog: pytest.LogCaptureFixture) -> None:
    failures = iter([503, 502])

    def chat(rec, h) -> None:
        status = next(failures, None)
        if status is None:
            default_chat(rec, h)
        else:
            STUB.send_json(h, status, {"error": {"message": "loading model"}})

    server = stub(make_server("vllm", chat))
    b = OpenAICompatBackend(server.url, retries=3, backoff=0.05, wait=waits)
    try:
        with caplog.at_level(logging.WARNING, logger="desktop.llm.openai_http"):
            result = b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert result.text == "Hello"
    assert len(server.posts()) == 3
    assert waits.delays == [0.05, 0.1]  # two waits, the second twice the first
    assert [r.getMessage().split(";")[1].strip() for r in caplog.records] == [
        "retry 1 of 3 in 0.1 s",
        "retry 2 of 3 in 0.1 s",
    ]


def test_retries_run_out(stub) -> None:
    server = stub(
        make_server(
            "vllm", lambda rec, h: STUB.send_json(h, 500, {"error": {"message": "CUDA OOM"}})
        )
    )
    b = OpenAICompatBackend(server.url, retries=2, backoff=0.01)
    try:
        with pytest.raises(BackendError) as exc:
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert len(server.posts()) == 3
    assert "answered 500: CUDA OOM" in str(exc.value)


def test_4xx_is_not_retried(stub) -> None:
    server = stub(
        make_server(
            "vllm", lambda rec, h: STUB.send_json(h, 400, {"error": {"message": "bad temperature"}})
        )
    )
    b = OpenAICompatBackend(server.url, retries=3, backoff=0.01)
    try:
        with pytest.raises(BackendError, match="answered 400: bad temperature"):
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert len(server.posts()) == 1


def test_missing_model_on_404(stub) -> None:
    server = stub(
        make_server(
            "vllm", lambda rec, h: STUB.send_json(h, 404, {"error": {"message": "model not found"}})
        )
    )
    b = OpenAICompatBackend(server.url, model="qwen-9000")
    try:
        with pytest.raises(BackendError) as exc:
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert str(exc.value) == f"the server at {server.url} has no model 'qwen-9000' (it has: m1)"


def test_cancel_while_the_server_is_still_silent(stub) -> None:
    asked = threading.Event()
    release = threading.Event()
    answered = threading.Event()

    def slow_chat(rec, h) -> None:  # headers at once, then nothing (a long prefill)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()
        asked.set()
        release.wait(10)
        answered.set()
        h.close_connection = True

    server = stub(make_server("llama.cpp", slow_chat))
    b = OpenAICompatBackend(server.url)
    b.probe()
    cancel = CancelToken()
    canceller = threading.Thread(target=lambda: asked.wait(10) and cancel.set())
    canceller.start()
    try:
        result = b.chat(ChatRequest.user("hi"), cancel=cancel)
        # The server has not said a word yet: the chat ended on the cancel, not on an answer.
        assert not answered.is_set()
    finally:
        release.set()
        canceller.join()
        b.close()
    assert asked.is_set() and result.finish_reason == "cancelled" and result.text == ""


def test_an_already_cancelled_token_sends_nothing(stub) -> None:
    server = stub(make_server("llama.cpp"))
    b = OpenAICompatBackend(server.url)
    cancel = CancelToken()
    cancel.set()
    try:
        assert b.chat(ChatRequest.user("hi"), cancel=cancel).finish_reason == "cancelled"
    finally:
        b.close()
    assert server.requests == []


def test_a_stream_that_breaks_off_is_an_error(stub) -> None:
    server = stub(
        make_server("llama.cpp", lambda rec, h: STUB.send_sse(h, [STUB.chunk("Hel")], done=False))
    )
    b = OpenAICompatBackend(server.url, retries=0)
    try:
        with pytest.raises(BackendError, match="closed the stream before the reply was complete"):
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()


def test_an_error_event_in_the_stream(stub) -> None:
    server = stub(
        make_server(
            "llama.cpp",
            lambda rec, h: STUB.send_sse(h, [STUB.chunk("a"), {"error": {"message": "boom"}}]),
        )
    )
    b = OpenAICompatBackend(server.url)
    try:
        with pytest.raises(BackendError, match="reported an error: boom"):
            b.chat(ChatRequest.user("hi"))
    finally:
        b.close()


def test_length_finish_and_stream_options_rejected(stub) -> None:
    def picky_chat(rec, h) -> None:
        if "stream_options" in rec.json():
            STUB.send_json(h, 400, {"error": {"message": "unknown field stream_options"}})
        else:
            STUB.send_sse(h, [STUB.chunk("abc"), STUB.chunk(None, "length")])

    server = stub(make_server("ollama", picky_chat))
    b = OpenAICompatBackend(server.url)
    try:
        first = b.chat(ChatRequest.user("hi"))
        second = b.chat(ChatRequest.user("hi"))
    finally:
        b.close()
    assert first.finish_reason == "length" and first.text == "abc"
    assert second.finish_reason == "length"
    assert ["stream_options" in p.json() for p in server.posts()] == [True, False, False]


def test_normalize_base_url() -> None:
    assert normalize_base_url("http://h:8080") == "http://h:8080/v1"
    assert normalize_base_url("http://h:8080/") == "http://h:8080/v1"
    assert normalize_base_url("http://h:8080/v1/") == "http://h:8080/v1"
    assert normalize_base_url("localhost:1234/v1") == "http://localhost:1234/v1"
    assert normalize_base_url("https://x.org/openai/v1") == "https://x.org/openai/v1"
