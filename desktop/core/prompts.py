"""The four WARP prompts in the layout AgentCPM-Report 8B was trained on (see warp.md).

Each prompt is one user message: a role line, the call's guidance, then the trained blocks
(`** User Query **`, `** Current Article Outline **`, `** Analyst's Instruction **`, …) and the
output format, with placeholder-only examples (`keyword-1`, `"..."`, `section-x.y.z`) so that
no model, however small, can copy a concrete title or keyword out of them. The wording of the
guidance is ours; the markers, the outline rendering and the passage format are the model's.

The outline is rendered one line per node (`# Section-2 [Title]: [OK] text` or `[PLAN] plan`,
four spaces of indent per level). Search abbreviates every written section to its head and
tail; write shows the branch being written in full and abbreviates the rest; extend-plan shows
everything in full. Draftwell's own additions fit inside this layout: a locked section is
simply never the cursor or an expandable position, and the extend-plan prompt names the open
positions (or the section a user asked to deepen) on one line after its trained action lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.evidence import EvidenceRegistry
from desktop.core.outline import Node, Outline

# Characters per token, roughly, for the abbreviation (the budget check uses the tokenizer).
CHARS_PER_TOKEN = {"en": 4.0, "zh": 1.3}

NO_OUTLINE = "There is no survey."
CLOSING = "Reply strictly in the output format above: one <thought> block, then one <action> block."


@dataclass(frozen=True, slots=True)
class Abbreviation:
    """How much of an abbreviated written section stays visible, in tokens."""

    head_tokens: int = 100
    tail_tokens: int = 50
    titles_only: bool = False

    def tighter(self) -> Abbreviation | None:
        if self.titles_only:
            return None
        if self.head_tokens > 30:
            return Abbreviation(self.head_tokens // 3, self.tail_tokens // 3)
        return Abbreviation(0, 0, titles_only=True)


@dataclass(frozen=True, slots=True)
class Style:
    """What differs between a tiny model and a real one: how long the thought may be."""

    brief_thought: bool = False  # tiny models: "think briefly" (their grammar caps it too)


def abbreviate(text: str, language: str, abbreviation: Abbreviation) -> str:
    """Keep the head and tail of a long text (about 100 and 50 tokens by default)."""
    if abbreviation.titles_only:
        return "..."
    per_token = CHARS_PER_TOKEN.get(language, 4.0)
    head = int(abbreviation.head_tokens * per_token)
    tail = int(abbreviation.tail_tokens * per_token)
    if len(text) <= head + tail + 20:
        return text
    return f"{text[:head].rstrip()} ... {text[-tail:].lstrip()}" if tail else text[:head] + " ..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _node_line(node: Node, text: str | None) -> str:
    indent = "    " * (node.depth - 1)
    marks = "#" * node.depth
    label = "Section-" + node.number
    s = node.section
    body = f"[OK] {_one_line(text)}" if text is not None else f"[PLAN] {_one_line(s.plan)}"
    return f"{indent}{marks} {label} [{_one_line(s.title)}]: {body}"


def render_outline(
    outline: Outline | None,
    language: str,
    *,
    full: Sequence[str] | None = (),
    abbreviation: Abbreviation = Abbreviation(),
) -> str:
    """The outline as the model knows it; `full` lists section ids shown unabbreviated
    (None: every section in full)."""
    if outline is None:
        return NO_OUTLINE
    lines = [f"# Title: {_one_line(outline.title)}"]
    for node in outline.walk():
        content = node.section.content
        if content is not None and full is not None and node.section.id not in full:
            content = abbreviate(content, language, abbreviation)
        lines.append(_node_line(node, content))
    return "\n".join(lines)


def write_branch(outline: Outline, cursor: Node) -> tuple[str, ...]:
    """Ids shown in full while writing `cursor`: its top-level section and all below it, or,
    for a top-level cursor, every top-level section."""
    if cursor.depth == 1:
        return tuple(s.id for s in outline.sections)
    top_number = cursor.number.split(".")[0]
    top = outline.node_at(f"section-{top_number}")
    ids = []
    for node in outline.walk():
        if node.number == top.number or node.number.startswith(top.number + "."):
            ids.append(node.section.id)
    return tuple(ids)


def evidence_block(registry: EvidenceRegistry, keys: Sequence[str], max_chars: int | None) -> str:
    """The pack: `bibkey:textidN` on its own line, the passage below, a blank line between."""
    blocks = []
    for key in keys:
        text = registry[key].text.strip()
        if max_chars is not None and len(text) > max_chars:
            text = text[:max_chars].rstrip() + " ..."
        blocks.append(f"bibkey:{key}\n{text}")
    return "\n\n".join(blocks)


def _output_format(thought: str, action: str) -> str:
    return f"** Output Format **\n<thought> {thought} </thought>\n<action> {action} </action>"


def _thought(style: Style, detailed: str) -> str:
    return "your reasoning in one or two short sentences" if style.brief_thought else detailed


def _language_note(language: str) -> str:
    if language == "zh":
        return "Use the same language as the user query: Simplified Chinese."
    return "Use the same language as the user query."


# ---- search ---------------------------------------------------------------------------------
def search_prompt(
    question: str,
    outline: Outline | None,
    target: str,
    language: str,
    abbreviation: Abbreviation = Abbreviation(),
    style: Style = Style(),
) -> str:
    """Ask for one to five keywords for the section under the cursor (or the outline)."""
    role = (
        'You are the Searcher inside an "Analyst-Searcher-Writer" multi-agent research system. '
        "The Analyst tells you which part of the article needs material next; you retrieve it "
        "from the user's document library."
    )
    guidance = (
        "Focus on the user query and on the current outline: choose keywords that find evidence "
        "for the part named in the Analyst's instruction, and that the sections already written "
        "have not covered. Give one to five short keywords. " + _language_note(language)
    )
    return "\n\n".join(
        [
            role,
            guidance,
            f"** User Query **\n{question}",
            "** Current Article Outline **\n"
            + render_outline(outline, language, abbreviation=abbreviation),
            f"** Analyst's Instruction **\nYou need to update {target}",
            '## Action Example:\n<action> {"name": "search", "keywords": '
            "[keyword-1, keyword-2, ..]} </action>",
            _output_format(
                _thought(style, "your reasoning about what is still missing and where to look"),
                "the search action, as JSON",
            ),
            CLOSING,
        ]
    )


# ---- init-plan ------------------------------------------------------------------------------
def init_plan_prompt(
    question: str,
    registry: EvidenceRegistry,
    keys: Sequence[str],
    language: str,
    max_passage_chars: int | None = None,
    style: Style = Style(),
) -> str:
    """Ask for the report's title and its top-level sections, from the first search."""
    role = (
        "You are an expert at designing the outlines of research reports. From the user query "
        "and the information retrieved so far, draft a simple first outline: a title and the "
        "top-level sections only, each with a plan of what it must cover. Subsections come "
        "later, while the report is written."
    )
    notes = "\n".join(
        [
            "## Notes",
            "1. The outline must be comprehensive: together the sections answer every part "
            "of the query.",
            "2. The sections follow a logical order, each with its own distinct focus.",
            "3. Follow any preference the user states in the query (scope, structure, audience).",
            "4. " + _language_note(language),
        ]
    )
    return "\n\n".join(
        [
            role,
            f"** User Query **\n{question}",
            "** Latest Retrieved Information **\n"
            + evidence_block(registry, keys, max_passage_chars),
            notes,
            "** Available Actions **\n- init-plan: create the report's title and its "
            "top-level sections, each with a title and a plan.",
            '## Action Format:\n<action> {"name": "init-plan", "title": "...", "sections": '
            '[{"title": "...", "plan": "..."}, {"title": "...", "plan": "..."}, ...]} </action>',
            _output_format(
                _thought(
                    style,
                    "your detailed reasoning process: what the query asks, what "
                    "the evidence offers, and how the report should be structured",
                ),
                "the init-plan action, as JSON",
            ),
            CLOSING,
        ]
    )


