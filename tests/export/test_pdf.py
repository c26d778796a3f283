"""PDF export: text order (pdftotext), citation links (pymupdf), outline, fonts and glyphs."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest

from desktop.core.report import Report
from desktop.export.pdf_writer import render_pdf
from tests.export.sample_report import outline
from tests.export.test_docx import _citations


@pytest.fixture(scope="module")
def pdf(exported: dict[str, Path]) -> pymupdf.Document:
    document = pymupdf.open(exported["pdf"])
    yield document
    document.close()


def _pdftotext(path: Path, first_page: int = 1) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    result = subprocess.run(
        ["pdftotext", "-f", str(first_page), "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return " ".join(result.stdout.split())


def _text_in(page: pymupdf.Page, rect: pymupdf.Rect) -> str:
    """The characters whose centres lie inside `rect` (a link area)."""
    chars = []
    for block in page.get_text("rawdict")["blocks"]:
        for line in block.get("lines", []):
            for span in line["spans"]:
                for char in span["chars"]:
                    x0, y0, x1, y1 = char["bbox"]
                    if pymupdf.Point((x0 + x1) / 2, (y0 + y1) / 2) in rect:
                        chars.append(char["c"])
    return "".join(chars).strip()


def _assert_in_order(text: str, needles: list[str]) -> None:
    position = 0
    for needle in needles:
        found = text.find(needle, position)
        assert found >= 0, f"{needle!r} missing or out of order"
        position = found + len(needle)


def test_text_has_every_section_and_reference_in_order(
    exported: dict[str, Path], pdf: pymupdf.Document, report: Report
) -> None:
    first_body_page = pdf.get_toc()[0][2]  # skip the contents, which list the headings too
    text = _pdftotext(exported["pdf"], first_body_page)
    headings = [title for _, title in outline(report)]
    # labels may wrap at a URL; compare with whitespace collapsed
    labels = [" ".join(f"[{r.number}] {r.label}".split()) for r in report.references]
    _assert_in_order(text, [*headings, "References", *labels])
    _assert_in_order(
        text, ["Climate zone", "Mild coastal", "def heat_pump_size(", "中国是全球最大"]
    )
    front = _pdftotext(exported["pdf"])[:400]
    assert report.question in front and "12 sources" not in front and "10 sources" in front


def test_outline_equals_headings(pdf: pymupdf.Document, report: Report) -> None:
    toc = pdf.get_toc()
    assert [(level, title) for level, title, _ in toc] == [*outline(report), (1, "References")]
    for _, title, page in toc:
        assert title in " ".join(pdf[page - 1].get_text().split())


def test_every_citation_links_to_its_reference(pdf: pymupdf.Document, report: Report) -> None:
    cited: list[int] = []
    for page in pdf:
        for link in page.get_links():
            name = link.get("nameddest", "")
            if not name.startswith("ref-"):
                continue
            number = int(name.removeprefix("ref-"))
            assert _text_in(page, link["from"]) == str(number)
            target = pdf[link["page"]]
            top = target.rect.height - link["to"].y  # destinations are in PDF (bottom-up) space
            line = [w[4] for w in target.get_text("words") if abs(w[1] - top) < 2.5]
            assert line and line[0] == f"[{number}]", (number, line)
            cited.append(number)
    assert cited == _citations(report)
    assert set(cited) == {r.number for r in report.references}


def test_contents_entries_link_to_their_headings(pdf: pymupdf.Document) -> None:
    toc = {title: page for _, title, page in pdf.get_toc()}
    links = [link for link in pdf[0].get_links() if link["kind"] == pymupdf.LINK_GOTO]
    seen = set()
    for link in links:
        title = " ".join(_text_in(pdf[0], link["from"]).split())
        if title in toc:
            assert link["page"] + 1 == toc[title]
            seen.add(title)
    assert seen == set(toc)


def test_fonts_are_embedded_and_no_glyph_is_missing(pdf: pymupdf.Document) -> None:
    names = set()
    for page in pdf:
        for xref, ext, _type, name, *_ in page.get_fonts():
            assert ext != "n/a", f"font {name} is not embedded"
            names.add(name.split("+")[-1])
            assert pdf.extract_font(xref)[3], f"font {name} has no data"
        for span in page.get_texttrace():
            for char, glyph, *_ in span["chars"]:
                assert glyph > 0 or chr(char).isspace(), f"missing glyph for {chr(char)!r}"
    assert {"IBMPlexSerif", "IBMPlexSerifBold", "IBMPlexMono", "NotoSerifSC"} <= names


def test_chinese_text_uses_the_cjk_font(pdf: pymupdf.Document) -> None:
    fonts = {
        span["font"]
        for page in pdf
        for block in page.get_text("dict")["blocks"]
        for line in block.get("lines", [])
        for span in line["spans"]
        if "热泵" in span["text"]
    }
    assert fonts and all("NotoSerifSC" in f for f in fonts)


def test_letter_and_unfinished(unfinished_report: Report, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        data = render_pdf(unfinished_report, page_size="Letter")
    assert not [r for r in caplog.records if "missing" in r.getMessage()]
    document = pymupdf.open(stream=data, filetype="pdf")
    assert round(document[0].rect.width) == 612 and round(document[0].rect.height) == 792
    text = " ".join(" ".join(page.get_text() for page in document).split())
    assert "Unfinished draft: 6 of 7 sections written" in text
    assert "This section has not been written yet." in text
    assert text.count("Unfinished draft") >= 1 + document.page_count  # banner + every footer
    assert document.metadata["title"] == unfinished_report.title
