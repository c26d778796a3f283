"""In-process llama.cpp (llama-cpp-python): the GGUF's own chat template, grammars, streaming.

The Llama object keeps the tokens of the previous call, and llama-cpp-python only evaluates
the part of a new prompt after the longest common prefix; we measure that prefix to report
how many prompt tokens were actually prefilled. KV checkpoints of recent calls
(`desktop.llm.kv_checkpoints`) let a prompt resume from an older call's prefix when that one
shares more. With `reuse_moved_text` (opt-in, approximate), unchanged blocks that only moved
since the live cache or a checkpoint are shifted into place instead of evaluated
(`desktop.llm.kv_reuse`), and the source with the most reusable tokens is chosen. Heavy imports
happen on first use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.cancel import CancelToken
from desktop.core.chat import BackendError, ChatRequest, ChatResult, DeltaCallback
from desktop.llm import kv_reuse, lookup_decoding
from desktop.llm.kv_checkpoints import KVCheckpoints, common_prefix
from desktop.llm.sampling import SamplingParams, TokenSampler

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
DEFAULT_MAX_CONTEXT = 16384  # the default n_ctx cap on a laptop, unless settings give one
MIN_CONTEXT = 2048  # never shrink the context below this to make a model fit
# Prompts are evaluated in slices with a cancel check between them, so Stop lands within one
# slice even during a long prefill. A slice is sized from the measured prefill speed to take
# about PREFILL_SLICE_SECONDS: an 8B model on a laptop CPU (tens of tokens/s) gets small slices
# and still stops within a second; a GPU gets whole batches (n_batch) and its full speed.
PREFILL_SLICE_SECONDS = 0.5
MIN_PREFILL_CHUNK = 16
FIRST_PREFILL_CHUNK = 64  # before anything is measured


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


# ggml type ids (llama_cpp.GGML_TYPE_*) and bytes per element of the KV-cache types we offer.
KV_CACHE_TYPES: dict[str, tuple[int, float]] = {
    "f16": (1, 2.0),
    "q8_0": (8, 34 / 32),
    "q4_0": (2, 18 / 32),
}
_F16 = KV_CACHE_TYPES["f16"][0]


def kv_cache_types(name: str | None, flash_attn: bool) -> tuple[int | None, int | None]:
    """type_k and type_v for llama.cpp; None keeps its default (f16).

    llama.cpp can only quantize the V cache with flash attention, so without it only K is.
    """
    if not name:
        return None, None
    key = name.strip().lower()
    if key not in KV_CACHE_TYPES:
        raise BackendError(
            f"unknown KV cache type {name!r}; choose one of {', '.join(KV_CACHE_TYPES)}"
        )
    ggml_type = KV_CACHE_TYPES[key][0]
    if ggml_type != _F16 and not flash_attn:
        log.info(
            "KV cache type %s applies to K only: a quantized V cache needs flash attention", key
        )
        return ggml_type, None
    return ggml_type, ggml_type


def _kv_bytes(type_k: int | None, type_v: int | None) -> float:
    """Average bytes per KV-cache element over K and V."""
    sizes = {ggml_type: size for ggml_type, size in KV_CACHE_TYPES.values()}
    return (sizes.get(type_k or _F16, 2.0) + sizes.get(type_v or _F16, 2.0)) / 2


def choose_context(
    model_path: Path,
    n_ctx: int | None,
    *,
    kv_bytes: float = 2.0,
    flash_attn: bool = False,
    available: int | None = None,
    n_gpu_layers: int = 0,
    discrete_gpu: bool | None = None,
) -> int:
    """The n_ctx to load with: the requested one, else the GGUF's own capped at 16384; then
    shrunk (down to MIN_CONTEXT) until model + KV cache fit in the available RAM.

    Raises BackendError with one clear line when not even MIN_CONTEXT fits, so a model that
    cannot fit never gets as far as llama.cpp (and an out-of-memory kill).
    """
    from desktop.llm import gguf

    try:
        meta = gguf.read_metadata(model_path)
    except gguf.GGUFError as exc:
        raise BackendError(str(exc)) from exc
    wanted = n_ctx or min(meta.context_length or DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT)
    if available is None:
        available = gguf.available_memory()
    if available is None:
        log.info("available memory is unknown; loading %s with n_ctx=%d", model_path.name, wanted)
        return wanted
    if discrete_gpu is None:
        discrete_gpu = _discrete_gpu()
    offloaded = gguf.offloaded_share(meta, n_gpu_layers, discrete_gpu)
    if offloaded:
        # llama-cpp-python cannot report free GPU memory: an overfull GPU fails at load time
        # with llama.cpp's own message (BackendError), never an out-of-memory kill of the app.
        log.info("%.0f%% of the layers go to the GPU; its memory is not checked", offloaded * 100)
    estimate: dict[str, Any] = {
        "kv_bytes_per_elem": kv_bytes,
        "flash_attn": flash_attn,
        "offloaded": offloaded,
    }
    if gguf.estimate_memory(meta, wanted, **estimate) <= available:
        return wanted
    floor = min(MIN_CONTEXT, wanted)
    fitting = gguf.largest_fitting_context(meta, wanted, available, minimum=floor, **estimate)
    if fitting is None:
        needed = gguf.estimate_memory(meta, floor, **estimate)
        raise BackendError(
            f"{model_path.name} needs {_gb(needed)} with a {floor}-token context, "
            f"{_gb(available)} available; choose a smaller model or context"
        )
    log.warning(
        "%s: a %d-token context needs %s but %s is available; using n_ctx=%d",
        model_path.name,
        wanted,
        _gb(gguf.estimate_memory(meta, wanted, **estimate)),
        _gb(available),
        fitting,
    )
    return fitting


def _discrete_gpu() -> bool:
    """A GPU build on a machine whose GPU has its own memory (not Apple's unified memory)."""
    import sys

    from desktop.llm.models import gpu_offload_supported

    return sys.platform != "darwin" and gpu_offload_supported()


def cpu_has_amx() -> bool:
    """Whether this CPU advertises Intel AMX (Linux only; elsewhere assume not)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        return False
    return False


@contextlib.contextmanager
def without_extra_buffers() -> Iterator[None]:
    """While a `Llama` loads inside, llama.cpp's extra CPU buffer types (AMX, repacking) stay off.

    llama.cpp's AMX matrix multiply crashes the process (SIGSEGV in ggml_backend_amx_mul_mat)
    on AMX machines with the models we ship (seen with llama-cpp-python 0.3.36 on a Sapphire
    Rapids VM), so on such CPUs the weights stay in plain CPU buffers.
    """
    import llama_cpp
    import llama_cpp.llama as llama_module

    original = llama_cpp.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    llama_module.llama_cpp.llama_model_default_params = params
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


def _gb(n: int) -> str:
    gb = n / 1024**3
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb:.2f} GB"


@dataclass
class _Generation:
    text: str = ""
    finish: str = "stop"
    tokens: int = 0
    first: float = 0.0  # seconds from the call to the first non-empty piece
    outside: float = 0.0  # seconds spent outside llama.cpp (streaming, stop checks)
    drafted: int = 0  # prompt-lookup draft tokens proposed / accepted (when drafting)
    accepted: int = 0


def _lookup_purposes(choice: bool | frozenset[str]) -> frozenset[str]:
    """The call purposes that draft by prompt lookup: True means the measured defaults."""
    if choice is True:
        return lookup_decoding.DEFAULT_PURPOSES
    return frozenset(choice or ())


class _StreamTiming:
    """Forwards text deltas and measures the first one and the time spent outside the model."""

    def __init__(self, started: float, on_delta: DeltaCallback | None) -> None:
        self.started = started
        self.on_delta = on_delta
        self.first = 0.0
        self.outside = 0.0

    def delta(self, text: str) -> None:
        mark = time.perf_counter()
        if not self.first:
            self.first = mark - self.started
        if self.on_delta is not None:
            self.on_delta(text)
        self.outside += time.perf_counter() - mark


class _StreamText:
    """The reply's text as pieces arrive: whole UTF-8 characters only, cut at a stop string."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._pending = b""
        self._text = ""
        self._sent = 0
        self.stopped = False

    def add(self, piece: bytes) -> str:
        """Append a token's bytes; return the newly complete text that may be shown."""
        self._pending += piece
        try:
            self._text += self._pending.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as exc:
            incomplete = exc.reason == "unexpected end of data"
            if incomplete and len(self._pending) - exc.start < 4:
                # a character split across tokens: show what is whole, wait for the rest
                self._text += self._pending[: exc.start].decode("utf-8")
                self._pending = self._pending[exc.start :]
            else:
                self._text += self._pending.decode("utf-8", errors="replace")
                self._pending = b""
        for stop in self._stops:
            at = self._text.find(stop)
            if at >= 0:
                self._text = self._text[:at]
                self.stopped = True
        # Hold back a tail that could still become a stop string.
        hold = 0 if self.stopped else self._held_tail()
        new = self._text[self._sent : len(self._text) - hold]
        self._sent += len(new)
        return new

    def _held_tail(self) -> int:
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(self._text)), 0, -1):
                if self._text.endswith(stop[:n]):
                    longest = max(longest, n)
                    break
        return longest

    def flush(self) -> str:
        """The tail held back for a stop string that never came (and any broken bytes)."""
        if self._pending:
            self._text += self._pending.decode("utf-8", errors="replace")
            self._pending = b""
        rest = self._text[self._sent :]
        self._sent = len(self._text)
        return rest

    @property
    def value(self) -> str:
        return self._text


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
        kv_cache_type: str | None = None,
        kv_checkpoints: bool = True,
        reuse_moved_text: bool = False,
        prompt_lookup: bool | frozenset[str] = False,
        verbose: bool = False,
    ) -> None:
        self.model_path = Path(model_path).expanduser()
        check_gguf_file(self.model_path)
        type_k, type_v = kv_cache_types(kv_cache_type, flash_attn)
        n_ctx = choose_context(
            self.model_path,
            n_ctx,
            kv_bytes=_kv_bytes(type_k, type_v),
            flash_attn=flash_attn,
            n_gpu_layers=n_gpu_layers,
        )
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install problem
            raise BackendError(f"llama-cpp-python is not installed: {exc}") from exc
        threads = n_threads or physical_cores()
        setup = kv_reuse.two_sequence_context() if reuse_moved_text else contextlib.nullcontext()
        buffers = without_extra_buffers() if cpu_has_amx() else contextlib.nullcontext()
        try:
            with setup, buffers:
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn,
                    type_k=type_k,
                    type_v=type_v,
                    verbose=verbose,
                )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {self.model_path.name}: {exc}") from exc
        self._formatter = self._chat_formatter()
        self.checkpoints = KVCheckpoints() if kv_checkpoints else None
        self.prefill_rate: float | None = None  # tokens/s of recent prefill slices
        self.moves_text = reuse_moved_text and kv_reuse.can_move(self._llm)
        if reuse_moved_text and not self.moves_text:
            log.info(
                "%s cannot move KV cells; only exact prefixes are reused", self.model_path.name
            )
        self._scratch = kv_reuse.ScratchDecoder(self._llm) if self.moves_text else None
        self.flash_attn = flash_attn
        self.lookup_purposes = _lookup_purposes(prompt_lookup)
        if self.lookup_purposes and not flash_attn:
            # without flash attention a batch decode's logits differ slightly from a one-token
            # decode's, so drafting could change a greedy pick (lookup_decoding's docstring)
            log.info("prompt lookup is off: it needs flash attention to keep the output exact")
            self.lookup_purposes = frozenset()
        log.info(
            "loaded %s (n_ctx=%d, threads=%d, flash_attn=%s, kv cache %s)",
            self.model_path.name,
            self.context_length,
            threads,
            flash_attn,
            kv_cache_type or "f16",
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

    @property
    def supports_json_schema(self) -> bool:
        return False  # GBNF grammars cover everything a schema would

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def format_prompt(self, request: ChatRequest) -> tuple[str, list[str]]:
        """The prompt exactly as the GGUF's chat template renders it, and its stop strings."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        # Hybrid reasoning models (MiniCPM4.1, AgentCPM-Report) are run with thinking off: their
        # template then opens the answer with an empty <think></think>; others ignore the flag.
        result = self._formatter(messages=messages, enable_thinking=False)
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
        reused = self._resume_prefix(tokens)
        started = time.perf_counter()
        gaps = 0
        if self.moves_text:
            reused, gaps = self._move_cached(tokens, reused, cancel)
        if not self._prefill(tokens, reused, cancel):
            seconds = time.perf_counter() - started
            return ChatResult("", "cancelled", len(tokens), 0, 0, seconds, 0.0, seconds)
        drafter = self._drafter(request.purpose)
        if drafter is None:
            generation = self._sampled(tokens, request, stops, on_delta, cancel, started)
        else:
            generation = self._drafted(tokens, request, stops, drafter, on_delta, cancel, started)
        seconds = time.perf_counter() - started
        self._checkpoint(request.purpose)
        return ChatResult(
            text=generation.text,
            finish_reason=generation.finish,
            prompt_tokens=len(tokens),
            completion_tokens=generation.tokens,
            prefilled_tokens=len(tokens) - reused + gaps,
            seconds=seconds,
            first_token_seconds=generation.first,
            model_seconds=seconds - generation.outside,
            drafted_tokens=generation.drafted,
            accepted_tokens=generation.accepted,
        )

    def _sampled(self, tokens, request, stops, on_delta, cancel, started) -> _Generation:
        """Plain decoding through TokenSampler (grammar checked after sampling)."""
        sampler = self._token_sampler(request)
        try:
            return self._generate(tokens, request, stops, sampler, on_delta, cancel, started)
        finally:
            sampler.close()

    def _token_sampler(self, request: ChatRequest) -> TokenSampler:
        params = SamplingParams(
            request.temperature, request.top_p, request.repeat_penalty, request.seed
        )
        try:
            return TokenSampler(self._llm, params, request.grammar)
        except ValueError as exc:
            raise BackendError(f"the reply grammar is invalid: {exc}") from exc

    def _generate(
        self,
        tokens: list[int],
        request: ChatRequest,
        stops: list[str],
        sampler: TokenSampler,
        on_delta: DeltaCallback | None,
        cancel: CancelToken | None,
        started: float,
    ) -> _Generation:
        """Decode the last prompt token, then sample, stream and decode until a stop."""
        llm = self._llm
        gen = _Generation()
        text = _StreamText(list(request.stop) + [s for s in stops if s])
        sampler.remember(tokens)
        llm.eval(tokens[-1:])
        while True:
            if cancel is not None and cancel.is_set:
                gen.finish = "cancelled"
                break
            token = sampler.sample()
            if sampler.is_end(token):
                break
            sampler.accept(token)
            gen.tokens += 1
            mark = time.perf_counter()
            piece = text.add(sampler.piece(token))
            if piece:
                if not gen.first:
                    gen.first = mark - started
                if on_delta is not None:
                    on_delta(piece)
            gen.outside += time.perf_counter() - mark
            if text.stopped:
                break
            if gen.tokens >= request.max_tokens:
                gen.finish = "length"
                break
            llm.eval([token])
        rest = text.flush()
        if rest and on_delta is not None:
            on_delta(rest)
        gen.text = text.value
        return gen

    def _drafted(self, tokens, request, stops, drafter, on_delta, cancel, started) -> _Generation:
        """Prompt-lookup speculative decoding (desktop.llm.lookup_decoding), sampling
        with the plain loop's own TokenSampler (same penalties, same grammar check)."""
        timing = _StreamTiming(started, on_delta)
        sampler = self._token_sampler(request)
        try:
            sampler.remember(tokens)
            completion = lookup_decoding.complete(
                self._llm,
                tokens,
                max_tokens=request.max_tokens,
                stop=list(request.stop) + stops,
                drafter=drafter,
                on_text=timing.delta,
                is_cancelled=lambda: cancel is not None and cancel.is_set,
                sample_at=sampler.sample_at,
            )
        finally:
            sampler.close()
        stats = completion.stats
        return _Generation(
            text=completion.text,
            finish=completion.finish_reason,
            tokens=len(completion.tokens),
            first=timing.first,
            outside=timing.outside,
            drafted=stats.drafted,
            accepted=stats.accepted,
        )

    def _drafter(self, purpose: str) -> lookup_decoding.NgramDrafter | None:
        """A prompt-lookup drafter for calls of this purpose, or None (plain decoding)."""
        if purpose not in self.lookup_purposes:
            return None
        # with flash attention one-token and batch decodes agree exactly: no guesses needed
        return lookup_decoding.NgramDrafter(guess=not self.flash_attn)

    def _prefill(self, tokens: list[int], reused: int, cancel: CancelToken | None) -> bool:
        """Evaluate the prompt after the cached prefix in slices; False if cancelled.

        All but the last prompt token are evaluated here, so llama-cpp-python's own prefix
        match then finds them cached and only decodes the last one before sampling.
        """
        llm = self._llm
        llm.n_tokens = min(llm.n_tokens, reused)  # eval() drops the KV cache past n_tokens
        rest = tokens[reused : len(tokens) - 1]
        done = self._in_slices(rest, lambda piece, _offset: llm.eval(piece), cancel)
        return done and not (cancel is not None and cancel.is_set)

    def _in_slices(self, tokens, evaluate, cancel: CancelToken | None) -> bool:
        """Call `evaluate(piece, offset)` on slices of `tokens` sized by `prefill_chunk`,
        measuring the speed; False if `cancel` was set before the end."""
        start = 0
        while start < len(tokens):
            if cancel is not None and cancel.is_set:
                return False
            piece = tokens[start : start + self.prefill_chunk()]
            began = time.perf_counter()
            evaluate(piece, start)
            self._measure_prefill(len(piece), time.perf_counter() - began)
            start += len(piece)
        return True

    def _move_cached(
        self, tokens: list[int], reused: int, cancel: CancelToken | None
    ) -> tuple[int, int]:
        """Move unchanged cached blocks after the shared prefix to their new positions (see
        desktop.llm.kv_reuse); return the prompt tokens now cached and how many of them had to
        be evaluated (the gaps between blocks)."""
        llm, scratch = self._llm, self._scratch
        assert scratch is not None, "moving text needs the scratch decoder (moves_text)"
        cached = llm.input_ids[: llm.n_tokens].tolist()
        blocks = kv_reuse.plan_blocks(cached, tokens, reused)
        if not blocks:
            return reused, 0
        evaluated = 0

        def evaluate_gap(gap, position: int) -> bool:
            def decode(piece, offset: int) -> None:
                nonlocal evaluated
                scratch.decode(piece, position + offset)
                evaluated += len(piece)

            return self._in_slices(gap, decode, cancel)

        end = kv_reuse.BlockMover(llm).move(tokens, reused, blocks, evaluate_gap)
        moved = sum(b.length for b in blocks if b.dst + b.length <= end)
        log.debug(
            "moved %d cached tokens in %d blocks; %d evaluated between",
            moved,
            len(blocks),
            evaluated,
        )
        return end, evaluated

    def prefill_chunk(self) -> int:
        """Tokens per prefill slice: about PREFILL_SLICE_SECONDS at the measured speed."""
        if self.prefill_rate is None:
            return min(FIRST_PREFILL_CHUNK, self._llm.n_batch)
        wanted = int(self.prefill_rate * PREFILL_SLICE_SECONDS)
        return max(MIN_PREFILL_CHUNK, min(self._llm.n_batch, wanted))

    def _measure_prefill(self, tokens: int, seconds: float) -> None:
        if tokens < MIN_PREFILL_CHUNK or seconds <= 0:
            return  # a short tail says little about the speed
        rate = tokens / seconds
        old = self.prefill_rate
        self.prefill_rate = rate if old is None else 0.7 * old + 0.3 * rate

    def _resume_prefix(self, tokens: list[int]) -> int:
        """Prompt tokens already evaluated: the live cache's, or a checkpoint's when longer."""
        reused = self._reused_prefix(tokens)
        if self.checkpoints is None:
            return reused
        if self.moves_text:
            return self._resume_most_reusable(tokens, reused)
        entry, shared = self.checkpoints.best(tokens, reused)
        if entry is not None and self.checkpoints.restore(self._llm, entry, shared):
            log.debug("resumed from a KV checkpoint: %d shared tokens (live %d)", shared, reused)
            return shared
        return reused

    def _resume_most_reusable(self, tokens: list[int], reused: int) -> int:
        """With moved text, the best source is the one with the most reusable tokens (shared
        prefix plus movable blocks), not the longest prefix: the last write's checkpoint holds
        the report a write shows again, shifted, and the passages it shows again."""
        llm, checkpoints = self._llm, self.checkpoints
        assert checkpoints is not None, "called only with KV checkpoints on"

        def shared(cached) -> int:
            return min(common_prefix(cached, tokens), len(tokens) - 1)

        def reusable(cached) -> int:
            n = shared(cached)
            return n + sum(b.length for b in kv_reuse.plan_blocks(cached, tokens, n))

        live = reusable(llm.input_ids[: llm.n_tokens].tolist())
        best, score = None, live
        for entry in checkpoints.entries:
            n = reusable(entry.tokens)
            if n > score:
                best, score = entry, n
        log.debug(
            "reusable: live %d, best checkpoint %d (%s)",
            live,
            score,
            best.purpose if best else "none",
        )
        if best is None or score - live < checkpoints.min_gain:
            return reused
        if not checkpoints.restore(llm, best, shared(best.tokens), keep=len(best.tokens)):
            return 0
        return self._reused_prefix(tokens)

    def _checkpoint(self, purpose: str) -> None:
        """Keep the KV state of this call (prompt and answer) for later prompts."""
        checkpoints = self.checkpoints
        if checkpoints is None or self._llm.n_tokens == 0 or not checkpoints.worth_saving(purpose):
            return
        from desktop.llm import gguf

        tokens = self._llm.input_ids[: self._llm.n_tokens].tolist()
        checkpoints.save(self._llm._ctx.ctx, tokens, gguf.available_memory(), purpose)

    def _reused_prefix(self, tokens: list[int]) -> int:
        """How many leading prompt tokens are already in the KV cache from the last call."""
        n = common_prefix(self._llm.input_ids[: self._llm.n_tokens].tolist(), tokens)
        return min(n, len(tokens) - 1)  # llama.cpp always re-evaluates the last prompt token

    def close(self) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            scratch.close()
            self._scratch = None
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]  # closed: no call may follow
