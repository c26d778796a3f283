"""The run journal: a SQLite database (WAL) per run, written once per committed step.

Tables: `run` (one row: question, config, sources, model, status, pid), `snapshots` (the
state after every committed step or edit), `evidence` (the registry, append-only), `commands`
(user edits and what became of them), `network` (the outgoing requests made during the run,
migration 2), `meta` (small JSON records about the run such as its web search settings, never
a key; migration 3), `checks` (each written section's citation check, migration 5; 4 is
reserved) and `llm_cache` (replies by request hash, so a resumed step that was
answered before the crash costs nothing). Schema changes are numbered migrations tracked in
`PRAGMA user_version`.

Writes hold a lock: network log entries may arrive from helper threads (page fetches, a model
server's stream reader) while the engine's thread commits a step.

Liveness: the process that runs a run holds an OS lock on `RUN_ID.lock` next to the journal
(desktop.locks) from `create` or `claim` until `close`, and takes it before its first write, so
a run has one writer. A run whose row says created, running or paused while nobody holds its
lock is `interrupted` (offered for resume); the stored `pid` only names the last writer.
Journals from before the lock (pid only) need no migration: their lock file is simply absent.

Durability: WAL with synchronous=FULL, so a commit that returned survives a power cut too (with
NORMAL the last commits could roll back); a crash or a power cut loses at most the step in
progress.

A journal in a read-only folder opens read-only (listing and export work); a write that cannot
happen (read-only folder, full disk) raises JournalError with one line and rolls back, so the
journal stays as it was after the last commit.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop import crashpoints
from desktop.core.chat import ChatResult
from desktop.core.commands import Command, command_to_dict
from desktop.core.engine import StorageError
from desktop.core.state import (
    RunConfig,
    RunState,
    RunStatus,
    passage_to_dict,
    registry_from_items,
)
from desktop.core.verify import SectionCheck
from desktop.locks import LockBusy, ProcessLock, holder_of
from desktop.network import NetworkEntry

log = logging.getLogger(__name__)

# A run in one of these states with nobody holding its lock was interrupted ("created": killed
# before its first step).
LIVE_STATUSES = ("created", "running", "paused")


class JournalError(StorageError):
    """A run journal is missing, unreadable or cannot be written; the message is one line."""


class RunBusy(JournalError):
    """Another live process holds the run (the message names it: pid, host, since when)."""


def _write_failure(exc: BaseException) -> str:
    """The reason a journal write failed, in a few plain words."""
    text = str(exc)
    if isinstance(exc, sqlite3.Error) and "full" in text.lower():
        return "the disk is full"
    if "readonly" in text.lower() or "read-only" in text.lower():
        return "the data folder is read-only"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the data folder is read-only"
    return text or type(exc).__name__


def _migration_1(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE run (
            id TEXT PRIMARY KEY, question TEXT NOT NULL, language TEXT NOT NULL,
            config TEXT NOT NULL, sources TEXT NOT NULL, model TEXT NOT NULL,
            status TEXT NOT NULL, error TEXT, pid INTEGER,
            created REAL NOT NULL, updated REAL NOT NULL
        );
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL, kind TEXT NOT NULL,
            phase TEXT NOT NULL, detail TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL
        );
        CREATE TABLE evidence (
            seq INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, passage TEXT NOT NULL
        );
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, status TEXT NOT NULL,
            message TEXT NOT NULL, created REAL NOT NULL
        );
        CREATE TABLE llm_cache (key TEXT PRIMARY KEY, result TEXT NOT NULL, created REAL NOT NULL);
        """
    )


def _migration_2(db: sqlite3.Connection) -> None:
    """The network log: every outgoing request made while the run was active."""
    db.executescript(
        """
        CREATE TABLE network (
            id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, host TEXT NOT NULL,
            purpose TEXT NOT NULL, method TEXT NOT NULL, status INTEGER,
            bytes_sent INTEGER NOT NULL, bytes_received INTEGER NOT NULL, outcome TEXT NOT NULL
        );
        """
    )


