"""KV checkpoints: a prompt resumes from an older call's prefix, and the answer is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core.chat import ChatMessage, ChatRequest
from desktop.llm.kv_checkpoints import Checkpoint, KVCheckpoints, common_prefix
from desktop.llm.llamacpp import LlamaCppBackend

REPORT = " ".join(
    f"Section {n}: heat pumps move heat instead of burning fuel, so their running cost depends "
    f"on the electricity price and the coefficient of performance, about {n + 2} in mild weather."
    for n in range(1, 12)
)


def request(tail: str) -> ChatRequest:
    text = f"Here is a report.\n{REPORT}\n\n{tail}"
    return ChatRequest((ChatMessage("user", text),), max_tokens=12, temperature=0.0, purpose="test")


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0


def test_best_needs_a_real_gain():
    cache = KVCheckpoints(min_gain=10)
    cache.entries = []
    assert cache.best([1, 2, 3], live=0) == (None, 0)


def test_eviction_keeps_the_newest_of_each_purpose():
    cache = KVCheckpoints(max_entries=3)
    made = [
        Checkpoint((n,), np.zeros(10, dtype=np.uint8), float(n), purpose)
        for n, purpose in enumerate(["extend_plan", "write", "write", "write"])
    ]
    cache.entries = list(made)
    cache._evict()
    # Plain LRU would drop the extend-plan (the oldest); the oldest write goes instead.
    assert [e.purpose for e in cache.entries] == ["extend_plan", "write", "write"]
    assert made[1] not in cache.entries
    cache.max_entries = 1
    cache._evict()  # nothing left to spare: least recently used first
    assert cache.entries == [made[3]]


@pytest.fixture(scope="module")
def pair(embedded_model_path):
    with_cache = LlamaCppBackend(embedded_model_path, n_ctx=4096)
    without = LlamaCppBackend(embedded_model_path, n_ctx=4096, kv_checkpoints=False)
    yield with_cache, without
    with_cache.close()
    without.close()


def test_resumes_from_an_older_prefix_with_the_same_answer(pair):
    with_cache, without = pair
    first, other, again = (
        request("Summarise it in one sentence."),
        ChatRequest((ChatMessage("user", "Name a colour."),), max_tokens=8, temperature=0.0),
        request("Which section mentions the highest number?"),
    )
    for backend in pair:
        backend.chat(first)
        backend.chat(other)  # the live cache now shares only the chat template with `again`
    cached, fresh = with_cache.chat(again), without.chat(again)
    assert fresh.prefilled_tokens > 0.9 * fresh.prompt_tokens
    assert cached.prefilled_tokens < 0.2 * cached.prompt_tokens
    assert with_cache.checkpoints.restored >= 1
    assert cached.text == fresh.text


def test_checkpoints_stay_within_their_bounds(pair):
    with_cache, _ = pair
    for n in range(6):
        with_cache.chat(request(f"Question number {n}: what is section {n} about?"))
    cache = with_cache.checkpoints
    assert len(cache.entries) <= cache.max_entries
    assert cache.size <= cache.capacity_bytes