# ---- write ----------------------------------------------------------------------------------
def write_prompt(
    question: str,
    outline: Outline,
    registry: EvidenceRegistry,
    keys: Sequence[str],
    language: str,
    abbreviation: Abbreviation = Abbreviation(),
    max_passage_chars: int | None = None,
    style: Style = Style(),
    instruction_notes: Sequence[str] = (),
) -> str:
    """Ask for the Markdown text of the section under the cursor, citing the pack."""
    cursor = outline.cursor()
    assert cursor is not None, "write needs a cursor"
    role = (
        'You are the Writer inside an "Analyzer-Searcher-Writer" multi-agent research system. '
        "You compose the part of the article the Analyzer assigns you, from the Analyzer's "
        "instruction, the current draft of the article and the latest retrieved information, "
        "so that it fits the article and every claim is accurately cited."
    )
    guidance = "\n".join(
        [
            "Guidelines:",
            "1. Cover the assigned part with breadth and depth: explain, compare and analyse; "
            "examples, Markdown tables, lists and code snippets are welcome where they help.",
            "2. Be analytical and comparative rather than a summary of facts: say what the "
            "evidence means, where sources agree or differ, and what follows from it.",
            "3. Stay coherent with the rest of the article, and do not repeat what other "
            "sections already say.",
            "4. Write only the assigned part: never other sections, and no section title or "
            "heading.",
            "5. Cite the retrieved information behind each claim with its key, as \\cite{bibkey} "
            "or \\cite{bibkey1, bibkey2}, using only the keys listed under Retrieved Information.",
            "6. " + _language_note(language),
        ]
    )
    instruction = f"You need to update {cursor.position}"
    if instruction_notes:
        instruction += "\n" + "\n".join(instruction_notes)
    summary = render_outline(
        outline, language, full=write_branch(outline, cursor), abbreviation=abbreviation
    )
    return "\n\n".join(
        [
            role,
            guidance,
            f"** User Query **\n{question}",
            f"** Current Article Summary **\n{summary}",
            f"** Analyzer's Instruction **\n{instruction}",
            "** Retrieved Information **\n" + evidence_block(registry, keys, max_passage_chars),
            "## Action Example:\n<action> content </action>",
            _output_format(
                _thought(
                    style, "your reasoning: what this part must say and which evidence supports it"
                ),
                "the text of the assigned part in Markdown, with its citation keys",
            ),
            CLOSING,
        ]
    )


