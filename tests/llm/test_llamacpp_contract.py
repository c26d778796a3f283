"""The real llama.cpp with the embedded model: every JSON action valid under its grammar.

A 135M model writes nonsense, but under the grammars it cannot write an invalid action:
20 samples of each action type must all parse and validate with the engine's own rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core import grammars, prompts
from desktop.core.actions import (
    ExtendPlan,
    Nop,
    Rules,
    expandable_positions,
    parse_extend_plan,
    parse_init_plan,
    parse_search,
    parse_write,
)
from desktop.core.chat import ChatRequest
from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.language import detect_language
from desktop.core.outline import Outline
from desktop.core.report import cite_keys
from desktop.core.state import RunConfig

SAMPLES = 20
QUERIES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "deepresearch-bench-queries.jsonl"
)
CONFIG = RunConfig.for_small_model()


def limits(language: str) -> grammars.GrammarLimits:
    return CONFIG.grammar_limits(language)


def questions() -> list[str]:
    if QUERIES.exists():
        rows = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines()]
        en = [r["prompt"] for r in rows if r["language"] == "en"][:7]
        zh = [r["prompt"] for r in rows if r["language"] == "zh"][:3]
        return [q[:300] for q in en + zh]
    return ["How do heat pumps compare with gas boilers?", "中国金融未来的发展趋势"]


def sample_questions(n: int = SAMPLES, zh_every: int = 7) -> list[str]:
    """n questions: English ones cycled, with a Chinese one every `zh_every` samples."""
    qs = questions()
    en = [q for q in qs if detect_language(q) == "en"]
    zh = [q for q in qs if detect_language(q) == "zh"] or en
    return [
        zh[i // zh_every % len(zh)] if i % zh_every == zh_every - 1 else en[i % len(en)]
        for i in range(n)
    ]


def registry() -> tuple[EvidenceRegistry, list[str]]:
    passages = [
        Passage(
            f"Heat pumps move heat with a compressor; fact number {i} about efficiency.",
            "/docs/heat.pdf",
            page=i + 1,
            chunk_id=f"c{i}",
        )
        for i in range(10)
    ]
    return EvidenceRegistry().with_passages(passages)


def sample(backend, prompt: str, grammar: str, max_tokens: int, seed: int):
    request = ChatRequest.user(
        prompt, max_tokens=max_tokens, temperature=0.8, seed=seed, grammar=grammar
    )
    return backend.chat(request)


def test_markdown_write_grammar_holds_under_real_sampling(llama_backend):
    """The large-model write grammar: whatever the model samples parses, cites only the pack,
    and never contains a heading line or the word bibkey."""
    reg, keys = registry()
    shown = keys[:5]
    outline = Outline.initial("Heat pumps", [("Efficiency", "COP and climate")])
    prompt = prompts.write_prompt("How efficient are heat pumps?", outline, reg, shown, "en")
    grammar = grammars.write_grammar(shown, RunConfig().grammar_limits("en"))
    rules = Rules(allowed_keys=frozenset(shown), hard_mode=False)
    for i in range(3):
        result = sample(llama_backend, prompt, grammar, 160, seed=400 + i)
        assert result.text.startswith("<thought>")
        write = parse_write(result.text, rules, cut_off=result.finish_reason == "length")
        assert write.dropped_keys == ()
        assert "bibkey" not in write.text
        assert all(k in shown for k in cite_keys(write.text))


def test_search_actions_always_valid(llama_backend):
    for i, q in enumerate(sample_questions(zh_every=4)):
        lang = detect_language(q)
        prompt = prompts.search_prompt(q, None, "outline", lang, prompts.Abbreviation())
        grammar = grammars.search_grammar(limits(lang), latin_ok=lang != "zh")
        result = sample(llama_backend, prompt, grammar, CONFIG.budget("search", lang), seed=i)
        assert result.finish_reason == "stop", result.text
        action = parse_search(result.text, Rules(hard_mode=True, language=lang))
        assert 1 <= len(action.keywords) <= 5


def test_init_plan_actions_always_valid(llama_backend):
    reg, keys = registry()
    for i, q in enumerate(sample_questions()):
        lang = detect_language(q)
        prompt = prompts.init_plan_prompt(q, reg, keys, lang)
        grammar = grammars.init_plan_grammar(limits(lang), hard_mode=True, latin_ok=lang != "zh")
        result = sample(
            llama_backend, prompt, grammar, CONFIG.budget("init_plan", lang), seed=100 + i
        )
        assert result.finish_reason == "stop", result.text[-200:]
        plan = parse_init_plan(result.text, Rules(hard_mode=True, language=lang))
        assert 3 <= len(plan.sections) <= CONFIG.max_sections


def test_extend_plan_actions_always_valid(llama_backend):
    outline = Outline.initial("Heating", [("Heat pumps", "how"), ("Boilers", "costs")])
    outline = outline.with_content("s1", "Text one.").with_content("s2", "Text two.")
    outline = outline.expanded("s1", [("Air source", "a")]).with_content("s3", "Three.")
    positions = expandable_positions(outline, None)
    assert positions == ("section-1.1", "section-2")
    seen = set()
    for i, q in enumerate(sample_questions()):
        prompt = prompts.extend_plan_prompt(q, outline, positions, "en", forced=False)
        grammar = grammars.extend_plan_grammar(positions, limits("en"), hard_mode=True)
        result = sample(
            llama_backend, prompt, grammar, CONFIG.budget("extend_plan", "en"), seed=200 + i
        )
        assert result.finish_reason == "stop", result.text[-200:]
        action = parse_extend_plan(result.text, Rules(hard_mode=True, expandable=positions))
        assert isinstance(action, ExtendPlan | Nop)
        seen.add(type(action).__name__)
        if isinstance(action, ExtendPlan):
            assert 2 <= len(action.subsections) <= CONFIG.max_subsections


@pytest.mark.parametrize("language", ["en", "zh"])
def test_write_cites_only_shown_keys_and_often_enough(llama_backend, language):
    reg, keys = registry()
    shown = keys[:6]
    q = "How efficient are heat pumps?" if language == "en" else "热泵的效率如何？"
    outline = Outline.initial("Heat pumps", [("Efficiency", "COP and climate")])
    prompt = prompts.write_prompt(q, outline, reg, shown, language, prompts.Abbreviation())
    grammar = grammars.tiny_write_grammar(
        shown, limits(language), cite_every=CONFIG.cite_every, latin_ok=language != "zh"
    )
    rules = Rules(language=language, allowed_keys=frozenset(shown), cite_every=CONFIG.cite_every)
    for i in range(3):
        result = sample(
            llama_backend, prompt, grammar, CONFIG.budget("write", language), seed=300 + i
        )
        write = parse_write(result.text, rules, cut_off=result.finish_reason == "length")
        assert write.text and "\\cite{" in write.text
        if language == "zh":
            assert not any(
                "a" <= c.lower() <= "z"
                for c in write.text.replace("\\cite", "").replace("textid", "")
            )
