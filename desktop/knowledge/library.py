"""The document library shared across runs: add, list, remove, and retrieve.

Files are identified by content (SHA-256): a changed file is re-indexed, an unchanged one is
skipped, a second copy of the same content is a `duplicate` (indexed once), and a moved file keeps
its index. The index lives in `data_dir/library`: a SQLite catalog plus Chroma (embedded, or a
`chroma run` server when a URL is given). One `Library` is one writer; retrievers may run on other
threads at the same time.

One writer per library across processes too: `add` and `remove` hold an OS lock on
`library/writer.lock` (desktop.locks) while they change anything, so a second window or a
terminal command waits a moment and then gets one line naming the holder. Because only the lock
holder can be indexing, a document found `indexing` by the lock holder was interrupted and
resumes, whatever process id its row names (that pid may have been reused since).

Readers in other processes stay current: Chroma's client does not see another process's writes,
so every search first compares the catalog's generation (bumped by each changing transaction,
desktop.knowledge.catalog) with the one the vector index was opened at, and reopens the index
when another process changed the library. Searches and reopening share one lock, so no search
runs on a client being closed.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from desktop import crashpoints
from desktop.core.cancel import CancelToken
from desktop.core.evidence import Retriever
from desktop.knowledge.catalog import Catalog, DocumentRow, PathRow
from desktop.knowledge.embedder import Embedder, default_embedder
from desktop.knowledge.formats import is_supported, load_pymupdf
from desktop.knowledge.index import VectorHit, VectorIndex
from desktop.knowledge.ingest import (
    CHUNKER_VERSION,
    IngestJob,
    Ingestor,
    IngestProgress,
)
from desktop.knowledge.ocr import OcrPage, OcrWord, find_tessdata
from desktop.knowledge.retrieval import LibraryRetriever, Scope
from desktop.locks import LockBusy, ProcessLock, holder_of

log = logging.getLogger(__name__)

__all__ = [
    "DocumentStatus",
    "EmbedderState",
    "IngestProgress",
    "Library",
    "LibraryError",
    "STATUSES",
]

STATUSES = ("indexed", "indexing", "failed", "no-text", "encrypted", "duplicate")
# BM25 fused with vectors did not beat vectors alone on held-out questions over real manuals
# (bench/bench_query.py), so it is opt-in: `Library(..., hybrid=True)` or `retriever(hybrid=True)`.
HYBRID_DEFAULT = False
_INTERRUPTED = "interrupted: add it again to resume"
_HASH_BLOCK = 1 << 20


class LibraryError(RuntimeError):
    """The library cannot do what was asked (for example, another embedding model built it)."""


class LibraryBusy(LibraryError):
    """Another live process is changing the library (the message names it)."""


@dataclass(frozen=True, slots=True)
class DocumentStatus:
    """One file's state in the library, as `library list --json` prints it."""

    path: str
    status: str
    pages: int
    chunks: int
    error: str | None = None
    language: str = ""  # ISO 639-1 code guessed at ingestion ("" unknown)
    ocr_pages: int = 0  # pages whose text came from OCR

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "status": self.status,
            "pages": self.pages,
            "chunks": self.chunks,
            "ocr_pages": self.ocr_pages,
            "error": self.error,
            "language": self.language,
        }


@dataclass(frozen=True, slots=True)
class EmbedderState:
    """Which model built the library's vectors and which one is configured now."""

    built_with: str | None  # name/dimension, None for an empty library
    configured: str  # name (not loaded: no dimension yet)

    @property
    def needs_reindex(self) -> bool:
        return self.built_with is not None and self.built_with.rsplit("/", 1)[0] != self.configured


@dataclass(slots=True)
class _Plan:
    """What an `add` will do: the ingestion jobs, in order."""

    jobs: dict[str, IngestJob] = field(default_factory=dict)


