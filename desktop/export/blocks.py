"""Parse a section body (Markdown with citation tokens) into document blocks for DOCX and PDF.

Uses markdown-it-py (CommonMark plus GFM tables and strikethrough). The DOCX and PDF writers
walk these blocks instead of Markdown text, so tables, lists, code and emphasis become real
document structure. Citation tokens `⟦1,4⟧` become `Cite` inlines; inside code they stay
readable as `[1, 4]` but are not links.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from markdown_it.token import Token

from desktop.core.neutralize import markdown_parser
from desktop.core.report import TOKEN_RE, split_citations
from desktop.core.verify import MATCH_SKIPPED, match_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of text with one style; `href` is an external link target or ""."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    strike: bool = False
    href: str = ""


@dataclass(frozen=True, slots=True)
class Cite:
    """A citation group: reference numbers, each rendered as a link to its entry."""

    numbers: tuple[int, ...]


Inline = Run | Cite


@dataclass(frozen=True, slots=True)
class Paragraph:
    inlines: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class ListBlock:
    ordered: bool
    start: int
    items: tuple[tuple[Block, ...], ...]


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[tuple[Inline, ...], ...]
    rows: tuple[tuple[tuple[Inline, ...], ...], ...]
    aligns: tuple[str, ...]  # "left", "center", "right" or "" per column


@dataclass(frozen=True, slots=True)
class CodeBlock:
    text: str
    language: str = ""


@dataclass(frozen=True, slots=True)
class Quote:
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    pass


Block = Paragraph | ListBlock | Table | CodeBlock | Quote | Rule


def parse_body(body: str) -> tuple[Block, ...]:
    """Parse one section body into blocks."""
    tokens = markdown_parser().parse(body)
    blocks, _ = _blocks(tokens, 0, closing=None)
    return tuple(blocks)


def plain_text(inlines: tuple[Inline, ...]) -> str:
    """The text a reader sees for some inlines, citations as `[1, 4]`."""
    return "".join(
        part.text if isinstance(part, Run) else cite_text(part.numbers) for part in inlines
    )


def cite_text(numbers: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(n) for n in numbers) + "]"


def _uncite(text: str) -> str:
    """Show citation tokens inside code as plain `[1, 4]`."""
    return TOKEN_RE.sub(lambda m: cite_text(tuple(int(n) for n in m.group(1).split(","))), text)


def _blocks(tokens: list[Token], i: int, closing: str | None) -> tuple[list[Block], int]:
    """Read blocks from `tokens[i:]` until the token of type `closing`; return them and the
    index after it."""
    blocks: list[Block] = []
    while i < len(tokens):
        tok = tokens[i]
        if closing is not None and tok.type == closing:
            return blocks, i + 1
        block, i = _block(tokens, i)
        if block is not None:
            blocks.append(block)
    return blocks, i


def _block(tokens: list[Token], i: int) -> tuple[Block | None, int]:
    tok = tokens[i]
    match tok.type:
        case "paragraph_open" | "heading_open":
            # Bodies have no headings by contract; a stray one is shown as a bold paragraph.
            inlines = _inlines(tokens[i + 1], bold=tok.type == "heading_open")
            return Paragraph(inlines), i + 3
        case "bullet_list_open" | "ordered_list_open":
            return _list(tokens, i)
        case "table_open":
            return _table(tokens, i)
        case "fence" | "code_block":
            text = _uncite(tok.content.rstrip("\n"))
            return CodeBlock(text, tok.info.strip().split(" ")[0] if tok.info else ""), i + 1
        case "blockquote_open":
            inner, j = _blocks(tokens, i + 1, "blockquote_close")
            return Quote(tuple(inner)), j
        case "hr":
            return Rule(), i + 1
        case "html_block":
            return Paragraph((Run(tok.content.strip()),)), i + 1
        case _:
            log.debug("skipping markdown token %s", tok.type)
            return None, i + 1


def _list(tokens: list[Token], i: int) -> tuple[ListBlock, int]:
    opener = tokens[i]
    ordered = opener.type == "ordered_list_open"
    closing = "ordered_list_close" if ordered else "bullet_list_close"
    start = int(opener.attrGet("start") or 1) if ordered else 1
    items: list[tuple[Block, ...]] = []
    i += 1
    while tokens[i].type != closing:
        # list_item_open … list_item_close; tight lists hide their paragraphs but keep them
        inner, i = _blocks(tokens, i + 1, "list_item_close")
        items.append(tuple(inner))
    return ListBlock(ordered, start, tuple(items)), i + 1


def _table(tokens: list[Token], i: int) -> tuple[Table, int]:
    header: list[tuple[Inline, ...]] = []
    rows: list[tuple[tuple[Inline, ...], ...]] = []
    aligns: list[str] = []
    row: list[tuple[Inline, ...]] = []
    i += 1
    while tokens[i].type != "table_close":
        tok = tokens[i]
        if tok.type in ("th_open", "td_open"):
            style = str(tok.attrGet("style") or "")
            if tok.type == "th_open":
                aligns.append(style.removeprefix("text-align:").strip())
            row.append(_inlines(tokens[i + 1]))
            i += 3
            continue
        if tok.type == "tr_close":
            if not header:
                header = row
            else:
                rows.append(tuple(row))
            row = []
        i += 1
    return Table(tuple(header), tuple(rows), tuple(aligns)), i + 1


def _inlines(inline: Token, *, bold: bool = False) -> tuple[Inline, ...]:
    """Turn an inline token's children into merged styled runs with citations split out."""
    style = Run("", bold=bold)
    runs: list[Run] = []
    for child in inline.children or []:
        match child.type:
            case "text" | "html_inline":
                runs.append(replace(style, text=child.content))
            case "code_inline":
                runs.append(replace(style, text=_uncite(child.content), code=True))
            case "softbreak":
                runs.append(replace(style, text=" "))
            case "hardbreak":
                runs.append(replace(style, text="\n"))
            case "strong_open" | "strong_close":
                style = replace(style, bold=child.type == "strong_open" or bold)
            case "em_open" | "em_close":
                style = replace(style, italic=child.type == "em_open")
            case "s_open" | "s_close":
                style = replace(style, strike=child.type == "s_open")
            case "link_open":
                style = replace(style, href=str(child.attrGet("href") or ""))
            case "link_close":
                style = replace(style, href="")
            case "image":
                runs.append(replace(style, text=child.content or str(child.attrGet("src"))))
            case _:
                log.debug("skipping inline token %s", child.type)
    return _split_cites(_merge(runs))


