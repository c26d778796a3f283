"""Moving unchanged cached text to its new position (desktop.llm.kv_reuse), with real llama.cpp."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core.cancel import CancelToken
from desktop.core.chat import ChatMessage, ChatRequest
from desktop.llm.kv_reuse import FRESH_TAIL, MIN_BLOCK, Block, plan_blocks
from desktop.llm.llamacpp import LlamaCppBackend

HEAD = list(range(1000, 1010))
SUFFIX = list(range(2000, 2100))


def test_plan_finds_the_text_after_a_change():
    cached = HEAD + [1, 2, 3, 4, 5] + SUFFIX
    prompt = HEAD + [7] * 12 + SUFFIX + [9]
    assert plan_blocks(cached, prompt, len(HEAD), fresh_tail=1) == [Block(15, 22, 100)]


def test_plan_leaves_the_prompt_tail_and_short_runs_to_evaluation():
    cached = HEAD + [1, 2] + SUFFIX
    prompt = HEAD + [7] + SUFFIX
    assert plan_blocks(cached, prompt, len(HEAD), fresh_tail=1) == [Block(12, 11, 99)]
    assert plan_blocks(cached, prompt, len(HEAD), fresh_tail=20) == [Block(12, 11, 80)]
    assert plan_blocks(cached, prompt, len(HEAD), fresh_tail=40) == []  # 60 < MIN_BLOCK left
    short = SUFFIX[: MIN_BLOCK - 1]
    assert plan_blocks(HEAD + [1] + short, HEAD + [7] + short + [9], len(HEAD), fresh_tail=1) == []


SURVEY = " ".join(
    f"Town {n}: the survey counted {n * 37} homes, {n * 11} of them with heat pumps."
    for n in range(1, 60)
)


def prompt(note: str) -> str:
    return f"Notes: {note}\n{SURVEY}\nWhich town had the most heat pumps? Answer:"


def request(note: str) -> ChatRequest:
    return ChatRequest((ChatMessage("user", prompt(note)),), max_tokens=3, temperature=0.0)


@pytest.fixture(scope="module")
def backend(embedded_model_path):
    llm = LlamaCppBackend(
        embedded_model_path, n_ctx=4096, kv_checkpoints=False, reuse_moved_text=True
    )
    assert llm.moves_text
    yield llm
    llm.close()


def memory(backend):
    import llama_cpp

    return llama_cpp.llama_get_memory(backend._llm._ctx.ctx)


def assert_consistent(backend):
    """Sequence 0 holds exactly the recorded tokens' positions; the scratch sequence is empty."""
    import llama_cpp

    mem, n = memory(backend), backend._llm.n_tokens
    assert llama_cpp.llama_memory_seq_pos_min(mem, 0) == 0
    assert llama_cpp.llama_memory_seq_pos_max(mem, 0) == n - 1
    assert llama_cpp.llama_memory_seq_pos_max(mem, 1) == -1


def test_only_the_changed_text_is_evaluated(backend):
    backend.chat(request("cold winter."))
    moved = backend.chat(request("a much colder winter than the year before, with snow."))
    assert moved.finish_reason != "cancelled"
    assert moved.prompt_tokens > 1000
    # the note's new words and the prompt's fresh tail are evaluated; the survey was moved
    assert moved.prefilled_tokens < FRESH_TAIL + 30
    assert_consistent(backend)


def tokens(backend, note: str) -> list[int]:
    text = backend.format_prompt(request(note))[0]
    return backend._llm.tokenize(text.encode(), add_bos=False, special=True)


def last_logits(backend, tokens: list[int]) -> np.ndarray:
    import llama_cpp

    llm = backend._llm
    llm.eval(tokens)
    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


def kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    p = np.exp(p_logits - p_logits.max())
    q = np.exp(q_logits - q_logits.max())
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log(p / q)).sum())


def test_the_changed_text_is_evaluated_as_if_in_place(backend):
    """The gap, evaluated in the scratch sequence, holds the same cells as a fresh prefill."""
    import llama_cpp

    llm = backend._llm
    old, new = "rain all spring.", "dry weather in spring and a hot summer after it."
    backend.chat(request(old))
    backend.chat(request(new))
    fresh_new = tokens(backend, new)
    fresh_old = tokens(backend, old)
    shared_tail = next(n for n in range(len(fresh_new)) if fresh_new[-1 - n] != fresh_old[-1 - n])
    gap_end = len(fresh_new) - shared_tail  # where the moved survey starts
    probe = llm.tokenize(b" Town", add_bos=False)
    llama_cpp.llama_memory_seq_rm(memory(backend), 0, gap_end, -1)
    llm.n_tokens = gap_end
    moved = last_logits(backend, probe)
    llm.reset()
    fresh = last_logits(backend, fresh_new[:gap_end] + probe)
    llm.reset()
    other = last_logits(backend, fresh_old[: len(fresh_old) - shared_tail] + probe)
    assert kl(fresh, moved) < 1e-3
    assert kl(fresh, other) > 100 * max(kl(fresh, moved), 1e-6)  # the check can tell text apart


def test_stop_while_moving_leaves_a_consistent_cache(backend):
    backend.chat(request("mild weather."))
    cancel = CancelToken()
    cancel.set()
    stopped = backend.chat(request("a storm in the first week of the survey."), cancel=cancel)
    assert stopped.finish_reason == "cancelled"
    assert_consistent(backend)
    again = backend.chat(request("a storm in the first week of the survey."))
    assert again.finish_reason != "cancelled"
    assert_consistent(backend)
