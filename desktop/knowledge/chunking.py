"""Split a section of text into chunks of ~220 tokens that respect paragraphs and sentences.

A `Section` is a run of text under one heading on one page (or in one unpaged document). Its
paragraphs are separated by blank lines. Chunks never cross a section, so every chunk has exactly
one page and one heading; consecutive chunks of a section share a small sentence overlap.

Without a tokenizer, sizes are estimated tokens, per script: a CJK character (Han, kana, Hangul)
is one token (what BERT-style vocabularies such as MiniLM's make of it), any other word one
token plus one for each punctuation mark in it (word pieces). Sentences end at ``. ! ?`` before
whitespace and at ``。！？；`` (and their full-width closing quotes), which need none. When a
`ChunkBudget` carries the embedder's tokenizer, paragraphs and sentences are measured with it
instead, and the section's heading is taken off the room: the estimate is 0.55 to 1.26 times
the real count on the English manuals, so packing by it either wastes the model's input or
overflows it (at this target the check below had to halve 210 of 4,310 chunks; measured: 0).
Every chunk is still checked with the tokenizer and split until its embedded text (heading
included) fits the model's input limit: no tail is ever silently truncated away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

# Measured with MiniLM's tokenizer on the nine English manuals of bench/bench_query.py: 220 gives
# chunks of the size of the 150-word chunks before issue #14 (mean 98 words, 151 tokens; those ran
# past the 256-token limit 304 times out of 4,022), none of them over the limit.
TARGET_TOKENS = 220
MAX_TOKENS = 240
OVERLAP_TOKENS = 30
MIN_TOKENS = 3  # a fragment smaller than this (a stray page number) is not worth a chunk
DEFAULT_LIMIT = 256  # all-MiniLM-L6-v2's max_seq_length, in word pieces

# Han (with extensions A and compatibility), kana, Hangul syllables, CJK punctuation.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
CJK = re.compile(f"[{_CJK_CHARS}]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_LEAD_IN = ":："  # a paragraph ending in one of these introduces the next one
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace,
# or at a CJK full stop, exclamation, question mark or semicolon (whitespace optional).
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])[\"')\]]*\s+)|(?:(?<=[。！？；])[」』”’）》〉】\"')\]]*\s*)"
)
# One estimated token: a CJK character, or a run of other non-space characters (a word).
_PIECE = re.compile(f"[{_CJK_CHARS}]|[^\\s{_CJK_CHARS}]+")
_SPACE_BETWEEN_CJK = re.compile(
    f"(?<=[{_CJK_CHARS}，、。：；！？）」』”])\\s+(?=[{_CJK_CHARS}（「『“])"
)


@dataclass(frozen=True, slots=True)
class ChunkBudget:
    """How many tokens an embedded chunk may hold, and how to count them exactly.

    `count` returns the number of tokens the embedder reads for a text, special tokens
    included (None: trust the estimate). `limit` is the model's input limit.
    """

    limit: int = DEFAULT_LIMIT
    count: Callable[[str], int] | None = None

    @property
    def target(self) -> int:
        return min(TARGET_TOKENS, self.limit - 36)

    @property
    def maximum(self) -> int:
        return min(MAX_TOKENS, self.limit - 16)

    @property
    def overlap(self) -> int:
        return min(OVERLAP_TOKENS, self.target // 6)


ESTIMATE_ONLY = ChunkBudget()


@dataclass(frozen=True, slots=True)
class Section:
    """Text under one heading: `offset` is where `text` starts in its page (or document)."""

    text: str
    page: int | None = None
    heading: str = ""
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Chunk:
    """One embeddable piece: its text and where it came from (`start`/`end` are char offsets)."""

    text: str
    page: int | None
    heading: str
    start: int
    end: int

    @property
    def embed_text(self) -> str:
        """Return the text to embed: the chunk prefixed by its heading, for context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence or paragraph: a char span of the section text and its estimated tokens."""

    start: int
    end: int
    tokens: int
    paragraph_end: bool
    lead_in: bool = False  # a paragraph ending in a colon: it introduces the next one


@dataclass(frozen=True, slots=True)
class _Sizes:
    """The sizes one section's chunks are packed to, and how a span of its text is measured."""

    target: int
    maximum: int
    overlap: int
    measure: Callable[[str, int, int], int]  # tokens of text[start:end]