# ---- extend-plan ----------------------------------------------------------------------------
def extend_plan_prompt(
    question: str,
    outline: Outline,
    positions: Sequence[str],
    language: str,
    forced: bool,
    abbreviation: Abbreviation | None = None,
    style: Style = Style(),
) -> str:
    """Ask whether one section deserves subsections (extend-plan) or the report is done (nop)."""
    role = (
        "You are an expert at designing the outlines of research reports. The whole article "
        "below is written; decide whether one of its sections or subsections needs "
        "subsections of its own to make the report deeper."
    )
    notes = [
        "## Important Notes:",
        "1. Pick only the single section or subsection that most needs expanding; if none "
        "does, answer nop.",
        "2. Expand only when it makes the report more comprehensive or more insightful.",
        "3. Do not add subsections that repeat other parts of the report or that go into "
        "needless detail.",
        "4. New subsections must be relevant to the query and coherent with their section.",
        "5. " + _language_note(language),
    ]
    full: Sequence[str] | None = None if abbreviation is None else ()
    report = render_outline(
        outline, language, full=full, abbreviation=abbreviation or Abbreviation()
    )
    # The trained action lines stay as they are; what changes from call to call (which
    # positions are open, the user's request) is one line after them, so consecutive
    # extend-plans share everything up to their first new section.
    actions = (
        "** Available Actions **\n- extend-plan: add subsections to one section or subsection "
        "(section-1 → section-1.1, section-1.2, section-1.3).\n"
        "- nop: the report needs no further subsections; finish it."
    )
    if forced:
        actions += (
            f"\nThe user asked for {positions[0]} to be expanded: expand it (nop is not "
            "available this time)."
        )
    else:
        actions += f"\nPositions that can be expanded: {', '.join(positions) or 'none'}."
    action_format = (
        '## Action Format:\n<action> {"name": "extend-plan", "position": "section-x.y.z", '
        '"subsections": [{"title": "...", "plan": "..."}, {"title": "...", "plan": "..."}, '
        '...]} </action>\n<action> {"name": "nop"} </action>'
    )
    return "\n\n".join(
        [
            role,
            "\n".join(notes),
            f"** User Query **\n{question}",
            f"** Current Full Report **\n{report}",
            actions,
            action_format,
            _output_format(
                _thought(
                    style,
                    "your detailed reasoning process: which part of the report "
                    "is thinnest and whether deepening it adds insight",
                ),
                "the extend-plan action, as JSON"
                if forced
                else "the extend-plan or nop action, as JSON",
            ),
            CLOSING,
        ]
    )


def example_strings() -> frozenset[str]:
    """Every string a prompt's action examples show (all placeholders): a reply whose title,
    section title or keyword equals one of these has copied the example."""
    from desktop.core.evidence import EvidenceRegistry as Registry

    outline = Outline.initial("T", [("S", "P")]).with_content("s1", "x")
    texts = [
        search_prompt("q", None, "outline", "en"),
        init_plan_prompt("q", Registry(), [], "en"),
        extend_plan_prompt("q", outline, ["section-1"], "en", forced=False),
        write_prompt("q", Outline.initial("T", [("S", "P")]), Registry(), [], "en"),
    ]
    found: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            if line.startswith("<action> ") and "{what" not in line:
                body = line.removeprefix("<action> ").removesuffix(" </action>")
                found.update(re.findall(r'"([^"]*)"', body))
                found.update(re.findall(r"keyword-\d+", body))
                if not body.startswith("{"):
                    found.add(body)
    keys = {"name", "title", "sections", "plan", "position", "subsections", "keywords"}
    return frozenset(found - keys - {"search", "init-plan", "extend-plan", "nop"})
