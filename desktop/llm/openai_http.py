"""A ChatBackend for any OpenAI-compatible server: llama.cpp's server, llama-cpp-python, vLLM, Ollama, LM Studio.

Streaming is SSE (``stream: true``; ``data:`` events until ``data: [DONE]``). The response is read
on a helper thread while the calling thread waits on a queue and checks the cancel token every
50 ms, so a stop takes effect at once even while the server is still prefilling a long prompt; on
cancel the socket is shut down, which makes the server see the disconnect and stop generating.

Server kind detection (one probe, cached, at the first call that needs it):

1. ``GET {base}/models`` (base ends in ``/v1``). Its answer already tells most servers apart by
   ``owned_by``: ``vllm`` → vLLM (``max_model_len`` is the context), ``organization_owner`` →
   LM Studio, ``me`` with a ``permissions`` list → llama-cpp-python's server, ``llamacpp`` →
   llama.cpp's server. A 401, a 404 or a refused connection here fails fast with one clear line.
2. Otherwise ``GET {root}/props``: a JSON object with ``default_generation_settings`` → llama.cpp's
   own server (``n_ctx`` comes from there).
3. Otherwise ``GET {root}/api/version``: a JSON object with ``version`` → Ollama.
4. Otherwise a generic OpenAI-compatible server.

What each kind gets: llama.cpp and llama-cpp-python take a GBNF ``grammar`` (top-level field);
vLLM, Ollama and LM Studio take ``response_format`` with a JSON schema; a generic server gets
neither, and the engine parses, validates and retries. Token counts come from the server's
tokenizer where it has one (llama.cpp ``/tokenize``, llama-cpp-python ``/extras/tokenize/count``,
vLLM ``/tokenize``), else a conservative estimate. The context length comes from ``/props``
(llama.cpp), ``max_model_len`` (vLLM) or ``/api/v0/models`` (LM Studio), else the constructor's
``context_length`` (a setting, default 8192); a "context exceeded" error from the server also
teaches the backend the real size (see `ContextOverflowError`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from desktop import network
from desktop.core.cancel import CancelToken
from desktop.core.chat import BackendError, ChatRequest, ChatResult, DeltaCallback

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_LENGTH = 8192
DEFAULT_TIMEOUT = 300.0  # seconds the server may stay silent (a long prefill on a slow machine)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  # first retry delay; doubles each time
MODEL_SERVER = "model server"  # the purpose of every request in the network log

LLAMA_CPP = "llama.cpp"
LLAMA_CPP_PYTHON = "llama-cpp-python"
VLLM = "vllm"
OLLAMA = "ollama"
LM_STUDIO = "lmstudio"
GENERIC = "openai-compatible"

_GRAMMAR_KINDS = frozenset({LLAMA_CPP, LLAMA_CPP_PYTHON})
_JSON_SCHEMA_KINDS = frozenset({LLAMA_CPP, LLAMA_CPP_PYTHON, VLLM, OLLAMA, LM_STUDIO})
_TEMPLATE_KWARGS_KINDS = frozenset({LLAMA_CPP, VLLM})  # servers that take chat_template_kwargs
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_POLL_SECONDS = 0.05
_PROBE_TIMEOUT = 10.0
# Chars per token for the estimate: English runs near 4, so 3.5 over-counts a little on purpose.
_CHARS_PER_TOKEN = 3.5
# Tokens a chat template adds per message (ChatML: <|im_start|>role\n … <|im_end|>\n), used only
# when the server does not report usage.
_TEMPLATE_TOKENS = 4
_CONTEXT_PATTERNS = (
    re.compile(r"maximum context length is (\d+)"),  # vLLM, llama-cpp-python
    re.compile(r"context window of (\d+)"),  # llama-cpp-python (completions)
    re.compile(r'"n_ctx"\s*:\s*(\d+)'),  # llama.cpp server
    re.compile(r"context size[^\d]{0,20}(\d+)"),
)


class ServerOfflineError(BackendError):
    """Offline mode refused a request to a server that is not on this machine (one line)."""


class ContextOverflowError(BackendError):
    """The prompt plus max_tokens did not fit the server's context; `n_ctx` is what it said, if it did."""

    def __init__(self, message: str, n_ctx: int | None) -> None:
        super().__init__(message)
        self.n_ctx = n_ctx


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the probe learnt about the server."""

    kind: str
    api_base: str
    model_ids: tuple[str, ...]
    context_length: int | None  # as reported by the server; None when it does not say
    supports_grammar: bool
    supports_json_schema: bool
    tokenizer: str | None  # which tokenize endpoint works: a kind name, or None (estimate)


@dataclass(slots=True)
class _Reply:
    """The pieces of one streamed reply as they arrive."""

    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    chunks: int = 0
    first_token_at: float | None = None
    done: bool = False  # the server sent [DONE]
    cancelled: bool = False  # the caller's cancel token ended the stream

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Retryable(Exception):
    """An attempt failed in a way worth repeating (connection refused, 5xx); `final` says what to tell."""

    def __init__(self, final: BackendError) -> None:
        super().__init__(str(final))
        self.final = final


def normalize_base_url(url: str) -> str:
    """The API base ending in /v1: ``http://host:8080`` and ``…/v1/`` both become ``…/v1``."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def estimate_tokens(text: str) -> int:
    """A deliberately high token count: ASCII at 3.5 chars a token, every other char a token."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    other = len(text) - ascii_chars
    return math.ceil(ascii_chars / _CHARS_PER_TOKEN) + other


class OpenAICompatBackend:
    """Chat through an OpenAI-compatible HTTP server; owned by one thread like every backend."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        context_length: int | None = None,
        default_context_length: int = DEFAULT_CONTEXT_LENGTH,
        connect_timeout: float = 10.0,
        wait: Callable[[float, CancelToken | None], bool] | None = None,
    ) -> None:
        """`wait(seconds, cancel)` sleeps between retries and says whether `cancel` was set
        meanwhile (tests pass one that records the delays instead of sleeping)."""
        import httpx  # lazily: the GUI imports this module before any server is used

        self._api_base = normalize_base_url(base_url)
        self._root = (
            self._api_base[: -len("/v1")] if self._api_base.endswith("/v1") else self._api_base
        )
        self._model = model
        self._api_key = api_key
        self._timeout = timeout
        self._retries = max(0, retries)
        self._backoff = backoff
        self._wait = wait or _wait
        self._context_override = context_length
        self._default_context = default_context_length
        self._learnt_context: int | None = None
        self._info: ServerInfo | None = None
        self._tokenizer_failed = False
        self._send_stream_options = True
        self._lock = threading.Lock()
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Every request (redirects included) goes through the network gate: offline mode
        # refuses a server beyond loopback before a socket is opened, and each request is in
        # the network log. No environment proxies: a proxy mount would bypass the gate.
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            follow_redirects=True,
            transport=_ServerTransport(MODEL_SERVER),
            trust_env=False,
        )

    # --- ChatBackend properties -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._api_base

    @property
    def model_id(self) -> str:
        if self._model:
            return self._model
        info = self.probe()
        return info.model_ids[0] if info.model_ids else "default"

    @property
    def context_length(self) -> int:
        if self._context_override:
            return self._context_override
        if self._learnt_context:
            return self._learnt_context
        return self.probe().context_length or self._default_context

    @property
    def supports_grammar(self) -> bool:
        return self.probe().supports_grammar

    @property
    def supports_json_schema(self) -> bool:
        return self.probe().supports_json_schema

    @property
    def server_kind(self) -> str:
        return self.probe().kind

    def close(self) -> None:
        self._client.close()

    # --- probe ------------------------------------------------------------------------------------

    def probe(self) -> ServerInfo:
        """Ask the server what it is (once; cached). Raises BackendError if it cannot be reached."""
        with self._lock:
            if self._info is None:
                self._info = self._probe()
                log.info(
                    "server %s is %s (models %s, context %s, grammar %s, json schema %s)",
                    self._api_base,
                    self._info.kind,
                    ", ".join(self._info.model_ids) or "none listed",
                    self._info.context_length or "unknown",
                    self._info.supports_grammar,
                    self._info.supports_json_schema,
                )
            return self._info

    def _probe(self) -> ServerInfo:
        resp = self._with_retries(lambda: self._get(f"{self._api_base}/models", _PROBE_TIMEOUT))
        if resp.status_code != 200:
            raise self._status_error(resp.status_code, _body_text(resp), what="the model list")
        models = _json_list(_safe_json(resp), "data")
        ids = tuple(str(m["id"]) for m in models if isinstance(m, dict) and "id" in m)
        owned = {str(m.get("owned_by", "")) for m in models if isinstance(m, dict)}
        context: int | None = None
        kind = GENERIC
        if VLLM in owned:
            kind = VLLM
            context = _model_int(models, self._model, "max_model_len")
        elif "organization_owner" in owned:
            kind = LM_STUDIO
            context = self._lmstudio_context()
        elif "me" in owned and all("permissions" in m for m in models if isinstance(m, dict)):
            kind = LLAMA_CPP_PYTHON
        else:
            props = self._optional_json(f"{self._root}/props")
            if isinstance(props, dict) and (
                "default_generation_settings" in props or "llamacpp" in owned
            ):
                kind = LLAMA_CPP
                settings = props.get("default_generation_settings")
                context = _as_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
                context = context or _as_int(props.get("n_ctx"))
            elif "llamacpp" in owned:
                kind = LLAMA_CPP
            else:
                version = self._optional_json(f"{self._root}/api/version")
                if isinstance(version, dict) and "version" in version:
                    kind = OLLAMA
        tokenizer = kind if kind in (LLAMA_CPP, LLAMA_CPP_PYTHON, VLLM) else None
        return ServerInfo(
            kind=kind,
            api_base=self._api_base,
            model_ids=ids,
            context_length=context,
            supports_grammar=kind in _GRAMMAR_KINDS,
            supports_json_schema=kind in _JSON_SCHEMA_KINDS,
            tokenizer=tokenizer,
        )

    def _lmstudio_context(self) -> int | None:
        doc = self._optional_json(f"{self._root}/api/v0/models")
        models = _json_list(doc, "data")
        return _model_int(models, self._model, "loaded_context_length") or _model_int(
            models, self._model, "max_context_length"
        )

    def _optional_json(self, url: str) -> Any:
        """GET a probe URL that may not exist; any failure is None."""
        import httpx

        try:
            resp = self._get(url, _PROBE_TIMEOUT)
        except httpx.HTTPError as exc:
            log.debug("probe %s failed: %s", url, exc)
            return None
        return _safe_json(resp) if resp.status_code == 200 else None

    def _get(self, url: str, timeout: float) -> httpx.Response:
        return self._client.get(url, timeout=min(timeout, self._timeout))

    # --- tokens -------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """The server's own count when it has a tokenizer endpoint, else a conservative estimate."""
        if not text:
            return 0
        info = self.probe()
        if info.tokenizer is None or self._tokenizer_failed:
            return estimate_tokens(text)
        import httpx

        try:
            if info.tokenizer == LLAMA_CPP:
                resp = self._client.post(
                    f"{self._root}/tokenize", json={"content": text, "add_special": False}
                )
                count = len(resp.json()["tokens"]) if resp.status_code == 200 else None
            elif info.tokenizer == LLAMA_CPP_PYTHON:
                resp = self._client.post(
                    f"{self._root}/extras/tokenize/count",
                    json={"input": text, "model": self.model_id},
                )
                count = int(resp.json()["count"]) if resp.status_code == 200 else None
            else:  # vLLM
                resp = self._client.post(
                    f"{self._root}/tokenize",
                    json={"model": self.model_id, "prompt": text, "add_special_tokens": False},
                )
                count = int(resp.json()["count"]) if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("the server's tokenizer failed (%s); estimating token counts instead", exc)
            count = None
        if count is None:
            self._tokenizer_failed = True
            return estimate_tokens(text)
        return count

    # --- chat -----------------------------------------------------------------------------------

    def chat(
        self,
        request: ChatRequest,
        on_delta: DeltaCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ChatResult:
        """Stream one reply; a set cancel token ends it at once with finish_reason "cancelled"."""
        start = time.perf_counter()
        if cancel is not None and cancel.is_set:
            return ChatResult(text="", finish_reason="cancelled")
        info = self.probe()
        payload = self._payload(request, info)
        attempt = 0
        while True:
            try:
                reply = self._stream_once(payload, on_delta, cancel, start)
                break
            except _Retryable as exc:
                if attempt >= self._retries:
                    raise exc.final from None
                delay = self._backoff * 2**attempt
                attempt += 1
                log.warning(
                    "%s; retry %d of %d in %.1f s", exc.final, attempt, self._retries, delay
                )
                if self._wait(delay, cancel):
                    return ChatResult(
                        text="", finish_reason="cancelled", seconds=time.perf_counter() - start
                    )
            except _EmptyStream:
                raise self._diagnose(payload) from None
            except _StreamOptionsRejected:
                self._send_stream_options = False
                payload.pop("stream_options", None)
                log.info("the server rejects stream_options; asking without it")
        return self._result(request, reply, start)

    def _diagnose(self, payload: dict[str, Any]) -> BackendError:
        """Ask again without streaming (one token) to learn why a stream ended before any content.

        llama-cpp-python's server answers 200 and then drops the stream when the prompt does not
        fit its context; the same request without streaming gets the real 400 message.
        """
        import httpx

        quiet = {k: v for k, v in payload.items() if k != "stream_options"}
        quiet.update(stream=False, max_tokens=1)
        broken = BackendError(f"the server at {self._api_base} ended the reply without any text")
        for _ in range(2):  # the first try may get the pooled connection the server just dropped
            try:
                resp = self._client.post(f"{self._api_base}/chat/completions", json=quiet)
                break
            except httpx.HTTPError as exc:
                log.debug("diagnostic request failed: %s", exc)
        else:
            return broken
        if resp.status_code != 200:
            return self._status_error(resp.status_code, _body_text(resp), what="the chat request")
        return broken

    def _payload(self, request: ChatRequest, info: ServerInfo) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
        }
        if self._send_stream_options:
            payload["stream_options"] = {"include_usage": True}
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.repeat_penalty != 1.0 and info.supports_grammar:
            payload["repeat_penalty"] = request.repeat_penalty  # llama.cpp servers only
        if request.stop:
            payload["stop"] = list(request.stop)
        payload.update(_thinking_off(info.kind))
        if request.grammar and info.supports_grammar:
            payload["grammar"] = request.grammar
        elif request.json_schema is not None and info.supports_json_schema:
            payload["response_format"] = _response_format(info.kind, request.json_schema)
        elif request.grammar or request.json_schema is not None:
            log.debug(
                "%s server: no constrained decoding; the reply is validated instead", info.kind
            )
        return payload

    def _stream_once(
        self,
        payload: dict[str, Any],
        on_delta: DeltaCallback | None,
        cancel: CancelToken | None,
        start: float,
    ) -> _Reply:
        import httpx

        url = f"{self._api_base}/chat/completions"
        reader = _StreamReader(self._client, url, payload)
        reply = _Reply()
        event: list[str] = []
        opened = False
        reader.start()
        try:
            while True:
                if cancel is not None and cancel.is_set:
                    reply.cancelled = reply.finish_reason is None
                    return reply
                try:
                    item = reader.items.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                tag = item[0]
                if tag == "status":
                    status, body = item[1], item[2]
                    if (
                        status in (400, 422)
                        and "stream_options" in body
                        and "stream_options" in payload
                    ):
                        raise _StreamOptionsRejected()
                    error = self._status_error(status, body, what="the chat request")
                    if status in _RETRY_STATUS:
                        raise _Retryable(error)
                    raise error
                if tag == "open":
                    opened = True
                elif tag == "line":
                    line: str = item[1]
                    if line:
                        event.append(line)
                        continue
                    self._dispatch(event, reply, on_delta, start)
                    event = []
                    if reply.done:
                        return reply
                elif tag == "end":
                    self._dispatch(event, reply, on_delta, start)
                    if reply.finish_reason is None and not reply.done and not reply.chunks:
                        raise _EmptyStream()
                    if reply.finish_reason is None and not reply.done:
                        raise BackendError(
                            f"the server at {self._api_base} closed the stream before the reply was complete"
                        )
                    return reply
                elif tag == "error":
                    exc: Exception = item[1]
                    if isinstance(exc, BackendError):  # offline mode refused the request
                        raise exc
                    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                        raise _Retryable(BackendError(f"no server answers at {self._api_base}"))
                    if isinstance(exc, httpx.TimeoutException):
                        raise BackendError(
                            f"the server at {self._api_base} sent nothing for {self._timeout:.0f} s"
                        ) from exc
                    if not opened or not reply.chunks:
                        raise _Retryable(
                            BackendError(
                                f"the server at {self._api_base} dropped the connection ({exc})"
                            )
                        )
                    raise BackendError(
                        f"the connection to {self._api_base} broke in the middle of a reply ({exc})"
                    ) from exc
        finally:
            reader.stop()

    def _dispatch(
        self, lines: list[str], reply: _Reply, on_delta: DeltaCallback | None, start: float
    ) -> None:
        """Handle one SSE event (its data lines joined); comments and other fields are skipped."""
        data = "\n".join(
            line[5:].removeprefix(" ") for line in lines if line.startswith("data:")
        ).strip()
        if not data:
            return
        if data == "[DONE]":
            reply.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            log.warning("skipping a malformed stream event: %.200s", data)
            return
        if not isinstance(chunk, dict):
            return
        if "error" in chunk:
            raise self._error_from_body(json.dumps(chunk), status=None)
        if isinstance(chunk.get("usage"), dict):
            reply.usage = chunk["usage"]
        if isinstance(chunk.get("timings"), dict):
            reply.timings = chunk["timings"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                reply.chunks += 1
                if reply.first_token_at is None:
                    reply.first_token_at = time.perf_counter() - start
                reply.parts.append(content)
                if on_delta is not None:
                    on_delta(content)
            if choice.get("finish_reason"):
                reply.finish_reason = str(choice["finish_reason"])

    def _result(self, request: ChatRequest, reply: _Reply, start: float) -> ChatResult:
        seconds = time.perf_counter() - start
        usage = reply.usage or {}
        timings = reply.timings or {}
        prompt_tokens = _as_int(usage.get("prompt_tokens")) or _as_int(timings.get("prompt_n"))
        if not prompt_tokens:
            # After a cancel the server may still be busy with the dropped request: no round trip.
            text = request.prompt_text
            counted = estimate_tokens(text) if reply.cancelled else self.count_tokens(text)
            # The chat template's role markers are not in the text: add a typical ChatML share.
            prompt_tokens = counted + _TEMPLATE_TOKENS * (len(request.messages) + 1)
        completion_tokens = _as_int(usage.get("completion_tokens")) or _as_int(
            timings.get("predicted_n")
        )
        if not completion_tokens:
            completion_tokens = reply.chunks  # these servers send one token per chunk
        prefilled = _as_int(timings.get("prompt_n"))
        prefilled = prompt_tokens if prefilled is None else prefilled
        model_ms = (_as_float(timings.get("prompt_ms")) or 0.0) + (
            _as_float(timings.get("predicted_ms")) or 0.0
        )
        if reply.cancelled:
            finish = "cancelled"
        elif reply.finish_reason == "length":
            finish = "length"
        else:
            finish = "stop"
        text = reply.text
        if (
            request.json_schema is not None
            and not request.grammar
            and self.probe().supports_json_schema
        ):
            text = tagged_reply(text)
        return ChatResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            prefilled_tokens=prefilled,
            seconds=seconds,
            first_token_seconds=reply.first_token_at
            if reply.first_token_at is not None
            else seconds,
            model_seconds=model_ms / 1000.0,
        )

    # --- errors and retries ---------------------------------------------------------------------

    def _with_retries(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        """Run a plain request, retrying refused connections and 5xx with exponential backoff."""
        import httpx

        attempt = 0
        while True:
            try:
                resp = call()
                if resp.status_code not in _RETRY_STATUS:
                    return resp
                failure: BackendError = self._status_error(
                    resp.status_code, _body_text(resp), what=""
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                failure = BackendError(f"no server answers at {self._api_base}")
            except httpx.TimeoutException as exc:
                raise BackendError(
                    f"the server at {self._api_base} did not answer in time"
                ) from exc
            except httpx.HTTPError as exc:
                failure = BackendError(f"the server at {self._api_base} failed: {exc}")
            if attempt >= self._retries:
                raise failure
            delay = self._backoff * 2**attempt
            attempt += 1
            log.warning("%s; retry %d of %d in %.1f s", failure, attempt, self._retries, delay)
            self._wait(delay, None)

    def _status_error(self, status: int, body: str, *, what: str) -> BackendError:
        if status == 401 or status == 403:
            if self._api_key:
                return BackendError(
                    f"the server refused the API key ({status} from {self._api_base})"
                )
            return BackendError(
                f"the server at {self._api_base} needs an API key (got {status}); "
                "give one with --api-key-env VAR or in the settings"
            )
        if status == 404:
            if (
                self._model
                and self._info is not None
                and self._info.model_ids
                and self._model not in self._info.model_ids
            ):
                return BackendError(
                    f"the server at {self._api_base} has no model {self._model!r} "
                    f"(it has: {', '.join(self._info.model_ids)})"
                )
            if _mentions_model(body):
                name = self._model or "(default)"
                return BackendError(f"the server at {self._api_base} has no model {name!r}")
            return BackendError(
                f"no OpenAI-compatible API at {self._api_base} ({what or 'request'} got 404): "
                "check the URL (it usually ends in /v1)"
            )
        return self._error_from_body(body, status=status)

    def _error_from_body(self, body: str, *, status: int | None) -> BackendError:
        message = _error_message(body)
        lowered = message.lower()
        if "context" in lowered and any(
            w in lowered for w in ("exceed", "maximum", "too long", "size")
        ):
            n_ctx = _context_from_message(body)
            if n_ctx:
                self._learnt_context = n_ctx
            size = f" of {n_ctx} tokens" if n_ctx else ""
            return ContextOverflowError(
                f"the prompt does not fit the server's context window{size}", n_ctx
            )
        where = f"the server at {self._api_base}"
        if status is None:
            return BackendError(f"{where} reported an error: {message}")
        return BackendError(f"{where} answered {status}: {message}")


class _ServerTransport(network.GuardedTransport):
    """The network gate for the model server: a refusal is a `ServerOfflineError`.

    A BackendError (not an httpx error) is never retried, and a run that meets it fails with
    the gate's one-line message instead of crashing.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except network.OfflineError as exc:
            raise ServerOfflineError(str(exc)) from None


class _EmptyStream(Exception):
    """The stream ended without a single token or finish reason."""


class _StreamOptionsRejected(Exception):
    """The server refused the optional stream_options field; ask again without it."""


class _StreamReader:
    """Reads one streaming POST on a daemon thread and hands out ("tag", …) items through a queue.

    Items: ("status", code, body) for a non-200 answer, ("open",), ("line", text) per line,
    ("end",) at the end of the body, ("error", exception). `stop` shuts the socket down, which
    wakes a blocked read at once, and closes the response.
    """

    def __init__(self, client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
        self.items: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._client = client
        self._url = url
        self._payload = payload
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="draftwell-sse", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the other side
                sock.shutdown(socket.SHUT_RDWR)
        # Usually instant; if the request is still connecting, the daemon thread ends on its own.
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        try:
            with self._client.stream(
                "POST", self._url, json=self._payload, headers={"Accept": "text/event-stream"}
            ) as resp:
                if resp.status_code != 200:
                    resp.read()
                    self.items.put(("status", resp.status_code, _body_text(resp)))
                    return
                stream = resp.extensions.get("network_stream")
                if stream is not None:
                    self._sock = stream.get_extra_info("socket")
                if self._stopping.is_set():
                    return
                self.items.put(("open",))
                for line in resp.iter_lines():
                    if self._stopping.is_set():
                        return
                    self.items.put(("line", line))
            self.items.put(("end",))
        except Exception as exc:  # handed to the caller; after stop() it is our own shutdown
            if not self._stopping.is_set():
                self.items.put(("error", exc))


# --- helpers ------------------------------------------------------------------------------------


def tagged_reply(text: str) -> str:
    """A schema-constrained reply `{"thought": …, "action": {…}}` in the tagged form the
    engine parses (`<thought>…</thought><action>{…}</action>`); anything else unchanged."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    if not isinstance(data, dict) or not isinstance(data.get("action"), dict):
        return text
    thought = str(data.get("thought", ""))
    action = json.dumps(data["action"], ensure_ascii=False)
    return f"<thought>{thought}</thought>\n<action>{action}</action>"


def _thinking_off(kind: str) -> dict[str, Any]:
    """What turns a hybrid reasoning model's thinking off on this kind of server: the chat
    template's switch where the server passes template arguments (llama.cpp, vLLM), Ollama's
    `reasoning_effort: "none"` (its OpenAI endpoint's only switch). LM Studio, llama-cpp-python's
    server and unknown servers take no such field; a `<think>` block they return is removed
    before the reply is read (actions.strip_think)."""
    if kind in _TEMPLATE_KWARGS_KINDS:
        return {"chat_template_kwargs": {"enable_thinking": False}}
    if kind == OLLAMA:
        return {"reasoning_effort": "none"}
    return {}


def _response_format(kind: str, schema: dict) -> dict[str, Any]:
    if kind == LLAMA_CPP_PYTHON:
        return {"type": "json_object", "schema": schema}
    return {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": schema, "strict": True},
    }


def _wait(seconds: float, cancel: CancelToken | None) -> bool:
    """Sleep `seconds`, ending early if `cancel` is set; True if it was."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


def _body_text(resp: httpx.Response) -> str:
    try:
        return resp.text
    except Exception:  # a body that is not text, or a stream that was already closed
        return ""


def _safe_json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _json_list(doc: Any, key: str) -> list[Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, list) else []


def _model_int(models: list[Any], model: str | None, key: str) -> int | None:
    """`key` of the named model, else of the first model that has it."""
    entries = [m for m in models if isinstance(m, dict)]
    if model:
        entries = [m for m in entries if m.get("id") == model] or entries
    for m in entries:
        value = _as_int(m.get(key))
        if value:
            return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _error_message(body: str) -> str:
    """The human part of an error body (OpenAI, FastAPI and llama.cpp shapes), on one line."""
    text = body.strip()
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    message: Any = None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        message = message or doc.get("detail") or doc.get("message")
    if not isinstance(message, str):
        message = json.dumps(message) if message is not None else text
    one_line = " ".join(message.split())
    return (one_line[:300] + "…") if len(one_line) > 300 else (one_line or "no details")


def _context_from_message(body: str) -> int | None:
    for pattern in _CONTEXT_PATTERNS:
        match = pattern.search(body)
        if match:
            return int(match.group(1))
    return None


def _mentions_model(body: str) -> bool:
    lowered = body.lower()
    return "model" in lowered and ("not found" in lowered or "does not exist" in lowered)
