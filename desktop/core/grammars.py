"""GBNF grammars that make every reply a valid action by construction (llama.cpp sampling).

Each grammar is `<thought>` text, then the action inside `<action>` tags. JSON actions follow
their schema exactly (fixed key order, bounded lists and strings, and for extend-plan only the
positions that may be expanded). The write grammar admits `\\cite{…}` only with keys from the
evidence pack the model was shown and, when `cite_every` is set, forces a citation at least
every `cite_every` sentences. Grammars are kept lean: every rule costs time per sampled token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

TERMINATORS = ".!?。！？"
CJK = "[一-鿿]"  # U+4E00..U+9FFF: with the script guard, text must open with a Chinese character


@dataclass(frozen=True, slots=True)
class GrammarLimits:
    thought_chars: int = 300
    keyword_chars: int = 60
    title_chars: int = 120
    plan_chars: int = 300
    sentence_chars: int = 400
    paragraphs: int = 8
    max_sections: int = 12
    max_subsections: int = 7


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _envelope(action_rule: str, limits: GrammarLimits) -> str:
    return (
        f'root ::= "<thought>" thought "</thought>" "\\n"? "<action>" {action_rule} "</action>"\n'
        f"thought ::= [^<]{{0,{limits.thought_chars}}}\n"
    )


def _json_common(limits: GrammarLimits, latin_ok: bool = True) -> str:
    # Inside JSON strings: no quotes, backslashes or control characters (keeps strings simple).
    excluded = '"\\\\\\x00-\\x1f' + ("" if latin_ok else "a-zA-Z")
    first = "ch" if latin_ok else CJK
    return (
        'sp ::= " "?\n'
        f"ch ::= [^{excluded}]\n"
        f'title ::= "\\"" {first} ch{{0,{limits.title_chars - 1}}} "\\""\n'
        f'plan ::= "\\"" {first} ch{{0,{limits.plan_chars - 1}}} "\\""\n'
        'item ::= "{" sp "\\"title\\":" sp title "," sp "\\"plan\\":" sp plan sp "}"\n'
    )


def _items_rule(low: int, high: int) -> str:
    return f'"[" sp item ("," sp item){{{low - 1},{high - 1}}} sp "]"'


def search_grammar(limits: GrammarLimits = GrammarLimits(), *, latin_ok: bool = True) -> str:
    chars = '[^"\\\\\\x00-\\x1f]' if latin_ok else CJK  # Chinese keywords: CJK only
    return (
        _envelope("search", limits)
        + 'sp ::= " "?\n'
        + f'kw ::= "\\"" {chars}{{1,{limits.keyword_chars}}} "\\""\n'
        + 'search ::= "{" sp "\\"name\\":" sp "\\"search\\"," sp "\\"keywords\\":" sp '
        + '"[" sp kw ("," sp kw){0,4} sp "]" sp "}"\n'
    )


def init_plan_grammar(
    limits: GrammarLimits = GrammarLimits(), *, hard_mode: bool = False, latin_ok: bool = True
) -> str:
    low, high = (3, limits.max_sections) if hard_mode else (1, limits.max_sections)
    return (
        _envelope("plan-action", limits)
        + _json_common(limits, latin_ok)
        + 'plan-action ::= "{" sp "\\"name\\":" sp "\\"init-plan\\"," sp "\\"title\\":" sp title '
        + f'"," sp "\\"sections\\":" sp {_items_rule(low, high)} sp "}}"\n'
    )


def extend_plan_grammar(
    positions: Sequence[str],
    limits: GrammarLimits = GrammarLimits(),
    *,
    hard_mode: bool = False,
    allow_nop: bool = True,
    latin_ok: bool = True,
) -> str:
    """Extend one of `positions` or (when allowed) stop with nop."""
    low, high = (2, limits.max_subsections) if hard_mode else (1, limits.max_subsections)
    choices = []
    if positions:
        alternatives = " | ".join(_literal(json.dumps(p)) for p in positions)
        choices.append("extend")
        extend = (
            'extend ::= "{" sp "\\"name\\":" sp "\\"extend-plan\\"," sp "\\"position\\":" sp '
            f'({alternatives}) "," sp "\\"subsections\\":" sp {_items_rule(low, high)} sp "}}"\n'
        )
    else:
        extend = ""
    if allow_nop or not positions:
        choices.append("nop")
    return (
        _envelope("ext-action", limits)
        + _json_common(limits, latin_ok)
        + f"ext-action ::= {' | '.join(choices)}\n"
        + extend
        + 'nop ::= "{" sp "\\"name\\":" sp "\\"nop\\"" sp "}"\n'
    )


def write_grammar(
    keys: Sequence[str],
    limits: GrammarLimits = GrammarLimits(),
    *,
    cite_every: int = 0,
    latin_ok: bool = True,
) -> str:
    """Section text in sentences; citations only with `keys`; optionally one every n sentences."""
    key_rule = " | ".join(_literal(k) for k in keys)
    excluded = "<>\\\\#{}\\n" + TERMINATORS + ("" if latin_ok else "a-zA-Z")
    n = limits.sentence_chars
    if not keys:  # nothing to cite: plain sentences (hard mode then rejects the write)
        chunk = "sent"
    elif cite_every:
        chunk = f"(sent ws){{0,{cite_every - 1}}} csent"
    else:
        chunk = "(sent | csent)"
    return (
        _envelope("body", limits)
        + f'body ::= "\\n"? para ("\\n\\n" para){{0,{limits.paragraphs - 1}}} "\\n"?\n'
        + "para ::= chunk (ws chunk){0,11}\n"
        + f"chunk ::= {chunk}\n"
        + 'ws ::= " "?\n'
        + (
            f"txt ::= [^{excluded}]{{1,{n}}}\n"
            if latin_ok
            else f"txt ::= [ \\n]? {CJK} [^{excluded}]{{0,{n - 1}}}\n"
        )
        + "sent ::= txt term\n"
        + ("csent ::= txt cite term\n" if keys else "")
        + f"term ::= [{TERMINATORS}]\n"
        + ('cite ::= " "? "\\\\cite{" key ("," " "? key){0,2} "}"\n' if keys else "")
        + (f"key ::= {key_rule}\n" if keys else "")
    )
