"""Top-k passages for one query: vector search, optionally fused with BM25 (reciprocal rank).

The vector half asks Chroma for the nearest chunks; the keyword half asks the catalog's FTS5
index (BM25). Fusion is reciprocal-rank fusion, which needs no score calibration. Passages are
built from the catalog rows, so a vector whose chunk row was never committed (a crash between the
two writes) is simply skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from desktop.core.evidence import Passage
from desktop.knowledge.catalog import Catalog, ChunkRow
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.index import VectorHit
from desktop.knowledge.keywords import CJK_STOP_BIGRAMS, has_cjk, query_terms

log = logging.getLogger(__name__)

# Fusion settings measured on questions over Debian's manuals (bench/bench_query.py): plain RRF
# (k=60, equal weights) lost to vectors alone; this weighting tied them on held-out questions.
RRF_K = 10
BM25_WEIGHT = 0.25
CANDIDATES = 40  # how deep each ranking goes before fusion
# Questions in a CJK script are fused with BM25 (over character bigrams) automatically, with BM25
# weighted far higher. 26 Chinese questions over the Debian Edu manual (bench_retrieval_zh.py),
# recall@10 / MRR: BM25 alone 0.96 / 0.88; MiniLM vectors 0.42 / 0.16, English fusion (0.25)
# 0.46 / 0.24, weight 2: 0.96 / 0.79, weight 4: 0.96 / 0.87; multilingual-e5-small vectors
# 0.96 / 0.74, weight 4: 1.00 / 0.90. (Chosen on these same questions: no held-out set yet.)
CJK_BM25_WEIGHT = 4.0
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which documents a retriever sees: None = the whole library; else hash → path to cite."""

    paths: Mapping[str, str] | None = None

    @property
    def docs(self) -> list[str] | None:
        return None if self.paths is None else list(self.paths)


class VectorSearch(Protocol):
    """What a retriever needs of the vector index (the library hands it the current one)."""

    def query(
        self, vector: np.ndarray, k: int, docs: Sequence[str] | None = None
    ) -> list[VectorHit]: ...


class LibraryRetriever:
    """The engine's Retriever over the library (or a subset of it)."""

    def __init__(
        self,
        catalog: Catalog,
        index: VectorSearch,
        embedder: Embedder,
        scope: Scope,
        *,
        hybrid: bool,
        cjk_hybrid: bool = True,
    ) -> None:
        self._catalog = catalog
        self._index = index
        self._embedder = embedder
        self._scope = scope
        self.hybrid = hybrid
        self.cjk_hybrid = cjk_hybrid  # fuse BM25 in for questions written in CJK scripts

    @property
    def embedder(self) -> Embedder:
        """The model the library was indexed with (the citation check reuses it)."""
        return self._embedder

    def close(self) -> None:
        """Nothing to let go: the library owns the catalog, the index and the embedder."""

    def search(self, query: str, k: int) -> list[Passage]:
        """Return up to `k` passages for `query`, best first."""
        if k <= 0 or not query.strip() or self._scope.paths == {}:
            return []
        ids = self.ranked_ids(query, k)
        rows = self._catalog.chunk_rows(ids)
        return self._passages([rows[i] for i in ids if i in rows][:k])

    def ranked_ids(self, query: str, k: int) -> list[str]:
        """Return chunk ids best first (vector ranking, or its fusion with BM25)."""
        vector = self._embedder.embed_query(query)
        cjk = self.cjk_hybrid and has_cjk(query)
        hybrid = self.hybrid or cjk
        depth = max(k, CANDIDATES) if hybrid else k
        dense = [hit.id for hit in self._index.query(vector, depth, self._scope.docs)]
        if not hybrid:
            return dense
        lexical = self.keyword_ids(query, depth)
        weight = CJK_BM25_WEIGHT if cjk else BM25_WEIGHT
        return reciprocal_rank_fusion([dense, lexical], weights=(1.0, weight))[:k]

    def keyword_ids(self, query: str, k: int) -> list[str]:
        """Return chunk ids ranked by BM25 for the query's words."""
        match = fts_query(query)
        if not match:
            return []
        return self._catalog.bm25(match, k, self._scope.docs)

    def _passages(self, rows: Sequence[ChunkRow]) -> list[Passage]:
        documents = self._catalog.documents({row.doc for row in rows})
        passages = []
        for row in rows:
            document = documents.get(row.doc)
            if document is None:
                continue  # removed while we were searching
            source = (self._scope.paths or {}).get(row.doc, document.path)
            passages.append(
                Passage(
                    text=row.text,
                    source=source,
                    page=row.page,
                    chunk_id=row.id,
                    title=document.title,
                    kind="file",
                    locator=row.heading,
                )
            )
        return passages


def fts_query(text: str) -> str:
    """Turn free text into an FTS5 expression: its distinct terms, quoted, OR-ed together.

    Terms are words, and CJK bigrams as the index holds them (`desktop.knowledge.keywords`).
    """
    terms = query_terms(text)
    words = [t for t in terms if t not in _STOPWORDS and t not in CJK_STOP_BIGRAMS]
    if not words:  # a query made only of stop words still deserves an answer
        words = terms
    return " OR ".join(f'"{word}"' for word in words)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[str]:
    """Fuse rankings: each id scores sum(weight / (k + rank)); ties keep first-seen order."""
    scores: dict[str, float] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])
