"""The model's actions as typed values, and parsing + validation of its replies.

A reply is `<thought>…</thought>` followed by `<action>…</action>`. JSON actions carry a
`name`; a write's action body is the section's Markdown with `\\cite{textidN}` citations.
Parsing is lenient about wrapping (servers without grammars), validation is strict about
content; hard mode adds the stricter checks of the WARP protocol. In soft mode a citation of
a passage from an earlier pack of the run is accepted and an unknown key is dropped (the
write reports which), instead of failing the whole section. Titles and plans are plain text:
Markdown, JSON debris and placeholders copied from the prompt's examples never get through.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from desktop.core.language import cjk_ratio, matches_language
from desktop.core.outline import Outline
from desktop.core.report import CITE_RE, cite_keys

THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
THOUGHT_RE = re.compile(r"<thought>(.*?)(</thought>|$)", re.DOTALL)
ACTION_RE = re.compile(r"<action>(.*?)(</action>|$)", re.DOTALL)
SENTENCE_END_RE = re.compile(r"[.!?。！？](?:\s*\\cite\{[^}]*\})?[\"'”’)]?")
HEADING_RE = re.compile(r"^\s{0,3}#{1,6}(\s.*)?$|^\s{0,3}(=+|-+)\s*$", re.MULTILINE)
# A heading inside a list item or a quote: `- # x`, `1. ## x`, `> # x`.
NESTED_HEADING_RE = re.compile(
    r"^(\s{0,3}(?:(?:[-*+]|\d{1,9}[.)]|>)[ \t]*)+)#{1,6}(?:[ \t]+|$)", re.MULTILINE
)
FENCE_RE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


ACTION_OPEN, ACTION_CLOSE = "<action>", "</action>"
# The tail of a reply streamed so far that may be the start of a citation: `\`, `\ci`, `\cite{te`.
PARTIAL_CITE_RE = re.compile(r"\\(?:c(?:i(?:t(?:e(?:\{[^}]*)?)?)?)?)?$")


def action_text(raw: str) -> str:
    """The action body of a reply streamed so far (after `<action>`, without a partial tag):
    what a write has produced until now, for a live preview."""
    start = raw.find(ACTION_OPEN)
    if start < 0:
        return ""
    body = raw[start + len(ACTION_OPEN) :]
    end = body.find(ACTION_CLOSE)
    if end >= 0:
        return body[:end]
    for cut in range(len(ACTION_CLOSE) - 1, 0, -1):
        if body.endswith(ACTION_CLOSE[:cut]):
            return body[:-cut]
    return body


def without_partial_cite(text: str) -> str:
    """`text` without a citation still being streamed at its end."""
    return PARTIAL_CITE_RE.sub("", text)


class ActionError(ValueError):
    """A reply that does not parse or validate; the step fails and is retried."""


@dataclass(frozen=True, slots=True)
class Search:
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InitPlan:
    title: str
    sections: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Write:
    text: str
    trimmed: bool = False  # the reply was cut off by max_tokens and trimmed to a sentence
    dropped_keys: tuple[str, ...] = ()  # unknown citation keys removed (soft mode)


@dataclass(frozen=True, slots=True)
class ExtendPlan:
    position: str
    subsections: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Nop:
    pass


Action = Search | InitPlan | Write | ExtendPlan | Nop


@dataclass(frozen=True, slots=True)
class Rules:
    """What a reply is checked against, besides its shape."""

    hard_mode: bool = False
    language: str = "en"
    allowed_keys: frozenset[str] = frozenset()  # the pack shown in this prompt
    known_keys: frozenset[str] = frozenset()  # every key of the run (soft mode accepts them)
    cite_every: int = 0  # 0: no rule; n: a citation at least every n sentences
    expandable: tuple[str, ...] = ()  # positions an extend-plan may target
    allow_nop: bool = True


def strip_think(reply: str) -> str:
    """Drop hybrid-reasoning `<think>…</think>` blocks a model may emit before its answer."""
    return THINK_RE.sub("", reply).strip()


def split_reply(reply: str) -> tuple[str, str | None]:
    """Return (thought, action body); the body is None when there is no `<action>` tag."""
    reply = strip_think(reply)
    thought_match = THOUGHT_RE.search(reply)
    thought = thought_match.group(1).strip() if thought_match else ""
    action_match = ACTION_RE.search(reply)
    if action_match is None:
        return thought, None
    return thought, action_match.group(1)


def _json_object(body: str | None, reply: str) -> dict:
    text = body if body is not None else strip_think(reply)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ActionError("the reply has no JSON action")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ActionError(f"the action is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ActionError("the action has no name")
    return data


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ActionError(f"{what} must be a non-empty string")
    return " ".join(value.split())


# A title cut off by a length limit or left unfinished ends in a comma or a dash; those go.
TITLE_TAIL = " ,;:-–—、，；：/'\"‘’“”"
LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MARKUP_RE = re.compile(r"\\cite\{[^}]*\}|[{}\[\]<>`*#|\\]")
# The prompts' examples hold only placeholders; a reply that copies one has said nothing.
PLACEHOLDERS = frozenset({"...", "..", "…", "keyword-1", "keyword-2", "section-x.y.z"})


# JSON debris in a string: a quote that closes an object (`'}`, `"]`) means the model wrote the
# next item inside this one (`背景', 证据与数据'},{`); the string ends at its first quote-comma.
JSON_END_RE = re.compile(r"['\"‘’“”]\s*[}\]]")
JSON_CUT_RE = re.compile(r"['\"‘’“”]\s*[,，}\]]")
TAG_RE = re.compile(r"</?[a-zA-Z][^<>\n]*>")


def plain_text(value: str) -> str:
    """A title or plan as plain text: link text kept, markup, tags and JSON debris dropped."""
    if JSON_END_RE.search(value):
        value = value[: JSON_CUT_RE.search(value).start()]  # type: ignore[union-attr]  # END implies CUT
    text = TAG_RE.sub("", LINK_RE.sub(r"\1", value))
    text = re.sub(r"[`*#]", "", text)  # emphasis and code marks vanish without a gap
    text = MARKUP_RE.sub(" ", text)
    return " ".join(text.split())


def _is_placeholder(text: str) -> bool:
    """Nothing but dots, or a string the prompts' examples and output formats show (a tiny
    model once titled a report "The init-plan action, as JSON")."""
    lowered = text.strip().lower()
    return lowered.strip(".").strip() == "" or lowered in PLACEHOLDERS or lowered in _shown()


@functools.cache
def _shown() -> frozenset[str]:
    from desktop.core.prompts import example_strings  # prompts build on the outline, as we do

    return frozenset(s.strip().lower() for s in example_strings())


def _title(value: object, what: str = "title") -> str:
    title = plain_text(_text(value, what)).rstrip(TITLE_TAIL).lstrip(TITLE_TAIL)
    if not title or _is_placeholder(title):
        raise ActionError(f"{what} has no words")
    return title


def _plan(value: object) -> str:
    plan = plain_text(_text(value, "plan"))
    if not plan or _is_placeholder(plan):
        raise ActionError("plan has no words")
    return plan


def _items(value: object, what: str, low: int, high: int) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise ActionError(f"{what} must be a non-empty list")
    if not low <= len(value) <= high:
        raise ActionError(f"{what}: {len(value)} items, expected {low} to {high}")
    items = []
    for item in value:
        if not isinstance(item, dict):
            raise ActionError(f"{what}: each item needs a title and a plan")
        items.append((_title(item.get("title")), _plan(item.get("plan"))))
    return tuple(items)


def parse_search(reply: str, rules: Rules) -> Search:
    _, body = split_reply(reply)
    data = _json_object(body, reply)
    if data["name"] != "search":
        raise ActionError(f"expected a search action, got {data['name']!r}")
    raw = data.get("keywords")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ActionError("keywords must be a list")
    keywords = tuple(dict.fromkeys(k for k in (_clean_keyword(x) for x in raw) if k))
    if not keywords:
        raise ActionError("no usable keyword")
    if len(keywords) > 5:
        if rules.hard_mode:
            raise ActionError(f"{len(keywords)} keywords, at most 5 allowed")
        keywords = keywords[:5]
    if rules.hard_mode and rules.language == "zh" and not any(cjk_ratio(k) > 0 for k in keywords):
        raise ActionError("a Chinese question needs Chinese keywords")
    return Search(keywords)


def _clean_keyword(value: object) -> str:
    if not isinstance(value, str):
        return ""
    keyword = " ".join(value.split())
    if not any(ch.isalnum() for ch in keyword):  # "),": punctuation searches for nothing
        return ""
    return "" if _is_placeholder(keyword) or re.fullmatch(r"keyword-\d+", keyword) else keyword


def parse_init_plan(reply: str, rules: Rules) -> InitPlan:
    _, body = split_reply(reply)
    data = _json_object(body, reply)
    if data["name"] != "init-plan":
        raise ActionError(f"expected an init-plan action, got {data['name']!r}")
    low, high = (3, 12) if rules.hard_mode else (1, 20)
    sections = _items(data.get("sections"), "sections", low, high)
    return InitPlan(_title(data.get("title")), sections)


def parse_extend_plan(reply: str, rules: Rules) -> ExtendPlan | Nop:
    _, body = split_reply(reply)
    data = _json_object(body, reply)
    if data["name"] == "nop":
        if not rules.allow_nop:
            raise ActionError("the user asked to deepen a section; nop is not allowed")
        return Nop()
    if data["name"] != "extend-plan":
        raise ActionError(f"expected extend-plan or nop, got {data['name']!r}")
    position = data.get("position")
    if position not in rules.expandable:
        raise ActionError(f"position {position!r} cannot be expanded")
    low, high = (2, 7) if rules.hard_mode else (1, 10)
    return ExtendPlan(position, _items(data.get("subsections"), "subsections", low, high))


def trim_to_sentence(text: str) -> str:
    """Cut a reply that hit max_tokens back to its last complete sentence or line (a table row,
    a list item), closing a code fence the cut left open."""
    end = 0
    for match in SENTENCE_END_RE.finditer(text):
        end = match.end()
    end = max(end, text.rfind("\n") if "\n" in text else 0)
    trimmed = text[:end].rstrip()
    if trimmed.count("```") % 2:
        trimmed += "\n```"
    return trimmed


def parse_write(reply: str, rules: Rules, *, cut_off: bool = False) -> Write:
    thought, body = split_reply(reply)
    if body is None:
        # Without tags (a server with no grammar), everything after the thought is the text.
        body = strip_think(reply)
        body = body.split("</thought>", 1)[1] if "</thought>" in body else body
    trimmed = False
    if cut_off or ("<action>" in reply and "</action>" not in reply):
        body, trimmed = trim_to_sentence(body), True
    text = _clean_section_text(body, rules)
    text, dropped = _settle_citations(text, rules)
    _check_write(text, rules)
    return Write(text, trimmed, dropped)


def _clean_section_text(body: str, rules: Rules) -> str:
    text = body.strip("\n").rstrip()
    if text.startswith(" ") and not text.startswith("    "):
        text = text.lstrip(" ")  # `<action> text`: the space after the tag is not indentation
    outside = _outside_code(text)
    if HEADING_RE.search(outside) or NESTED_HEADING_RE.search(outside):
        if rules.hard_mode:
            raise ActionError("section text must not contain headings")
        text = _drop_headings(text)
    if text.count("```") % 2:
        text += "\n```"
    return re.sub(r"\n{3,}", "\n\n", text)


def _outside_code(text: str) -> str:
    """The text with fenced code blocks blanked out (a `# comment` there is no heading)."""
    return FENCE_RE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _drop_headings(text: str) -> str:
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and HEADING_RE.fullmatch(line):
            continue
        out.append(line if fenced else NESTED_HEADING_RE.sub(r"\1", line))
    return "\n".join(out).strip()


def _settle_citations(text: str, rules: Rules) -> tuple[str, tuple[str, ...]]:
    """Soft mode keeps keys of the run and drops unknown ones; hard mode only the pack's."""
    if rules.hard_mode:
        return text, ()
    known = rules.allowed_keys | rules.known_keys
    dropped: list[str] = []

    def keep(match: re.Match) -> str:
        keys = [k.strip() for k in match.group(1).split(",") if k.strip()]
        good = [k for k in keys if k in known]
        dropped.extend(k for k in keys if k not in known)
        return "\\cite{" + ", ".join(good) + "}" if good else ""

    cleaned = CITE_RE.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?。，；：！？])", r"\1", cleaned) if dropped else cleaned
    return cleaned, tuple(dict.fromkeys(dropped))


