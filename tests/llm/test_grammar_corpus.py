"""The write grammar against a corpus of realistic sections, through llama.cpp's own engine.

`grammar_corpus/accept/` holds sections written by hand in the style of a strong model
(tables, lists, code, LaTeX, statistics with `<` and decimals, Chinese with full-width
punctuation, citations mid-sentence); each must be admitted. `grammar_corpus/reject/` holds
sections with one defect each (an invented key, a heading, `bibkey`, …), named in the file
name; each must be refused. The check feeds every token to llama.cpp's grammar sampler
(`desktop.llm.grammar_probe`), the same engine that constrains sampling.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core import grammars
from desktop.core.actions import Rules, parse_write
from desktop.core.state import RunConfig
from desktop.llm.grammar_probe import GrammarProbe

CORPUS = Path(__file__).parent / "grammar_corpus"
KEYS = [f"textid{i}" for i in range(1, 11)]
ACCEPT = sorted((CORPUS / "accept").glob("*.md"))
REJECT = sorted((CORPUS / "reject").glob("*.md"))


@pytest.fixture(scope="module")
def probe(embedded_gguf):
    from desktop.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(embedded_gguf, n_ctx=512, n_threads=1, kv_checkpoints=False)
    yield GrammarProbe(backend._llm)
    backend.close()


@pytest.fixture(scope="module")
def grammar() -> str:
    return grammars.write_grammar(KEYS, RunConfig().grammar_limits("en"))


def reply(section: str) -> str:
    return f"<thought>What the evidence says, in order.</thought>\n<action>{section}</action>"


def test_the_corpus_is_big_enough():
    assert len(ACCEPT) >= 40 and len(REJECT) >= 20
    assert sum("zh" in p.name for p in ACCEPT) >= 10


@pytest.mark.parametrize("path", ACCEPT, ids=lambda p: p.stem)
def test_strong_model_sections_are_admitted(probe, grammar, path):
    section = path.read_text(encoding="utf-8").rstrip("\n")
    result = probe.check(grammar, reply(section))
    prefix = len(reply("")) - len("</action>")
    at = None if result.rejected_at is None else result.rejected_at - prefix
    assert result.accepted, f"refused near: {section[max(0, (at or 0) - 60) : (at or 0) + 20]!r}"
    # and what the grammar admits, the parser keeps as it is
    written = parse_write(reply(section), Rules(allowed_keys=frozenset(KEYS)))
    assert written.dropped_keys == ()


@pytest.mark.parametrize("path", REJECT, ids=lambda p: p.stem)
def test_broken_sections_are_refused(probe, grammar, path):
    section = path.read_text(encoding="utf-8").rstrip("\n")
    assert not probe.check(grammar, reply(section)).accepted


def test_the_probe_can_tell_both_apart(probe, grammar):
    """Guard against a probe that accepts everything or nothing."""
    ok = reply("Plain text \\cite{textid1}.")
    assert probe.check(grammar, ok).accepted
    assert not probe.check(grammar, ok.replace("textid1", "textid11")).accepted
    assert not probe.check('root ::= "x"', ok).accepted


@pytest.mark.parametrize("tiny", [False, True])
def test_search_grammar_refuses_the_examples_placeholder_keywords(probe, tiny):
    config = RunConfig.for_small_model() if tiny else RunConfig()
    grammar = grammars.search_grammar(config.grammar_limits("en"))

    def admits(keyword: str) -> bool:
        payload = '{"name": "search", "keywords": ["' + keyword + '"]}'
        return probe.check(grammar, f"<thought>x</thought>\n<action>{payload}</action>").accepted

    assert not admits("keyword-1") and not admits("keyword-2")
    assert not admits("section-1.1.2") and not admits("Section-2")  # the outline's labels
    assert not admits("...") and not admits(" space first")
    for keyword in ["keyword", "booktabs rules", "3D plots", "k", "lm() summary", "a-b"]:
        assert admits(keyword), keyword


def test_titles_cannot_be_the_outlines_own_labels(probe):
    grammar = grammars.init_plan_grammar(RunConfig().grammar_limits("en"))

    def admits(title: str) -> bool:
        payload = (
            '{"name": "init-plan", "title": "' + title + '", "sections": '
            '[{"title": "' + title + '", "plan": "What it covers."}]}'
        )
        return probe.check(grammar, f"<thought>x</thought>\n<action>{payload}</action>").accepted

    assert not admits("Section-1") and not admits("section-2.1") and not admits("...")
    assert admits("Section 1: Tables") and admits("Booktabs rules") and admits("S")
