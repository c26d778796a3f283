"""Shared fixtures for the knowledge tests: one real embedder per session, fresh libraries."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from desktop.knowledge.embedder import Embedder, default_embedder
from desktop.knowledge.library import Library

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class CountingEmbedder(Embedder):
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(name=inner.name)
        self._inner = inner
        self.texts = 0

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def load(self) -> object:
        return self._inner.load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self._inner.embed(texts)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = default_embedder()
    model.load()
    return model


@pytest.fixture
def counting_embedder(embedder: Embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def library(tmp_path: Path, counting_embedder: CountingEmbedder) -> Iterator[Library]:
    lib = Library(tmp_path / "data", embedder=counting_embedder)
    yield lib
    lib.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder
