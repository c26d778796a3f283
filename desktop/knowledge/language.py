"""Guess a document's language from a sample of its text (ISO 639-1 code, "" when unknown).

By script first: Han without kana is Chinese (zh), with kana Japanese (ja), Hangul Korean (ko),
then Cyrillic (ru/uk by their own letters), Greek, Arabic, Hebrew, Devanagari, Thai. Latin text
is told apart by its commonest short words (en, de, fr, es, it, pt, nl). A script that is a
fifth of the letters wins over Latin, so an English manual quoting Chinese stays English but a
Chinese manual full of English commands is Chinese.
"""

from __future__ import annotations

import re
from collections import Counter

SAMPLE_CHARS = 20_000  # enough to decide; more only costs time
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
_STOPWORDS = {
    "en": "the and of to is in that for with are this be on as by",
    "de": "der die und das ist nicht mit den von zu ein eine sich auf für",
    "fr": "le la les et des est une pour dans que qui pas sur au du",
    "es": "el los las y del que en una por con para es se lo como",
    "it": "il di che e la per non una sono della del con gli le si",
    "pt": "o os as e do da que em um uma para com não dos se",
    "nl": "de het een en van is dat op te niet met voor zijn er aan",
}
_WORDS = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> str:
    """Return the language code of `text`, or "" if there is too little text to tell."""
    sample = text[:SAMPLE_CHARS]
    letters = sum(1 for ch in sample if ch.isalpha())
    if letters < 20:
        return ""
    counts = {code: len(pattern.findall(sample)) for code, pattern in _SCRIPTS}
    if (
        counts["ja"]
        and counts["ja"] + counts["zh"] >= 0.2 * letters
        and counts["ja"] * 20 > counts["zh"]
    ):
        return "ja"
    script, found = max(((c, n) for c, n in counts.items() if c != "ja"), key=lambda x: x[1])
    if found >= 0.2 * letters:
        if script == "ru" and _UKRAINIAN.search(sample):
            return "uk"
        return script
    return _latin_language(sample)


def _latin_language(sample: str) -> str:
    words = Counter(w.lower() for w in _WORDS.findall(sample))
    scores = {
        code: sum(words[w] for w in stopwords.split()) for code, stopwords in _STOPWORDS.items()
    }
    best = max(scores, key=lambda code: scores[code])
    total = sum(words.values())
    return best if total and scores[best] >= 0.05 * total else ""
