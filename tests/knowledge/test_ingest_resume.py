"""A process killed with SIGKILL mid-ingestion finishes on restart: no duplicate, none missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from desktop.knowledge.chunking import Section, chunk_section
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.formats import open_document
from desktop.knowledge.ingest import chunk_id
from desktop.knowledge.library import Library

from .knowledge_docs import FILLER, make_pdf

REPO = Path(__file__).resolve().parents[2]


def _start_worker(data_dir: Path, pdf: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.knowledge.ingest_worker", str(data_dir), "3", str(pdf)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _kill_after_commits(worker: subprocess.Popen[str], commits: int) -> int:
    """Wait until the worker has committed `commits` pages with chunks, then SIGKILL it."""
    assert worker.stdout is not None
    seen = 0
    deadline = time.monotonic() + 120
    for line in worker.stdout:
        assert time.monotonic() < deadline, "worker too slow"
        if line.startswith("page") and int(line.split()[3]) > 0:
            seen += 1
            if seen >= commits:
                break
        assert line.strip() != "finished", "the worker finished before it could be killed"
    time.sleep(0.05)  # land the kill somewhere inside the next batch
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL
    return seen


def _expected_chunks(pdf: Path) -> list[str]:
    sections = [i for i in open_document(pdf).items if isinstance(i, Section)]
    return [chunk.text for section in sections for chunk in chunk_section(section)]


def test_sigkill_mid_ingestion_then_add_again(tmp_path: Path, embedder: Embedder) -> None:
    pdf = make_pdf(
        tmp_path / "long report.pdf",
        [
            f"Finding {n}: the sensor on mast {n} read {n * 3} units. " + FILLER * 4
            for n in range(40)
        ],
    )
    data_dir = tmp_path / "data"
    for commits in (3, 4):  # kill twice, at different points
        _kill_after_commits(_start_worker(data_dir, pdf), commits)

    library = Library(data_dir, embedder=embedder)
    (interrupted,) = library.list()
    assert interrupted.status == "indexing"
    assert interrupted.chunks > 0

    (status,) = library.add([pdf])

    expected = _expected_chunks(pdf)
    assert (status.status, status.pages, status.chunks) == ("indexed", 40, len(expected))
    assert library.verify() == []  # every chunk id has exactly one row and one vector
    catalog, index = library._catalog, library._vector_index()
    digest = catalog.documents().popitem()[0]
    ids = [chunk_id(digest, seq) for seq in range(len(expected))]
    rows = catalog.chunk_rows(ids)
    assert [rows[i].text for i in ids] == expected  # nothing missing, nothing twice
    owners = sorted({rows[i].vec for i in ids})
    stored = index._collection.get(ids=owners, include=["embeddings"])
    by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
    fresh = embedder.embed([f"{rows[i].heading}\n{rows[i].text}".lstrip("\n") for i in owners])
    assert np.allclose(np.array([by_id[i] for i in owners]), fresh, atol=1e-4)  # none stale
    hit = library.retriever().search("sensor on mast 37", 1)[0]
    assert hit.page == 38
    library.close()
