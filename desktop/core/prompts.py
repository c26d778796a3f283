"""Prompt texts for the four WARP steps, laid out so consecutive calls share a long prefix.

Every prompt starts with the same block (task, question, outline), then the step's own
instruction, evidence and output format. The search prompt and the following write prompt
therefore share everything up to the instruction, and after a write the next prompt shares
everything before the section just written. Written sections are always abbreviated to their
head and tail (the tail carries the transition into the next section), the latest one too:
a section's rendering changes once, when it is written, so the prefix before it stays cached
for the rest of the run (stable prefix, bounded prompt). Only the extend-plan prompt shows
the full text, as the protocol asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core import verify
from desktop.core.evidence import EvidenceRegistry
from desktop.core.outline import Outline

# Characters per token, roughly, for the abbreviation (the budget check uses the tokenizer).
CHARS_PER_TOKEN = {"en": 4.0, "zh": 1.3}


@dataclass(frozen=True, slots=True)
class Abbreviation:
    """How much of a written section away from the cursor stays visible, in tokens."""

    head_tokens: int = 100
    tail_tokens: int = 50
    titles_only: bool = False

    def tighter(self) -> Abbreviation | None:
        if self.titles_only:
            return None
        if self.head_tokens > 30:
            return Abbreviation(self.head_tokens // 3, self.tail_tokens // 3)
        return Abbreviation(0, 0, titles_only=True)


LANGUAGE_LINE = {
    "en": "Write everything (keywords, titles, plans, text) in English.",
    "zh": "所有内容（关键词、标题、计划、正文）都必须用简体中文书写。",
}


# The examples obey hard mode's counts (3 to 12 sections, 2 to 7 subsections): a small model
# copies their shape.
PLAN_EXAMPLE = {
    "en": '{"name": "init-plan", "title": "A title that answers the question", "sections": '
    '[{"title": "Background", "plan": "The facts a reader needs first"}, '
    '{"title": "How it works", "plan": "The mechanisms the documents describe"}, '
    '{"title": "Evidence and figures", "plan": "What the documents measured, with numbers"}, '
    '{"title": "Trade-offs", "plan": "Where the sources disagree and what stays open"}]}',
    "zh": '{"name": "init-plan", "title": "回答问题的标题", "sections": '
    '[{"title": "背景", "plan": "读者首先需要了解的事实"}, '
    '{"title": "机制", "plan": "文件描述的原理和过程"}, '
    '{"title": "证据与数据", "plan": "文件中的数据和结论"}, '
    '{"title": "权衡", "plan": "来源之间的分歧和尚未解决的问题"}]}',
}
EXTEND_EXAMPLE = {
    "en": '{"name": "extend-plan", "position": "section-2", "subsections": '
    '[{"title": "A narrower question", "plan": "What this part adds"}, '
    '{"title": "A concrete case", "plan": "One example from the documents, in detail"}]} '
    'or {"name": "nop"}',
    "zh": '{"name": "extend-plan", "position": "section-2", "subsections": '
    '[{"title": "更具体的问题", "plan": "这一部分补充的内容"}, '
    '{"title": "具体案例", "plan": "文件中的一个例子，详细说明"}]} 或 {"name": "nop"}',
}


def abbreviate(text: str, language: str, abbreviation: Abbreviation) -> str:
    if abbreviation.titles_only:
        return "…"
    per_token = CHARS_PER_TOKEN.get(language, 4.0)
    head = int(abbreviation.head_tokens * per_token)
    tail = int(abbreviation.tail_tokens * per_token)
    if len(text) <= head + tail + 20:
        return text
    return f"{text[:head].rstrip()} … {text[-tail:].lstrip()}" if tail else text[:head] + " …"


def render_outline(
    outline: Outline,
    language: str,
    *,
    full_text: bool = False,
    abbreviation: Abbreviation = Abbreviation(),
) -> str:
    """One line per node: position, title, then `[OK]` + text or `[PLAN]` + plan."""
    lines = [f"Title: {outline.title}"]
    for node in outline.walk():
        s = node.section
        indent = "  " * (node.depth - 1)
        lock = " [LOCKED]" if s.locked else ""
        if s.content is not None:
            text = s.content if full_text else abbreviate(s.content, language, abbreviation)
            text = " ".join(text.split())
            lines.append(f"{indent}{node.position} {s.title}{lock} [OK] {text}")
        else:
            lines.append(f"{indent}{node.position} {s.title}{lock} [PLAN] {s.plan}")
    return "\n".join(lines)


def _header(question: str, outline_text: str) -> str:
    return (
        "You are a careful research writer. You build a long report step by step: you search "
        "the user's documents, plan an outline, write one section at a time from the evidence "
        "you found, and deepen sections that deserve more detail.\n\n"
        f"## Research question\n{question}\n\n"
        f"## Current outline\n{outline_text}\n\n"
    )


def _format(action: str) -> str:
    return (
        "## Output format\nFirst think briefly inside <thought></thought>, then give exactly "
        f"one action inside <action></action>:\n{action}"
    )


def evidence_block(registry: EvidenceRegistry, keys: Sequence[str], max_chars: int | None) -> str:
    lines = []
    for key in keys:
        text = " ".join(registry[key].text.split())
        if max_chars is not None and len(text) > max_chars:
            text = text[:max_chars].rstrip() + " …"
        lines.append(f"{key}: {text}")
    return "\n\n".join(lines)


def _example_keywords(text: str, language: str) -> list[str]:
    """Keywords for the format example, taken from the text at hand (never a placeholder a
    small model could copy verbatim into a useless search)."""
    if language == "zh":
        words = [w for w in re.split(r"[^一-鿿]+", text) if len(w) >= 2]
        return [w[:6] for w in words[:2]] or [text[:6]]
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", text) if len(w) > 3]
    return [" ".join(words[:2]) or text[:20], " ".join(words[2:4]) or text[:20]]


def _search_example(text: str, language: str) -> str:
    payload = {"name": "search", "keywords": _example_keywords(text, language)}
    return json.dumps(payload, ensure_ascii=False)


def search_prompt(
    question: str, outline: Outline | None, target: str, language: str, abbreviation: Abbreviation
) -> str:
    outline_text = (
        render_outline(outline, language, abbreviation=abbreviation)
        if outline
        else "(no outline yet)"
    )
    if target == "outline" or outline is None:
        goal = "Search the documents to gather material for planning the whole report."
        topic = question
    else:
        goal = f"You need to update {target}. Search the documents for evidence for that section."
        node = outline.node_at(target)
        topic = f"{node.section.title} {node.section.plan}"
    return (
        _header(question, outline_text)
        + f"## Your task\n{goal} Give one to five short search keywords. {LANGUAGE_LINE[language]}\n\n"
        + _format(_search_example(topic, language))
    )


def init_plan_prompt(
    question: str,
    registry: EvidenceRegistry,
    keys: Sequence[str],
    language: str,
    max_passage_chars: int | None = None,
) -> str:
    return (
        _header(question, "(no outline yet)")
        + f"## Passages found\n{evidence_block(registry, keys, max_passage_chars)}\n\n"
        + "## Your task\nPlan the report: a title and its top-level sections, each with a "
        + f"plan saying what it must cover. {LANGUAGE_LINE[language]}\n\n"
        + _format(PLAN_EXAMPLE[language])
    )


def write_prompt(
    question: str,
    outline: Outline,
    registry: EvidenceRegistry,
    keys: Sequence[str],
    language: str,
    abbreviation: Abbreviation,
    max_passage_chars: int | None = None,
    revision: dict | None = None,
) -> str:
    cursor = outline.cursor()
    assert cursor is not None, "write needs a cursor"
    s = cursor.section
    return (
        _header(question, render_outline(outline, language, abbreviation=abbreviation))
        + f'## Your task\nWrite {cursor.position} "{s.title}". Plan: {s.plan}\n'
        + (verify.revision_note(revision) + "\n" if revision else "")
        + "Write the section's text only (Markdown, no headings), grounded in the passages "
        + "below. Cite the passage behind each claim as \\cite{textidN} (several: "
        + f"\\cite{{textid1, textid2}}). Cite only passages listed below. {LANGUAGE_LINE[language]}\n\n"
        + f"## Passages\n{evidence_block(registry, keys, max_passage_chars)}\n\n"
        + _format("the section text with \\cite{textidN} citations")
    )


def extend_plan_prompt(
    question: str,
    outline: Outline,
    positions: Sequence[str],
    language: str,
    forced: bool,
    abbreviation: Abbreviation | None = None,
) -> str:
    outline_text = (
        render_outline(outline, language, full_text=True)
        if abbreviation is None
        else render_outline(outline, language, abbreviation=abbreviation)
    )
    if forced:
        task = f"The user asked to deepen {positions[0]}: add subsections to it."
    else:
        task = (
            "The whole outline is written. If a section deserves more depth, add subsections "
            f"to it (one of: {', '.join(positions) or 'none'}); if the report is complete, stop."
        )
    return (
        _header(question, outline_text)
        + f"## Your task\n{task} {LANGUAGE_LINE[language]}\n\n"
        + _format(
            EXTEND_EXAMPLE[language].replace(
                "section-2", positions[0] if positions else "section-1"
            )
        )
    )
