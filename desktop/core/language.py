"""Which script a text is written in: reports follow the question's language (zh or en)."""

from __future__ import annotations


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2A6DF
    )


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among the letters (CJK or alphabetic) of a text."""
    cjk = letters = 0
    for ch in text:
        if _is_cjk(ch):
            cjk += 1
            letters += 1
        elif ch.isalpha():
            letters += 1
    return cjk / letters if letters else 0.0


def detect_language(text: str) -> str:
    """'zh' when a text is mostly Chinese characters, else 'en'.

    A Chinese question counts its characters one by one against whole Latin letters, so a
    question with a few English terms in it still has a clear CJK majority.
    """
    return "zh" if cjk_ratio(text) >= 0.3 else "en"


def matches_language(text: str, language: str) -> bool:
    """Hard-mode script check: Chinese text must be mostly CJK, English text almost none."""
    ratio = cjk_ratio(text)
    return ratio >= 0.5 if language == "zh" else ratio <= 0.05
