"""The library's SQLite catalog: documents by content hash, the paths that hold them, chunks.

One row per distinct content (`documents`, keyed by SHA-256) with its status and resume point,
one row per file path (`paths`), and every chunk's text and location (`chunks`) with an FTS5
index for BM25. Chroma holds the vectors; the catalog is the source of truth for everything else,
so a chunk id is only "in" the library once its row is committed here. Schema changes are
numbered migrations on `PRAGMA user_version`.

Every transaction that changes something also bumps the `generation` record in `meta`, in the
same commit: a process that keeps the library open (the window) compares it before a search and
reopens its Chroma client when another process (`draftwell library add` in a terminal) changed
the library, since Chroma's client does not see another process's writes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from desktop.knowledge.keywords import index_text

log = logging.getLogger(__name__)

_BUMP_GENERATION = (
    "INSERT INTO meta(key, value) VALUES ('generation', '1') "
    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)


_SCHEMA_1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE documents (
        hash TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        pages INTEGER NOT NULL DEFAULT 0,
        chunks INTEGER NOT NULL DEFAULT 0,
        next_chunk INTEGER NOT NULL DEFAULT 0,
        chunker INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        worker INTEGER,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE paths (
        path TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        added REAL NOT NULL
    )""",
    "CREATE INDEX paths_hash ON paths(hash)",
    """CREATE TABLE chunks (
        id TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        seq INTEGER NOT NULL,
        page INTEGER,
        heading TEXT NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        vec TEXT NOT NULL
    )""",
    "CREATE INDEX chunks_doc ON chunks(doc, seq)",
    """CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, heading, content='chunks', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
    END""",
    """CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.rowid, old.text, old.heading);
    END""",
)


def _migration_1(db: sqlite3.Connection) -> None:
    """Create the first schema (statement by statement: executescript would commit early)."""
    for statement in _SCHEMA_1:
        db.execute(statement)


def _migration_2(db: sqlite3.Connection) -> None:
    """Add the `doomed` outbox: documents whose vectors must be deleted from the vector store.

    Written in the same transaction as the decision and cleared once Chroma has done it, so a
    crash in between cannot leave stray vectors behind.
    """
    db.execute("CREATE TABLE doomed (hash TEXT PRIMARY KEY)")


_FTS_3 = (
    "DROP TRIGGER IF EXISTS chunks_ai",
    "DROP TRIGGER IF EXISTS chunks_ad",
    "DROP TABLE IF EXISTS chunks_fts",
    # The index holds its own rewritten copy (fts_text: CJK runs as bigrams), so it is a plain
    # FTS5 table keyed by the chunk's rowid rather than an external-content one.
    """CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, heading, tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading)
        VALUES (new.rowid, fts_text(new.text), fts_text(new.heading));
    END""",
    """CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.rowid;
    END""",
    "INSERT INTO chunks_fts(rowid, text, heading) "
    "SELECT rowid, fts_text(text), fts_text(heading) FROM chunks",
)


def _migration_3(db: sqlite3.Connection) -> None:
    """Languages and CJK keyword search: each document's language, an FTS index of bigrams.

    `documents.language` is the ISO 639-1 code guessed at ingestion ('' until known). The FTS
    index is rebuilt from the chunks with CJK runs written as overlapping bigrams (see
    `desktop.knowledge.keywords`), since `unicode61` alone keeps a Han run as one token. The
    vector collection's name is recorded in `meta` (`collection`), next to the embedder that
    built it (`embedder`), so a re-index with another model can build a new one beside it.
    """
    db.execute("ALTER TABLE documents ADD COLUMN language TEXT NOT NULL DEFAULT ''")
    for statement in _FTS_3:
        db.execute(statement)
    row = db.execute("SELECT value FROM meta WHERE key = 'library_id'").fetchone()
    if row is not None:  # an existing library keeps the collection it has
        db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('collection', ?)",
            (f"draftwell-{row[0]}",),
        )


def _migration_4(db: sqlite3.Connection) -> None:
    """Add `ocr_pages`: each page OCR produced, with its text blocks and word boxes.

    Written in the same transaction as the page's chunks, so an interrupted scan resumes without
    running OCR again on the pages it already did; the citation viewer highlights from `words`.
    """
    db.execute(
        """CREATE TABLE ocr_pages (
            doc TEXT NOT NULL,
            page INTEGER NOT NULL,
            engine TEXT NOT NULL,
            blocks TEXT NOT NULL,
            words TEXT NOT NULL,
            PRIMARY KEY (doc, page)
        )"""
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
]


