"""Reuse the KV cells of text that moved between two prompts, instead of evaluating it again.

Exact prefix reuse (llama-cpp-python's own, plus `KVCheckpoints`) stops at the first token that
differs. In WARP that is early: a search prompt differs from the write before it where the
section just written changed from its plan to its text, and every section after that point is
the same text one block further on. `plan_blocks` finds those unchanged runs (difflib's matching
blocks of at least `MIN_BLOCK` tokens) and `move_blocks` rearranges the KV cache so they sit at
their new positions; only the text between them and after the last one is evaluated.

How the cells move (llama.cpp's memory API, sequence 0 holds the prompt):
1. drop every cached cell that is not kept (not in the shared prefix or a block);
2. shift each block to its new position (`llama_memory_seq_add`; RoPE is re-applied lazily);
3. evaluate each gap before a block. llama.cpp refuses a batch whose positions come before the
   end of its sequence, so the gap is evaluated in sequence 1 holding only the text before it
   (`seq_cp` shares cells, it does not copy them), then its cells join sequence 0 and sequence 1
   is cleared. The causal mask makes the result the same as evaluating the gap in place.

This needs a context with two sequences and a unified KV cache (`two_sequence_context`), and a
model whose memory can shift positions (not recurrent models). The result is approximate: a
moved cell keeps the attention it computed over its *old* preceding text, so the answer is not
bit-identical to a fresh prefill (llama-server's `--cache-reuse` makes the same trade). The
backend turns it on only when asked (`reuse_moved_text`); `bench/bench_kv_reuse.py` measures
the saving and how far the answers move.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

MIN_BLOCK = 64  # shorter unchanged runs are evaluated: a gap decode per block costs too
# The prompt's last tokens are always evaluated, whatever moved: they hold the instruction the
# answer follows, and evaluated fresh they attend to the changed text directly. Measured on the
# small model, moved cells up to the last token lost an edit made earlier in the prompt in 5 of 6
# probes (a "secret word" asked for at the end); a fresh tail of 128 tokens kept it in 5 of 6.
FRESH_TAIL = 128
SEQ = 0
SCRATCH_SEQ = 1


@dataclass(frozen=True)
class Block:
    """`length` cached tokens starting at position `src` reappear at position `dst`."""

    src: int
    dst: int
    length: int


def plan_blocks(
    cached: Sequence[int],
    prompt: Sequence[int],
    start: int,
    min_block: int = MIN_BLOCK,
    fresh_tail: int = FRESH_TAIL,
) -> list[Block]:
    """Unchanged runs of `cached[start:]` found again in `prompt[start:-fresh_tail]`, in order.

    `start` is the shared prefix (already in place). The prompt's last `fresh_tail` tokens (at
    least the last one, whose logits give the first answer token) are always evaluated.
    """
    end = len(prompt) - max(1, fresh_tail)
    if end - start < min_block or len(cached) - start < min_block:
        return []
    matcher = difflib.SequenceMatcher(None, cached[start:], prompt[start:end], autojunk=False)
    return [
        Block(start + m.a, start + m.b, m.size)
        for m in matcher.get_matching_blocks()
        if m.size >= min_block
    ]


@contextlib.contextmanager
def two_sequence_context() -> Iterator[None]:
    """While a `Llama` is created inside, its context gets two sequences and a unified KV cache.

    llama-cpp-python sets these only for embedding models, so the default parameters it starts
    from are patched for the duration (the model loads on one thread at a time).
    """
    import llama_cpp
    import llama_cpp.llama as llama_module

    original = llama_cpp.llama_context_default_params

    def params():
        p = original()
        p.n_seq_max = 2
        p.kv_unified = True
        return p

    llama_module.llama_cpp.llama_context_default_params = params
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_context_default_params = original


def can_move(llm) -> bool:
    """Whether this context can shift cells and holds a second sequence."""
    import llama_cpp

    ctx = llm._ctx.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    return bool(llama_cpp.llama_memory_can_shift(memory)) and llama_cpp.llama_n_seq_max(ctx) >= 2


class BlockMover:
    """Moves blocks in one `Llama`'s KV cache and keeps its token bookkeeping right.

    `input_ids[:n_tokens]` is llama-cpp-python's record of what sequence 0 holds; after
    `move` it is the prompt's first `end` tokens, exactly as if they had been evaluated.
    """

    def __init__(self, llm) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self._memory = llama_cpp.llama_get_memory(llm._ctx.ctx)

    def move(
        self,
        prompt: Sequence[int],
        prefix: int,
        blocks: Sequence[Block],
        evaluate_gap: Callable[[Sequence[int], int], bool],
    ) -> int:
        """Rearrange the cache for `prompt`; return how many prompt tokens it now holds.

        `evaluate_gap(tokens, position)` evaluates a gap in the scratch sequence and returns
        False if the user stopped; the cache is then cut back to what is complete.
        """
        if not blocks:
            return prefix
        self._drop_unkept(prefix, blocks)
        self._shift(blocks)
        done = prefix
        try:
            for block in blocks:
                gap = prompt[done : block.dst]
                if gap and not self._fill_gap(gap, done, evaluate_gap):
                    break
                done = block.dst + block.length
        except (
            RuntimeError
        ) as exc:  # a failed decode: what is complete stays, the rest is evaluated
            log.warning("moving cached text failed after %d tokens: %s", done, exc)
        return self._cut(prompt, done)

    def _drop_unkept(self, prefix: int, blocks: Sequence[Block]) -> None:
        lib, memory = self._lib, self._memory
        lib.llama_memory_seq_rm(memory, SCRATCH_SEQ, -1, -1)
        kept_until = prefix
        for block in blocks:
            if block.src > kept_until:
                lib.llama_memory_seq_rm(memory, SEQ, kept_until, block.src)
            kept_until = block.src + block.length
        lib.llama_memory_seq_rm(memory, SEQ, kept_until, -1)

    def _shift(self, blocks: Sequence[Block]) -> None:
        """Left moves first to last, then right moves last to first: a block's source and
        target ranges then never hold cells of another block (both orders are monotone)."""
        lib, memory = self._lib, self._memory
        for block in blocks:
            if block.dst < block.src:
                lib.llama_memory_seq_add(
                    memory, SEQ, block.src, block.src + block.length, block.dst - block.src
                )
        for block in reversed(blocks):
            if block.dst > block.src:
                lib.llama_memory_seq_add(
                    memory, SEQ, block.src, block.src + block.length, block.dst - block.src
                )

    def _fill_gap(
        self, gap: Sequence[int], at: int, evaluate_gap: Callable[[Sequence[int], int], bool]
    ) -> bool:
        lib, memory = self._lib, self._memory
        lib.llama_memory_seq_cp(memory, SEQ, SCRATCH_SEQ, 0, at)
        try:
            if not evaluate_gap(gap, at):
                return False
            lib.llama_memory_seq_cp(memory, SCRATCH_SEQ, SEQ, at, at + len(gap))
            return True
        finally:
            lib.llama_memory_seq_rm(memory, SCRATCH_SEQ, -1, -1)

    def _cut(self, prompt: Sequence[int], end: int) -> int:
        """Keep sequence 0 up to `end` and record those tokens as llama-cpp-python's cache."""
        self._lib.llama_memory_seq_rm(self._memory, SEQ, end, -1)
        llm = self._llm
        llm.input_ids[:end] = prompt[:end]
        llm.n_tokens = end
        return end


class ScratchDecoder:
    """Evaluates tokens at explicit positions in the scratch sequence, in slices."""

    def __init__(self, llm) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = llm._ctx.ctx
        self._capacity = llm.n_batch
        self._batch = llama_cpp.llama_batch_init(self._capacity, 0, 1)

    def decode(self, tokens: Sequence[int], position: int) -> None:
        if len(tokens) > self._capacity:
            raise ValueError(f"{len(tokens)} tokens exceed the batch of {self._capacity}")
        batch = self._batch
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = position + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = SCRATCH_SEQ
            batch.logits[i] = 0
        batch.n_tokens = len(tokens)
        code = self._lib.llama_decode(self._ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code} while evaluating moved text")

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
