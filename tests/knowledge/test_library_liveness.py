"""One writer per library, decided by an OS lock: a reused pid never blocks a resume.

Real embedder, real Chroma directory, PDFs generated with pymupdf.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.cancel import Cancelled, CancelToken
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import Library, LibraryBusy
from tests.crash.scripted_research import HashEmbedder

from .conftest import CountingEmbedder
from .knowledge_docs import FILLER, make_pdf

ROOT = Path(__file__).resolve().parents[2]
HOLD_WRITER = """
import sys
from pathlib import Path
from desktop.locks import ProcessLock
lock = ProcessLock(Path(sys.argv[1]), "the document library").acquire()
print("held", flush=True)
sys.stdin.read()
"""


def interrupted_library(data: Path, docs: Path, embedder: CountingEmbedder) -> Library:
    """A library whose one document was cancelled after two pages (left `indexing`)."""
    make_pdf(docs / "big.pdf", [f"Page {n} text. " + FILLER * 3 for n in range(1, 11)])
    library = Library(data, embedder=embedder, batch_size=2)
    cancel = CancelToken()

    def stop_after_two_pages(report: IngestProgress) -> None:
        if report.page >= 2:
            cancel.set()

    with pytest.raises(Cancelled):
        library.add([docs], progress=stop_after_two_pages, cancel=cancel)
    return library


def set_worker(data: Path, pid: int) -> None:
    with sqlite3.connect(data / "library" / "catalog.sqlite3") as db:
        db.execute("UPDATE documents SET worker = ?", (pid,))


def test_a_document_left_indexing_by_a_dead_worker_whose_pid_was_reused_resumes(
    tmp_path: Path, docs: Path, counting_embedder: CountingEmbedder
) -> None:
    data = tmp_path / "data"
    interrupted_library(data, docs, counting_embedder).close()
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        set_worker(data, unrelated.pid)  # the dead worker's pid now belongs to someone else
        library = Library(data, embedder=counting_embedder, batch_size=2)
        (before,) = library.list()
        assert before.status == "indexing" and before.error == "interrupted: add it again to resume"
        (after,) = library.add([docs])
        assert after.status == "indexed" and after.chunks > before.chunks
        assert library.verify() == []
        library.close()
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_second_writer_is_refused_with_one_line_naming_the_holder(
    tmp_path: Path, docs: Path, counting_embedder: CountingEmbedder
) -> None:
    data = tmp_path / "data"
    interrupted_library(data, docs, counting_embedder).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lock = data / "library" / "writer.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        library = Library(data, embedder=counting_embedder, batch_size=2)
        with pytest.raises(LibraryBusy) as refused:
            library.add([docs])
        message = str(refused.value)
        assert message.startswith(
            f"the document library is in use by pid {holder.pid} on {socket.gethostname()} since "
        )
        assert "\n" not in message
        with pytest.raises(LibraryBusy):
            library.remove([docs])
        (status,) = library.list()
        assert status.error == "interrupted: add it again to resume"  # not the holder's document
        set_worker(data, holder.pid)
        (status,) = library.list()
        assert status.status == "indexing" and status.error is None  # the live writer's own
        library.close()
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(timeout=30)
    library = Library(data, embedder=counting_embedder, batch_size=2)
    (status,) = library.add([docs])  # the holder is gone: this process is the writer now
    assert status.status == "indexed" and library.verify() == []
    library.close()


ADD_FROM_A_TERMINAL = """
import sys
from pathlib import Path
from desktop.knowledge.library import Library
from tests.crash.scripted_research import HashEmbedder
library = Library(Path(sys.argv[1]), embedder=HashEmbedder())
(status,) = library.add([Path(sys.argv[2])])
library.close()
print(status.status, flush=True)
"""


def test_documents_another_process_adds_are_found_by_an_open_library(
    tmp_path: Path, docs: Path
) -> None:
    """The window keeps its Library (and Chroma client) open while `draftwell library add`
    runs in a terminal; its searches must find what the terminal added, as a fresh process
    would (Chroma's client does not see another process's writes by itself)."""
    data = tmp_path / "data"
    make_pdf(docs / "boilers.pdf", ["A condensing gas boiler burns natural gas. " * 8])
    added = tmp_path / "more" / "airships.pdf"
    added.parent.mkdir()
    make_pdf(added, ["Zeppelin airships float on helium over the lakes. " * 8])
    library = Library(data, embedder=HashEmbedder())
    library.add([docs])
    everything = library.retriever()  # made before the other process adds: still sees it
    assert [p.source for p in everything.search("zeppelin airships helium", 1)] == [
        str(docs / "boilers.pdf")
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    terminal = subprocess.run(
        [sys.executable, "-c", ADD_FROM_A_TERMINAL, str(data), str(added)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert terminal.stdout.strip() == "indexed", terminal.stderr[-2000:]
    query = "zeppelin airships helium"
    assert [p.source for p in everything.search(query, 1)] == [str(added)]
    scoped = library.retriever([added.parent])  # a run over the new folder
    assert [p.source for p in scoped.search(query, 2)] == [str(added)]
    assert library.verify() == []
    library.close()
