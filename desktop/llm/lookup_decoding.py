"""Prompt-lookup speculative decoding for the in-process backend, and its generation loop.

Cited writing copies a lot from the evidence in its prompt (names, terms, figures, phrases).
`NgramDrafter` looks the last few generated tokens up in the prompt and the text generated so
far and proposes the tokens that followed their latest earlier occurrence. `complete()` then
evaluates the pending token and the drafted ones in ONE llama_decode with logits for every
position and samples position by position with the request's own sampler chain (penalties,
grammar, top-k/top-p/min-p, temperature, seed): each drafted token is kept only while it equals
what that sampler picked, and the first mismatch ends the batch (the cache is cut back there).

What this guarantees, and what it does not:
- Every emitted token is drawn by the same sampler, from the logits of exactly the tokens
  before it, in the same order, one RNG draw per emitted token; the grammar only ever sees
  emitted tokens. For a drafter that proposes one token, comparing the sample with the draft
  *is* standard speculative sampling (acceptance probability p(draft)), so the output
  distribution is the model's own at any temperature.
- Without flash attention, llama.cpp's CPU attention is not invariant between a one-token
  decode and a decode of two or more tokens: from a few hundred tokens of context on, the
  logits differ by up to ~1 (measured with the embedded model), enough to flip a near tie.
  Decodes of 2, 9 or 50 tokens agree exactly with each other. With flash attention every
  query row is computed on its own, and one-token and batch decodes agree bit for bit
  (measured: 0.00 difference over 50 positions after a 177-token prompt). So the backend
  drafts only with flash attention on, and then the output is exactly the plain loop's
  (tested, with and without a grammar). The drafter's `guess` mode (every decode carries at
  least one drafted token, so the output is the batch kernels' greedy continuation whatever
  was drafted) remains for measuring without flash attention.

Without a drafter `complete()` is the plain token-by-token loop, and its text is what
llama-cpp-python's `create_completion` returns for the same request (tested). The Llama
object's `input_ids`/`n_tokens` are kept in step with the KV cache, so llama-cpp-python's own
prefix reuse and the KV checkpoints keep working.

llama-cpp-python's own `LlamaPromptLookupDecoding` is not used: it only works through
`Llama(draft_model=...)`, which forces `logits_all` for the whole context: logits for every
prompt token (a slower prefill) and an n_ctx x n_vocab score array (GBs for a 16k context),
and its loop cannot be stopped between tokens by our cancel token.
"""

from __future__ import annotations

import codecs
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# The calls that draft when the setting is on, from bench/bench_lookup_decoding.py on a real
# run's prompts: searches and plans are short keyword/JSON answers whose drafts mostly fail
# (1.2-1.3 tokens per pass); writes copy from their passages (75 % of drafts accepted, 3.0
# tokens per pass with the embedded model): break-even (0.99x) with the embedded 135M model on
# this CPU, where a pass of four tokens costs about three one-token decodes, and about 3x for an
# 8B-shaped model, where it costs one (bench/bench_verify_pass.py).
DEFAULT_PURPOSES = frozenset({"write"})
# The "auto" setting drafts for models this large (desktop.session.drafting).
AUTO_MIN_PARAMETERS = 3_000_000_000
MAX_NGRAM = 4  # longest suffix looked up
MIN_NGRAM = 2  # a single token matches too much to be worth a verification
DRAFT_TOKENS = 8  # tokens proposed per lookup


