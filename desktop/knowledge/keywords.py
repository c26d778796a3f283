"""Keyword terms for BM25 that work for CJK text too: overlapping character bigrams.

SQLite's ``unicode61`` tokenizer keeps a run of Han characters as one token, so "配置网络服务"
could only ever match itself. Both sides of the FTS index therefore rewrite each run of CJK
characters as its overlapping bigrams ("配置 置网 网络 络服 服务"; a lone character stays
itself), which is what Lucene's CJK analyzer does. A two-character word is then one term, and
any longer word a phrase of bigrams. Text in other scripts passes through unchanged. (The
``trigram`` tokenizer was not used: it cannot match a query shorter than three characters,
and most Chinese words have two.)
"""

from __future__ import annotations

import re

_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Question words and particles that every Chinese question has: as bigrams they match
# everywhere and only add noise to the ranking.
CJK_STOP_BIGRAMS = frozenset(
    [
        "如何",
        "怎么",
        "怎样",
        "什么",
        "哪些",
        "哪个",
        "为什",
        "么是",
        "是什",
        "可以",
        "能够",
        "应该",
        "需要",
        "一个",
        "这个",
        "那个",
        "是否",
        "有哪",
        "有什",
        "以及",
        "或者",
        "我们",
        "你们",
        "的是",
        "中的",
        "用于",
        "使用",
        "进行",
        "么样",
        "要求",
        "多少",
    ]
)


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def bigrams(run: str) -> list[str]:
    """Return the overlapping bigrams of a run of CJK characters (a lone character: itself)."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_text(text: str | None) -> str:
    """Return `text` with every CJK run replaced by its space-separated bigrams (for FTS5)."""
    if not text:
        return ""
    return _CJK_RUN.sub(lambda m: f" {' '.join(bigrams(m.group()))} ", text)


def query_terms(text: str) -> list[str]:
    """Return the distinct terms of a query, in order: words, and CJK bigrams (lower case)."""
    terms: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        position = 0
        for match in _CJK_RUN.finditer(token):
            if match.start() > position:
                terms.append(token[position : match.start()])
            terms.extend(bigrams(match.group()))
            position = match.end()
        if position < len(token):
            terms.append(token[position:])
    return list(dict.fromkeys(terms))
