"""Test doubles for the GUI: a PDF library without embeddings, a scripted model provider,
canned answers to dialogs, and PDF generation with pymupdf.

The library reads real PDFs (page text through pymupdf) and reports real per-page progress;
only the vector index is replaced by the word-overlap MemoryRetriever of tests/helpers.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pymupdf

from desktop.core.cancel import CancelToken
from desktop.core.evidence import Passage
from desktop.core.state import RunConfig
from desktop.gui.services import OpenedModel, Prompts
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import DocumentStatus
from desktop.llm.scripted import ScriptedBackend
from desktop.settings import Settings
from tests.helpers import MemoryRetriever, make_pdf

PAGES = {
    "heat-pumps.pdf": [
        "A heat pump moves heat with a compressor and a refrigerant loop instead of burning fuel.",
        "The coefficient of performance of an air source heat pump is about three in mild weather.",
    ],
    "boilers.pdf": [
        "A condensing gas boiler reaches a seasonal efficiency of about ninety two percent.",
        "Burning natural gas releases about two hundred grams of carbon dioxide per kilowatt hour.",
    ],
}


def make_pdfs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [make_pdf(folder / name, pages) for name, pages in PAGES.items()]


class PdfLibrary:
    """A LibraryLike over real PDFs: per-page progress, page-tagged passages, no embeddings."""

    def __init__(self, data_dir: Path, settings: Settings, page_delay: float = 0.0) -> None:
        self.page_delay = page_delay
        self.documents: dict[str, DocumentStatus] = {}
        self.passages: dict[str, list[Passage]] = {}
        self.closed = False
        self.threads: set[str] = set()

    def add(
        self,
        paths: Sequence[Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[DocumentStatus]:
        self.threads.add(threading.current_thread().name)
        files: list[Path] = []
        for path in paths:
            path = Path(path).resolve()
            files.extend(sorted(path.rglob("*.pdf")) if path.is_dir() else [path])
        for index, path in enumerate(files, start=1):
            self._index(path, index, len(files), progress, cancel)
        return [self.documents[str(f)] for f in files]

    def _index(self, path, index, count, progress, cancel) -> None:
        with pymupdf.open(path) as doc:
            texts = [page.get_text() for page in doc]
        passages = []
        for number, text in enumerate(texts, start=1):
            if cancel is not None:
                cancel.raise_if_set()
            passages.append(
                Passage(" ".join(text.split()), str(path), number, f"{path.name}#{number}")
            )
            if progress:
                progress(
                    IngestProgress(
                        str(path), index, count, number, len(texts), number, "indexing", False
                    )
                )
            time.sleep(self.page_delay)
        self.passages[str(path)] = passages
        self.documents[str(path)] = DocumentStatus(str(path), "indexed", len(texts), len(texts))
        if progress:
            progress(
                IngestProgress(
                    str(path), index, count, len(texts), len(texts), len(texts), "indexed", True
                )
            )

    def list(self) -> list[DocumentStatus]:
        return [self.documents[k] for k in sorted(self.documents)]

    def remove(self, paths: Sequence[Path]) -> list[Path]:
        removed = []
        for path in paths:
            key = str(Path(path).resolve())
            if self.documents.pop(key, None):
                self.passages.pop(key, None)
                removed.append(Path(key))
        return removed

    def retriever(self, sources: Sequence[Path] | None = None) -> MemoryRetriever:
        wanted = {str(Path(s).resolve()) for s in sources} if sources else None
        chosen = [
            p for key, ps in self.passages.items() if wanted is None or key in wanted for p in ps
        ]
        return MemoryRetriever(chosen)

    def close(self) -> None:
        self.closed = True


class ScriptedModels:
    """A ModelProvider handing out one ScriptedBackend (tests assert on its requests)."""

    def __init__(self, backend: ScriptedBackend) -> None:
        self.backend = backend
        self.opened_on: list[str] = []
        self.released = 0

    def open(self, settings: Settings, data_dir: Path) -> OpenedModel:
        self.opened_on.append(threading.current_thread().name)
        budgets = settings.budgets
        config = RunConfig(
            max_step=budgets.max_step, max_extend=budgets.max_extend, hard_mode=budgets.hard_mode
        )
        return OpenedModel(self.backend, "scripted", config)

    def release(self) -> None:
        self.released += 1


class CannedPrompts(Prompts):
    """Answers dialogs from queues instead of showing them."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str]] = []
        self.confirms: list[bool] = []
        self.save_as: tuple[str, str] | None = None
        self.files: list[str] = []
        self.asked: list[str] = []

    def confirm(self, parent, title: str, text: str, ok: str = "OK") -> bool:
        self.asked.append(title)
        return self.confirms.pop(0) if self.confirms else True

    def new_section(self, parent, heading: str) -> tuple[str, str] | None:
        self.asked.append(heading)
        return self.sections.pop(0) if self.sections else None

    def open_files(self, parent) -> list[str]:
        return list(self.files)

    def open_folder(self, parent) -> str | None:
        return None

    def save_file(self, parent, suggested: str) -> tuple[str, str] | None:
        return self.save_as

    def open_gguf(self, parent) -> str | None:
        return None