class Library:
    """The user's indexed documents (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        embedder: Embedder | None = None,
        chroma_url: str | None = None,
        hybrid: bool = HYBRID_DEFAULT,
        batch_size: int = 32,
        ocr: bool = True,
    ) -> None:
        self.root = Path(data_dir) / "library"
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._catalog = Catalog(self.root / "catalog.sqlite3")
        except sqlite3.OperationalError as exc:
            read_only = not os.access(self.root, os.W_OK)
            reason = "the data folder is read-only" if read_only else str(exc)
            raise LibraryError(f"cannot open the library in {self.root}: {reason}") from exc
        self._embedder = embedder or default_embedder()
        self._chroma_url = chroma_url
        self._hybrid = hybrid
        self._batch_size = batch_size
        self.ocr = ocr  # OCR scanned pages (desktop.knowledge.ocr); the settings can turn it off
        self._index: VectorIndex | None = None
        self._index_generation = 0  # the catalog's generation when `_index` was last current
        self._index_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer = ProcessLock(self.root / "writer.lock", "the document library")
        self._ingesting = False

    # --- public API ---

    def add(
        self,
        paths: Sequence[Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[DocumentStatus]:
        """Index files and folders (recursively); return each file's status, in order.

        Unchanged files are skipped, interrupted ones resume, failed ones are retried. Raises
        `Cancelled` if `cancel` is set; what was committed stays, the rest resumes next time.
        """
        with self._write_lock, self._writing():
            state = self.embedder_state()  # names only: refuse before anything is recorded
            if state.needs_reindex:
                raise LibraryError(_mismatch(state.built_with, self._embedder.name))
            self._purge()  # finish deletions a crash interrupted, before anything is re-added
            files, missing = _expand(paths)
            plan = self._plan(files, cancel)
            self._purge()  # stale vectors of changed, retried or restarted documents
            if plan.jobs:
                self._check_embedder()
                index = self._vector_index()
                ingestor = Ingestor(
                    self._catalog, index, self._embedder, self._batch_size, ocr=self.ocr
                )
                self._ingesting = True
                try:
                    ingestor.run(list(plan.jobs.values()), progress, cancel)
                finally:
                    self._ingesting = False
            statuses = {s.path: s for s in self.list()}
        results = [statuses.get(str(f)) or _unreadable(f) for f in files]
        return [*results, *missing]

    def list(self) -> list[DocumentStatus]:
        """Return every file in the library with its status, sorted by path."""
        documents = self._catalog.documents()
        ocr = self._catalog.ocr_page_counts()
        return [
            self._status(row, documents.get(row.hash), ocr.get(row.hash, 0))
            for row in self._catalog.path_rows()
        ]

    def rerun_ocr(
        self,
        paths: Sequence[Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> builtins.list[DocumentStatus]:
        """Forget what OCR read in these files and index them again (OCR runs afresh).

        Files not in the library are simply added. Returns each file's status, like `add`.
        """
        with self._write_lock, self._writing():  # no other process is indexing them now
            for given in paths:
                self._restart_with_fresh_ocr(Path(given).expanduser().resolve())
        return self.add(paths, progress=progress, cancel=cancel)

    def _restart_with_fresh_ocr(self, path: Path) -> None:
        known = self._catalog.path_row(str(path))
        document = self._catalog.document(known.hash) if known else None
        if document is None:
            return
        with self._catalog.transaction() as db:
            self._catalog.delete_ocr_pages(db, document.hash)
            self._catalog.delete_chunks_from(db, document.hash, 0)
            self._catalog.doom(db, document.hash)
            self._catalog.update_document(
                db, document.hash, status="indexing", error=None, chunks=0, next_chunk=0,
                chunker=CHUNKER_VERSION, worker=os.getpid(),
            )  # fmt: skip

    def remove(self, paths: Sequence[Path]) -> builtins.list[Path]:
        """Forget files (or everything under folders); return the paths that were removed."""
        with self._write_lock, self._writing():
            targets = [str(Path(p).expanduser().resolve()) for p in paths]
            rows = [r for r in self._catalog.path_rows() if _under_any(r.path, targets)]
            with self._catalog.transaction() as db:
                for row in rows:
                    db.execute("DELETE FROM paths WHERE path = ?", (row.path,))
                    self._detach(db, row.path, row.hash)
            self._purge()
        return [Path(r.path) for r in rows]

    def ocr_words(self, path: str, page: int) -> builtins.list[OcrWord] | None:
        """The word boxes OCR read on `page` (1-based) of the file at `path`, or None."""
        known = self._catalog.path_row(str(path))
        row = self._catalog.ocr_page(known.hash, page) if known else None
        if row is None:
            return None
        return list(OcrPage.from_json(row.page, row.engine, row.blocks, row.words).words)

    def retriever(
        self, sources: Sequence[Path] | None = None, *, hybrid: bool | None = None
    ) -> Retriever:
        """Return a Retriever over the whole library, or only the given files/folders.

        `hybrid` None: the library's default for most questions, and BM25 fused in for questions
        written in a CJK script (measured: see retrieval.CJK_BM25_WEIGHT); False: vectors only.
        """
        state = self.embedder_state()  # compare names only: no need to load the model
        if state.needs_reindex:
            raise LibraryError(_mismatch(state.built_with, self._embedder.name))
        scope = Scope(None if sources is None else self._scope_paths(sources))
        return LibraryRetriever(
            self._catalog,
            _CurrentIndex(self),
            self._embedder,
            scope,
            hybrid=self._hybrid if hybrid is None else hybrid,
            cjk_hybrid=hybrid is not False,  # CJK questions fuse BM25 unless told not to
        )

    def embedder_state(self) -> EmbedderState:
        return EmbedderState(self._catalog.meta("embedder"), self._embedder.name)

    def reindex(
        self,
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> builtins.list[DocumentStatus]:
        """Re-embed every document with the configured model; return the statuses.

        If the model changed, a new vector collection is started (vectors of two models are
        never mixed) and the old one dropped; every document restarts from its first chunk.
        With the same model, documents cut by an older chunker are cut and embedded again.
        Cancelling leaves the rest marked as interrupted: `reindex` again continues there.
        """
        with self._write_lock, self._writing():
            self._purge()
            built_with = self._catalog.meta("embedder")
            if built_with is None:
                self._catalog.set_meta("embedder", self._embedder_identity())
            elif built_with != self._embedder_identity():
                self._switch_collection()
            jobs = self._interrupted_jobs()
            if jobs:
                index = self._vector_index()
                ingestor = Ingestor(self._catalog, index, self._embedder, self._batch_size)
                self._ingesting = True
                try:
                    ingestor.run(jobs, progress, cancel)
                finally:
                    self._ingesting = False
            return self.list()

    def _switch_collection(self) -> None:
        """Start a new vector collection for the configured model; reset every document."""
        library_id = self._catalog.meta("library_id")
        old = self._collection_name()
        new = f"draftwell-{library_id}-{uuid.uuid4().hex[:8]}"
        log.info("re-indexing the library with %s into %s", self._embedder.name, new)
        with self._catalog.transaction() as db:
            db.execute("DELETE FROM chunks")
            db.execute(
                "UPDATE documents SET status = 'indexing', error = NULL, chunks = 0, "
                "next_chunk = 0, chunker = ?, worker = ? WHERE status != 'encrypted'",
                (CHUNKER_VERSION, os.getpid()),
            )
            db.execute("DELETE FROM doomed")
            for key, value in (
                ("embedder", self._embedder_identity()),
                ("collection", new),
                ("retired_collection", old),
            ):
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        self._drop_retired_collection()

    def _drop_retired_collection(self) -> None:
        retired = self._catalog.meta("retired_collection")
        if not retired:
            return
        with self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None
        VectorIndex.drop(retired, path=self.root / "chroma", url=self._chroma_url)
        with self._catalog.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = 'retired_collection'")

    def _interrupted_jobs(self) -> builtins.list[IngestJob]:
        """Return jobs for every document left 'indexing' that nobody else is working on, and
        for every document an older chunker cut (its chunks may be longer than the model reads).
        """
        jobs: builtins.list[IngestJob] = []
        with self._catalog.transaction() as db:
            for document in self._catalog.documents().values():
                stale = document.status in ("indexed", "no-text") and (
                    document.chunker != CHUNKER_VERSION
                )
                if not stale and document.status != "indexing":
                    continue  # (under the writer lock nobody else is indexing a document)
                resume = document.next_chunk if document.chunker == CHUNKER_VERSION else 0
                if stale or resume == 0:
                    self._catalog.doom(db, document.hash)
                self._catalog.delete_chunks_from(db, document.hash, resume)
                self._catalog.update_document(
                    db, document.hash, status="indexing", error=None, next_chunk=resume,
                    worker=os.getpid(), chunker=CHUNKER_VERSION,
                )  # fmt: skip
                jobs.append(IngestJob(document.hash, Path(document.path), resume, len(jobs) + 1))
        self._purge()  # the old vectors of documents that restart from their first chunk
        return jobs

    def verify(self) -> builtins.list[str]:
        """Check the catalog against the vector store; return the problems found (none: [])."""
        with self._write_lock:
            index = self._vector_index()
            problems: builtins.list[str] = []
            documents = self._catalog.documents()
            for document in documents.values():
                problems.extend(self._verify_document(index, document))
            stray = index.documents() - set(documents)
            problems.extend(f"vectors of unknown document {d[:12]}" for d in sorted(stray))
            return problems

    def _verify_document(self, index: VectorIndex, document: DocumentRow) -> builtins.list[str]:
        expected = document.chunks if document.status == "indexed" else document.next_chunk
        wanted = self._catalog.vector_ids(document.hash)
        rows = self._catalog.chunk_count(document.hash)
        vectors = set(index.ids_of(document.hash))
        name = Path(document.path).name
        problems: builtins.list[str] = []
        if rows != expected:
            problems.append(f"{name}: {rows} chunk rows, expected {expected}")
        if document.status == "indexed" and vectors != wanted:
            missing, extra = len(wanted - vectors), len(vectors - wanted)
            problems.append(f"{name}: {missing} vectors missing, {extra} unexpected")
        if document.status in ("failed", "no-text", "encrypted") and vectors:
            problems.append(f"{name}: {document.status} but has {len(vectors)} vectors")
        return problems

    def warm_up(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Import pymupdf, open the vector index and load the embedding model now (imports
        torch and sentence-transformers), so the first add or search does not pay for it. A
        desktop app calls this off its GUI thread while idle (loading holds Python's GIL at
        times); `stop` is checked between the stages, so closing the app cuts it short."""
        stages = (
            self._drop_retired_collection,  # a re-index interrupted before it dropped the old one
            load_pymupdf,
            lambda: self._vector_index().count(),
            self._embedder.load,
            lambda: self._embedder.embed(["warm-up"]),  # torch's first pass sets up its kernels
        )
        for stage in stages:
            if stop():
                return
            stage()

    def close(self) -> None:
        with self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None
        self._catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- planning an add ---

    def _plan(self, files: Sequence[Path], cancel: CancelToken | None) -> _Plan:
        plan = _Plan()
        for path in files:
            if cancel is not None:
                cancel.raise_if_set()
            try:
                self._plan_file(path, plan, cancel)
            except OSError as exc:
                log.warning("cannot read %s: %s", path, exc)
        return plan

    def _plan_file(self, path: Path, plan: _Plan, cancel: CancelToken | None) -> None:
        """Record `path` in the catalog and decide whether its content needs (re)indexing."""
        stat = path.stat()
        known = self._catalog.path_row(str(path))
        unchanged = known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        digest = known.hash if known and unchanged else _hash_file(path, cancel)
        with self._catalog.transaction() as db:
            if known and known.hash != digest:
                self._detach(db, known.path, known.hash)
            self._catalog.put_path(db, PathRow(str(path), digest, stat.st_size, stat.st_mtime_ns))
            document = self._catalog.document(digest)
            if document is None:
                self._catalog.new_document(db, digest, str(path), CHUNKER_VERSION)
                self._add_job(plan, digest, path, 0)
                return
            if document.path != str(path) and not Path(document.path).exists():
                self._move(db, document, str(path))  # the file was moved: keep its index
                document = self._catalog.document(digest)
            assert document is not None
            self._plan_existing(db, document, path, plan)

    def _plan_existing(
        self, db: sqlite3.Connection, document: DocumentRow, path: Path, plan: _Plan
    ) -> None:
        """Resume an interrupted document, retry a failed one; leave finished ones alone."""
        if document.hash in plan.jobs:
            return
        if document.status == "indexing":  # we hold the writer lock: nobody else is indexing it
            resume = document.next_chunk if document.chunker == CHUNKER_VERSION else 0
            self._catalog.delete_chunks_from(db, document.hash, resume)
            if resume == 0:
                self._catalog.doom(db, document.hash)
            self._catalog.update_document(
                db, document.hash, worker=os.getpid(), chunker=CHUNKER_VERSION
            )
            self._add_job(plan, document.hash, Path(document.path), resume)
        elif document.path == str(path) and (
            document.status == "failed" or self._scan_without_ocr(document)
        ):
            self._catalog.delete_chunks_from(db, document.hash, 0)
            self._catalog.update_document(
                db, document.hash, status="indexing", error=None, next_chunk=0,
                chunker=CHUNKER_VERSION, worker=os.getpid(),
            )  # fmt: skip
            self._catalog.doom(db, document.hash)
            self._add_job(plan, document.hash, path, 0)

    def _scan_without_ocr(self, document: DocumentRow) -> bool:
        """A PDF left `no-text` while OCR was off or missing: worth another try with OCR on."""
        if not (self.ocr and document.status == "no-text" and document.pages and find_tessdata()):
            return False
        return self._catalog.ocr_page_counts().get(document.hash, 0) == 0

    @staticmethod
    def _add_job(plan: _Plan, digest: str, path: Path, resume_from: int) -> None:
        plan.jobs[digest] = IngestJob(digest, path, resume_from, len(plan.jobs) + 1)

    def _move(self, db: sqlite3.Connection, document: DocumentRow, path: str) -> None:
        log.info("%s moved to %s; keeping its index", document.path, path)
        db.execute("DELETE FROM paths WHERE path = ?", (document.path,))
        self._catalog.update_document(db, document.hash, path=path)

    def _detach(self, db: sqlite3.Connection, path: str, digest: str) -> None:
        """Take `path` away from content `digest`; drop the content if nothing holds it."""
        document = self._catalog.document(digest)
        if document is None or document.path != path:
            return
        others = [p for p in self._catalog.paths_of(db, digest) if p != path]
        if others:
            self._catalog.update_document(db, digest, path=others[0])
            return
        self._catalog.delete_document(db, digest)
        self._catalog.doom(db, digest)

    def _purge(self) -> None:
        """Delete the vectors of doomed documents (the catalog's outbox), then forget them."""
        doomed = self._catalog.doomed()
        if not doomed:
            return
        index = self._vector_index()
        for digest in doomed:
            index.delete_document(digest)
            crashpoints.reached("library.purge")
            self._catalog.forget_doomed(digest)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the library's writer lock (across processes) for the block.

        The index is brought up to date first (another process may have written since), and
        is current again after the block: its own writes went through it."""
        try:
            self._writer.acquire()
        except LockBusy as exc:
            raise LibraryBusy(f"{exc}: wait until it has finished") from None
        try:
            with self._index_lock:
                self._drop_stale_index(writing=True)
            yield
        finally:
            with self._index_lock, contextlib.suppress(sqlite3.Error):
                self._index_generation = self._catalog.generation()
            self._writer.release()

    # --- status ---

    def _status(
        self, row: PathRow, document: DocumentRow | None, ocr_pages: int = 0
    ) -> DocumentStatus:
        if document is None:
            return DocumentStatus(row.path, "failed", 0, 0, "missing from the catalog")
        language = document.language
        if document.path != row.path:
            if document.status in ("indexed", "indexing"):
                message = f"same content as {document.path}"
                return DocumentStatus(row.path, "duplicate", document.pages, 0, message, language)
            return DocumentStatus(
                row.path, document.status, document.pages, 0, document.error, language
            )
        error = document.error
        if document.status == "indexing" and not self._indexing_now(document):
            error = _INTERRUPTED
        chunks = document.chunks if document.status == "indexed" else document.next_chunk
        return DocumentStatus(
            row.path, document.status, document.pages, chunks, error, language, ocr_pages
        )

    def _indexing_now(self, document: DocumentRow) -> bool:
        """Whether the library's live writer is indexing this document (else: interrupted)."""
        if document.worker == os.getpid() and self._ingesting:
            return True
        if self._writer.held:
            return False  # we are the writer and not indexing: the row is a leftover
        holder = holder_of(self._writer.path)
        return holder is not None and holder.pid == document.worker

    def _scope_paths(self, sources: Sequence[Path]) -> dict[str, str]:
        """Map the content hashes under `sources` to the path the user named (first one wins)."""
        targets = [str(Path(p).expanduser().resolve()) for p in sources]
        scope: dict[str, str] = {}
        for row in self._catalog.path_rows():
            if _under_any(row.path, targets):
                scope.setdefault(row.hash, row.path)
        return scope

    # --- the vector index and the embedding model ---

    def _vector_index(self) -> VectorIndex:
        with self._index_lock:
            return self._current_index()

    def _query(
        self, vector: np.ndarray, k: int, docs: Sequence[str] | None
    ) -> builtins.list[VectorHit]:
        """Search the index as it is now (reopened first if another process changed it)."""
        with self._index_lock:
            return self._current_index().query(vector, k, docs)

    def _current_index(self) -> VectorIndex:
        """The open index, reopened if another process changed the library (hold _index_lock)."""
        self._drop_stale_index()
        if self._index is None:
            generation = self._catalog.generation()
            name = self._collection_name()
            if self._chroma_url:
                self._index = VectorIndex.open(name, url=self._chroma_url)
            else:
                self._index = VectorIndex.open(name, path=self.root / "chroma")
            self._index_generation = generation
        return self._index

    def _drop_stale_index(self, writing: bool = False) -> None:
        """Close the index if another process changed the library since it was current.

        While this process holds the writer lock (and is past the check `writing` does as it
        takes it) nobody else can have: its own writes go through the open index. (Hold
        _index_lock.)"""
        if self._index is None or (self._writer.held and not writing):
            return
        if self._catalog.generation() != self._index_generation:
            log.info("the library was changed by another process: reopening its vector index")
            self._index.close()
            self._index = None

    def _collection_name(self) -> str:
        return self._catalog.meta("collection") or f"draftwell-{self._catalog.meta('library_id')}"

    def _embedder_identity(self) -> str:
        return self._embedder.identity

    def _check_embedder(self) -> None:
        """Refuse to mix vectors from two models in one index."""
        identity = self._embedder_identity()
        stored = self._catalog.meta("embedder")
        if stored is None:
            self._catalog.set_meta("embedder", identity)
        elif stored != identity:
            raise LibraryError(_mismatch(stored, identity))


