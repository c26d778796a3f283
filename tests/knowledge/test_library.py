"""The library end to end with the real embedder and a real Chroma directory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from desktop.core.cancel import Cancelled, CancelToken
from desktop.core.evidence import retrieve_merged
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import DocumentStatus, Library, LibraryError

from .conftest import CountingEmbedder
from .knowledge_docs import (
    FILLER,
    make_docx,
    make_epub,
    make_html,
    make_pdf,
    make_scanned_pdf,
    make_truncated_pdf,
)


def _by_name(statuses: list[DocumentStatus]) -> dict[str, DocumentStatus]:
    return {Path(s.path).name: s for s in statuses}


def _make_every_format(folder: Path) -> dict[str, str]:
    """Write one document per format, each holding one unique fact; return name → fact."""
    facts = {
        "atlas.pdf": "The lighthouse keeper painted the tower green in 1887.",
        "guide.md": "The glacier retreats forty metres every summer.",
        "notes.txt": "Copper kettles were banned from the night market.",
        "report.docx": "The orchard produced nine tonnes of quinces.",
        "page.html": "Volcanic ash closed the airport for six days.",
        "book.epub": "The violinist tuned her instrument with a tuning fork made of bone.",
    }
    make_pdf(
        folder / "atlas.pdf", [FILLER * 2, FILLER + facts["atlas.pdf"] + FILLER], title="Atlas"
    )
    (folder / "guide.md").write_text(f"# Guide\n\n## Ice\n\n{FILLER}\n\n{facts['guide.md']}\n")
    (folder / "notes.txt").write_text(f"{FILLER}\n\n{facts['notes.txt']}\n")
    make_docx(folder / "report.docx", [("heading", "Harvest"), ("para", facts["report.docx"])])
    make_html(folder / "page.html", "Ash", [("Closures", facts["page.html"])])
    make_epub(folder / "book.epub", "Strings", [("Tuning", facts["book.epub"])])
    return facts


def test_every_format_is_indexed_and_its_fact_found_with_location(
    library: Library, docs: Path
) -> None:
    facts = _make_every_format(docs)
    statuses = _by_name(library.add([docs]))
    assert {name: s.status for name, s in statuses.items()} == dict.fromkeys(facts, "indexed")
    assert statuses["atlas.pdf"].pages == 2
    assert all(s.chunks >= 1 and s.error is None for s in statuses.values())
    retriever = library.retriever()
    expected_locator = {"guide.md": "Ice", "report.docx": "Harvest", "page.html": "Closures"}
    for name, fact in facts.items():
        top = retriever.search(fact, 3)[0]
        assert Path(top.source) == docs / name, name
        assert fact in top.text
        assert top.page == (2 if name == "atlas.pdf" else None)
        assert top.locator == expected_locator.get(name, top.locator)
    assert library.verify() == []


def test_bad_inputs_get_their_status_and_never_break_the_batch(
    library: Library, docs: Path
) -> None:
    good = make_pdf(docs / "good report.pdf", [FILLER + "Otters hold hands while sleeping."])
    (docs / "empty.pdf").write_bytes(b"")
    (docs / "fake.pdf").write_text("I am plain text wearing a PDF name.")
    make_truncated_pdf(docs / "truncated.pdf", make_pdf(docs.parent / "long.pdf", [FILLER * 4] * 8))
    make_pdf(docs / "locked.pdf", [FILLER + "secret"], encrypt_password="hunter2")
    make_scanned_pdf(docs / "scan.pdf")
    (docs / "résumé café – ü.md").write_text("# Über\n\nSchrödinger's cat naps in a box.\n")
    shutil.copy(good, docs / "copy of good.pdf")

    statuses = _by_name(library.add([docs, good]))  # `good` also named twice

    assert {name: s.status for name, s in statuses.items()} == {
        "copy of good.pdf": "indexed",  # found first in the folder walk
        "empty.pdf": "failed",
        "fake.pdf": "failed",
        "truncated.pdf": "failed",
        "locked.pdf": "encrypted",
        "scan.pdf": "no-text",
        "résumé café – ü.md": "indexed",
        "good report.pdf": "duplicate",
    }
    assert "empty" in (statuses["empty.pdf"].error or "")
    assert "not a PDF" in (statuses["fake.pdf"].error or "")
    assert "truncated" in (statuses["truncated.pdf"].error or "")
    assert "OCR" in (statuses["scan.pdf"].error or "")
    assert "copy of good.pdf" in (statuses["good report.pdf"].error or "")
    assert len(library.list()) == 8
    assert library.verify() == []
    hit = library.retriever().search("Schrödinger's cat", 1)[0]
    assert hit.source.endswith("résumé café – ü.md")


def test_unchanged_files_are_skipped_and_changed_ones_reindexed(
    library: Library, docs: Path, counting_embedder: CountingEmbedder
) -> None:
    note = docs / "note.md"
    note.write_text("# Plan\n\nThe ferry leaves at noon.\n")
    library.add([docs])
    embedded = counting_embedder.texts
    assert library.add([docs])[0].status == "indexed"
    assert counting_embedder.texts == embedded  # nothing re-embedded
    os.utime(note, ns=(1, 1))  # touched but same content: hashed again, still not re-embedded
    library.add([note])
    assert counting_embedder.texts == embedded

    note.write_text("# Plan\n\nThe ferry now leaves at dawn.\n")
    (status,) = library.add([note])
    assert status.status == "indexed"
    texts = [p.text for p in library.retriever().search("when does the ferry leave", 5)]
    assert texts == ["The ferry now leaves at dawn."]
    assert library.verify() == []


def test_duplicates_share_one_index_and_survive_removal_of_the_original(
    library: Library, docs: Path
) -> None:
    first = docs / "a.txt"
    first.write_text("Penguins propose with pebbles.")
    second = docs / "sub" / "b.txt"
    second.parent.mkdir()
    shutil.copy(first, second)
    statuses = library.add([first, second])
    assert [s.status for s in statuses] == ["indexed", "duplicate"]
    assert statuses[1].chunks == 0

    assert library.remove([first]) == [first]
    (status,) = library.list()
    assert (status.path, status.status, status.chunks) == (str(second), "indexed", 1)
    assert library.retriever().search("penguin pebbles", 1)[0].source == str(second)

    assert library.remove([docs]) == [second]  # a folder removes everything under it
    assert library.list() == []
    assert library.retriever().search("penguin pebbles", 5) == []
    assert library.verify() == []


def test_a_moved_file_keeps_its_index(
    library: Library, docs: Path, counting_embedder: CountingEmbedder
) -> None:
    original = docs / "old.txt"
    original.write_text("Moths navigate by the moon.")
    library.add([original])
    embedded = counting_embedder.texts
    moved = original.rename(docs / "new.txt")
    (status,) = library.add([moved])
    assert status.status == "indexed"
    assert counting_embedder.texts == embedded
    assert [s.path for s in library.list()] == [str(moved)]


def test_retriever_can_be_restricted_to_some_documents(library: Library, docs: Path) -> None:
    (docs / "in").mkdir()
    (docs / "in" / "bees.txt").write_text("Bees dance to point at flowers.")
    (docs / "out.txt").write_text("Bees in the other file dance as well, near flowers.")
    library.add([docs])
    restricted = library.retriever([docs / "in"])
    hits = restricted.search("bees dance flowers", 10)
    assert {Path(h.source).name for h in hits} == {"bees.txt"}
    assert len(library.retriever().search("bees dance flowers", 10)) == 2
    assert library.retriever([docs / "nothing-here"]).search("bees", 5) == []


def test_retriever_works_with_the_engines_quota_merge(library: Library, docs: Path) -> None:
    facts = _make_every_format(docs)
    library.add([docs])
    merged = retrieve_merged(library.retriever(), ["glacier", "quinces", "ash airport"], budget=6)
    texts = " ".join(p.text for p in merged)
    assert facts["guide.md"] in texts and facts["report.docx"] in texts
    assert len({p.fingerprint for p in merged}) == len(merged) <= 6


def test_progress_reports_every_page_and_every_file(library: Library, docs: Path) -> None:
    make_pdf(docs / "a.pdf", [FILLER * 3] * 4)
    (docs / "b.md").write_text("# B\n\nBody.")
    (docs / "c.pdf").write_bytes(b"")
    reports: list[IngestProgress] = []
    library.add([docs], progress=reports.append)
    pages = [r.page for r in reports if r.path.endswith("a.pdf") and not r.done]
    assert pages == [0, 1, 2, 3, 4]
    finished = [(Path(r.path).name, r.status, r.file_index) for r in reports if r.done]
    assert finished == [("a.pdf", "indexed", 1), ("b.md", "indexed", 2), ("c.pdf", "failed", 3)]
    assert all(r.file_count == 3 for r in reports)


def test_cancel_stops_ingestion_and_the_next_add_resumes(
    tmp_path: Path, docs: Path, counting_embedder: CountingEmbedder
) -> None:
    make_pdf(docs / "big.pdf", [f"Page {n} text. " + FILLER * 3 for n in range(1, 13)])
    library = Library(tmp_path / "data", embedder=counting_embedder, batch_size=2)
    cancel = CancelToken()

    def stop_after_two_pages(report: IngestProgress) -> None:
        if report.page >= 2:
            cancel.set()

    with pytest.raises(Cancelled):
        library.add([docs], progress=stop_after_two_pages, cancel=cancel)
    (interrupted,) = library.list()
    assert interrupted.status == "indexing"
    assert interrupted.error == "interrupted: add it again to resume"
    done_before = interrupted.chunks
    assert done_before > 0
    before = counting_embedder.texts

    (status,) = library.add([docs])
    assert status.status == "indexed"
    assert counting_embedder.texts - before == status.chunks - done_before  # only the rest
    assert library.verify() == []
    library.close()


def test_list_json_matches_the_cli_contract(library: Library, docs: Path) -> None:
    (docs / "x.txt").write_text("This is some of the text that is worth indexing.")
    (docs / "y.txt").write_bytes(b"")
    library.add([docs, docs / "missing.pdf"])
    payload = json.loads(json.dumps([s.to_json() for s in library.list()]))
    assert payload == [
        {
            "path": str(docs / "x.txt"),
            "status": "indexed",
            "pages": 0,
            "chunks": 1,
            "ocr_pages": 0,
            "error": None,
            "language": "en",
        },
        {
            "path": str(docs / "y.txt"),
            "status": "failed",
            "pages": 0,
            "chunks": 0,
            "ocr_pages": 0,
            "error": "the file is empty (0 bytes)",
            "language": "",
        },
    ]


def test_missing_paths_are_reported_not_stored(library: Library, tmp_path: Path) -> None:
    (status,) = library.add([tmp_path / "nope.pdf"])
    assert status.status == "failed" and "no such file" in (status.error or "")
    assert library.list() == []


def test_a_library_refuses_vectors_from_another_model(
    tmp_path: Path, docs: Path, embedder: Embedder
) -> None:
    (docs / "a.txt").write_text("Alpha text.")
    with Library(tmp_path / "data", embedder=embedder) as lib:
        lib.add([docs])

    other = CountingEmbedder(embedder)
    other.name = "another-model"
    (docs / "b.txt").write_text("Beta text.")
    with (
        Library(tmp_path / "data", embedder=other) as lib,
        pytest.raises(LibraryError, match="indexed with"),
    ):
        lib.add([docs / "b.txt"])


def test_the_index_persists_across_instances(
    tmp_path: Path, docs: Path, embedder: Embedder
) -> None:
    (docs / "a.txt").write_text("Walruses use their tusks to climb onto ice.")
    with Library(tmp_path / "data", embedder=embedder) as lib:
        lib.add([docs])
    with Library(tmp_path / "data", embedder=embedder) as lib:
        assert lib.list()[0].status == "indexed"
        assert "Walruses" in lib.retriever().search("walrus tusks", 1)[0].text


def test_vector_deletes_interrupted_by_a_crash_are_finished_later(
    tmp_path: Path, docs: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    (docs / "a.txt").write_text("Narwhal tusks are teeth.")
    (docs / "b.txt").write_text("Axolotls regrow their limbs.")
    library = Library(tmp_path / "data", embedder=embedder)
    library.add([docs])
    index = library._vector_index()

    def crash(digest: str) -> None:
        raise KeyboardInterrupt("simulated crash before Chroma deleted anything")

    monkeypatch.setattr(index, "delete_document", crash)
    with pytest.raises(KeyboardInterrupt):
        library.remove([docs / "a.txt"])
    monkeypatch.undo()
    assert [Path(s.path).name for s in library.list()] == ["b.txt"]
    assert library.verify() == ["vectors of unknown document " + library._catalog.doomed()[0][:12]]

    library.add([docs / "b.txt"])  # any later write finishes the deletion first
    assert library.verify() == []
    assert [p.text for p in library.retriever().search("narwhal", 5)] == [
        "Axolotls regrow their limbs."
    ]
    library.close()


def test_warm_up_loads_the_embedder_and_opens_the_index(tmp_path: Path) -> None:
    """The GUI warms the library up while idle, so the first add pays no import or load."""
    from desktop.knowledge.embedder import default_embedder

    fresh = default_embedder()
    lib = Library(tmp_path / "data", embedder=fresh)
    try:
        assert not fresh.loaded and lib._index is None
        lib.warm_up()
        assert fresh.loaded and lib._index is not None
    finally:
        lib.close()
