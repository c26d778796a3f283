"""What every writer shares: localized labels, the title-block facts, script detection."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from desktop.core.report import Report, ReportClaim

log = logging.getLogger(__name__)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "references": "References",
        "contents": "Contents",
        "unfinished": "Unfinished draft",
        "unfinished_detail": "Unfinished draft: {written} of {total} sections written",
        "question": "Question",
        "not_written": "This section has not been written yet.",
        "sources": "{n} sources",
        "one_source": "1 source",
        "accessed": "accessed",
        "page": "Page",
        "check": "Citation check",
        "check_intro": "Each claim checked against the passage it cites: {summary}.",
        "check_columns": "Section|Claim|Verdict|Source|Page",
        "supported": "supported",
        "partial": "partly supported",
        "unsupported": "unsupported",
        "uncited": "no citation",
    },
    "zh": {
        "references": "参考文献",
        "contents": "目录",
        "unfinished": "未完成的草稿",
        "unfinished_detail": "未完成的草稿：已撰写 {written} / {total} 节",
        "question": "问题",
        "not_written": "本节尚未撰写。",
        "sources": "{n} 个来源",
        "one_source": "1 个来源",
        "accessed": "访问于",
        "page": "第",
        "check": "引用核查",
        "check_intro": "每条论述都与其引用的段落核对：{summary}。",
        "check_columns": "章节|论述|结论|来源|页码",
        "supported": "有依据",
        "partial": "部分有依据",
        "unsupported": "无依据",
        "uncited": "无引用",
    },
}

# CJK ideographs, CJK punctuation, full-width forms, kana and Hangul: text a Latin font lacks.
_CJK_RE = re.compile(
    "[\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]"
)


def labels(report: Report) -> dict[str, str]:
    """Return the fixed strings for the report's language (English when unknown)."""
    return LABELS.get(report.language, LABELS["en"])


def has_cjk(text: str) -> bool:
    """Tell whether a text holds any Chinese, Japanese or Korean character."""
    return _CJK_RE.search(text) is not None


def heading_text(number: str, title: str) -> str:
    """Render a numbered heading the same way in every format: `1.2 Title`."""
    return f"{number} {title}".strip()


@dataclass(frozen=True, slots=True)
class TitleBlock:
    """The facts shown under the title, already localized."""

    title: str
    question_label: str
    question: str
    meta: str  # "2025-03-01 · model · 12 sources"
    unfinished: str  # "" for a finished report


def title_block(report: Report) -> TitleBlock:
    """Collect the title block of a report: question, date, model, sources, unfinished mark."""
    text = labels(report)
    n = report.sources_cited
    sources = text["one_source"] if n == 1 else text["sources"].format(n=n)
    meta = " · ".join(part for part in (report.created, report.model, sources) if part)
    unfinished = ""
    if not report.finished:
        sections = list(report.walk())
        written = sum(1 for s in sections if s.written)
        unfinished = text["unfinished_detail"].format(written=written, total=len(sections))
    return TitleBlock(report.title, text["question"], report.question, meta, unfinished)


# ---- the "Citation check" appendix -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckRow:
    """One appendix row: section, claim, verdict, and each cited source with its page."""

    section: str
    claim: str
    verdict: str  # localized
    sources: tuple[tuple[int, str, str], ...]  # (reference number, file or title, page)
    flagged: bool


def verdict_label(report: Report, verdict: str) -> str:
    return labels(report).get(verdict, verdict)


def check_summary(report: Report) -> str:
    from desktop.core.verify import SupportSummary

    return SupportSummary.of(report.claims).label()


def check_rows(report: Report) -> list[CheckRow]:
    """The appendix rows of a report's checked claims, in report order."""
    by_number = {ref.number: ref for ref in report.references}
    rows = []
    for claim in report.claims:
        sources = []
        for number in claim.references:
            ref = by_number.get(number)
            if ref is None:
                continue
            passage = ref.passage
            name = (
                (passage.title or passage.source)
                if passage.kind == "web"
                else Path(passage.source).name
            )
            page = str(passage.page) if passage.page is not None else passage.locator
            page = page or ("web" if passage.kind == "web" else "–")
            sources.append((number, name, page))
        rows.append(
            CheckRow(
                claim.section_number,
                claim.text,
                verdict_label(report, claim.verdict),
                tuple(sources),
                claim.flagged,
            )
        )
    return rows


def flagged_claims(report: Report, section_id: str) -> list[ReportClaim]:
    """The flagged claims of one section (for DOCX comments)."""
    return [c for c in report.claims if c.section_id == section_id and c.flagged]


def comment_text(report: Report, claim: ReportClaim) -> str:
    """What a reviewer reads in the margin: verdict, why, and the passage that matched best."""
    text = f"Citation check: {verdict_label(report, claim.verdict)}"
    if claim.reasons:
        text += " — " + "; ".join(claim.reasons)
    if claim.evidence:
        evidence = claim.evidence if len(claim.evidence) <= 300 else claim.evidence[:300] + "…"
        text += f"\nCited passage: “{evidence}”"
    return text
