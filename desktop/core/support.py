"""A run's citation check as a whole: the current check of each section, the report's claims.

The journal keeps every check ever made (a revised or edited section has several); what counts
is the latest check of the text a section holds now. A written section with no such check (a
run from before checks existed, or text edited since) is checked on the spot when a verifier
is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from desktop.core.evidence import EvidenceRegistry
from desktop.core.outline import Outline
from desktop.core.report import Report, ReportClaim, build_report
from desktop.core.verify import SectionCheck, SectionVerifier, SupportSummary, text_hash

log = logging.getLogger(__name__)


def current_checks(
    outline: Outline | None,
    checks: Sequence[SectionCheck],
    registry: EvidenceRegistry,
    verifier: SectionVerifier | None = None,
) -> list[SectionCheck]:
    """The latest check of each written section's current text, in outline order."""
    if outline is None:
        return []
    latest = {(c.section_id, c.text_hash): c for c in checks}
    out = []
    for node in outline.walk():
        content = node.section.content
        if not content:
            continue
        check = latest.get((node.section.id, text_hash(content)))
        if check is None and verifier is not None:
            check = verifier.check_section(
                content, registry.by_key, section_id=node.section.id, position=node.position
            )
        if check is not None:
            out.append(check)
    return out


def checked_report(
    outline: Outline,
    registry: EvidenceRegistry,
    checks: Sequence[SectionCheck],
    *,
    question: str,
    created: float,
    model: str,
    finished: bool,
    language: str,
    appendix: bool = False,
    verifier: SectionVerifier | None = None,
) -> Report:
    """The numbered report of an outline with its citation check: what the draft shows and
    what is exported (`created` is the run's wall-clock creation time)."""
    report = build_report(
        outline,
        registry,
        question=question,
        created=time.strftime("%Y-%m-%d", time.localtime(created)),
        model=model,
        finished=finished,
        language=language,
    )
    current = current_checks(outline, checks, registry, verifier)
    return with_claims(report, current, registry, appendix=appendix)


def summary_of(checks: Sequence[SectionCheck]) -> SupportSummary:
    return SupportSummary.of([claim for check in checks for claim in check.claims])


def with_claims(
    report: Report,
    checks: Sequence[SectionCheck],
    registry: EvidenceRegistry,
    *,
    appendix: bool = False,
) -> Report:
    """The report with its checked claims (reference numbers as the report numbers them)."""
    numbers = reference_numbers(report, registry)
    sections = {s.section_id: s.number for s in report.walk()}
    claims = []
    for check in checks:
        number = sections.get(check.section_id)
        if number is None:
            continue
        for claim in check.claims:
            refs: list[int] = []
            for key in claim.keys:
                n = numbers.get(key)
                if n is not None and n not in refs:
                    refs.append(n)
            claims.append(
                ReportClaim(
                    number,
                    check.section_id,
                    claim.text,
                    claim.verdict,
                    claim.score,
                    claim.reasons,
                    claim.evidence,
                    tuple(refs),
                )
            )
    return replace(report, claims=tuple(claims), check_appendix=appendix)


def reference_numbers(report: Report, registry: EvidenceRegistry) -> dict[str, int]:
    """Registry key → the reference number the report gives its source page."""
    by_place = {
        (r.passage.source, r.passage.page, r.passage.locator): r.number for r in report.references
    }
    numbers: dict[str, int] = {}
    for key, passage in registry.by_key.items():
        number = by_place.get((passage.source, passage.page, passage.locator))
        if number is not None:
            numbers[key] = number
    return numbers
