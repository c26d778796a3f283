"""A strict scripted backend: replays given replies, records every request, fails loudly.

Replies are either strings (returned as they are) or callables taking the request (for
replies that depend on the prompt, e.g. citing the keys it was shown). An unexpected call,
or a reply for the wrong step purpose, raises `AssertionError` in the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from desktop import crashpoints
from desktop.core.cancel import CancelToken
from desktop.core.chat import ChatRequest, ChatResult, DeltaCallback

Reply = str | Callable[[ChatRequest], str]


@dataclass(frozen=True, slots=True)
class Expect:
    """A reply that is only valid for a request of one purpose (a WARP phase)."""

    purpose: str
    reply: Reply
    finish_reason: str = "stop"


class ScriptedBackend:
    def __init__(
        self,
        replies: Iterable[Reply | Expect],
        *,
        context_length: int = 32768,
        supports_grammar: bool = True,
        supports_json_schema: bool = False,
        delay: float = 0.0,
        chunk_chars: int = 8,
    ) -> None:
        self._replies = list(replies)
        self.requests: list[ChatRequest] = []
        self._context = context_length
        self._grammar = supports_grammar
        self._json_schema = supports_json_schema
        self.delay = delay
        self.chunk_chars = chunk_chars
        self.on_request: Callable[[ChatRequest], None] | None = None
        # Called with the number of chunks this call has streamed so far, before each cancel
        # check: a test can hold the stream at a chosen chunk until it has acted.
        self.on_chunk: Callable[[int, CancelToken | None], None] | None = None

    @property
    def model_id(self) -> str:
        return "scripted"

    @property
    def context_length(self) -> int:
        return self._context

    @property
    def supports_grammar(self) -> bool:
        return self._grammar

    @property
    def supports_json_schema(self) -> bool:
        return self._json_schema

    @property
    def remaining(self) -> int:
        return len(self._replies)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def chat(
        self,
        request: ChatRequest,
        on_delta: DeltaCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ChatResult:
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        if not self._replies:
            raise AssertionError(
                f"unexpected call #{len(self.requests)} ({request.purpose}): script exhausted"
            )
        item = self._replies.pop(0)
        finish = "stop"
        if isinstance(item, Expect):
            if item.purpose != request.purpose:
                raise AssertionError(
                    f"call #{len(self.requests)} expected {item.purpose}, got {request.purpose}"
                )
            finish, item = item.finish_reason, item.reply
        text = item(request) if callable(item) else item
        started = time.perf_counter()
        # Named by purpose ("llm.prefill.write", "llm.stream.search"): a crash plan can aim at
        # one kind of reply, and a prefix ("llm.stream") still matches them all.
        crashpoints.reached(f"llm.prefill.{request.purpose}")
        sent: list[str] = []
        for start in range(0, len(text), self.chunk_chars):
            crashpoints.reached(f"llm.stream.{request.purpose}")
            if self.on_chunk is not None:
                self.on_chunk(len(sent), cancel)
            if cancel is not None and cancel.is_set:
                return self._result("".join(sent), "cancelled", request, started)
            piece = text[start : start + self.chunk_chars]
            sent.append(piece)
            if on_delta is not None:
                on_delta(piece)
            if self.delay:
                time.sleep(self.delay)
        return self._result(text, finish, request, started)

    def _result(self, text: str, finish: str, request: ChatRequest, started: float) -> ChatResult:
        prompt_tokens = self.count_tokens(request.prompt_text)
        seconds = time.perf_counter() - started
        return ChatResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=self.count_tokens(text),
            prefilled_tokens=prompt_tokens,
            seconds=seconds,
            model_seconds=seconds,
        )

    def close(self) -> None:
        pass
