"""The protocol table (desktop.core.protocol): one row per model call, each row's parts.

The table is what `Engine.step` runs; these tests check each row builds the prompt, grammar,
schema, rules and budget of its phase as warp.md describes, from the state alone.
"""

from __future__ import annotations

import typing

import pytest

from desktop.core import grammars, prompts, protocol
from desktop.core.actions import ActionError, ExtendPlan, Search, Write
from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline
from desktop.core.state import Phase, RunConfig, RunState
from tests import helpers

CONFIG = RunConfig(max_step=40, max_extend=3)


def state(phase: Phase, *written: str, **changes) -> RunState:
    passages = [
        Passage(text=f"Passage {i} about factors.", source="/d/m.pdf", page=i, chunk_id=f"c{i}")
        for i in range(3)
    ]
    registry, keys = EvidenceRegistry().with_passages(passages)
    outline = Outline.initial("Factors", [("Coding", "codes"), ("Contrasts", "sums")])
    for section_id in written:
        outline = outline.with_content(section_id, "Text [[c]].")
    return RunState(
        "How does R code factors?",
        "en",
        phase=phase,
        outline=outline,
        registry=registry,
        pack=tuple(keys),
        pack_for="s1",
        **changes,
    )


def test_every_phase_but_done_has_one_row() -> None:
    phases = set(typing.get_args(Phase))
    assert set(protocol.CALLS) == phases - {"done"}
    with pytest.raises(ValueError, match="no model call"):
        protocol.call_for(state("done"), CONFIG)


def test_the_search_row_asks_for_the_cursor_section() -> None:
    s = state("search")
    call = protocol.call_for(s, CONFIG)
    ab = prompts.Abbreviation()
    assert call.build(ab, None) == prompts.search_prompt(
        s.question, s.outline, s.cursor_label, "en", ab, prompts.Style()
    )
    limits = CONFIG.grammar_limits("en")
    assert call.grammar == grammars.search_grammar(limits, latin_ok=True)
    assert call.json_schema == grammars.action_schema("search", limits)
    assert call.max_tokens == CONFIG.budget("search", "en")
    assert isinstance(call.parse(helpers.search("factor coding").reply), Search)


def test_the_write_row_grammar_admits_only_the_pack_and_parses_a_cut_off_reply() -> None:
    s = state("write")
    call = protocol.call_for(s, CONFIG)
    assert call.json_schema is None and call.max_tokens == CONFIG.budget("write", "en") == 2048
    assert call.rules.allowed_keys == frozenset(s.pack)
    for key in s.pack:
        assert key in call.grammar
    assert "Section-1" in call.build(prompts.Abbreviation(), None)
    key = s.pack[0]
    cut = call.parse(f"Factors are codes \\cite{{{key}}}. And then the", cut_off=True)
    assert isinstance(cut, Write) and cut.trimmed and "And then" not in cut.text
    tiny = protocol.call_for(s, RunConfig(cite_every=3))
    assert tiny.grammar != call.grammar and tiny.rules.cite_every == 3


def test_the_extend_row_offers_only_expandable_positions_and_no_nop_when_forced() -> None:
    s = state("extend_plan", "s1", "s2")
    call = protocol.call_for(s, CONFIG)
    assert call.rules.expandable == ("section-1", "section-2") and call.rules.allow_nop
    assert isinstance(call.parse(helpers.extend("section-2", "Sum").reply), ExtendPlan)
    with pytest.raises(ActionError, match="cannot be expanded"):
        call.parse(helpers.extend("section-9", "Sum").reply)
    forced = protocol.call_for(s.evolve(deepen_target="s1"), CONFIG)
    assert forced.rules.expandable == ("section-1",) and not forced.rules.allow_nop

    def choices(grammar: str) -> str:
        return next(line for line in grammar.splitlines() if line.startswith("ext-action ::="))

    assert "nop" not in choices(forced.grammar) and "nop" in choices(call.grammar)


def test_a_chinese_run_under_the_script_guard_gets_no_latin_keywords() -> None:
    s = state("search").evolve(language="zh")
    guarded = protocol.call_for(s, RunConfig(script_guard=True))
    free = protocol.call_for(s, RunConfig(script_guard=False))
    assert guarded.grammar != free.grammar