class NgramDrafter:
    """Proposes the continuation of the latest earlier occurrence of the history's suffix.

    An index from every n-gram (MIN_NGRAM..MAX_NGRAM tokens) to the position after its latest
    occurrence is built from the prompt once and extended with each emitted token, so a lookup
    costs a few dict probes however long the prompt is.
    """

    def __init__(
        self,
        max_ngram: int = MAX_NGRAM,
        min_ngram: int = MIN_NGRAM,
        tokens: int = DRAFT_TOKENS,
        *,
        guess: bool = True,
    ) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError("need 1 <= min_ngram <= max_ngram")
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram
        self.tokens = tokens
        self.history: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        self._follower: dict[int, int] = {}  # token -> position after its latest occurrence
        self.length = tokens  # the current draft length, adapted to what gets accepted
        self.guess = guess  # without a match, propose one guess (see `draft`)

    def start(self, history: Sequence[int]) -> None:
        """Index the prompt (the history so far)."""
        self.history = []
        self._after = {}
        self._follower = {}
        self.extend(history)

    def extend(self, tokens: Sequence[int]) -> None:
        """Append emitted tokens and index the n-grams they complete.

        The n-gram ending at the very last token is indexed lazily (in `draft`), so a lookup of
        the current suffix never finds itself.
        """
        history = self.history
        for token in tokens:
            history.append(token)
            self._index_before_last()

    def _index_before_last(self) -> None:
        history = self.history
        end = len(history) - 1  # n-grams ending at end-1 are followed by history[end]
        if end >= 1:
            self._follower[history[end - 1]] = end
        for n in range(self.min_ngram, self.max_ngram + 1):
            if end - n < 0:
                break
            self._after[tuple(history[end - n : end])] = end

    def draft(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the longest suffix seen before; when none did,
        one guess (the token after the last token's latest occurrence, else that token), so
        every verification decodes at least two tokens (see the module docstring)."""
        if limit <= 0:
            return []
        history = self.history
        size = len(history)
        for n in range(min(self.max_ngram, size), self.min_ngram - 1, -1):
            start = self._after.get(tuple(history[size - n :]))
            if start is not None:
                return history[start : start + min(limit, self.length)]
        if not self.guess:
            return []
        start = self._follower.get(history[-1]) if history else None
        return [history[start]] if start is not None else history[-1:]

    def feedback(self, drafted: int, accepted: int) -> None:
        """Adapt the draft length: halve it after a draft that was refused outright, grow it
        after one accepted whole. (Any length gives the same output; this only saves work.)"""
        if drafted <= 1:
            return
        if accepted == 0:
            self.length = max(2, self.length // 2)
        elif accepted == drafted:
            self.length = min(self.tokens, self.length * 2)


@dataclass(slots=True)
class DraftStats:
    """What speculation did in one call."""

    drafted: int = 0  # tokens proposed and verified
    accepted: int = 0  # of those, kept because the sampler chose them
    decodes: int = 0  # llama_decode calls during generation

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


@dataclass(slots=True)
class Completion:
    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    tokens: list[int] = field(default_factory=list)  # emitted tokens (no end-of-generation)
    stats: DraftStats = field(default_factory=DraftStats)


class _TextStream:
    """Emitted bytes → text: cut at the first stop string, deltas never show part of a stop
    string or half a UTF-8 character."""

    def __init__(self, stops: Sequence[str], on_text: Callable[[str], None] | None) -> None:
        self.stops = [s.encode("utf-8") for s in stops if s]
        self.longest = max((len(s) for s in self.stops), default=0)
        self.on_text = on_text
        self.raw = b""
        self.cut: int | None = None
        self._fed = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._pieces: list[str] = []

    def add(self, piece: bytes) -> bool:
        """Append a token's bytes; True when a stop string now ends the text."""
        searched_from = max(0, len(self.raw) - self.longest + 1)
        self.raw += piece
        for stop in self.stops:
            at = self.raw.find(stop, searched_from)
            if at >= 0:
                self.cut = at
                return True
        self._feed(len(self.raw) - self._held_back())
        return False

    def _held_back(self) -> int:
        """Bytes at the end that could be the start of a stop string."""
        raw, held = self.raw, 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(raw)), held, -1):
                if raw.endswith(stop[:n]):
                    held = n
                    break
        return held

    def _feed(self, end: int, final: bool = False) -> None:
        if end > self._fed or final:
            text = self._decoder.decode(self.raw[self._fed : end], final=final)
            self._fed = max(self._fed, end)
            if text:
                self._pieces.append(text)
                if self.on_text is not None:
                    self.on_text(text)

    def finish(self) -> str:
        self._feed(self.cut if self.cut is not None else len(self.raw), final=True)
        return "".join(self._pieces)


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampler settings of create_completion (same names, same defaults)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None