def _sizes(section: Section, budget: ChunkBudget) -> _Sizes:
    """Sizes in the model's own tokens when the budget can count them, else estimated ones."""
    count = budget.count
    if count is None:
        return _Sizes(budget.target, budget.maximum, budget.overlap, estimate_tokens)
    overhead = count("")  # special tokens and the model's passage prefix
    heading = count(f"{section.heading}\n") - overhead if section.heading else 0
    room = max(budget.limit - overhead - heading, 16)
    maximum = min(budget.maximum, room)
    target = min(budget.target, maximum)

    def measure(text: str, start: int, end: int) -> int:
        return count(text[start:end]) - overhead

    return _Sizes(target, maximum, min(budget.overlap, target // 6), measure)


def chunk_section(section: Section, budget: ChunkBudget = ESTIMATE_ONLY) -> list[Chunk]:
    """Return the chunks of one section, in order, each within `budget`."""
    chunks = []
    sizes = _sizes(section, budget)
    units = list(_units(section.text, sizes))
    for group in _merge_tail(list(_pack(units, sizes)), sizes):
        for start, end in _fit(section, group[0].start, group[-1].end, budget):
            text = _clean(section.text[start:end])
            if not any(ch.isalpha() for ch in text):
                continue  # a page number or a rule: nothing to find
            chunks.append(
                Chunk(
                    text=text,
                    page=section.page,
                    heading=section.heading,
                    start=section.offset + start,
                    end=section.offset + end,
                )
            )
    return chunks


def estimate_tokens(text: str, start: int = 0, end: int | None = None) -> int:
    """Return the estimated token count of `text[start:end]` (see the module docstring)."""
    return sum(
        _piece_cost(m.group())
        for m in _PIECE.finditer(text, start, len(text) if end is None else end)
    )


def is_cjk_text(text: str, share: float = 0.2) -> bool:
    """Whether at least `share` of the text's letters are CJK characters."""
    letters = sum(1 for ch in text if ch.isalpha())
    return letters > 0 and len(CJK.findall(text)) >= share * letters


def _piece_cost(piece: str) -> int:
    if len(piece) == 1 and CJK.match(piece):
        return 1
    return 1 + sum(1 for ch in piece if not ch.isalnum()) + len(piece) // 12


def _units(text: str, budget: _Sizes) -> Iterator[_Unit]:
    """Yield paragraphs that fit in a chunk whole, else their sentences (or token windows);
    the end of a paragraph that ends in a colon is marked as a lead-in."""
    for unit in _plain_units(text, budget):
        if unit.paragraph_end and text[unit.end - 1] in _LEAD_IN:
            unit = replace(unit, lead_in=True)
        yield unit


def _plain_units(text: str, budget: _Sizes) -> Iterator[_Unit]:
    for para_start, para_end in _paragraph_spans(text):
        tokens = budget.measure(text, para_start, para_end)
        if tokens <= budget.target:
            yield _Unit(para_start, para_end, tokens, True)
            continue
        pieces = list(_sentence_spans(text, para_start, para_end))
        for index, (start, end) in enumerate(pieces):
            last = index == len(pieces) - 1
            yield from _split_long(text, start, end, last, budget)


def _paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    position = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        yield from _trimmed(text, position, match.start())
        position = match.end()
    yield from _trimmed(text, position, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield the span without surrounding whitespace, if anything is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if match.end() <= position:
            continue
        yield from _trimmed(text, position, match.end())
        position = match.end()
    yield from _trimmed(text, position, end)


def _split_long(
    text: str, start: int, end: int, paragraph_end: bool, budget: _Sizes
) -> Iterator[_Unit]:
    """Yield a sentence whole, or cut it into token windows if it is longer than a chunk.

    Windows are cut on estimated pieces, scaled to the measured size of the whole sentence."""
    total = budget.measure(text, start, end)
    if total <= budget.maximum:
        yield _Unit(start, end, total, paragraph_end)
        return
    pieces = [
        (m.start(), m.end(), _piece_cost(m.group())) for m in _PIECE.finditer(text, start, end)
    ]
    scale = total / max(1, sum(cost for _, _, cost in pieces))
    window: list[tuple[int, int, int]] = []
    tokens = 0.0
    for index, piece in enumerate(pieces):
        if window and tokens + piece[2] * scale > budget.target:
            yield _Unit(window[0][0], window[-1][1], round(tokens), False)
            window, tokens = [], 0.0
        window.append(piece)
        tokens += piece[2] * scale
        if index == len(pieces) - 1:
            yield _Unit(window[0][0], window[-1][1], round(tokens), paragraph_end)


def _pack(units: list[_Unit], budget: _Sizes) -> Iterator[list[_Unit]]:
    """Group units greedily up to the target size, carrying a small overlap forward."""
    group: list[_Unit] = []
    tokens = 0
    fresh = 0  # units in the group that were not carried over from the previous chunk
    for unit in units:
        if group and fresh and tokens + unit.tokens > budget.target:
            held = _held_lead_in(group, fresh, unit, budget)
            yield group[: len(group) - len(held)]
            group = held or _overlap(group, budget)
            tokens = sum(u.tokens for u in group)
            fresh = len(held)
            if tokens + unit.tokens > budget.maximum:
                group, tokens = [], 0
        group.append(unit)
        tokens += unit.tokens
        fresh += 1
    if group and fresh:
        yield group


def _held_lead_in(group: list[_Unit], fresh: int, unit: _Unit, budget: _Sizes) -> list[_Unit]:
    """Return the group's last paragraph if it introduces `unit` ("Examples:", "To plot a bar
    graph:") and can open the next chunk with it; an introduction cut off from what it
    introduces helps neither chunk (measured: a gnuplot example lost its question)."""
    last = group[-1]
    if last.lead_in and fresh > 1 and last.tokens + unit.tokens <= budget.maximum:
        return [last]
    return []


def _merge_tail(groups: list[list[_Unit]], budget: _Sizes) -> list[list[_Unit]]:
    """Fold a tiny last chunk (a trailing short sentence) into the one before it."""
    if len(groups) < 2:
        return groups
    previous, last = groups[-2], groups[-1]
    fresh = [u for u in last if u.start >= previous[-1].end]
    small = sum(u.tokens for u in fresh) < MIN_TOKENS
    if small and sum(u.tokens for u in previous + fresh) <= budget.maximum:
        return [*groups[:-2], previous + fresh]
    return groups


def _overlap(group: list[_Unit], budget: _Sizes) -> list[_Unit]:
    """Return the trailing sentences of a chunk to repeat at the start of the next one.

    Only sentences inside a paragraph carry over: a chunk that ended on a paragraph boundary
    starts the next one cleanly.
    """
    if group[-1].paragraph_end:
        return []
    carried: list[_Unit] = []
    tokens = 0
    for unit in reversed(group):
        if unit.paragraph_end or tokens + unit.tokens > budget.overlap:
            break
        carried.insert(0, unit)
        tokens += unit.tokens
    return carried


def _fit(section: Section, start: int, end: int, budget: ChunkBudget) -> list[tuple[int, int]]:
    """Return `[start, end)` as one span, or split in halves until each fits the exact count."""
    if budget.count is None:
        return [(start, end)]
    text = _clean(section.text[start:end])
    embedded = f"{section.heading}\n{text}" if section.heading else text
    if budget.count(embedded) <= budget.limit:
        return [(start, end)]
    middle = _split_point(section.text, start, end)
    if middle is None:
        return [(start, end)]  # cannot happen for a span of 2+ characters
    return _fit(section, start, middle, budget) + _fit(section, middle, end, budget)


def _split_point(text: str, start: int, end: int) -> int | None:
    """Return a cut near the middle of the span: a sentence end, else a piece boundary."""
    middle = (start + end) // 2
    cuts = [m.end() for m in _SENTENCE_END.finditer(text, start, end) if start < m.end() < end]
    if not cuts:
        cuts = [m.start() for m in _PIECE.finditer(text, start, end) if m.start() > start]
    if not cuts:
        return middle if end - start > 1 else None
    best = min(cuts, key=lambda cut: abs(cut - middle))
    # A cut that leaves almost everything on one side would recurse for ever on one long word.
    if min(best - start, end - best) * 8 < end - start and end - start > 1:
        return middle
    return best


def _clean(text: str) -> str:
    """Collapse whitespace inside paragraphs (none between CJK characters); keep paragraph breaks."""
    paragraphs = (
        _SPACE_BETWEEN_CJK.sub("", " ".join(p.split())) for p in _PARAGRAPH_BREAK.split(text)
    )
    return "\n\n".join(p for p in paragraphs if p)
