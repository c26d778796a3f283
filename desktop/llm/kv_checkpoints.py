"""Saved KV-cache states of earlier prompts, so a call can resume from an older shared prefix.

llama.cpp keeps one sequence of tokens in its KV cache, and a new prompt reuses only its common
prefix with the *previous* call. WARP alternates prompts that diverge in different places: the
extend-plan prompt shows the report in full where search and write prompts show it abbreviated,
so after an extend-plan the next search shares little with it but a lot with the last write;
and one extend-plan shares the full text of every earlier section with the one before it.

`KVCheckpoints` keeps the KV state of recent prompts (sequence 0 only, via
``llama_state_seq_get_data``: just the cells in use, no logits), bounded by entries and bytes and
never taken when it would leave the machine short of memory. Before a call, `best` finds the
checkpoint sharing the longest prefix with the new prompt; when it beats the live cache by a
margin, `restore` loads it and trims it to the shared prefix, and llama.cpp then evaluates only
the rest. Eviction keeps the newest checkpoint of each purpose: an extend-plan is followed by
several writes, and plain LRU would drop it just before the next extend-plan needs it.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

SEQ_ID = 0
MAX_ENTRIES = 4
CAPACITY_BYTES = 768 * 1024**2
MIN_FREE_BYTES = 1024**3  # never take a checkpoint that would leave less free memory than this
MIN_GAIN_TOKENS = 48  # restoring costs a copy; below this gain the live cache is good enough
# Calls whose state no later prompt comes back to: init-plan's passages never recur. (Searches
# are kept: in the trained layout each call kind opens with its own role text, so the next
# search shares its long prefix only with the last search.) Saving costs a copy of the KV
# cache (tens of ms for a small model once its cells are fragmented).
NOT_WORTH_SAVING = frozenset({"init_plan"})


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The number of leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Checkpoint:
    tokens: tuple[int, ...]
    data: np.ndarray  # the sequence's KV state as llama.cpp serialised it (uint8)
    used: float
    purpose: str = ""  # the call it was taken after (write, extend_plan, ...)

    @property
    def size(self) -> int:
        return len(self.data)


class KVCheckpoints:
    """A small LRU of KV states keyed by the prompt tokens they hold."""

    def __init__(
        self,
        capacity_bytes: int = CAPACITY_BYTES,
        max_entries: int = MAX_ENTRIES,
        min_gain: int = MIN_GAIN_TOKENS,
    ) -> None:
        self.capacity_bytes = capacity_bytes
        self.max_entries = max_entries
        self.min_gain = min_gain
        self.entries: list[Checkpoint] = []
        self.restored = 0  # calls that resumed from a checkpoint (for logs and benchmarks)
        self.restored_tokens = 0
        self.saved = 0
        self.seconds = 0.0  # time spent saving and restoring

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def best(self, tokens: Sequence[int], live: int) -> tuple[Checkpoint | None, int]:
        """The checkpoint worth restoring for `tokens` (None if the live cache's `live` shared
        tokens are as good), and how many tokens it shares with them."""
        found, shared = None, live
        for entry in self.entries:
            n = min(common_prefix(entry.tokens, tokens), len(tokens) - 1)
            if n > shared:
                found, shared = entry, n
        if found is None or shared - live < self.min_gain:
            return None, live
        return found, shared

    @staticmethod
    def worth_saving(purpose: str) -> bool:
        """Whether a later prompt may come back to the state of a call made for `purpose`."""
        return purpose not in NOT_WORTH_SAVING

    def save(self, ctx, tokens: Sequence[int], free_bytes: int | None, purpose: str = "") -> bool:
        """Keep the KV state of sequence 0, which holds exactly `tokens`. False if skipped."""
        started = time.perf_counter()
        try:
            return self._save(ctx, tuple(tokens), free_bytes, purpose)
        finally:
            self.seconds += time.perf_counter() - started

    def _save(self, ctx, key: tuple[int, ...], free_bytes: int | None, purpose: str) -> bool:
        from llama_cpp import llama_cpp as C

        if any(e.tokens[: len(key)] == key for e in self.entries):
            return False  # an entry already holds this prefix (or more)
        size = int(C.llama_state_seq_get_size(ctx, SEQ_ID))
        if size <= 0 or size > self.capacity_bytes:
            return False
        if free_bytes is not None and free_bytes - size < MIN_FREE_BYTES:
            log.info("KV checkpoint skipped: %d MiB would leave too little memory", size >> 20)
            return False
        # np.empty, not a ctypes array: no zero-filling while holding the GIL (tens of ms for
        # a large state); llama.cpp writes the pages with the GIL released.
        data = np.empty(size, dtype=np.uint8)
        written = int(C.llama_state_seq_get_data(ctx, _pointer(data), size, SEQ_ID))
        if written <= 0:
            return False
        data = data[:written]
        # An entry whose tokens are a prefix of the new one is now redundant.
        self.entries = [e for e in self.entries if key[: len(e.tokens)] != e.tokens]
        self.entries.append(Checkpoint(key, data, time.monotonic(), purpose))
        self._evict()
        self.saved += 1
        return True

    def restore(self, llm, entry: Checkpoint, shared: int, keep: int | None = None) -> bool:
        """Load `entry` into sequence 0 of `llm` and keep its first `keep` tokens (default
        `shared`, the prefix it shares with the new prompt; more when later cells will move)."""
        started = time.perf_counter()
        try:
            return self._restore(llm, entry, shared, shared if keep is None else keep)
        finally:
            self.seconds += time.perf_counter() - started

    def _restore(self, llm, entry: Checkpoint, shared: int, keep: int) -> bool:
        from llama_cpp import llama_cpp as C

        ctx = llm._ctx.ctx
        memory = C.llama_get_memory(ctx)
        C.llama_memory_seq_rm(memory, SEQ_ID, -1, -1)
        if int(C.llama_state_seq_set_data(ctx, _pointer(entry.data), entry.size, SEQ_ID)) <= 0:
            C.llama_memory_seq_rm(memory, SEQ_ID, -1, -1)
            llm.n_tokens = 0
            log.warning("could not restore a KV checkpoint; evaluating the whole prompt")
            self.entries.remove(entry)
            return False
        C.llama_memory_seq_rm(memory, SEQ_ID, keep, -1)
        llm.input_ids[:keep] = entry.tokens[:keep]
        llm.n_tokens = keep
        entry.used = time.monotonic()
        self.restored += 1
        self.restored_tokens += shared
        return True

    def _evict(self) -> None:
        """Drop entries until within bounds: the least recently used one that a newer entry of
        the same purpose supersedes, or, when none is, the least recently used one."""
        self.entries.sort(key=lambda e: e.used)
        while self.entries and (
            len(self.entries) > self.max_entries or self.size > self.capacity_bytes
        ):
            newest = {e.purpose: e for e in self.entries}  # sorted: the last one wins
            spare = set(map(id, newest.values()))
            victim = next((e for e in self.entries if id(e) not in spare), self.entries[0])
            self.entries.remove(victim)

    def clear(self) -> None:
        self.entries.clear()


def _pointer(data: np.ndarray):
    return data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
