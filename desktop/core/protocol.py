"""WARP's four model calls as one table (warp.md, "Actions" and "What each prompt shows").

Each phase that asks the model has one row in `CALLS`: the prompt it is shown, the grammar its
reply is sampled under (and the JSON schema for servers that take schemas instead), the rules
its reply is parsed and validated by, and the parser. Its token budget is `RunConfig.budget`.
`call_for(state, config)` turns the row of the state's phase into the `Call` the engine makes;
`Engine.step` then reads: build the call, ask the model, parse, apply, settle the next phase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.core import grammars, prompts, verify
from desktop.core.actions import (
    Action,
    Rules,
    expandable_positions,
    parse_extend_plan,
    parse_init_plan,
    parse_search,
    parse_write,
)
from desktop.core.state import Phase, RunConfig, RunState

if TYPE_CHECKING:
    from desktop.core.grammars import GrammarLimits


@dataclass(frozen=True, slots=True)
class Asking:
    """What every row needs to build its call: the state, the run's switches, derived once."""

    state: RunState
    config: RunConfig
    limits: GrammarLimits
    latin_ok: bool  # False: Chinese runs under the script guard may not write Latin words
    style: prompts.Style
    positions: tuple[str, ...] = ()  # extend_plan: the outline positions that may be expanded
    forced: bool = False  # extend_plan: the user asked to deepen one section (no nop)

    @classmethod
    def of(cls, state: RunState, config: RunConfig) -> Asking:
        positions: tuple[str, ...] = ()
        if state.phase == "extend_plan":
            positions = tuple(expandable_positions(state.planned, state.deepen_target))
        return cls(
            state=state,
            config=config,
            limits=config.grammar_limits(state.language),
            latin_ok=not (config.script_guard and state.language == "zh"),
            style=prompts.Style(brief_thought=config.brief_thought),
            positions=positions,
            forced=state.deepen_target is not None,
        )


PromptBuilder = Callable[[prompts.Abbreviation, int | None], str]


@dataclass(frozen=True, slots=True)
class Row:
    """One phase of the table: how its prompt, grammar, schema and rules are made, and its
    parser (`cut_off`: the reply stopped at its token budget)."""

    prompt: Callable[[Asking], PromptBuilder]
    grammar: Callable[[Asking], str]
    schema: Callable[[Asking], dict | None]
    rules: Callable[[Asking], Rules]
    parse: Callable[[str, Rules, bool], Action]


@dataclass(frozen=True, slots=True)
class Call:
    """One model call, ready to make: `build(abbreviation, passage_cap)` gives the prompt."""

    phase: Phase
    build: PromptBuilder
    grammar: str | None
    max_tokens: int
    rules: Rules
    parser: Callable[[str, Rules, bool], Action]
    json_schema: dict | None = None

    def parse(self, text: str, *, cut_off: bool = False) -> Action:
        return self.parser(text, self.rules, cut_off)


# ---- search --------------------------------------------------------------------------------
def _search_prompt(a: Asking) -> PromptBuilder:
    s = a.state
    target = s.cursor_label
    return lambda ab, _cap: prompts.search_prompt(
        s.question, s.outline, target, s.language, ab, a.style
    )


def _search_grammar(a: Asking) -> str:
    return grammars.search_grammar(a.limits, latin_ok=a.latin_ok)


def _base_rules(a: Asking) -> Rules:
    return Rules(hard_mode=a.config.hard_mode, language=a.state.language)


# ---- init_plan -----------------------------------------------------------------------------
def _init_plan_prompt(a: Asking) -> PromptBuilder:
    s = a.state
    return lambda _ab, cap: prompts.init_plan_prompt(
        s.question, s.registry, s.pack, s.language, cap, a.style
    )


def _init_plan_grammar(a: Asking) -> str:
    return grammars.init_plan_grammar(a.limits, hard_mode=a.config.hard_mode, latin_ok=a.latin_ok)


def _init_plan_schema(a: Asking) -> dict | None:
    return grammars.action_schema("init_plan", a.limits, hard_mode=a.config.hard_mode)


