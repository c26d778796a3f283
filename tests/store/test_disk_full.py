"""A full disk mid-run: one clear line, nothing half-written, and the run resumes later.

The disk fills for real as far as SQLite is concerned (`PRAGMA max_page_count` makes it answer
SQLITE_FULL, exactly what a full disk gives); other writes get an OSError with ENOSPC.
"""

from __future__ import annotations

import errno
import pathlib

import pytest

from desktop.cli import main as cli_main
from desktop.core.state import RunConfig
from desktop.core.verify import SectionCheck
from desktop.llm.scripted import ScriptedBackend
from desktop.locks import ProcessLock
from desktop.session import ResearchSession
from desktop.store.journal import JournalError, RunJournal
from tests.helpers import MemoryRetriever, corpus, init_plan, nop, search, write

CONFIG = RunConfig(max_step=40, max_extend=0)


REPLIES = {
    "search": search("solar"),
    "init_plan": init_plan("E", "A", "B"),
    "write": write(),
    "extend_plan": nop(),
}


def answer(request) -> str:
    """A reply for whatever phase is asking (so a resumed run needs no script position)."""
    reply = REPLIES[request.purpose].reply
    return reply(request) if callable(reply) else reply


def backend_for_any_phase() -> ScriptedBackend:
    return ScriptedBackend([answer] * 20)


def test_a_disk_that_fills_mid_run_stops_it_with_one_line_and_it_resumes(tmp_path):
    backend = backend_for_any_phase()
    session = ResearchSession.start(
        tmp_path,
        "q about solar",
        sources=[],
        config=CONFIG,
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        model_name="scripted",
    )
    journal = session.journal

    def fill_the_disk(request) -> None:
        if len(backend.requests) == 4:  # the first write's reply is about to be saved
            pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
            journal.db.execute(f"PRAGMA max_page_count = {pages}")

    backend.on_request = fill_the_disk
    run_id = session.run_id
    try:
        session.run()  # an engine that ends runs "failed" on any error records the line
        message = session.journal.info().error or ""
    except JournalError as exc:  # else it reaches the caller (the CLI prints it)
        message = str(exc)
    assert f"cannot save run {run_id}: the disk is full" in message and "\n" not in message
    last_committed = session.engine.state
    session.close()

    reopened = RunJournal.open(tmp_path, run_id)
    assert reopened.latest_state() == last_committed  # nothing half-written
    assert last_committed.step >= 3 and not last_committed.done
    assert reopened.info().status in ("interrupted", "failed")  # both offered for resume
    reopened.close()
    # Room again: the same run continues where the last commit left it.
    resumed = ResearchSession.resume(
        tmp_path, run_id, backend=backend_for_any_phase(), retriever=MemoryRetriever(corpus())
    )
    final = resumed.run()
    assert final.done and all(n.section.content for n in final.outline.walk())
    resumed.close()


def test_a_lock_record_that_hits_a_full_disk_refuses_in_one_line(tmp_path, monkeypatch):
    session = ResearchSession.start(
        tmp_path, "q", sources=[], config=CONFIG, backend=ScriptedBackend([]),
        retriever=MemoryRetriever(corpus()), model_name="scripted",
    )  # fmt: skip
    run_id = session.run_id
    session.close()

    def no_space(self, fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ProcessLock, "_write_record", no_space)
    journal = RunJournal.open(tmp_path, run_id)
    with pytest.raises(JournalError) as full:
        journal.claim()
    assert str(full.value) == f"run {run_id} cannot continue: the disk is full"
    assert journal.latest_state().question == "q"  # the journal still opens and reads
    journal.close()


def test_an_export_that_hits_a_full_disk_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    backend = backend_for_any_phase()
    session = ResearchSession.start(
        tmp_path, "q about solar", sources=[], config=CONFIG, backend=backend,
        retriever=MemoryRetriever(corpus()), model_name="scripted",
    )  # fmt: skip
    session.run()
    run_id = session.run_id
    session.close()
    real_write_text = pathlib.Path.write_text

    def no_space(self, *args, **kwargs):
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", no_space)
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    code = cli_main(
        ["export", run_id, "--format", "md", "--out", str(out), "--data-dir", str(tmp_path)]
    )
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"draftwell: cannot write {out}: No space left on device"]
    assert list(out.parent.iterdir()) == []  # no partial file, no temp file left
    assert RunJournal.open(tmp_path, run_id).info().status == "finished"


def test_a_citation_check_that_hits_a_full_disk_says_so_in_one_line(tmp_path):
    session = ResearchSession.start(
        tmp_path, "q", sources=[], config=CONFIG, backend=ScriptedBackend([]),
        retriever=MemoryRetriever(corpus()), model_name="scripted",
    )  # fmt: skip
    run_id, journal = session.run_id, session.journal
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
    check = SectionCheck("section-1", "1", 3, "h" * 16)
    with pytest.raises(JournalError) as full:
        journal.record_check(check, "a section text " * 20_000)
    assert str(full.value) == f"cannot save run {run_id}: the disk is full"
    assert journal.checks() == []  # rolled back, and the journal still reads
    session.close()
