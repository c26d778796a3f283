"""The report model every exporter renders: numbered sections, numbered citations, references.

Section bodies keep the model's Markdown; each `\\cite{…}` is replaced by a citation token
`⟦1,4⟧` holding reference numbers assigned in order of first use. Exporters split bodies with
`split_citations` and render the numbers as links to the reference list.

Before that, text that could pass for a citation or a source without being one is neutralised
(`desktop.core.neutralize`): a bare bracketed number such as `[12]` becomes `(12)`, and a link or
image is kept only when its target is a web page among this run's evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.neutralize import neutralize
from desktop.core.outline import Outline

CITE_RE = re.compile(r"\\cite\{([^}]*)\}")
TOKEN_RE = re.compile(r"⟦(\d+(?:,\d+)*)⟧")


@dataclass(frozen=True, slots=True)
class Reference:
    number: int
    key: str  # the registry key (`textidN`) first cited under this number
    passage: Passage

    @property
    def label(self) -> str:
        """How a reference list names the source: file and page, or title, URL and date."""
        p = self.passage
        if p.kind == "web":
            title = p.title or p.source
            accessed = f" (accessed {p.accessed})" if p.accessed else ""
            return f"{title}. {p.source}{accessed}"
        name = Path(p.source).name
        where = f"p. {p.page}" if p.page is not None else (p.locator or "")
        return f"{name}, {where}" if where else name


@dataclass(frozen=True, slots=True)
class ReportSection:
    number: str  # "1", "1.2", "1.2.3"
    level: int  # 1..3
    title: str
    body: str  # Markdown with citation tokens; "" when the section was never written
    written: bool
    subsections: tuple[ReportSection, ...] = ()
    section_id: str = ""


@dataclass(frozen=True, slots=True)
class ReportClaim:
    """One checked claim as exports show it: where, what, the verdict and its sources."""

    section_number: str
    section_id: str
    text: str
    verdict: str  # desktop.core.verify.VERDICTS
    score: float
    reasons: tuple[str, ...] = ()
    evidence: str = ""
    references: tuple[int, ...] = ()  # reference numbers the claim cites

    @property
    def flagged(self) -> bool:
        return self.verdict != "supported"


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    question: str
    created: str  # ISO date
    model: str
    finished: bool
    language: str  # "en" or "zh"
    sections: tuple[ReportSection, ...] = ()
    references: tuple[Reference, ...] = ()
    claims: tuple[ReportClaim, ...] = ()  # the citation check of the current texts
    check_appendix: bool = False  # exports end with a "Citation check" table of `claims`

    def walk(self) -> Iterator[ReportSection]:
        def visit(sections):
            for s in sections:
                yield s
                yield from visit(s.subsections)

        yield from visit(self.sections)

    @property
    def sources_cited(self) -> int:
        return len({r.passage.source for r in self.references})


def split_citations(body: str) -> list[str | tuple[int, ...]]:
    """Split a body into text runs and citation groups (tuples of reference numbers)."""
    parts: list[str | tuple[int, ...]] = []
    last = 0
    for match in TOKEN_RE.finditer(body):
        if match.start() > last:
            parts.append(body[last : match.start()])
        parts.append(tuple(int(n) for n in match.group(1).split(",")))
        last = match.end()
    if last < len(body):
        parts.append(body[last:])
    return parts


def cite_keys(text: str) -> list[str]:
    """All `textidN` keys cited in a section text, in order, repeats included."""
    keys: list[str] = []
    for match in CITE_RE.finditer(text):
        keys.extend(k.strip() for k in match.group(1).split(",") if k.strip())
    return keys


class _Numbering:
    """Assigns reference numbers by first use; one number per source page (or locator)."""

    def __init__(self, registry: EvidenceRegistry) -> None:
        self.registry = registry
        self.numbers: dict[str, int] = {}
        self.by_location: dict[tuple, int] = {}
        self.references: list[Reference] = []

    def number(self, key: str) -> int | None:
        if key in self.numbers:
            return self.numbers[key]
        if key not in self.registry:
            return None
        passage = self.registry[key]
        location = (passage.source, passage.page, passage.locator)
        n = self.by_location.get(location)
        if n is None:
            n = len(self.references) + 1
            self.by_location[location] = n
            self.references.append(Reference(n, key, passage))
        self.numbers[key] = n
        return n

    def render(self, text: str) -> str:
        def sub(match: re.Match) -> str:
            numbers: list[int] = []
            for key in match.group(1).split(","):
                n = self.number(key.strip())
                if n is not None and n not in numbers:
                    numbers.append(n)
            return "⟦" + ",".join(map(str, numbers)) + "⟧" if numbers else ""

        return CITE_RE.sub(sub, text)


def build_report(
    outline: Outline,
    registry: EvidenceRegistry,
    *,
    question: str,
    created: str,
    model: str,
    finished: bool,
    language: str,
) -> Report:
    """Turn an outline and its evidence into the numbered report model."""
    numbering = _Numbering(registry)
    web_urls = frozenset(p.source for p in registry.by_key.values() if p.kind == "web")

    def convert(sections, prefix: str, level: int) -> tuple[ReportSection, ...]:
        out = []
        for index, s in enumerate(sections, start=1):
            number = f"{prefix}.{index}" if prefix else str(index)
            body = numbering.render(neutralize(s.content, web_urls)) if s.content else ""
            children = convert(s.subsections, number, level + 1)
            out.append(
                ReportSection(number, level, s.title, body, s.content is not None, children, s.id)
            )
        return tuple(out)

    sections = convert(outline.sections, "", 1)
    return Report(
        title=outline.title,
        question=question,
        created=created,
        model=model,
        finished=finished,
        language=language,
        sections=sections,
        references=tuple(numbering.references),
    )
