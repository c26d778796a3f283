"""Prompt-lookup speculative decoding (desktop.llm.lookup_decoding) with the real embedded model.

The drafter must never change what is generated: with any drafter (long drafts, two-token
drafts, guesses only) greedy decoding gives the same tokens, under the write grammar and
without one, and those are the tokens the model picks when prompt and answer are evaluated as
one batch. Without a drafter the loop gives exactly llama-cpp-python's create_completion text.
"""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core import grammars
from desktop.core.cancel import CancelToken
from desktop.core.chat import ChatRequest
from desktop.core.state import RunConfig
from desktop.llm import lookup_decoding as ld

PASSAGES = (
    "textid1: An air source heat pump in the UK climate reaches a seasonal coefficient of "
    "performance of 2.8 to 3.5, delivering about three units of heat per unit of electricity.\n"
    "textid2: Gas condensing boilers reach 85 to 90 percent seasonal efficiency when the return "
    "water temperature stays below 55 degrees Celsius.\n"
    "textid3: Heat pumps work best with underfloor heating or large radiators, because they "
    "deliver heat at a low flow temperature of 35 to 45 degrees Celsius."
)
WRITE = (
    f"Passages:\n{PASSAGES}\n\nWrite one paragraph comparing heat pumps and gas boilers. "
    "Quote the passages' figures and cite each sentence with \\cite{textidN}."
)
COPY = f"Passages:\n{PASSAGES}\n\nRepeat passage textid1 word for word."


# ---- the drafter on its own (no model) ----------------------------------------------------------
def test_drafter_proposes_what_followed_the_latest_occurrence_of_the_longest_suffix():
    drafter = ld.NgramDrafter(max_ngram=3, min_ngram=2, tokens=3)
    drafter.start([2, 3, 4, 5, 6, 2, 3, 7, 8, 9, 1, 2, 3])
    assert drafter.draft(10) == [7, 8, 9]  # [1, 2, 3] is new; [2, 3] was last followed by 7
    drafter.start([1, 2, 3, 4, 5, 6, 9, 1, 2, 3])
    assert drafter.draft(10) == [4, 5, 6]  # the 3-gram wins
    assert drafter.draft(2) == [4, 5]


def test_drafter_guesses_one_token_when_nothing_matches_and_indexes_new_tokens():
    drafter = ld.NgramDrafter(max_ngram=3, min_ngram=2, tokens=4)
    drafter.start([5, 6, 7])
    assert drafter.draft(4) == [7]  # nothing seen before: the last token itself
    drafter.extend([5])
    assert drafter.draft(4) == [6]  # no 2-gram match: what followed the last token before
    drafter.extend([6])
    assert drafter.draft(4) == [7, 5, 6]  # [5, 6] matched; the draft runs into new tokens
    assert drafter.draft(0) == []
    matches_only = ld.NgramDrafter(max_ngram=3, min_ngram=2, tokens=4, guess=False)
    matches_only.start([5, 6, 7, 5])
    assert matches_only.draft(4) == []


def test_draft_length_halves_after_refused_drafts_and_grows_back():
    drafter = ld.NgramDrafter(tokens=8)
    drafter.feedback(8, 0)
    drafter.feedback(4, 0)
    assert drafter.length == 2
    drafter.feedback(2, 2)
    assert drafter.length == 4
    drafter.feedback(1, 0)  # a one-token guess says nothing about the length
    assert drafter.length == 4


# ---- with the embedded model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_backend(embedded_model_path):
    """The embedded model on one thread (llama.cpp's threads spin on a loaded machine)."""
    from desktop.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(embedded_model_path, n_ctx=2048, n_threads=1)
    yield backend
    backend.close()


def _prompt_tokens(backend, text: str) -> list[int]:
    prompt, _ = backend.format_prompt(ChatRequest.user(text))
    return backend._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def _generate(backend, tokens, drafter, *, grammar=None, temperature=0.0, max_tokens=64):
    _, stops = backend.format_prompt(ChatRequest.user(""))
    return ld.complete(
        backend._llm,
        tokens,
        max_tokens=max_tokens,
        sampling=ld.Sampling(temperature=temperature, seed=7),
        stop=stops,
        grammar=grammar,
        drafter=drafter,
    )


