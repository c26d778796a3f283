"""The document library: ingest files into page-tagged chunks, embed them, retrieve passages.

Importing this package is cheap: torch, sentence-transformers, chromadb and pymupdf are imported
lazily, on the ingestion or retrieval worker, never at import time.
"""

from desktop.knowledge.embedder import Embedder, default_embedder
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import DocumentStatus, Library, LibraryError

__all__ = [
    "DocumentStatus",
    "Embedder",
    "IngestProgress",
    "Library",
    "LibraryError",
    "default_embedder",
]
