"""Each format parses into headed sections with pages (PDF) and exact spans; bad files say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.knowledge.chunking import Section
from desktop.knowledge.formats import DocumentError, PageDone, open_document

from .knowledge_docs import (
    FILLER,
    make_docx,
    make_encrypted_docx,
    make_epub,
    make_html,
    make_pdf,
    make_scanned_pdf,
    make_truncated_pdf,
)


def _sections(path: Path) -> list[Section]:
    return [item for item in open_document(path).items if isinstance(item, Section)]


def test_pdf_yields_each_page_with_its_number_and_bookmark_heading(tmp_path: Path) -> None:
    pages = [
        "Introduction\n\nThe heron nests by the lake. " + FILLER,
        "More on herons. " + FILLER + "\n\nMethods\n\nWe counted nests at dawn.",
        "Results came in late. " + FILLER,
    ]
    toc = [(1, "Introduction", 1), (1, "Methods", 2)]
    path = make_pdf(tmp_path / "birds.pdf", pages, toc=toc, title="Bird Survey")
    document = open_document(path)
    assert (document.title, document.pages) == ("Bird Survey", 3)
    items = list(document.items)
    assert [i.page for i in items if isinstance(i, PageDone)] == [1, 2, 3]
    sections = [i for i in items if isinstance(i, Section)]
    located = [(s.page, s.heading, s.text.split()[0]) for s in sections]
    assert located == [
        (1, "Introduction", "Introduction"),
        (2, "Introduction", "More"),
        (2, "Methods", "Methods"),
        (3, "Methods", "Results"),
    ]


def test_markdown_splits_at_headings_outside_code_fences(tmp_path: Path) -> None:
    text = (
        "# Guide\n\nIntro words here.\n\n## Install\n\nRun the installer.\n\n"
        "```sh\n# not a heading\n```\n\nSetext Title\n------------\n\nUnder setext.\n"
    )
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    sections = _sections(path)
    assert [s.heading for s in sections] == ["Guide", "Install", "Setext Title"]
    assert "# not a heading" in sections[1].text
    assert open_document(path).title == "Guide"
    for section in sections:  # offsets are positions in the file itself
        assert text[section.offset : section.offset + len(section.text)] == section.text
        assert section.page is None


def test_plain_text_keeps_offsets_and_decodes_legacy_encodings(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("Caf\xe9 notes.\n\nSecond paragraph.".encode("cp1252"))
    (section,) = _sections(path)
    assert section.text.startswith("Café notes.")
    assert section.heading == "" and section.page is None


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "report.docx",
        [
            ("para", "Preamble before any heading."),
            ("heading", "Budget"),
            ("para", "The budget grew."),
            ("table", "Item|Cost;Lamps|40"),
        ],
        title="Annual Report",
    )
    assert open_document(path).title == "Annual Report"
    sections = _sections(path)
    assert [s.heading for s in sections] == ["", "Budget"]
    assert sections[1].text == "The budget grew.\n\nItem | Cost\n\nLamps | 40"


def test_html_skips_scripts_styles_and_navigation(tmp_path: Path) -> None:
    path = make_html(tmp_path / "page.html", "Tides", [("High tide", "Water rises twice daily.")])
    document = open_document(path)
    assert document.title == "Tides"
    (section,) = list(document.items)
    assert isinstance(section, Section)
    assert (section.heading, section.text) == ("High tide", "Water rises twice daily.")


def test_epub_follows_the_spine_and_headings(tmp_path: Path) -> None:
    path = make_epub(
        tmp_path / "book.epub", "Sea Book", [("Waves", "Waves roll."), ("Salt", "Salt.")]
    )
    document = open_document(path)
    assert document.title == "Sea Book"
    sections = [s for s in document.items if isinstance(s, Section)]
    assert [(s.heading, s.text) for s in sections] == [("Waves", "Waves roll."), ("Salt", "Salt.")]
    assert sections[1].offset > sections[0].offset


@pytest.mark.parametrize(
    ("name", "make", "status", "message"),
    [
        ("empty.pdf", lambda p: p.write_bytes(b""), "failed", "empty"),
        ("text.pdf", lambda p: p.write_text("just words, not a PDF"), "failed", "not a PDF"),
        (
            "locked.pdf",
            lambda p: make_pdf(p, ["secret"], encrypt_password="pw"),
            "encrypted",
            "password",
        ),
        ("locked.docx", make_encrypted_docx, "encrypted", "password"),
        ("drm.epub", lambda p: make_epub(p, "T", [("A", "B")], drm=True), "encrypted", "DRM"),
        ("broken.epub", lambda p: p.write_text("not a zip"), "failed", "EPUB"),
        ("broken.docx", lambda p: p.write_text("not a zip"), "failed", "DOCX"),
        ("binary.txt", lambda p: p.write_bytes(bytes(range(256)) * 4), "failed", "binary"),
        ("data.xyz", lambda p: p.write_text("hello"), "failed", "unsupported"),
    ],
)
def test_bad_files_raise_a_status_and_a_clear_message(
    tmp_path: Path, name: str, make: object, status: str, message: str
) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    with pytest.raises(DocumentError) as caught:
        document = open_document(path)
        list(document.items)
    assert caught.value.status == status
    assert message in caught.value.message


def test_truncated_pdf_is_refused_rather_than_half_read(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", [FILLER * 3] * 6)
    with pytest.raises(DocumentError, match="truncated"):
        open_document(make_truncated_pdf(tmp_path / "half.pdf", whole))


def test_scanned_pdf_opens_but_has_no_text(tmp_path: Path) -> None:
    document = open_document(make_scanned_pdf(tmp_path / "scan.pdf", pages=2))
    items = list(document.items)
    assert items == [PageDone(1), PageDone(2)]
