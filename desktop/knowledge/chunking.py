"""Split a section of text into ~150-word chunks that respect paragraphs and sentences.

A `Section` is a run of text under one heading on one page (or in one unpaged document). Its
paragraphs are separated by blank lines. Chunks never cross a section, so every chunk has exactly
one page and one heading; consecutive chunks of a section share a small sentence overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

TARGET_WORDS = 150
MAX_WORDS = 200
OVERLAP_WORDS = 25
MIN_WORDS = 3  # a fragment smaller than this (a stray page number) is not worth a chunk

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_WORD = re.compile(r"\S+")


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
    """A sentence or paragraph: a char span of the section text and its word count."""

    start: int
    end: int
    words: int
    paragraph_end: bool


def chunk_section(section: Section) -> list[Chunk]:
    """Return the chunks of one section, in order."""
    chunks = []
    for group in _merge_tail(list(_pack(list(_units(section.text))))):
        start, end = group[0].start, group[-1].end
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


def _units(text: str) -> Iterator[_Unit]:
    """Yield paragraphs that fit in a chunk whole, else their sentences (or word windows)."""
    for para_start, para_end in _paragraph_spans(text):
        words = _count_words(text, para_start, para_end)
        if words <= TARGET_WORDS:
            yield _Unit(para_start, para_end, words, True)
            continue
        pieces = list(_sentence_spans(text, para_start, para_end))
        for index, (start, end) in enumerate(pieces):
            last = index == len(pieces) - 1
            yield from _split_long(text, start, end, last)


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
        yield from _trimmed(text, position, match.start())
        position = match.end()
    yield from _trimmed(text, position, end)


def _split_long(text: str, start: int, end: int, paragraph_end: bool) -> Iterator[_Unit]:
    """Yield a sentence whole, or cut it into word windows if it is longer than a chunk."""
    words = [m.span() for m in _WORD.finditer(text, start, end)]
    if len(words) <= MAX_WORDS:
        yield _Unit(start, end, len(words), paragraph_end)
        return
    for first in range(0, len(words), TARGET_WORDS):
        window = words[first : first + TARGET_WORDS]
        last = first + TARGET_WORDS >= len(words)
        yield _Unit(window[0][0], window[-1][1], len(window), paragraph_end and last)


def _pack(units: list[_Unit]) -> Iterator[list[_Unit]]:
    """Group units greedily up to the target size, carrying a small overlap forward."""
    group: list[_Unit] = []
    words = 0
    fresh = 0  # units in the group that were not carried over from the previous chunk
    for unit in units:
        if group and fresh and words + unit.words > TARGET_WORDS:
            yield group
            group = _overlap(group)
            words = sum(u.words for u in group)
            fresh = 0
            if words + unit.words > MAX_WORDS:
                group, words = [], 0
        group.append(unit)
        words += unit.words
        fresh += 1
    if group and fresh:
        yield group


def _merge_tail(groups: list[list[_Unit]]) -> list[list[_Unit]]:
    """Fold a tiny last chunk (a trailing short sentence) into the one before it."""
    if len(groups) < 2:
        return groups
    previous, last = groups[-2], groups[-1]
    fresh = [u for u in last if u.start >= previous[-1].end]
    small = sum(u.words for u in fresh) < MIN_WORDS
    if small and sum(u.words for u in previous + fresh) <= MAX_WORDS:
        return [*groups[:-2], previous + fresh]
    return groups


def _overlap(group: list[_Unit]) -> list[_Unit]:
    """Return the trailing sentences of a chunk to repeat at the start of the next one.

    Only sentences inside a paragraph carry over: a chunk that ended on a paragraph boundary
    starts the next one cleanly.
    """
    if group[-1].paragraph_end:
        return []
    carried: list[_Unit] = []
    words = 0
    for unit in reversed(group):
        if unit.paragraph_end or words + unit.words > OVERLAP_WORDS:
            break
        carried.insert(0, unit)
        words += unit.words
    return carried


def _count_words(text: str, start: int, end: int) -> int:
    return sum(1 for _ in _WORD.finditer(text, start, end))


def _clean(text: str) -> str:
    """Collapse whitespace inside paragraphs; keep paragraph breaks as blank lines."""
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
    return "\n\n".join(p for p in paragraphs if p)