def _merge(runs: list[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        if merged and replace(merged[-1], text="") == replace(run, text=""):
            merged[-1] = replace(merged[-1], text=merged[-1].text + run.text)
        elif run.text:
            merged.append(run)
    return merged


def _split_cites(runs: list[Run]) -> tuple[Inline, ...]:
    out: list[Inline] = []
    for run in runs:
        if run.code:
            out.append(run)
            continue
        for part in split_citations(run.text):
            out.append(replace(run, text=part) if isinstance(part, str) else Cite(part))
    return tuple(out)


# ---- the citation check as a table and as sentence ranges -----------------------------------
_SKIPPED = MATCH_SKIPPED


def sentence_ranges(
    inlines: tuple[Inline, ...], sentences: list[str]
) -> list[tuple[int, int, int]]:
    """Where each sentence lies in a paragraph's inlines: (sentence index, first inline, last
    inline) after `split_at_sentences` made every boundary fall between inlines."""
    keyed: list[tuple[str, int]] = []  # (character, inline index), text runs only
    for index, part in enumerate(inlines):
        if isinstance(part, Run):
            keyed.extend((ch, index) for ch in part.text if ch not in _SKIPPED)
    flat = "".join(ch for ch, _ in keyed)
    out = []
    for number, sentence in enumerate(sentences):
        key = match_key(sentence)
        at = flat.find(key) if key else -1
        if at >= 0:
            out.append((number, keyed[at][1], keyed[at + len(key) - 1][1]))
    return out


def split_at_sentences(inlines: tuple[Inline, ...], sentences: list[str]) -> tuple[Inline, ...]:
    """Split text runs so that each sentence found starts and ends on a run boundary."""
    cuts: set[tuple[int, int]] = set()  # (inline index, offset inside its text)
    positions: list[tuple[int, int]] = []
    chars: list[str] = []  # the text of `positions`, in order
    for index, part in enumerate(inlines):
        if isinstance(part, Run):
            for offset, ch in enumerate(part.text):
                if ch not in _SKIPPED:
                    positions.append((index, offset))
                    chars.append(ch)
    flat = "".join(chars)
    for sentence in sentences:
        key = match_key(sentence)
        at = flat.find(key) if key else -1
        if at < 0:
            continue
        cuts.add(positions[at])
        end_index, end_offset = positions[at + len(key) - 1]
        cuts.add((end_index, end_offset + 1))
    out: list[Inline] = []
    for index, part in enumerate(inlines):
        if not isinstance(part, Run):
            out.append(part)
            continue
        offsets = sorted({o for i, o in cuts if i == index and 0 < o < len(part.text)})
        last = 0
        for offset in [*offsets, len(part.text)]:
            if offset > last:
                out.append(replace(part, text=part.text[last:offset]))
            last = offset
    return tuple(out)


def check_table(report) -> Table:
    """The "Citation check" appendix as a table: section, claim, verdict, sources, pages."""
    from desktop.export.common import check_rows, labels

    header = tuple((Run(name),) for name in labels(report)["check_columns"].split("|"))
    rows = []
    for row in check_rows(report):
        sources: list[Inline] = []
        for i, (number, name, _page) in enumerate(row.sources):
            if i:
                sources.append(Run("; "))
            sources += [Cite((number,)), Run(f" {name}")]
        pages = "; ".join(page for _, _, page in row.sources) or "–"
        verdict = Run(row.verdict, bold=row.flagged)
        rows.append(
            (
                (Run(row.section),),
                (Run(row.claim),),
                (verdict,),
                tuple(sources) or (Run("–"),),
                (Run(pages),),
            )
        )
    return Table(header, tuple(rows), ("left", "left", "left", "left", "left"))