def _check_write(text: str, rules: Rules) -> None:
    if not text:
        raise ActionError("the section text is empty")
    keys = cite_keys(text)
    allowed = rules.allowed_keys if rules.hard_mode else rules.allowed_keys | rules.known_keys
    unknown = sorted({k for k in keys if k not in allowed})
    if unknown:
        raise ActionError(f"cites passages that were not shown: {', '.join(unknown)}")
    if rules.cite_every and _longest_uncited_run(text) >= rules.cite_every:
        raise ActionError(f"{rules.cite_every} sentences in a row without a citation")
    if rules.hard_mode:
        commands = len(CITE_RE.findall(text))
        if len(text) <= 50:
            raise ActionError("the section text is too short (50 characters or fewer)")
        if not keys:
            raise ActionError("the section cites nothing")
        if commands > 12:
            raise ActionError(f"{commands} citations, at most 12 allowed")
        if not matches_language(CITE_RE.sub("", _outside_code(text)), rules.language):
            raise ActionError(
                f"the section is not written in the question's language ({rules.language})"
            )


def _longest_uncited_run(text: str) -> int:
    """Most consecutive sentences without a `\\cite{}` (a cite may sit before or after the stop)."""
    longest = run = start = 0
    segments = []
    for match in SENTENCE_END_RE.finditer(text):
        segments.append(text[start : match.end()])
        start = match.end()
    if text[start:].strip():
        segments.append(text[start:])
    for segment in segments:
        run = 0 if "\\cite{" in segment else run + 1
        longest = max(longest, run)
    return longest


def expandable_positions(outline: Outline, target_id: str | None) -> tuple[str, ...]:
    """Positions an extend-plan may name: the user's deepen target, else any expandable node."""
    nodes = outline.expandable()
    if target_id is not None:
        nodes = [n for n in nodes if n.section.id == target_id]
    return tuple(n.position for n in nodes)
