"""GBNF grammars that make every reply a valid action by construction (llama.cpp sampling).

Each grammar is `<thought>` text, then the action inside `<action>` tags. JSON actions follow
their schema exactly (fixed key order, bounded lists, plain-text titles and plans, and for
extend-plan only the positions that may be expanded).

The write grammar admits the Markdown a strong model writes: paragraphs, `-`/`1.` lists, pipe
tables, fenced and inline code, LaTeX commands in running text, `<`, `>` and `#` inside a line,
and citations anywhere, up to 12 keys per `\\cite{…}`. It forbids only what would break the
report: a `\\cite{}` key that was not in the pack shown, a heading (`#` at the start of a line
outside code, also inside a list item or quote, or a `=`/`-` underline), the literal word
`bibkey` (the pack's label, not a key) and `</a…` (which would end the action early). Tiny models get a stricter sentence grammar
instead (`tiny_write_grammar`): a citation at least every `cite_every` sentences.

Cost: the in-process sampler asks the grammar only about the token it sampled and masks the
whole vocabulary only when that token is refused (desktop/llm/sampling.py), so bounds such as a
4,000-character thought stay cheap; rules are still written to be nearly deterministic, since
a full mask checks every candidate against every live alternative. `bench/bench_grammar.py`
measures what each grammar costs per token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

TERMINATORS = ".!?。！？"
CJK = "[一-鿿]"  # U+4E00..U+9FFF: with the script guard, text must open with a Chinese character
MAX_KEYS_PER_CITE = 12
# A bounded repetition is one nested rule per unit (cheap to check one token against, since
# the sampler asks the grammar only about the sampled token); above this it becomes `*`.
MAX_BOUNDED = 4096


@dataclass(frozen=True, slots=True)
class GrammarLimits:
    thought_chars: int = 0  # 0: unbounded (a real model); tiny models get a short cap
    keyword_chars: int = 0
    title_chars: int = 0
    plan_chars: int = 0
    sentence_chars: int = 400  # tiny write grammar only
    paragraphs: int = 8  # tiny write grammar only
    max_sections: int = 12
    max_subsections: int = 7


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _repeat(item: str, low: int, high: int) -> str:
    """`item` repeated low..high times; a high or unset bound becomes unbounded (cheaper)."""
    if high <= 0 or high > MAX_BOUNDED:
        return f"{item}+" if low >= 1 else f"{item}*"
    return f"{item}{{{low},{high}}}"


def _envelope(action_rule: str, limits: GrammarLimits, *, json_action: bool = True) -> str:
    # The trained format writes `<action> {...} </action>`: JSON may have a space either side.
    action = f'" "? {action_rule} " "?' if json_action else action_rule
    return (
        f'root ::= "<thought>" thought "</thought>" [ \\n]? "<action>" {action} "</action>"\n'
        f"thought ::= {_repeat('[^<]', 0, limits.thought_chars)}\n"
    )


def _json_common(limits: GrammarLimits, latin_ok: bool = True) -> str:
    # Titles and plans are plain text: no quotes, backslashes, braces, brackets, markup or
    # control characters, so `背景', 证据'},{` or a Markdown link can never become a title.
    excluded = '"\\\\{}\\[\\]<>`*#|\\x00-\\x1f' + ("" if latin_ok else "a-zA-Z")
    # A title opens with a letter, digit or CJK character, never with a placeholder's "...".
    first = f"[^{excluded} .,;:!?'-]" if latin_ok else CJK
    rest = _repeat("ch", 0, limits.title_chars - 1)
    title = (
        _not_prefixed(COPIED_PREFIXES, first, f"[^{excluded}]", rest)
        if latin_ok
        else f"{first} {rest}"
    )
    return (
        'sp ::= " "?\n'
        f"ch ::= [^{excluded}]\n"
        f'title ::= "\\"" ({title}) "\\""\n'
        f'plan ::= "\\"" {first} {_repeat("ch", 0, limits.plan_chars - 1)} "\\""\n'
        'item ::= "{" sp "\\"title\\":" sp title "," sp "\\"plan\\":" sp plan sp "}"\n'
    )


def _items_rule(low: int, high: int) -> str:
    return f'"[" sp item ("," sp item){{{low - 1},{high - 1}}} sp "]"'


# Strings a reply may not open with: the search example's placeholders (keyword-1, keyword-2)
# and the outline's own labels (a tiny model copies "Section-2" as a title or a keyword).
COPIED_PREFIXES = ("keyword-", "Keyword-", "section-", "Section-")


def _not_prefixed(prefixes: Sequence[str], first: str, chars: str, rest: str) -> str:
    """Alternatives for a string that opens with `first`, continues with `rest`, and never
    begins with one of `prefixes` (a trie of literal letters, each level excluding its own)."""

    def excluding(cls: str, letters: str) -> str:  # "[^…]" plus letters, placed first
        escaped = "".join("\\-" if ch == "-" else ch for ch in letters)
        return f"[^{escaped}{cls[2:]}"

    def level(words: list[str], cls: str) -> str:
        heads = sorted({w[0] for w in words})
        alternatives = [f"{excluding(cls, ''.join(heads))} {rest}"]
        for head in heads:
            tails = [w[1:] for w in words if w[0] == head]
            if any(not t for t in tails):
                continue  # the whole prefix: nothing may follow, and it may not end here
            alternatives.append(f"{_literal(head)} ({level(tails, chars)})?")
        return " | ".join(alternatives)

    return level(list(prefixes), first)


def search_grammar(limits: GrammarLimits = GrammarLimits(), *, latin_ok: bool = True) -> str:
    """One to five keywords; each opens with a letter, digit or CJK character."""
    # Keywords are plain words: no quotes, markup or brackets (a `</action>` inside a string
    # would end the action early when the reply is read back).
    plain = '"\\\\\\x00-\\x1f<>{}\\[\\]'
    chars = f"[^{plain}]" if latin_ok else CJK  # Chinese keywords: CJK only
    first = f"[^{plain} .,;:!?'-]" if latin_ok else CJK
    rest = _repeat(chars, 0, limits.keyword_chars - 1)
    body = _not_prefixed(COPIED_PREFIXES, first, chars, rest) if latin_ok else f"{first} {rest}"
    return (
        _envelope("search", limits)
        + 'sp ::= " "?\n'
        + f'kw ::= "\\"" ({body}) "\\""\n'
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


# ---- write: Markdown --------------------------------------------------------------------------
# Inside a line the text runs through a small automaton that never completes the word "bibkey":
# state sN has read the first N letters of it. Ordinary characters (PLAIN excludes 'b',
# backslash, '<' and newline) return to s0, a 'b' always (re)starts the word, and the special
# items (a citation, another backslash command, a '<') do their own bookkeeping.
PLAIN = "^\\n\\\\<b"
# state: (letters that leave the ordinary class here, {letter: next state})
WORD_STATES: dict[int, tuple[str, dict[str, int]]] = {
    0: ("", {"b": 1}),
    1: ("i", {"b": 1, "i": 2}),  # "b"
    2: ("", {"b": 3}),  # "bi"
    3: ("ki", {"b": 1, "k": 4, "i": 2}),  # "bib"
    4: ("e", {"b": 1, "e": 5}),  # "bibk"
    5: ("y", {"b": 1}),  # "bibke": a 'y' would complete the word, so it has no way forward
}


def _word_states() -> str:
    rules = []
    for state, (leaving, moves) in WORD_STATES.items():
        alternatives = [f"[{PLAIN}{leaving}] s0", "item"]
        alternatives += [f'"{letter}" s{target}' for letter, target in moves.items()]
        alternatives.append('""')
        rules.append(f"s{state} ::= " + " | ".join(alternatives))
    return "\n".join(rules) + "\n"


def write_grammar(keys: Sequence[str], limits: GrammarLimits = GrammarLimits()) -> str:
    """Markdown section text; `\\cite{…}` only with `keys` (none: no citation possible)."""
    cite = (
        (
            'cite ::= "cite{" key ("," " "? key){0,' + str(MAX_KEYS_PER_CITE - 1) + '} "}"\n'
            f"key ::= {' | '.join(_literal(k) for k in keys)}\n"
        )
        if keys
        else ""
    )
    return (
        _envelope("body", limits, json_action=False)
        + 'body ::= "\\n"* line ("\\n"+ line)* "\\n"*\n'
        + "line ::= fence | [ \\t]* start\n"
        # A text line never opens with a heading '#', a setext '=' or '-' underline (a '-'
        # alone, or followed by spaces only), nor does a list item or quote hold a heading
        # ('- # x', '> # x'); a backtick opens inline code (`tick`), three only a fence.
        + f'start ::= [{PLAIN}#=` >-] s0 | "b" s1 | item | "`" tick | "-" ([0-9] s0 | " "+ start)'
        + ' | ">" (" "* start)?\n'
        + 'tick ::= [^`\\n\\\\<b] s0 | "b" s1 | item | "`" ([^`\\n\\\\<b] s0 | "b" s1 | item)? | ""\n'
        + 'fence ::= "```" [a-zA-Z0-9_+.-]* ("\\n" codeline)* "\\n```"\n'
        + 'codeline ::= [^`\\n\\\\<b] s0 | "b" s1 | item | "`" tick | ""\n'
        # After a backslash: a citation, another command (\\toprule, \\begin) or a LaTeX line
        # break; "\\cite" followed by anything but a valid key list is impossible.
        + 'item ::= "\\\\" ('
        + ("cite s0 | " if keys else "")
        + 'cmd | "\\\\" dbl) | lt\n'
        + 'cmd ::= [^bc\\n\\\\<] s0 | "b" s1 | "c" ([^ib\\n\\\\<] s0 | "i" ([^tb\\n\\\\<] s0 | '
        + '"t" ([^eb\\n\\\\<] s0 | "e" ([^{b\\n\\\\<] s0 | "")) | "") | "") | ""\n'
        + 'dbl ::= [^c\\n\\\\<b] s0 | "b" s1 | ""\n'
        # '<' is text too (p < 0.05, <br>), except "</a", which could only begin "</action>".
        + 'lt ::= "<" ([^/\\n\\\\b] s0 | "b" s1 | "/" ([^a\\n\\\\b] s0 | "b" s1))\n'
        + cite
        + _word_states()
    )


# ---- write: tiny models -----------------------------------------------------------------------
def tiny_write_grammar(
    keys: Sequence[str],
    limits: GrammarLimits = GrammarLimits(),
    *,
    cite_every: int = 3,
    latin_ok: bool = True,
) -> str:
    """Plain sentences for a tiny model; a citation with `keys` at least every `cite_every`."""
    key_rule = " | ".join(_literal(k) for k in keys)
    excluded = "<>\\\\#{}\\[\\]\\n" + TERMINATORS + ("" if latin_ok else "a-zA-Z")
    n = limits.sentence_chars
    if not keys:  # nothing to cite: plain sentences (hard mode then rejects the write)
        chunk = "sent"
    elif cite_every:
        chunk = f"(sent ws){{0,{cite_every - 1}}} csent"
    else:
        chunk = "(sent | csent)"
    return (
        _envelope("body", limits, json_action=False)
        + f'body ::= "\\n"? para ("\\n\\n" para){{0,{limits.paragraphs - 1}}} "\\n"?\n'
        + "para ::= chunk (ws chunk)*\n"
        + f"chunk ::= {chunk}\n"
        + 'ws ::= " "?\n'
        + (
            f"txt ::= {_repeat(f'[^{excluded}]', 1, n)}\n"
            if latin_ok
            else f"txt ::= [ \\n]? {CJK} {_repeat(f'[^{excluded}]', 0, n - 1)}\n"
        )
        + "sent ::= txt term\n"
        + ("csent ::= txt cite term\n" if keys else "")
        + f"term ::= [{TERMINATORS}]\n"
        + ('cite ::= " "? "\\\\cite{" key ("," " "? key){0,2} "}"\n' if keys else "")
        + (f"key ::= {key_rule}\n" if keys else "")
    )


# ---- JSON schemas: the same actions for servers that take a schema but no GBNF ----------------
def _string(max_chars: int) -> dict:
    schema: dict = {"type": "string", "minLength": 1}
    if max_chars > 0:
        schema["maxLength"] = max_chars
    return schema


def _items_schema(limits: GrammarLimits, low: int, high: int) -> dict:
    item = {
        "type": "object",
        "properties": {
            "title": _string(limits.title_chars),
            "plan": _string(limits.plan_chars),
        },
        "required": ["title", "plan"],
        "additionalProperties": False,
    }
    return {"type": "array", "items": item, "minItems": low, "maxItems": high}


def _object(properties: dict, name: str) -> dict:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, **properties},
        "required": ["name", *properties],
        "additionalProperties": False,
    }


def action_schema(
    phase: str,
    limits: GrammarLimits = GrammarLimits(),
    *,
    positions: Sequence[str] = (),
    hard_mode: bool = False,
    allow_nop: bool = True,
) -> dict | None:
    """A reply `{"thought": …, "action": {…}}` for a JSON-schema server (None: write, which is
    Markdown). The server's reply is turned back into `<thought>`/`<action>` tags before parsing."""
    if phase == "search":
        keywords = {"type": "array", "items": _string(limits.keyword_chars), "minItems": 1}
        keywords["maxItems"] = 5
        action = _object({"keywords": keywords}, "search")
    elif phase == "init_plan":
        low = 3 if hard_mode else 1
        sections = _items_schema(limits, low, limits.max_sections)
        action = _object({"title": _string(limits.title_chars), "sections": sections}, "init-plan")
    elif phase == "extend_plan":
        low = 2 if hard_mode else 1
        choices = []
        if positions:
            choices.append(
                _object(
                    {
                        "position": {"enum": list(positions)},
                        "subsections": _items_schema(limits, low, limits.max_subsections),
                    },
                    "extend-plan",
                )
            )
        if allow_nop or not positions:
            choices.append(_object({}, "nop"))
        action = choices[0] if len(choices) == 1 else {"anyOf": choices}
    else:
        return None
    return {
        "type": "object",
        "properties": {"thought": _string(limits.thought_chars), "action": action},
        "required": ["thought", "action"],
        "additionalProperties": False,
    }
