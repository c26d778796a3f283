"""What every writer shares: localized labels, the title-block facts, script detection."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from desktop.core.report import Report

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