def _drafters():
    return {
        "lookup": ld.NgramDrafter(),
        "two-token drafts": ld.NgramDrafter(tokens=2),
        "guesses only": ld.NgramDrafter(max_ngram=64, min_ngram=64),
    }


def _teacher_forced_greedy(backend, tokens, answer) -> list[int]:
    """The argmax after each position when prompt and answer are evaluated in one batch."""
    llm = backend._llm
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.n_tokens = 0
    llm.eval(tokens[:-1])
    batch = [tokens[-1], *answer[:-1]]
    ld._decode(llm, batch, llm.n_tokens)
    import llama_cpp

    n_vocab = llm.n_vocab()
    picks = []
    for i in range(len(batch)):
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(llm._ctx.ctx, i), shape=(n_vocab,)
        )
        picks.append(int(logits.argmax()))
    return picks


def test_greedy_output_is_identical_with_any_drafter_and_is_the_models_own(llama_backend):
    tokens = _prompt_tokens(llama_backend, WRITE)
    results = {name: _generate(llama_backend, tokens, d) for name, d in _drafters().items()}
    answers = {name: r.tokens for name, r in results.items()}
    assert len(set(map(tuple, answers.values()))) == 1, answers
    lookup = results["lookup"]
    assert lookup.stats.drafted > 0 and lookup.stats.accepted > 0
    assert lookup.stats.decodes < len(lookup.tokens)  # some calls emitted several tokens
    assert _teacher_forced_greedy(llama_backend, tokens, lookup.tokens) == lookup.tokens


def test_greedy_output_is_identical_with_any_drafter_under_the_write_grammar(llama_backend):
    config = RunConfig.for_small_model()
    keys = ["textid1", "textid2", "textid3"]
    text = grammars.tiny_write_grammar(
        keys, config.grammar_limits("en"), cite_every=config.cite_every, latin_ok=True
    )
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_string(text, verbose=False)
    tokens = _prompt_tokens(llama_backend, WRITE)
    drafters = _drafters()
    del drafters["two-token drafts"]  # grammar sampling is slow on a 49k vocabulary
    results = {
        name: _generate(llama_backend, tokens, d, grammar=grammar, max_tokens=64)
        for name, d in drafters.items()
    }
    texts = {name: r.text for name, r in results.items()}
    assert len(set(texts.values())) == 1, texts
    assert texts["lookup"].startswith("<thought>")  # the grammar held
    assert results["lookup"].stats.accepted > 0


@pytest.fixture(scope="module")
def flash_backend(embedded_model_path):
    """The embedded model with flash attention, the setting under which the backend drafts."""
    from desktop.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(
        embedded_model_path, n_ctx=2048, n_threads=1, flash_attn=True, prompt_lookup=True
    )
    yield backend
    backend.close()


def test_with_flash_attention_drafting_gives_exactly_the_plain_loops_tokens(flash_backend):
    # without flash attention these two part at token 46 (a near tie the batch kernel flips)
    tokens = _prompt_tokens(flash_backend, WRITE)
    plain = _generate(flash_backend, tokens, None, max_tokens=96)
    drafted = _generate(flash_backend, tokens, ld.NgramDrafter(guess=False), max_tokens=96)
    assert drafted.tokens == plain.tokens
    assert drafted.stats.accepted > 0 and drafted.stats.decodes < len(drafted.tokens)


