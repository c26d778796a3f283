"""Claim-to-passage similarity for the citation check, from the library's own embedder.

`desktop.core.verify` stays model-free; it takes a `Similarity` callable. This adapter gives it
the cosine similarity of all-MiniLM vectors (the model the library indexes with), caching the
vectors of passage spans, which recur across the claims of a section.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from desktop.knowledge.embedder import Embedder

log = logging.getLogger(__name__)


class EmbeddingSimilarity:
    """`similarity(claim, spans)` → one cosine per span (vectors are unit length)."""

    def __init__(self, embedder: Embedder, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, claim: str, spans: Sequence[str]) -> list[float]:
        texts = [t for t in dict.fromkeys([claim, *spans]) if t not in self._cache]
        found = {t: self._cache[t] for t in (claim, *spans) if t in self._cache}
        if texts:
            found.update(zip(texts, self.embedder.embed(texts), strict=True))
        for text in texts:
            self._cache[text] = found[text]
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [float(np.dot(found[claim], found[s])) for s in spans]
