"""The vector half of the library: one Chroma collection, embedded or behind `chroma run`.

Vectors are keyed by chunk id with the document hash, sequence number and page as metadata (for
filtering and deletes). We always pass our own embeddings: the collection has no embedding
function, so Chroma never tries to fetch a model. Telemetry is off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

log = logging.getLogger(__name__)

# Chroma's defaults (16 neighbours, ef_construction 100) lose recall when many vectors are equal
# (the same passage in several copies of a document); a denser graph keeps them reachable.
HNSW = {"space": "cosine", "max_neighbors": 32, "ef_construction": 200, "ef_search": 64}


class VectorStoreError(RuntimeError):
    """The vector store could not be opened or reached."""


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    distance: float


class VectorIndex:
    """A Chroma collection of chunk vectors (cosine space)."""

    def __init__(self, collection: Any, client: Any) -> None:
        self._collection = collection
        self._client = client

    @classmethod
    def open(cls, name: str, *, path: Path | None = None, url: str | None = None) -> VectorIndex:
        """Open (creating if needed) collection `name` on disk at `path` or at server `url`."""
        client = _http_client(url) if url else _persistent_client(path)
        try:
            collection = client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": HNSW},
                metadata={"owner": "draftwell"},
            )
        except Exception as exc:
            raise VectorStoreError(f"cannot open the vector collection {name}: {exc}") from exc
        return cls(collection, client)

    @staticmethod
    def drop(name: str, *, path: Path | None = None, url: str | None = None) -> None:
        """Delete collection `name` if it exists (a re-index with another model retires it)."""
        client = _http_client(url) if url else _persistent_client(path)
        try:
            client.delete_collection(name)
        except Exception as exc:  # NotFoundError (already gone) or the server's ValueError
            log.info("vector collection %s not deleted: %s", name, exc)
        finally:
            client.close()

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Insert or overwrite vectors (idempotent: re-running a batch writes the same ids)."""
        if not ids:
            return
        self._collection.upsert(ids=list(ids), embeddings=vectors, metadatas=list(metadatas))

    def delete_document(self, digest: str) -> None:
        self._collection.delete(where={"doc": digest})

    def ids_of(self, digest: str) -> list[str]:
        return list(self._collection.get(where={"doc": digest}, include=[])["ids"])

    def documents(self) -> set[str]:
        """Return the hash of every document that has vectors (a full scan: for checks only)."""
        result = self._collection.get(include=["metadatas"])
        return {str(m["doc"]) for m in result["metadatas"] or [] if m and "doc" in m}

    def count(self) -> int:
        return int(self._collection.count())

    def query(
        self, vector: np.ndarray, k: int, docs: Sequence[str] | None = None
    ) -> list[VectorHit]:
        """Return the `k` nearest chunks, best first, optionally only within `docs`."""
        if k <= 0 or (docs is not None and not docs):
            return []
        where: dict[str, Any] | None = None
        if docs is not None:
            where = {"doc": docs[0]} if len(docs) == 1 else {"doc": {"$in": list(docs)}}
        result = self._collection.query(
            query_embeddings=vector.reshape(1, -1),
            n_results=k,
            where=where,
            include=["distances"],
        )
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else [0.0] * len(ids)
        return [VectorHit(i, float(d)) for i, d in zip(ids, distances, strict=True)]

    def close(self) -> None:
        """Release the client (its SQLite files, or its HTTP connections)."""
        client, self._client, self._collection = self._client, None, None
        if client is None:
            return
        client.close()
        # Chroma's HTTP client (and its admin client) never close their httpx pools: do it here.
        for owner in (client, getattr(client, "_admin_client", None)):
            session = getattr(getattr(owner, "_server", None), "_session", None)
            if session is not None and hasattr(session, "close"):
                session.close()


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def _persistent_client(path: Path | None) -> Any:
    import chromadb

    if path is None:
        raise VectorStoreError("no index directory and no Chroma URL given")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_settings())


def _http_client(url: str) -> Any:
    import chromadb

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VectorStoreError(f"not a Chroma server URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 8000)
    try:
        return chromadb.HttpClient(
            host=parts.hostname, port=port, ssl=parts.scheme == "https", settings=_settings()
        )
    except Exception as exc:  # connection refused, version mismatch …
        raise VectorStoreError(f"cannot reach the Chroma server at {url}: {exc}") from exc
