"""Token sampling for the in-process backend: llama.cpp's sampler chain, grammar checked last.

Masking the whole vocabulary with a grammar on every token is what made constrained writing
slow: llama.cpp matches each of the ~49k candidate pieces against every live grammar stack
(measured with `bench/bench_grammar.py`: tens of milliseconds per token, more than the small
model's own decode). So, as llama.cpp's own `common_sampler` does, a token is first sampled
from the unconstrained chain (penalties, top-k, top-p, min-p, temperature; or greedy) and only
that one token is checked against the grammar; only when the grammar refuses it is the full
vocabulary masked and the chain applied again. For greedy decoding the result is the same
token as masking first (the best allowed token); for sampling the accepted token's
distribution is the masked, renormalised one, so nothing the grammar forbids can appear and
nothing it allows changes probability.
"""

from __future__ import annotations

import ctypes
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

TOP_K = 40  # llama-cpp-python's defaults for create_completion
MIN_P = 0.05
REPEAT_LAST_N = 64


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float
    top_p: float
    repeat_penalty: float
    seed: int | None


class TokenSampler:
    """Samples one token at a time from a llama.cpp context's last logits. One owner thread."""

    def __init__(self, llm, params: SamplingParams, grammar: str | None) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = llm._ctx.ctx
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._chain = self._build_chain(params)
        self._penalty = params.repeat_penalty
        self._recent: deque[int] = deque(maxlen=REPEAT_LAST_N)
        self._grammar = None
        if grammar:
            self._grammar = llama_cpp.llama_sampler_init_grammar(
                self._vocab, grammar.encode("utf-8"), b"root"
            )
            if not self._grammar:
                self.close()
                raise ValueError("llama.cpp could not parse the grammar")
        dtype = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        assert dtype.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)
        self._candidates = np.zeros(self.n_vocab, dtype=dtype)
        self._ids = np.arange(self.n_vocab, dtype=np.int32)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._buffer = ctypes.create_string_buffer(64)
        self.grammar_rejections = 0

    def _build_chain(self, p: SamplingParams):
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        # The repetition penalty is applied to the logits here (see _penalized): the binding's
        # llama_sampler_init_penalties does not match the C signature of this llama.cpp.
        if p.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        seed = p.seed if p.seed is not None else lib.LLAMA_DEFAULT_SEED
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(TOP_K))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(p.top_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(MIN_P, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(p.temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def remember(self, tokens: list[int]) -> None:
        """Feed the prompt's tail to the repetition penalty (as llama-cpp-python does)."""
        self._recent.extend(tokens[-REPEAT_LAST_N:])

    def _penalized(self, logits: np.ndarray) -> np.ndarray:
        """llama.cpp's repeat penalty over the last REPEAT_LAST_N tokens: a positive logit is
        divided by the penalty, a negative one multiplied."""
        if self._penalty == 1.0 or not self._recent:
            return logits
        out = logits.copy()
        seen = np.fromiter(set(self._recent), dtype=np.int64)
        values = out[seen]
        out[seen] = np.where(values > 0, values / self._penalty, values * self._penalty)
        return out

    def _array(self, logits: np.ndarray):
        c = self._candidates
        c["id"] = self._ids
        c["logit"] = logits
        c["p"] = 0.0
        data = c.ctypes.data_as(ctypes.POINTER(self._lib.llama_token_data))
        return self._lib.llama_token_data_array(
            data=data, size=self.n_vocab, selected=-1, sorted=False
        )

    def _logits(self, index: int) -> np.ndarray:
        pointer = self._lib.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def _pick(self, array) -> int:
        self._lib.llama_sampler_apply(self._chain, ctypes.byref(array))
        return int(self._candidates[array.selected]["id"])

    def _grammar_allows(self, token: int) -> bool:
        one = self._one
        one[0].id, one[0].logit, one[0].p = token, 0.0, 0.0  # type: ignore[assignment]  # ctypes fields take ints
        array = self._lib.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return not math.isinf(one[0].logit)

    def sample(self, index: int = -1) -> int:
        """The next token: from the chain, and, if the grammar refuses it, from the chain over
        the grammar-masked vocabulary. `index` picks the logits of one position of the last
        batch (prompt lookup verifies several positions of one decode)."""
        logits = self._penalized(self._logits(index))
        token = self._pick(self._array(logits))
        if self._grammar is None or self._grammar_allows(token):
            return token
        self.grammar_rejections += 1
        array = self._array(logits)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return self._pick(array)

    def is_end(self, token: int) -> bool:
        """End of generation (EOS, end of turn)."""
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        """The token's text as bytes (special tokens render as nothing)."""
        n = self._lib.llama_token_to_piece(
            self._vocab, token, self._buffer, len(self._buffer), 0, False
        )
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buffer, -n, 0, False)
            return buffer.raw[:n]
        return self._buffer.raw[:n]

    def accept(self, token: int) -> None:
        self._recent.append(token)
        self._lib.llama_sampler_accept(self._chain, token)
        if self._grammar is not None:
            self._lib.llama_sampler_accept(self._grammar, token)

    def sample_at(self, ctx, index: int) -> int:
        """Sample the token after position `index` of the last batch and accept it (what
        lookup_decoding.complete asks of a sampler; `ctx` is this sampler's own context)."""
        token = self.sample(index)
        if not self.is_end(token):
            self.accept(token)
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
