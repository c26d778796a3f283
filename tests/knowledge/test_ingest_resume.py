"""A process killed with SIGKILL mid-ingestion finishes on restart: no duplicate, none missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from desktop import crashpoints
from desktop.knowledge.chunking import Section, chunk_section
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.formats import open_document
from desktop.knowledge.ingest import chunk_id
from desktop.knowledge.library import Library

from .knowledge_docs import FILLER, make_pdf

REPO = Path(__file__).resolve().parents[2]


def _killed_at(data_dir: Path, pdf: Path, crash_at: str) -> None:
    """Ingest `pdf` in a child that SIGKILLs itself at the checkpoint `crash_at` (see
    desktop/crashpoints.py)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        crashpoints.AT_ENV: crash_at,
    }
    worker = subprocess.run(
        [sys.executable, "-m", "tests.knowledge.ingest_worker", str(data_dir), "3", str(pdf)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = worker.stdout.splitlines()
    assert worker.returncode == -signal.SIGKILL, worker.stderr[-2000:]
    assert "finished" not in lines


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
    # Killed twice at the worst moments: between a batch's vectors and its catalog commit,
    # then inside the catalog transaction of a later batch of the resumed ingestion.
    _killed_at(data_dir, pdf, "ingest.upserted:3")
    _killed_at(data_dir, pdf, "ingest.before_commit:4")

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
