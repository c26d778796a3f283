"""Run a text through llama.cpp's own grammar engine, token by token, without generating.

`GrammarProbe` tokenizes a reply with the model's vocabulary and feeds it to a grammar
sampler (`llama_sampler_init_grammar`): each token is first offered in a candidate array (the
sampler masks a forbidden one to -inf), then accepted; at the end the end-of-generation token
must be allowed. That is exactly what constrained sampling checks, so the grammar acceptance
corpus and the grammar-cost benchmark test the real engine, not a regex stand-in.
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbeResult:
    accepted: bool
    rejected_at: int | None  # character offset of the first refused token, or None
    init_seconds: float  # building the grammar sampler
    apply_seconds: float  # masking the full vocabulary, summed over the tokens
    tokens: int


class GrammarProbe:
    """Checks texts against GBNF grammars with one loaded model's vocabulary."""

    def __init__(self, llm) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._eos = llama_cpp.llama_vocab_eos(self._vocab)
        self._full = (llama_cpp.llama_token_data * self._n_vocab)()
        self._one = (llama_cpp.llama_token_data * 1)()

    def _sampler(self, grammar: str):
        smpl = self._lib.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
        if not smpl:
            raise ValueError("llama.cpp could not parse the grammar")
        return smpl

    def _allowed(self, smpl, token: int) -> bool:
        self._one[0].id = token  # type: ignore[assignment]  # a ctypes field takes an int
        self._one[0].logit = 0.0
        self._one[0].p = 0.0
        array = self._lib.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        self._lib.llama_sampler_apply(smpl, ctypes.byref(array))
        return not math.isinf(self._one[0].logit)

    def _mask_all(self, smpl) -> float:
        """Mask the whole vocabulary once (what each sampled token costs); returns seconds."""
        for i in range(self._n_vocab):
            self._full[i].id = i
            self._full[i].logit = 0.0
            self._full[i].p = 0.0
        array = self._lib.llama_token_data_array(
            data=self._full, size=self._n_vocab, selected=-1, sorted=False
        )
        started = time.perf_counter()
        self._lib.llama_sampler_apply(smpl, ctypes.byref(array))
        return time.perf_counter() - started

    def check(self, grammar: str, text: str, *, time_full_vocab: bool = False) -> ProbeResult:
        """Whether `text` is a complete reply the grammar admits."""
        started = time.perf_counter()
        smpl = self._sampler(grammar)
        init = time.perf_counter() - started
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        apply = 0.0
        offset = 0
        try:
            for token in tokens:
                if time_full_vocab:
                    apply += self._mask_all(smpl)
                if not self._allowed(smpl, token):
                    return ProbeResult(False, offset, init, apply, len(tokens))
                self._lib.llama_sampler_accept(smpl, token)
                offset += len(self._llm.detokenize([token]).decode("utf-8", errors="replace"))
            done = self._allowed(smpl, self._eos)
            return ProbeResult(done, None if done else offset, init, apply, len(tokens))
        finally:
            self._lib.llama_sampler_free(smpl)