@dataclass(frozen=True, slots=True)
class DocumentRow:
    hash: str
    path: str
    title: str
    status: str
    pages: int
    chunks: int
    next_chunk: int
    chunker: int
    error: str | None
    worker: int | None
    language: str = ""


@dataclass(frozen=True, slots=True)
class PathRow:
    path: str
    hash: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk; `vec` is the id of its vector: its own, or an identical earlier chunk's."""

    id: str
    doc: str
    seq: int
    page: int | None
    heading: str
    start: int
    end: int
    text: str
    vec: str


@dataclass(frozen=True, slots=True)
class OcrPageRow:
    """One OCR'd page: `blocks` and `words` are JSON (see desktop.knowledge.ocr.OcrPage)."""

    page: int
    engine: str
    blocks: str
    words: str


class Catalog:
    """Thread-aware access to the catalog file: one SQLite connection per thread (WAL mode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # --- connections and schema ---

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # Each thread uses its own connection; check_same_thread=False only lets close()
            # (called from whichever thread shuts the library down) close them all.
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # INSERT OR REPLACE must fire the delete trigger, or FTS keeps a stale entry.
            db.execute("PRAGMA recursive_triggers=ON")
            # The FTS triggers index CJK text as bigrams (migration 3).
            db.create_function("fts_text", 1, index_text, deterministic=True)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction: all of it is committed, or none.

        A block that changed anything bumps the generation in the same commit."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        changes = db.total_changes
        try:
            yield db
            if db.total_changes != changes:
                db.execute(_BUMP_GENERATION)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                log.info("migrating library catalog %s to version %d", self.path, number)
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('library_id', ?)",
                (uuid.uuid4().hex,),
            )

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # --- meta ---

    def meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def generation(self) -> int:
        """How many changing transactions the library has seen (any process's)."""
        return int(self.meta("generation") or 0)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- documents and paths ---

    def document(self, digest: str) -> DocumentRow | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE hash = ?",
                (digest,),
            )
            .fetchone()
        )
        return DocumentRow(*row) if row else None

    def documents(self, digests: Iterable[str] | None = None) -> dict[str, DocumentRow]:
        sql = f"SELECT {_DOCUMENT_COLUMNS} FROM documents"
        if digests is None:
            rows = self._db().execute(sql).fetchall()
        else:
            rows = (
                self._db()
                .execute(
                    sql + " WHERE hash IN (SELECT value FROM json_each(?))", (_json_list(digests),)
                )
                .fetchall()
            )
        return {row[0]: DocumentRow(*row) for row in rows}

    def path_row(self, path: str) -> PathRow | None:
        row = (
            self._db()
            .execute("SELECT path, hash, size, mtime_ns FROM paths WHERE path = ?", (path,))
            .fetchone()
        )
        return PathRow(*row) if row else None

    def path_rows(self) -> list[PathRow]:
        rows = self._db().execute("SELECT path, hash, size, mtime_ns FROM paths ORDER BY path")
        return [PathRow(*row) for row in rows]

    def paths_of(self, db: sqlite3.Connection, digest: str) -> list[str]:
        rows = db.execute("SELECT path FROM paths WHERE hash = ? ORDER BY added, path", (digest,))
        return [row[0] for row in rows]

    def put_path(self, db: sqlite3.Connection, row: PathRow) -> None:
        db.execute(
            "INSERT INTO paths(path, hash, size, mtime_ns, added) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, size = excluded.size, "
            "mtime_ns = excluded.mtime_ns",
            (row.path, row.hash, row.size, row.mtime_ns, time.time()),
        )

    def new_document(self, db: sqlite3.Connection, digest: str, path: str, chunker: int) -> None:
        db.execute(
            "INSERT INTO documents(hash, path, status, chunker, worker, updated) "
            "VALUES (?, ?, 'indexing', ?, ?, ?)",
            (digest, path, chunker, os.getpid(), time.time()),
        )

    def update_document(self, db: sqlite3.Connection, digest: str, **fields: object) -> None:
        fields["updated"] = time.time()
        columns = ", ".join(f"{name} = ?" for name in fields)
        db.execute(f"UPDATE documents SET {columns} WHERE hash = ?", (*fields.values(), digest))

    def delete_document(self, db: sqlite3.Connection, digest: str) -> None:
        db.execute("DELETE FROM chunks WHERE doc = ?", (digest,))
        db.execute("DELETE FROM ocr_pages WHERE doc = ?", (digest,))
        db.execute("DELETE FROM documents WHERE hash = ?", (digest,))

    def doom(self, db: sqlite3.Connection, digest: str) -> None:
        """Queue the deletion of a document's vectors (see the `doomed` table)."""
        db.execute("INSERT OR IGNORE INTO doomed(hash) VALUES (?)", (digest,))

    def doomed(self) -> list[str]:
        return [row[0] for row in self._db().execute("SELECT hash FROM doomed ORDER BY hash")]

    def forget_doomed(self, digest: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM doomed WHERE hash = ?", (digest,))

    # --- OCR'd pages ---

    def put_ocr_page(self, db: sqlite3.Connection, digest: str, page: OcrPageRow) -> None:
        db.execute(
            "INSERT OR REPLACE INTO ocr_pages(doc, page, engine, blocks, words) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest, page.page, page.engine, page.blocks, page.words),
        )

    def ocr_page(self, digest: str, page: int) -> OcrPageRow | None:
        row = (
            self._db()
            .execute(
                "SELECT page, engine, blocks, words FROM ocr_pages WHERE doc = ? AND page = ?",
                (digest, page),
            )
            .fetchone()
        )
        return OcrPageRow(*row) if row else None

    def ocr_page_counts(self) -> dict[str, int]:
        """Return how many pages OCR read, per document hash (documents with none are absent)."""
        rows = self._db().execute("SELECT doc, count(*) FROM ocr_pages GROUP BY doc")
        return {row[0]: int(row[1]) for row in rows}

    def delete_ocr_pages(self, db: sqlite3.Connection, digest: str) -> None:
        db.execute("DELETE FROM ocr_pages WHERE doc = ?", (digest,))

    # --- chunks ---

    def add_chunks(self, db: sqlite3.Connection, rows: Sequence[ChunkRow]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO chunks(id, doc, seq, page, heading, start, end, text, vec) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.id, r.doc, r.seq, r.page, r.heading, r.start, r.end, r.text, r.vec) for r in rows],
        )

    def delete_chunks_from(self, db: sqlite3.Connection, digest: str, seq: int) -> None:
        db.execute("DELETE FROM chunks WHERE doc = ? AND seq >= ?", (digest, seq))

    def chunk_rows(self, ids: Sequence[str]) -> dict[str, ChunkRow]:
        rows = self._db().execute(
            "SELECT id, doc, seq, page, heading, start, end, text, vec FROM chunks "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (_json_list(ids),),
        )
        return {row[0]: ChunkRow(*row) for row in rows}

    def chunk_count(self, digest: str | None = None) -> int:
        if digest is None:
            return int(self._db().execute("SELECT count(*) FROM chunks").fetchone()[0])
        row = self._db().execute("SELECT count(*) FROM chunks WHERE doc = ?", (digest,))
        return int(row.fetchone()[0])

    def vector_ids(self, digest: str) -> set[str]:
        """Return the ids of the vectors a document's chunks need."""
        rows = self._db().execute("SELECT DISTINCT vec FROM chunks WHERE doc = ?", (digest,))
        return {row[0] for row in rows}

    def bm25(self, match: str, limit: int, docs: Sequence[str] | None) -> list[str]:
        """Return chunk ids best first for an FTS5 MATCH expression, optionally within docs."""
        sql = (
            "SELECT c.id FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ?"
        )
        params: list[object] = [match]
        if docs is not None:
            sql += " AND c.doc IN (SELECT value FROM json_each(?))"
            params.append(_json_list(docs))
        sql += " ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?"
        params.append(limit)
        return [row[0] for row in self._db().execute(sql, params)]


_DOCUMENT_COLUMNS = (
    "hash, path, title, status, pages, chunks, next_chunk, chunker, error, worker, language"
)


def _json_list(values: Iterable[str]) -> str:
    import json

    return json.dumps(list(values))