def _migration_3(db: sqlite3.Connection) -> None:
    """Run metadata: JSON records by name (the run's web search settings, for resume)."""
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")


def _migration_4(db: sqlite3.Connection) -> None:
    """Nothing: number 4 was reserved for a liveness change that needed no schema change in the
    end (run liveness lives in lock files, desktop.locks). Kept so that journals already at
    version 5 and new ones agree."""


def _migration_5(db: sqlite3.Connection) -> None:
    """The citation check: one row per checked section text (desktop.core.verify)."""
    db.executescript(
        """
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL,
            section_id TEXT NOT NULL, text_hash TEXT NOT NULL, text TEXT NOT NULL,
            result TEXT NOT NULL, created REAL NOT NULL
        );
        CREATE INDEX checks_by_section ON checks (section_id, id);
        """
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
]


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db:
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    question: str
    language: str
    status: str
    steps: int
    created: float
    updated: float
    model: str
    sources: tuple[str, ...]
    error: str | None
    path: Path

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["sources"] = list(self.sources)
        data["created"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.created))
        data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.updated))
        return data


class RunJournal:
    """One run's journal. Not shared between threads: the engine's thread owns it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._claim: ProcessLock | None = None
        self.read_only = False
        try:
            self.db = self._connect(path)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open run journal {path}: {exc}") from exc
        self._known_keys = {row[0] for row in self.db.execute("SELECT key FROM evidence")}

    def _connect(self, path: Path) -> sqlite3.Connection:
        """Open read-write (WAL, migrated); in a read-only folder fall back to read-only."""
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit returns once the WAL is on disk, so a power cut cannot roll back
            # a committed step (NORMAL can). About 4 ms a commit on an SSD (bench/
            # bench_journal_sync.py), against seconds for a model's step.
            db.execute("PRAGMA synchronous=FULL")
            _migrate(db)
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
        log.info("%s is read-only: opening the run journal read-only", path)
        self.read_only = True
        # immutable: no -wal/-shm files can be made here, and nobody can be writing.
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False
        )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < len(MIGRATIONS):
            db.close()
            raise sqlite3.OperationalError(
                "the journal needs an upgrade but its folder is read-only"
            )
        return db

    # ---- the writer's claim -------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    def claim(self) -> None:
        """Become the run's one writer (hold its lock until `close`); raise RunBusy if taken."""
        if self._claim is not None:
            return
        if self.read_only:
            raise JournalError(
                f"run {self.path.stem} cannot continue: the data folder is read-only"
            )
        lock = ProcessLock(self.lock_path, f"run {self.path.stem}")
        try:
            lock.acquire()
        except LockBusy as exc:
            raise RunBusy(f"{exc}: continue it there, or close it first") from None
        except OSError as exc:
            raise JournalError(
                f"run {self.path.stem} cannot continue: {_write_failure(exc)}"
            ) from None
        self._claim = lock

    @property
    def claimed(self) -> bool:
        return self._claim is not None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction by the claimed writer; failures become one JournalError line."""
        self.claim()
        with self._lock:
            try:
                with self.db:
                    yield self.db
            except sqlite3.Error as exc:
                raise JournalError(
                    f"cannot save run {self.path.stem}: {_write_failure(exc)}"
                ) from exc

    # ---- creating and opening ---------------------------------------------------------------
    @staticmethod
    def runs_dir(data_dir: Path) -> Path:
        path = Path(data_dir) / "runs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @classmethod
    def create(
        cls,
        data_dir: Path,
        state: RunState,
        config: RunConfig,
        *,
        sources: list[str],
        model: str,
    ) -> RunJournal:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        journal = cls(cls.runs_dir(data_dir) / f"{run_id}.sqlite")
        now = time.time()
        row = (
            run_id,
            state.question,
            state.language,
            json.dumps(config.to_dict()),
            json.dumps(sources),
            model,
            "created",
            None,
            os.getpid(),
            now,
            now,
        )
        journal._commit(state, "start", {}, run_row=row)  # a run exists only with its state
        return journal

    @classmethod
    def open(cls, data_dir: Path, run_id: str) -> RunJournal:
        path = cls.runs_dir(data_dir) / f"{run_id}.sqlite"
        if not path.exists():
            raise JournalError(f"no run with id {run_id} in {path.parent}")
        return cls(path)

    # ---- reading ----------------------------------------------------------------------------
    def _run_row(self) -> sqlite3.Row:
        self.db.row_factory = sqlite3.Row
        try:
            row = self.db.execute("SELECT * FROM run").fetchone()
        finally:
            self.db.row_factory = None
        if row is None:
            raise JournalError(f"{self.path} is not a Draftwell run")
        return row

    @property
    def run_id(self) -> str:
        return self._run_row()["id"]

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads(self._run_row()["config"]))

    @property
    def sources(self) -> list[str]:
        return json.loads(self._run_row()["sources"])

    @property
    def model(self) -> str:
        return self._run_row()["model"]

    def info(self) -> RunInfo:
        row = self._run_row()
        steps = self.db.execute("SELECT COALESCE(MAX(step), 0) FROM snapshots").fetchone()[0]
        status = row["status"]
        if status in LIVE_STATUSES and not self.claimed and holder_of(self.lock_path) is None:
            status = "interrupted"
        return RunInfo(
            row["id"],
            row["question"],
            row["language"],
            status,
            steps,
            row["created"],
            row["updated"],
            row["model"],
            tuple(json.loads(row["sources"])),
            row["error"],
            self.path,
        )

    def latest_state(self) -> RunState:
        row = self.db.execute("SELECT state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise JournalError(f"run journal {self.path} has no committed state")
        data = json.loads(row[0])
        items = self.db.execute(
            "SELECT key, passage FROM evidence WHERE seq <= ? ORDER BY seq",
            (data["registry_size"],),
        ).fetchall()
        return RunState.from_dict(data, registry_from_items([(k, json.loads(p)) for k, p in items]))

    def snapshots(self) -> list[dict]:
        rows = self.db.execute("SELECT step, kind, phase, detail FROM snapshots ORDER BY id")
        return [{"step": s, "kind": k, "phase": p, "detail": json.loads(d)} for s, k, p, d in rows]

    def commands(self) -> list[dict]:
        rows = self.db.execute("SELECT command, status, message FROM commands ORDER BY id")
        return [{"command": json.loads(c), "status": s, "message": m} for c, s, m in rows]

    # ---- writing (the Journal protocol of desktop.core.engine) --------------------------------
    def commit(self, state: RunState, kind: str, detail: dict) -> None:
        """Store the state after a step or an edit, with any new evidence, in one transaction."""
        self._commit(state, kind, detail)

    def _commit(
        self, state: RunState, kind: str, detail: dict, run_row: tuple | None = None
    ) -> None:
        new = [
            (
                int(key.removeprefix("textid")),
                key,
                json.dumps(passage_to_dict(p), ensure_ascii=False),
            )
            for key, p in state.registry.by_key.items()
            if key not in self._known_keys
        ]
        now = time.time()
        with self._writing():
            self.db.execute("BEGIN")
            if run_row is not None:
                self.db.execute("INSERT INTO run VALUES (?,?,?,?,?,?,?,?,?,?,?)", run_row)
            self.db.executemany("INSERT INTO evidence VALUES (?,?,?)", new)
            crashpoints.reached("journal.commit.evidence")
            self.db.execute(
                "INSERT INTO snapshots (step, kind, phase, detail, state, created) "
                "VALUES (?,?,?,?,?,?)",
                (
                    state.step,
                    kind,
                    state.phase,
                    json.dumps(detail, ensure_ascii=False),
                    json.dumps(state.to_dict(), ensure_ascii=False),
                    now,
                ),
            )
            self.db.execute("UPDATE run SET updated = ?", (now,))
            crashpoints.reached("journal.commit.before_commit")
        crashpoints.reached("journal.commit.after_commit")
        self._known_keys.update(key for _, key, _ in new)

    def cached_reply(self, key: str) -> ChatResult | None:
        row = self.db.execute("SELECT result FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return ChatResult(**json.loads(row[0])) if row else None

    def store_reply(self, key: str, result: ChatResult) -> None:
        with self._writing():
            self.db.execute(
                "INSERT OR REPLACE INTO llm_cache VALUES (?,?,?)",
                (key, json.dumps(asdict(result), ensure_ascii=False), time.time()),
            )

    def record_command(self, command: Command, status: str, message: str) -> None:
        with self._writing():
            self.db.execute(
                "INSERT INTO commands (command, status, message, created) VALUES (?,?,?,?)",
                (
                    json.dumps(command_to_dict(command), ensure_ascii=False),
                    status,
                    message,
                    time.time(),
                ),
            )

    def record_network(self, entry: NetworkEntry) -> None:
        """Append one outgoing request to the run's network log (from any thread)."""
        with self._writing():
            self.db.execute(
                "INSERT INTO network (time, host, purpose, method, status, bytes_sent, "
                "bytes_received, outcome) VALUES (?,?,?,?,?,?,?,?)",
                (
                    entry.time,
                    entry.host,
                    entry.purpose,
                    entry.method,
                    entry.status,
                    entry.bytes_sent,
                    entry.bytes_received,
                    entry.outcome,
                ),
            )

    def network_entries(self) -> list[NetworkEntry]:
        """The run's network log, oldest first."""
        rows = self.db.execute(
            "SELECT time, host, purpose, method, status, bytes_sent, bytes_received, outcome "
            "FROM network ORDER BY id"
        )
        return [NetworkEntry(*row) for row in rows]

    def set_meta(self, key: str, value: dict) -> None:
        """Store a JSON record about the run under `key` (replacing an earlier one)."""
        with self._writing():
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?,?)",
                (key, json.dumps(value, ensure_ascii=False, sort_keys=True)),
            )

    def meta(self, key: str) -> dict | None:
        """The JSON record stored under `key`, or None (runs from before migration 3 have none)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def record_check(self, check: SectionCheck, text: str) -> None:
        """Keep one section's citation check (every check is kept; resume reads them back)."""
        with self._writing():
            self.db.execute(
                "INSERT INTO checks (step, section_id, text_hash, text, result, created) "
                "VALUES (?,?,?,?,?,?)",
                (
                    check.step,
                    check.section_id,
                    check.text_hash,
                    text,
                    json.dumps(check.to_dict(), ensure_ascii=False),
                    time.time(),
                ),
            )

    def checks(self) -> list[SectionCheck]:
        """Every check of the run, oldest first."""
        rows = self.db.execute("SELECT result FROM checks ORDER BY id")
        return [SectionCheck.from_dict(json.loads(row[0])) for row in rows]

    def judge_calls(self) -> int:
        """How many model-judge calls the run's checks made (its budget survives resume)."""
        return sum(check.judge_calls for check in self.checks())

    def set_status(self, status: RunStatus, error: str | None = None) -> None:
        with self._writing():
            self.db.execute(
                "UPDATE run SET status = ?, error = ?, pid = ?, updated = ?",
                (status, error, os.getpid(), time.time()),
            )

    def close(self) -> None:
        """Close the database, then let go of the run (in that order: no write after release)."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        if self._claim is not None:
            self._claim.release()
            self._claim = None


def list_runs(data_dir: Path) -> list[RunInfo]:
    """Every run in the data dir, newest first; unreadable journals are skipped."""
    folder = Path(data_dir) / "runs"  # not made here: listing must work in a read-only folder
    infos = []
    for path in sorted(folder.glob("*.sqlite"), reverse=True) if folder.is_dir() else []:
        try:
            journal = RunJournal(path)
            infos.append(journal.info())
            journal.close()
        except JournalError:
            continue
    return infos