def test_with_flash_attention_drafting_under_the_write_grammar_changes_nothing(flash_backend):
    config = RunConfig.for_small_model()
    text = grammars.tiny_write_grammar(
        ["textid1", "textid2", "textid3"],
        config.grammar_limits("en"),
        cite_every=config.cite_every,
        latin_ok=True,
    )
    from llama_cpp import LlamaGrammar

    tokens = _prompt_tokens(flash_backend, WRITE)
    runs = [
        _generate(
            flash_backend,
            tokens,
            drafter,
            grammar=LlamaGrammar.from_string(text, verbose=False),
            max_tokens=64,
        )
        for drafter in (None, ld.NgramDrafter(guess=False))
    ]
    assert runs[1].text == runs[0].text and runs[0].text.startswith("<thought>")


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_a_write_through_the_backend_is_the_same_text_drafted_or_not(flash_backend, temperature):
    # the product's path: the engine's request (repeat penalty, write grammar, seed) through
    # chat(), once with the drafter and once with the plain loop
    config = RunConfig.for_small_model()
    grammar = grammars.tiny_write_grammar(
        ["textid1", "textid2", "textid3"],
        config.grammar_limits("en"),
        cite_every=config.cite_every,
        latin_ok=True,
    )
    request = ChatRequest.user(
        WRITE,
        max_tokens=80,
        temperature=temperature,
        seed=11,
        repeat_penalty=config.repeat_penalty,
        grammar=grammar,
        purpose="write",
    )
    assert config.repeat_penalty != 1.0
    saved = flash_backend.lookup_purposes
    try:
        flash_backend.lookup_purposes = frozenset()
        plain = flash_backend.chat(request)
        flash_backend.lookup_purposes = frozenset({"write"})
        drafted = flash_backend.chat(request)
    finally:
        flash_backend.lookup_purposes = saved
    assert drafted.text == plain.text and plain.text.startswith("<thought>")
    assert drafted.drafted_tokens > 0 and plain.drafted_tokens == 0


def test_the_backend_drafts_only_with_flash_attention(flash_backend, embedded_model_path):
    from desktop.llm.llamacpp import LlamaCppBackend

    assert flash_backend.lookup_purposes == ld.DEFAULT_PURPOSES
    assert flash_backend._drafter("write").guess is False
    assert flash_backend._drafter("search") is None
    plain = LlamaCppBackend(embedded_model_path, n_ctx=512, n_threads=1, prompt_lookup=True)
    try:
        assert plain.lookup_purposes == frozenset() and plain._drafter("write") is None
    finally:
        plain.close()


def test_sampling_with_a_seed_is_identical_with_any_drafter(llama_backend):
    tokens = _prompt_tokens(llama_backend, WRITE)
    answers = {
        name: _generate(llama_backend, tokens, d, temperature=0.7).tokens
        for name, d in _drafters().items()
    }
    assert len(set(map(tuple, answers.values()))) == 1, answers


def test_copying_is_mostly_accepted(llama_backend):
    tokens = _prompt_tokens(llama_backend, COPY)
    result = _generate(llama_backend, tokens, ld.NgramDrafter(), max_tokens=48)
    assert "heat pump" in result.text.lower()
    assert result.stats.acceptance > 0.5, result.stats
    assert result.stats.decodes <= len(result.tokens) // 2


def test_without_a_drafter_the_text_is_create_completions(llama_backend):
    tokens = _prompt_tokens(llama_backend, WRITE)
    _, stops = llama_backend.format_prompt(ChatRequest.user(""))
    ours = _generate(llama_backend, tokens, None, max_tokens=80)
    llm = llama_backend._llm
    llm.reset()
    stream = llm.create_completion(
        tokens, max_tokens=80, temperature=0.0, seed=7, stop=stops, stream=True
    )
    theirs = "".join(chunk["choices"][0]["text"] for chunk in stream)
    assert ours.text == theirs
    assert ours.stats.drafted == 0 and ours.stats.decodes == len(ours.tokens)


@pytest.mark.parametrize("purposes", [frozenset(), frozenset({"write"})])
def test_chat_reports_the_drafts_of_the_purposes_that_draft(llama_backend, purposes):
    saved = llama_backend.lookup_purposes
    llama_backend.lookup_purposes = purposes
    try:
        request = ChatRequest.user(COPY, max_tokens=32, temperature=0.0, purpose="write")
        result = llama_backend.chat(request)
    finally:
        llama_backend.lookup_purposes = saved
    assert result.completion_tokens > 0
    assert (result.drafted_tokens > 0) == bool(purposes)
    assert result.accepted_tokens <= result.drafted_tokens


def test_stop_lands_between_verifications(llama_backend):
    tokens = _prompt_tokens(llama_backend, WRITE)
    cancel = CancelToken()
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == 3:
            cancel.set()

    _, stops = llama_backend.format_prompt(ChatRequest.user(""))
    result = ld.complete(
        llama_backend._llm,
        tokens,
        max_tokens=200,
        sampling=ld.Sampling(temperature=0.0),
        stop=stops,
        drafter=ld.NgramDrafter(),
        on_text=on_text,
        is_cancelled=lambda: cancel.is_set,
    )
    assert result.finish_reason == "cancelled"
    assert len(result.tokens) < 200
