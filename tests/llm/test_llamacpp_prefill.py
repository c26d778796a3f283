"""Prefill in slices sized from the measured speed: Stop lands within one, nothing is wasted."""

from __future__ import annotations

import pytest

from desktop.core.cancel import CancelToken
from desktop.core.chat import ChatMessage, ChatRequest
from desktop.llm.llamacpp import (
    MIN_PREFILL_CHUNK,
    PREFILL_SLICE_SECONDS,
    LlamaCppBackend,
)

LONG = " ".join(
    f"Paragraph {n}: the survey of {n * 37} homes recorded seasonal heat pump efficiency, "
    f"boiler fuel use and indoor temperature every hour for a winter in town number {n}."
    for n in range(1, 90)
)


def request(tail: str) -> ChatRequest:
    text = f"{LONG}\n\n{tail}"
    return ChatRequest((ChatMessage("user", text),), max_tokens=4, temperature=0.0)


@pytest.fixture(scope="module")
def backend(embedded_model_path):
    llm = LlamaCppBackend(embedded_model_path, n_ctx=8192, kv_checkpoints=False)
    yield llm
    llm.close()


def test_slices_follow_the_measured_speed(backend):
    result = backend.chat(request("Which town had the most homes?"))
    assert result.prefilled_tokens > 2000
    rate = backend.prefill_rate
    assert rate is not None and rate > 0
    expected = int(rate * PREFILL_SLICE_SECONDS)
    assert backend.prefill_chunk() == max(MIN_PREFILL_CHUNK, min(backend._llm.n_batch, expected))
    backend.prefill_rate = 1e9  # a GPU: whole batches
    assert backend.prefill_chunk() == backend._llm.n_batch
    backend.prefill_rate = 1.0  # a model far too big for the CPU: still small slices
    assert backend.prefill_chunk() == MIN_PREFILL_CHUNK
    backend.prefill_rate = rate


def test_stop_during_a_long_prefill_lands_within_a_slice_and_keeps_the_work(backend, monkeypatch):
    backend._llm.reset()
    cancel = CancelToken()
    evaluate = backend._llm.eval
    slices: list[int] = []

    def eval_then_stop(piece) -> None:  # Stop arrives while the second slice is evaluated
        slices.append(len(piece))
        if len(slices) == 2:
            cancel.set()
        evaluate(piece)

    monkeypatch.setattr(backend._llm, "eval", eval_then_stop)
    stopped = backend.chat(request("How many towns were surveyed?"), cancel=cancel)
    monkeypatch.undo()
    assert stopped.finish_reason == "cancelled"
    assert len(slices) == 2  # the slice in flight was the last one
    assert backend._llm.n_tokens == sum(slices) < stopped.prompt_tokens
    done_before_stop = backend._llm.n_tokens
    assert done_before_stop > 0
    again = backend.chat(request("How many towns were surveyed?"))
    assert again.finish_reason != "cancelled"
    # The slices evaluated before Stop stay in the cache: the retry does not start over.
    assert again.prefilled_tokens <= again.prompt_tokens - done_before_stop + 1
