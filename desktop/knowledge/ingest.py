"""The ingestion pipeline: a parser thread feeds batches to the embedder, one writer commits.

    parser thread ──(bounded queue of events)──▶ caller's thread: embed batch → Chroma → catalog

Parsing and chunking run ahead in their own thread while the calling thread embeds (torch
releases the GIL), so the embedder stays busy. The calling thread is the only writer: each batch
is upserted into Chroma and then committed to the catalog in one transaction together with every
document's resume point (`next_chunk`). Chunk ids are deterministic (document hash + sequence
number), so a process killed anywhere re-runs at most one batch on restart, overwriting the same
ids: no duplicate and no missing chunk. Progress callbacks run on the calling thread, after the
data they report is committed.

Pages without a usable text layer are OCR'd in the parser thread through a helper process
(desktop.knowledge.ocr). Each OCR'd page is committed to the catalog (`ocr_pages`) with the
batch that holds its chunks, so a resumed scan reads the pages it already did from there and
runs OCR only from the page where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop import crashpoints
from desktop.core.cancel import CancelToken
from desktop.knowledge.catalog import Catalog, ChunkRow, OcrPageRow
from desktop.knowledge.chunking import Chunk, ChunkBudget, Section, chunk_section
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.formats import DocumentError, PageDone, no_text_error, open_document
from desktop.knowledge.index import VectorIndex
from desktop.knowledge.language import SAMPLE_CHARS, detect_language
from desktop.knowledge.ocr import OcrPage, OcrProcess, OcrStopped, OcrUnavailable, find_tessdata

log = logging.getLogger(__name__)

CHUNKER_VERSION = 3  # bump when chunking changes: interrupted documents then restart from 0
QUEUE_EVENTS = 512
EMBED_SLICE = 16  # chunks embedded between two cancel checks
FLUSH_AFTER_S = 0.05  # embed a partial batch when the parser has been quiet this long


@dataclass(frozen=True, slots=True)
class IngestJob:
    """One document to (re)index: its content hash, the file, and the first chunk to embed."""

    digest: str
    path: Path
    resume_from: int
    number: int  # 1-based position in this run, for progress


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Where ingestion is: file `file_index` of `file_count`, page `page` of `pages`.

    Sent after each page (`done` False) and once when a file is finished (`done` True, with its
    final `status` and `error`). `pages` is 0 for unpaged formats.
    """

    path: str
    file_index: int
    file_count: int
    page: int
    pages: int
    chunks: int
    status: str
    done: bool
    error: str | None = None
    ocr_pages: int = 0  # pages of this file read by OCR so far


@dataclass(frozen=True, slots=True)
class _Begin:
    job: IngestJob
    title: str
    pages: int


@dataclass(frozen=True, slots=True)
class _ChunkEvent:
    """A chunk to store; `copy_of` is the seq of an identical earlier chunk (no new vector)."""

    job: IngestJob
    seq: int
    chunk: Chunk
    copy_of: int | None = None


@dataclass(frozen=True, slots=True)
class _Page:
    """A page is done; `ocr` if OCR read it, `fresh` if that happened now (not in the catalog)."""

    job: IngestJob
    page: int
    ocr: OcrPage | None = None
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class _End:
    job: IngestJob
    chunks: int
    language: str = ""


@dataclass(frozen=True, slots=True)
class _Failed:
    job: IngestJob
    error: DocumentError


_Event = _Begin | _ChunkEvent | _Page | _End | _Failed
_DONE = object()


class _Stopped(Exception):
    """The consumer went away; the parser thread should exit quietly."""


def chunk_id(digest: str, seq: int) -> str:
    """Return the stable id of chunk `seq` of the document with content hash `digest`."""
    return f"{digest[:24]}-{seq:06d}"


@dataclass(slots=True)
class _DocState:
    pages: int = 0
    page: int = 0
    chunks: int = 0
    ocr_pages: int = 0


class _JobOcr:
    """One job's `PageOcr`: pages OCR'd before come from the catalog, the others from the engine."""

    def __init__(
        self, job: IngestJob, catalog: Catalog, engine: OcrProcess, stop: threading.Event
    ) -> None:
        self._job = job
        self._catalog = catalog
        self._engine = engine
        self._stop = stop
        self.fresh: set[int] = set()

    def read(self, page: int) -> OcrPage | None:
        row = self._catalog.ocr_page(self._job.digest, page)
        if row is not None:
            return OcrPage.from_json(row.page, row.engine, row.blocks, row.words)
        result = self._engine.read(str(self._job.path), page, self._stop.is_set)
        self.fresh.add(page)
        return result