class _CurrentIndex:
    """The library's vector index as its retrievers search it: always the current one."""

    def __init__(self, library: Library) -> None:
        self._library = library

    def query(
        self, vector: np.ndarray, k: int, docs: Sequence[str] | None = None
    ) -> list[VectorHit]:
        return self._library._query(vector, k, docs)


def _mismatch(built_with: str | None, configured: str) -> str:
    return (
        f"this library was indexed with {built_with}, not {configured}: vectors of two models "
        "cannot be mixed; re-index it (`draftwell library reindex`, or Re-index in the Library "
        "panel) or switch the embedding model back in Settings"
    )


def _expand(paths: Sequence[Path]) -> tuple[list[Path], list[DocumentStatus]]:
    """Return the files to add (folders walked, duplicates dropped) and statuses for missing ones."""
    files: dict[Path, None] = {}
    missing: list[DocumentStatus] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path.is_dir():
            files.update(dict.fromkeys(_walk(path)))
        elif path.is_file():
            files[path] = None
        else:
            missing.append(DocumentStatus(str(path), "failed", 0, 0, "no such file or folder"))
    return list(files), missing


def _walk(folder: Path) -> Iterator[Path]:
    """Yield supported files under `folder`, sorted, skipping hidden files and folders."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if not name.startswith(".") and is_supported(path) and path.is_file():
                yield path


def _hash_file(path: Path, cancel: CancelToken | None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            if cancel is not None:
                cancel.raise_if_set()
    return digest.hexdigest()


def _under_any(path: str, targets: Sequence[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip(os.sep) + os.sep) for t in targets)


def _unreadable(path: Path) -> DocumentStatus:
    return DocumentStatus(str(path), "failed", 0, 0, "cannot read the file")
