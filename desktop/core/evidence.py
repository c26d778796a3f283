"""Passages, the run-wide evidence registry (`textidN` keys) and the quota merge of searches."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrievable piece of evidence and where it came from.

    `source` is an absolute file path for local documents or a URL for web results.
    `page` is 1-based for paged formats, None otherwise (then `locator` names the heading).
    """

    text: str
    source: str
    page: int | None = None
    chunk_id: str = ""
    title: str = ""
    kind: str = "file"  # "file" or "web"
    locator: str = ""
    accessed: str = ""  # ISO date a web page was fetched

    @property
    def fingerprint(self) -> str:
        """Identify the passage by its text, so the same text always gets the same key.

        Case, spacing, punctuation, ligatures and line-end hyphens do not count: a copy or a
        mirror of a document whose extraction differs only in these is the same passage,
        cited once."""
        text = unicodedata.normalize("NFKC", self.text).casefold()
        normalized = _NOT_WORD.sub("", text)
        if not normalized:
            normalized = " ".join(self.text.split())
        return hashlib.sha1(normalized.encode("utf-8")).hexdigest()


class Retriever(Protocol):
    """What the engine needs from a knowledge base: top-k passages for one query.

    `close` lets go of what the retriever itself holds (a web search's HTTP clients); whoever
    built a retriever closes it.
    """

    def search(self, query: str, k: int) -> list[Passage]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EvidenceRegistry:
    """Immutable map from `textidN` keys to passages; adding returns a new registry."""

    by_key: Mapping[str, Passage] = field(default_factory=dict)
    by_fingerprint: Mapping[str, str] = field(default_factory=dict)

    def with_passages(self, passages: Sequence[Passage]) -> tuple[EvidenceRegistry, list[str]]:
        """Register passages (new ones get the next `textidN`); return the registry and keys."""
        by_key = dict(self.by_key)
        by_fp = dict(self.by_fingerprint)
        keys: list[str] = []
        for passage in passages:
            key = by_fp.get(passage.fingerprint)
            if key is None:
                key = f"textid{len(by_key) + 1}"
                by_key[key] = passage
                by_fp[passage.fingerprint] = key
            keys.append(key)
        return EvidenceRegistry(by_key, by_fp), keys

    def __len__(self) -> int:
        return len(self.by_key)

    def keys(self) -> list[str]:
        return list(self.by_key)

    def __getitem__(self, key: str) -> Passage:
        return self.by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self.by_key


def quota_merge(results: Sequence[Sequence[Passage]], budget: int) -> list[Passage]:
    """Merge per-keyword rankings: `budget // n` each first, leftovers filled round-robin.

    Duplicates (same text) are skipped while picking, so a keyword's best hits still count
    for it even when they also sat deep in an earlier keyword's ranking.
    """
    if not results or budget <= 0:
        return []
    seen: set[str] = set()
    picked: list[Passage] = []
    queues = [list(ranking) for ranking in results]

    def take(queue: list[Passage]) -> bool:
        """Pick the queue's best passage not picked yet; False when it has none left."""
        while queue:
            passage = queue.pop(0)
            if passage.fingerprint not in seen:
                seen.add(passage.fingerprint)
                picked.append(passage)
                return True
        return False

    share = budget // len(queues)
    for queue in queues:
        for _ in range(share):
            if len(picked) >= budget or not take(queue):
                break
    while len(picked) < budget and any(queues):
        for queue in queues:
            if len(picked) < budget:
                take(queue)
    return picked


def retrieve_merged(
    retriever: Retriever,
    keywords: Sequence[str],
    budget: int,
    per_keyword: int = 20,
    checkpoint: Callable[[], None] | None = None,
) -> list[Passage]:
    """Run one retrieval per keyword (top `per_keyword`) and quota-merge them to `budget`."""
    rankings = []
    for keyword in keywords:
        if checkpoint is not None:
            checkpoint()
        rankings.append(retriever.search(keyword, per_keyword))
    return quota_merge(rankings, budget)