# ---- write ---------------------------------------------------------------------------------
def _revision_for_cursor(state: RunState) -> dict | None:
    """The pending revision request, if it is for the section under the cursor."""
    cursor = state.outline.cursor() if state.outline else None
    if state.revise and cursor and state.revise.get("section_id") == cursor.section.id:
        return state.revise
    return None


def _write_prompt(a: Asking) -> PromptBuilder:
    s = a.state
    note = verify.revision_note(_revision_for_cursor(s))
    return lambda ab, cap: prompts.write_prompt(
        s.question,
        s.planned,
        s.registry,
        s.pack,
        s.language,
        ab,
        cap,
        a.style,
        instruction_notes=(note,) if note else (),
    )


def _write_grammar(a: Asking) -> str:
    """Markdown over the pack's keys; tiny models: cited sentences (the cite_every guard)."""
    if a.config.cite_every:
        return grammars.tiny_write_grammar(
            a.state.pack, a.limits, cite_every=a.config.cite_every, latin_ok=a.latin_ok
        )
    return grammars.write_grammar(a.state.pack, a.limits)


def _write_rules(a: Asking) -> Rules:
    s = a.state
    return Rules(
        hard_mode=a.config.hard_mode,
        language=s.language,
        allowed_keys=frozenset(s.pack),
        known_keys=frozenset(s.registry.keys()),
        cite_every=a.config.cite_every,
    )


# ---- extend_plan ---------------------------------------------------------------------------
def _extend_plan_prompt(a: Asking) -> PromptBuilder:
    s = a.state
    return lambda ab, _cap: prompts.extend_plan_prompt(
        s.question,
        s.planned,
        a.positions,
        s.language,
        a.forced,
        None if ab == prompts.Abbreviation() else ab,
        a.style,
    )


def _extend_plan_grammar(a: Asking) -> str:
    return grammars.extend_plan_grammar(
        a.positions,
        a.limits,
        hard_mode=a.config.hard_mode,
        allow_nop=not a.forced,
        latin_ok=a.latin_ok,
    )


def _extend_plan_schema(a: Asking) -> dict | None:
    return grammars.action_schema(
        "extend_plan",
        a.limits,
        positions=a.positions,
        hard_mode=a.config.hard_mode,
        allow_nop=not a.forced,
    )


def _extend_plan_rules(a: Asking) -> Rules:
    return Rules(
        hard_mode=a.config.hard_mode,
        language=a.state.language,
        expandable=a.positions,
        allow_nop=not a.forced,
    )


CALLS: Mapping[Phase, Row] = {
    "search": Row(
        prompt=_search_prompt,
        grammar=_search_grammar,
        schema=lambda a: grammars.action_schema("search", a.limits),
        rules=_base_rules,
        parse=lambda text, rules, _cut_off: parse_search(text, rules),
    ),
    "init_plan": Row(
        prompt=_init_plan_prompt,
        grammar=_init_plan_grammar,
        schema=_init_plan_schema,
        rules=_base_rules,
        parse=lambda text, rules, _cut_off: parse_init_plan(text, rules),
    ),
    "write": Row(
        prompt=_write_prompt,
        grammar=_write_grammar,
        schema=lambda _a: None,
        rules=_write_rules,
        parse=lambda text, rules, cut_off: parse_write(text, rules, cut_off=cut_off),
    ),
    "extend_plan": Row(
        prompt=_extend_plan_prompt,
        grammar=_extend_plan_grammar,
        schema=_extend_plan_schema,
        rules=_extend_plan_rules,
        parse=lambda text, rules, _cut_off: parse_extend_plan(text, rules),
    ),
}


def call_for(state: RunState, config: RunConfig) -> Call:
    """The model call of `state`'s phase (every phase but `done` has one)."""
    phase = state.phase
    row = CALLS.get(phase)
    if row is None:
        raise ValueError(f"no model call in phase {phase!r}")
    asking = Asking.of(state, config)
    return Call(
        phase=phase,
        build=row.prompt(asking),
        grammar=row.grammar(asking),
        max_tokens=config.budget(phase, state.language),
        rules=row.rules(asking),
        parser=row.parse,
        json_schema=row.schema(asking),
    )