@dataclass(slots=True)
class _OcrContext:
    """What the parser thread needs for OCR; `engine` is None when OCR is off or unavailable."""

    catalog: Catalog
    engine: OcrProcess | None

    def reader(self, job: IngestJob, stop: threading.Event) -> _JobOcr | None:
        return None if self.engine is None else _JobOcr(job, self.catalog, self.engine, stop)


class Ingestor:
    """Runs jobs through parse → embed → store with progress and cancellation."""

    def __init__(
        self,
        catalog: Catalog,
        index: VectorIndex,
        embedder: Embedder,
        batch_size: int = 32,
        *,
        ocr: bool = True,
    ) -> None:
        self._catalog = catalog
        self._index = index
        self._embedder = embedder
        self._batch_size = batch_size
        self._ocr = ocr
        self._no_ocr_reason = "" if ocr else OCR_OFF

    def _ocr_engine(self) -> OcrProcess | None:
        """The OCR helper for this run (started lazily), or None: OCR is off or not installed."""
        if not self._ocr:
            return None
        tessdata = find_tessdata()
        if tessdata is None:
            self._no_ocr_reason = OCR_MISSING
            log.warning("OCR is on but no Tesseract language data was found")
            return None
        try:
            return OcrProcess(tessdata)
        except OcrUnavailable as exc:
            self._no_ocr_reason = str(exc)
            return None

    def run(
        self,
        jobs: Sequence[IngestJob],
        progress: Callable[[IngestProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        """Index every job; raise Cancelled (leaving documents resumable) if `cancel` is set."""
        if not jobs:
            return
        events: queue.Queue[object] = queue.Queue(maxsize=QUEUE_EVENTS)
        stop = threading.Event()
        budget = self._embedder.chunk_budget()  # the model's input limit and its tokenizer
        engine = self._ocr_engine()
        context = _OcrContext(self._catalog, engine)
        parser = threading.Thread(
            target=_parse_all,
            args=(jobs, events, stop, budget, context),
            name="draftwell-parse",
            daemon=True,
        )
        states: dict[str, _DocState] = {}
        parser.start()
        try:
            for group in _groups(events, self._batch_size, cancel):
                self._commit(group, states, len(jobs), progress, cancel)
        finally:
            stop.set()
            parser.join(timeout=10)
            if engine is not None:
                engine.close(kill=parser.is_alive())

    def _commit(
        self,
        group: list[_Event],
        states: dict[str, _DocState],
        file_count: int,
        progress: Callable[[IngestProgress], None] | None,
        cancel: CancelToken | None,
    ) -> None:
        """Embed and store one batch, then commit the catalog changes it implies, then report."""
        chunks = [e for e in group if isinstance(e, _ChunkEvent)]
        fresh = [e for e in chunks if e.copy_of is None]
        if fresh:
            vectors = self._embed([e.chunk.embed_text for e in fresh], cancel)
            self._index.upsert(
                [chunk_id(e.job.digest, e.seq) for e in fresh],
                vectors,
                [_metadata(e) for e in fresh],
            )
            crashpoints.reached("ingest.upserted")
        failed = [e for e in group if isinstance(e, _Failed)]
        if chunks or any(_needs_transaction(e) for e in group):
            with self._catalog.transaction() as db:
                self._catalog.add_chunks(db, [_row(e) for e in chunks])
                for digest, next_chunk in _resume_points(chunks).items():
                    self._catalog.update_document(db, digest, next_chunk=next_chunk)
                for event in group:
                    self._apply(db, event)
                crashpoints.reached("ingest.before_commit")
            crashpoints.reached("ingest.committed")
        for event in failed:  # doomed in the transaction above; now actually delete
            self._index.delete_document(event.job.digest)
            self._catalog.forget_doomed(event.job.digest)
        for event in group:
            report = _track(event, states, file_count, self._no_ocr_reason)
            if report is not None and progress is not None:
                progress(report)

    def _embed(self, texts: list[str], cancel: CancelToken | None) -> np.ndarray:
        """Embed in slices with a cancel checkpoint between them, so Stop lands within ~1 s."""
        parts = []
        for first in range(0, len(texts), EMBED_SLICE):
            if cancel is not None:
                cancel.raise_if_set()
            parts.append(self._embedder.embed(texts[first : first + EMBED_SLICE]))
        return np.concatenate(parts)

    def _apply(self, db: sqlite3.Connection, event: _Event) -> None:
        """Record what a non-chunk event means for its document (inside the batch's transaction)."""
        catalog = self._catalog
        digest = event.job.digest
        match event:
            case _Begin(title=title, pages=pages):
                catalog.update_document(db, digest, title=title, pages=pages)
            case _End(chunks=0, language=language):
                row = db.execute("SELECT pages FROM documents WHERE hash = ?", (digest,))
                ocr_pages = db.execute("SELECT count(*) FROM ocr_pages WHERE doc = ?", (digest,))
                message = no_text_message(
                    row.fetchone()[0], ocr_pages.fetchone()[0], self._no_ocr_reason
                )
                catalog.update_document(
                    db, digest, status="no-text", error=message, chunks=0, next_chunk=0,
                    worker=None, language=language,
                )  # fmt: skip
            case _End(chunks=count, language=language):
                catalog.update_document(
                    db, digest, status="indexed", error=None, chunks=count, next_chunk=count,
                    worker=None, language=language,
                )  # fmt: skip
            case _Failed(error=error):
                catalog.delete_chunks_from(db, digest, 0)
                catalog.doom(db, digest)
                catalog.update_document(
                    db, digest, status=error.status, error=error.message, chunks=0,
                    next_chunk=0, worker=None,
                )  # fmt: skip
            case _Page(ocr=OcrPage() as read, fresh=True):
                page_row = OcrPageRow(read.page, read.engine, read.blocks_json(), read.words_json())
                catalog.put_ocr_page(db, digest, page_row)
            case _ChunkEvent() | _Page():
                pass


OCR_OFF = "OCR is off (Settings)"
OCR_MISSING = "OCR is not installed here (Tesseract language data not found)"


def no_text_message(pages: int, ocr_pages: int = 0, no_ocr_reason: str = "") -> str:
    """Return the user's hint for a document without text (paged formats may be scans)."""
    if not pages:
        return "no text found in the document"
    if ocr_pages:
        return f"OCR found no text on its {ocr_pages} scanned page{'s' if ocr_pages > 1 else ''}"
    hint = no_text_error().message
    return f"{hint} ({no_ocr_reason})" if no_ocr_reason else hint


def _needs_transaction(event: _Event) -> bool:
    """True for events that change the catalog besides chunk rows."""
    if isinstance(event, _Page):
        return event.fresh and event.ocr is not None
    return isinstance(event, _Begin | _End | _Failed)


def _resume_points(chunks: Sequence[_ChunkEvent]) -> dict[str, int]:
    points: dict[str, int] = {}
    for event in chunks:
        points[event.job.digest] = max(points.get(event.job.digest, 0), event.seq + 1)
    return points


def _metadata(event: _ChunkEvent) -> dict[str, str | int]:
    return {"doc": event.job.digest, "seq": event.seq, "page": event.chunk.page or 0}


def _row(event: _ChunkEvent) -> ChunkRow:
    chunk = event.chunk
    return ChunkRow(
        id=chunk_id(event.job.digest, event.seq),
        doc=event.job.digest,
        seq=event.seq,
        page=chunk.page,
        heading=chunk.heading,
        start=chunk.start,
        end=chunk.end,
        text=chunk.text,
        vec=chunk_id(event.job.digest, event.seq if event.copy_of is None else event.copy_of),
    )


def _track(
    event: _Event, states: dict[str, _DocState], count: int, no_ocr_reason: str = ""
) -> IngestProgress | None:
    """Update the per-file counters for `event`; return the progress report it causes, if any."""
    job = event.job
    state = states.setdefault(job.digest, _DocState())
    path = str(job.path)
    match event:
        case _Begin(pages=pages):
            state.pages, state.chunks = pages, job.resume_from
            return IngestProgress(
                path, job.number, count, 0, pages, state.chunks, "indexing", False
            )
        case _ChunkEvent():
            state.chunks += 1
            return None
        case _Page(page=page, ocr=read):
            state.page = page
            state.ocr_pages += read is not None
            return IngestProgress(
                path, job.number, count, page, state.pages, state.chunks, "indexing", False,
                ocr_pages=state.ocr_pages,
            )  # fmt: skip
        case _End(chunks=chunks):
            status = "indexed" if chunks else "no-text"
            error = None if chunks else no_text_message(state.pages, state.ocr_pages, no_ocr_reason)
            return IngestProgress(
                path, job.number, count, state.page, state.pages, chunks, status, True, error,
                state.ocr_pages,
            )  # fmt: skip
        case _Failed(error=error):
            return IngestProgress(
                path, job.number, count, state.page, state.pages, 0, error.status, True,
                error.message,
            )  # fmt: skip
    return None


def _groups(
    events: queue.Queue[object], batch_size: int, cancel: CancelToken | None
) -> Iterator[list[_Event]]:
    """Yield events in order, cut into groups holding at most `batch_size` chunks.

    A group is cut when it is full, when the parser has been quiet for FLUSH_AFTER_S, or at a
    non-chunk event while no chunk is pending (so per-page progress flows on image-only pages).
    """
    group: list[_Event] = []
    pending = 0
    while True:
        if cancel is not None:
            cancel.raise_if_set()
        try:
            item = events.get(timeout=FLUSH_AFTER_S if group else 0.5)
        except queue.Empty:
            if group:
                yield group
                group, pending = [], 0
            continue
        if item is _DONE:
            if group:
                yield group
            return
        if isinstance(item, BaseException):
            raise item
        event: _Event = item  # type: ignore[assignment]
        group.append(event)
        if isinstance(event, _ChunkEvent):
            pending += 1
        if pending >= batch_size or (pending == 0 and not isinstance(event, _ChunkEvent)):
            yield group
            group, pending = [], 0


def _parse_all(
    jobs: Sequence[IngestJob],
    events: queue.Queue[object],
    stop: threading.Event,
    budget: ChunkBudget,
    ocr: _OcrContext | None = None,
) -> None:
    """Parser thread: turn every job into events; always end with _DONE (or an exception)."""
    try:
        for job in jobs:
            _parse_one(job, events, stop, budget, ocr.reader(job, stop) if ocr else None)
        _put(events, _DONE, stop)
    except _Stopped:
        return
    except BaseException as exc:  # hand anything unexpected to the consumer, never lose it
        log.exception("parser thread crashed")
        try:
            _put(events, exc, stop)
        except _Stopped:
            return


def _parse_one(
    job: IngestJob,
    events: queue.Queue[object],
    stop: threading.Event,
    budget: ChunkBudget,
    ocr: _JobOcr | None = None,
) -> None:
    """Emit _Begin, the chunks from `job.resume_from` on, each page, then _End or _Failed."""
    seq = 0
    seen: dict[bytes, int] = {}
    sample: list[str] = []  # the first SAMPLE_CHARS of text, to tell the language
    sampled = 0
    try:
        document = open_document(job.path, ocr)
        _put(events, _Begin(job, document.title, document.pages), stop)
        for item in document.items:
            if isinstance(item, PageDone):
                fresh = ocr is not None and item.page in ocr.fresh
                _put(events, _Page(job, item.page, item.ocr, fresh), stop)
                continue
            if sampled < SAMPLE_CHARS:
                sample.append(item.text[: SAMPLE_CHARS - sampled])
                sampled += len(sample[-1])
            seq = _emit_chunks(job, item, seq, seen, events, stop, budget)
    except DocumentError as exc:
        _put(events, _Failed(job, exc), stop)
        return
    except OcrStopped as exc:
        raise _Stopped() from exc
    except _Stopped:
        raise
    except Exception as exc:  # a parser library choked on this file: fail it, keep the batch
        log.warning("cannot parse %s: %s", job.path, exc, exc_info=True)
        _put(events, _Failed(job, DocumentError("failed", _describe(exc))), stop)
        return
    _put(events, _End(job, seq, detect_language("\n".join(sample))), stop)


def _emit_chunks(
    job: IngestJob,
    section: Section,
    seq: int,
    seen: dict[bytes, int],
    events: queue.Queue[object],
    stop: threading.Event,
    budget: ChunkBudget,
) -> int:
    """Emit a section's chunks numbered from `seq`; return the next number.

    A chunk whose embedded text already occurred in this document (boilerplate repeated on many
    pages) reuses the first one's vector: many identical vectors would also degrade HNSW recall.
    """
    for chunk in chunk_section(section, budget):
        key = hashlib.sha1(chunk.embed_text.encode("utf-8")).digest()
        first = seen.setdefault(key, seq)
        if seq >= job.resume_from:
            copy_of = first if first != seq else None
            _put(events, _ChunkEvent(job, seq, chunk, copy_of), stop)
        seq += 1
    return seq


def _put(events: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped()
        try:
            events.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot read the document: {text[:300]}"
