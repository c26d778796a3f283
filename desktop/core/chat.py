"""The ChatBackend protocol and the immutable request/result values that cross it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from desktop.core.cancel import CancelToken


class BackendError(Exception):
    """A backend could not answer; the message is one clear line for the user."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One stateless call: a conversation plus sampling limits and an optional GBNF grammar."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int = 1024
    temperature: float = 0.7
    top_p: float = 0.8
    repeat_penalty: float = 1.0  # >1 discourages loops (small models need it)
    seed: int | None = None
    grammar: str | None = None
    json_schema: dict | None = field(default=None, compare=False)
    stop: tuple[str, ...] = ()
    purpose: str = ""  # e.g. the WARP state; used in logs and by the scripted fake

    @staticmethod
    def user(content: str, **kwargs) -> ChatRequest:
        return ChatRequest(messages=(ChatMessage("user", content),), **kwargs)

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.content for m in self.messages)

    def cache_key(self, model_id: str) -> str:
        """Hash everything that determines the reply (used by the run journal's LLM cache)."""
        payload = asdict(self)
        payload.pop("purpose")
        payload["model"] = model_id
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChatResult:
    """What came back, with the timing figures the status bar and benchmarks show."""

    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefilled_tokens: int = 0  # prompt tokens actually evaluated (the rest came from cache)
    seconds: float = 0.0
    first_token_seconds: float = 0.0
    model_seconds: float = 0.0  # time spent inside the model library itself
    drafted_tokens: int = 0  # prompt-lookup speculation: tokens proposed and verified
    accepted_tokens: int = 0  # of those, kept (the sampler chose the same token)

    @property
    def tokens_per_second(self) -> float:
        gen = self.seconds - self.first_token_seconds
        return self.completion_tokens / gen if gen > 0 else 0.0


DeltaCallback = Callable[[str], None]


class ChatBackend(Protocol):
    """A model that answers one request at a time; owned by one thread."""

    @property
    def model_id(self) -> str: ...

    @property
    def context_length(self) -> int: ...

    @property
    def supports_grammar(self) -> bool: ...

    @property
    def supports_json_schema(self) -> bool:
        """Whether the backend constrains a reply to a JSON schema (servers without GBNF)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def chat(
        self,
        request: ChatRequest,
        on_delta: DeltaCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ChatResult: ...

    def close(self) -> None: ...