def complete(
    llm,
    prompt_tokens: Sequence[int],
    *,
    max_tokens: int,
    sampling: Sampling = Sampling(),
    stop: Sequence[str] = (),
    grammar=None,
    drafter: NgramDrafter | None = None,
    on_text: Callable[[str], None] | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
    sample_at: Callable[[Any, int], int] | None = None,
) -> Completion:
    """Generate after `prompt_tokens` (all but the last one should be in the KV cache).

    `sample_at(ctx, index)` samples (and accepts) the token after position `index` of the
    last batch; the backend passes its own TokenSampler's, so drafting samples exactly as its
    plain loop does. Without it, llama-cpp-python's chain is built from `sampling` and
    `grammar` (create_completion's sampler)."""
    prompt = list(prompt_tokens)
    n_ctx = llm.n_ctx()
    if max_tokens <= 0 or max_tokens + len(prompt) >= n_ctx:
        max_tokens = n_ctx - len(prompt)  # create_completion's rule
    _evaluate_prompt_rest(llm, prompt)
    sampler = _sampler(llm, sampling, grammar) if sample_at is None else _Given(sample_at)
    stream = _TextStream(stop, on_text)
    result = Completion("", "length")
    if drafter is not None:
        drafter.start(prompt)
    try:
        pending = prompt[-1]
        while True:
            room = min(max_tokens - len(result.tokens), n_ctx - llm.n_tokens - 1) - 1
            drafts = drafter.draft(room) if drafter is not None else []
            accepted = result.stats.accepted
            token, finish = _verify(llm, sampler, pending, drafts, result, stream, max_tokens)
            if drafter is not None:
                drafter.extend(result.tokens[len(drafter.history) - len(prompt) :])
                drafter.feedback(len(drafts), result.stats.accepted - accepted)
            if finish is None and is_cancelled():
                finish = "cancelled"
            if finish is not None:
                result.finish_reason = finish
                break
            pending = token
    finally:
        sampler.close()
    result.text = stream.finish()
    return result


def _verify(llm, sampler, pending: int, drafts: list[int], result, stream, max_tokens: int):
    """Decode `pending` + `drafts` in one batch, emit the sampled tokens while they agree with
    the drafts; returns (the last sampled token, finish reason or None)."""
    n_past = llm.n_tokens
    batch = [pending, *drafts]
    _decode(llm, batch, n_past)
    result.stats.decodes += 1
    result.stats.drafted += len(drafts)
    vocab = llm._model.vocab
    import llama_cpp

    kept = 1  # cache cells that stay valid: the pending token and the accepted drafts
    finish = None
    token = pending
    for i in range(len(batch)):
        token = sampler.sample(llm._ctx, i)
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            finish = "stop"
            break
        result.tokens.append(token)
        if stream.add(llm.detokenize([token])):
            finish = "stop"
            break
        if len(result.tokens) >= max_tokens:
            finish = "length"
            break
        if i < len(drafts) and token == drafts[i]:
            result.stats.accepted += 1
            kept += 1
            continue
        break
    if n_past + kept < llm.n_tokens:
        llm._ctx.kv_cache_seq_rm(-1, n_past + kept, -1)
        llm.n_tokens = n_past + kept
    return token, finish


def _decode(llm, tokens: list[int], n_past: int) -> None:
    """One llama_decode of `tokens` at `n_past` with logits for every position."""
    llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
    llm._ctx.decode(llm._batch)
    llm.input_ids[n_past : n_past + len(tokens)] = tokens
    llm.n_tokens = n_past + len(tokens)
    llm._requires_eval = False


def _evaluate_prompt_rest(llm, prompt: list[int]) -> None:
    """Make the cache hold exactly prompt[:-1] (the caller normally prefilled it already)."""
    cached = 0
    limit = min(llm.n_tokens, len(prompt) - 1)
    ids = llm.input_ids
    while cached < limit and ids[cached] == prompt[cached]:
        cached += 1
    llm._ctx.kv_cache_seq_rm(-1, cached, -1)
    llm.n_tokens = cached
    if cached < len(prompt) - 1:
        llm.eval(prompt[cached:-1])


class _Given:
    """A caller's sample_at function in the shape of llama-cpp-python's sampler (the caller
    owns and closes what is behind it)."""

    def __init__(self, sample_at: Callable[[Any, int], int]) -> None:
        self.sample = sample_at

    def close(self) -> None:
        pass


def _sampler(llm, s: Sampling, grammar):
    """The sampler chain create_completion builds, seeded the way it seeds it."""
    seed = s.seed if s.seed is not None else random.Random(llm._seed).randint(0, 2**32)
    llm.set_seed(seed)
    return llm._init_sampler(
        top_k=s.top_k,
        top_p=s.top_p,
        min_p=s.min_p,
        typical_p=s.typical_p,
        temp=s.temperature,
        repeat_penalty=s.repeat_penalty,
        frequency_penalty=s.frequency_penalty,
        presence_penalty=s.presence_penalty,
        grammar=grammar,
    )
