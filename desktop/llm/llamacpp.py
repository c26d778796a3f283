"""In-process llama.cpp (llama-cpp-python): the GGUF's own chat template, grammars, streaming.

The Llama object keeps the tokens of the previous call, and llama-cpp-python only evaluates
the part of a new prompt after the longest common prefix; we measure that prefix to report
how many prompt tokens were actually prefilled. Heavy imports happen on first use.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from pathlib import Path

from desktop.core.cancel import CancelToken
from desktop.llm.base import BackendError, ChatRequest, ChatResult, DeltaCallback

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
DEFAULT_MAX_CONTEXT = 16384


def physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1


def check_gguf_file(path: Path) -> None:
    """Raise BackendError with one clear line unless `path` is a readable GGUF file."""
    if not path.exists():
        raise BackendError(f"model file not found: {path}")
    if not path.is_file():
        raise BackendError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise BackendError(f"cannot read model file {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise BackendError(f"not a GGUF model file: {path}")


@lru_cache(maxsize=32)
def _compiled_grammar(text: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


class LlamaCppBackend:
    """One GGUF model loaded in this process; one thread uses it at a time."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_gpu_layers: int = -1,
        flash_attn: bool = False,
        verbose: bool = False,
    ) -> None:
        self.model_path = Path(model_path).expanduser()
        check_gguf_file(self.model_path)
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install problem
            raise BackendError(f"llama-cpp-python is not installed: {exc}") from exc
        threads = n_threads or physical_cores()
        try:
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx or 0,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=n_gpu_layers,
                flash_attn=flash_attn,
                verbose=verbose,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {self.model_path.name}: {exc}") from exc
        if not n_ctx:
            trained = self._llm.n_ctx()
            if trained > DEFAULT_MAX_CONTEXT:  # reload with a context that fits a laptop
                self._llm.close()
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=DEFAULT_MAX_CONTEXT,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn,
                    verbose=verbose,
                )
        self._formatter = self._chat_formatter()
        log.info(
            "loaded %s (n_ctx=%d, threads=%d)", self.model_path.name, self.context_length, threads
        )

    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self._llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{self.model_path.name} has no chat template in its metadata")

        def token(key: str) -> str:
            tid = meta.get(key)
            if tid is None:
                return ""
            return self._llm._model.token_get_text(int(tid))

        return Jinja2ChatFormatter(
            template=template,
            eos_token=token("tokenizer.ggml.eos_token_id"),
            bos_token=token("tokenizer.ggml.bos_token_id"),
        )

    # ---- ChatBackend ----------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return f"gguf:{self.model_path.name}:{self.model_path.stat().st_size}"

    @property
    def context_length(self) -> int:
        return self._llm.n_ctx()

    @property
    def supports_grammar(self) -> bool:
        return True

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def format_prompt(self, request: ChatRequest) -> tuple[str, list[str]]:
        """The prompt exactly as the GGUF's chat template renders it, and its stop strings."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        result = self._formatter(messages=messages)
        stops = (
            result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        )
        return result.prompt, stops

    def chat(
        self,
        request: ChatRequest,
        on_delta: DeltaCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ChatResult:
        prompt, stops = self.format_prompt(request)
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + request.max_tokens > self.context_length:
            raise BackendError(
                f"prompt of {len(tokens)} tokens plus {request.max_tokens} to answer exceeds "
                f"the context of {self.context_length}"
            )
        reused = self._reused_prefix(tokens)
        grammar = _compiled_grammar(request.grammar) if request.grammar else None
        started = time.perf_counter()
        outside = 0.0
        first = 0.0
        pieces: list[str] = []
        finish = "stop"
        completion_tokens = 0
        stream = self._llm.create_completion(
            tokens,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            repeat_penalty=request.repeat_penalty,
            seed=request.seed,
            stop=list(request.stop) + stops,
            grammar=grammar,
            stream=True,
        )
        try:
            for chunk in stream:
                mark = time.perf_counter()
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                completion_tokens += 1
                if text:
                    if not pieces:
                        first = mark - started
                    pieces.append(text)
                    if on_delta is not None:
                        on_delta(text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if cancel is not None and cancel.is_set:
                    finish = "cancelled"
                    break
                outside += time.perf_counter() - mark
        finally:
            stream.close()
        seconds = time.perf_counter() - started
        return ChatResult(
            text="".join(pieces),
            finish_reason=finish,
            prompt_tokens=len(tokens),
            completion_tokens=completion_tokens,
            prefilled_tokens=len(tokens) - reused,
            seconds=seconds,
            first_token_seconds=first,
            model_seconds=seconds - outside,
        )

    def _reused_prefix(self, tokens: list[int]) -> int:
        """How many leading prompt tokens are already in the KV cache from the last call."""
        previous = self._llm.input_ids[: self._llm.n_tokens]
        n = 0
        for a, b in zip(previous, tokens, strict=False):
            if a != b:
                break
            n += 1
        return min(n, len(tokens) - 1)  # llama.cpp always re-evaluates the last prompt token

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None
