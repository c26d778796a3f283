"""DOCX export: reopened with python-docx, its structure must match the report."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Mm
from docx.text.paragraph import Paragraph as DocxParagraph

from desktop.core.report import Report
from desktop.export.blocks import Cite, ListBlock, Paragraph, Table, parse_body
from desktop.export.docx_writer import render_docx
from tests.export.sample_report import outline


def _citations(report: Report) -> list[int]:
    """Every cited number in reading order, as the writers emit them (code excluded)."""
    numbers: list[int] = []

    def visit(blocks) -> None:
        for block in blocks:
            if isinstance(block, Paragraph):
                numbers.extend(n for p in block.inlines if isinstance(p, Cite) for n in p.numbers)
            elif isinstance(block, ListBlock):
                for item in block.items:
                    visit(item)
            elif isinstance(block, Table):
                for row in (block.header, *block.rows):
                    for cell in row:
                        numbers.extend(n for p in cell if isinstance(p, Cite) for n in p.numbers)
            elif hasattr(block, "blocks"):
                visit(block.blocks)

    for section in report.walk():
        visit(parse_body(section.body))
    return numbers


@pytest.fixture(scope="module")
def document(exported: dict[str, Path]) -> docx.document.Document:
    return docx.Document(str(exported["docx"]))


def test_heading_tree_equals_outline(document, report: Report) -> None:
    headings = [
        (int(p.style.name.removeprefix("Heading ")), p.text)
        for p in document.paragraphs
        if p.style.name.startswith("Heading ")
    ]
    assert headings == [*outline(report), (1, "References")]


def test_citations_link_to_reference_bookmarks(document, report: Report) -> None:
    body = document.element.body
    bookmarks = {b.get(qn("w:name")): b.getparent() for b in body.iter(qn("w:bookmarkStart"))}
    for ref in report.references:
        paragraph = bookmarks[f"ref_{ref.number}"]
        assert DocxParagraph(paragraph, document).text == f"[{ref.number}]\t{ref.label}"
    anchors = [h.get(qn("w:anchor")) for h in body.iter(qn("w:hyperlink"))]
    assert all(a in bookmarks for a in anchors if a)
    cited = [a for a in anchors if a and a.startswith("ref_")]
    assert cited == [f"ref_{n}" for n in _citations(report)]
    for link in body.iter(qn("w:hyperlink")):
        if (anchor := link.get(qn("w:anchor"), "")).startswith("ref_"):
            assert "".join(t.text for t in link.iter(qn("w:t"))) == anchor.removeprefix("ref_")


def test_contents_links_every_heading(document, report: Report) -> None:
    anchors = [h.get(qn("w:anchor")) for h in document.element.body.iter(qn("w:hyperlink"))]
    expected = ["sec_" + s.number.replace(".", "_") for s in report.walk()] + ["references"]
    assert anchors[: len(expected)] == expected


def test_markdown_structure_becomes_word_structure(document) -> None:
    styles = [p.style.name for p in document.paragraphs]
    assert styles.count("List Bullet") == 5  # three in 1.1, two in section 2
    assert styles.count("List Number 2") == 2
    assert styles.count("List Number") == 3
    code = [p.text for p in document.paragraphs if p.style.name == "Code Block"]
    assert len(code) == 1 and code[0].startswith("def heat_pump_size(")
    assert code[0].count("\n") == 2
    assert any(p.style.name == "Quote" for p in document.paragraphs)
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == [
        "Climate zone",
        "Homes",
        "Seasonal COP",
        "Source",
    ]
    assert [c.text for c in table.rows[3].cells] == ["Alpine", "143", "2.4", "handbook [2]"]
    assert all(r.bold for r in table.rows[0].cells[0].paragraphs[0].runs)
    bold = [r.text for p in document.paragraphs for r in p.runs if r.bold]
    assert "coefficient of performance" in bold and "北方清洁取暖" in bold


def test_each_numbered_list_restarts(document) -> None:
    num_ids = []
    for p in document.paragraphs:
        if p.style.name.startswith("List Number"):
            num_pr = p._p.pPr.numPr
            num_ids.append(num_pr.numId.val if num_pr is not None else None)
    # 1.1's nested list (2 items) and 1.2.1's steps (3 items): two distinct restarted lists
    assert None not in num_ids and len(set(num_ids)) == 2


@pytest.mark.parametrize(("size", "width", "height"), [("A4", 210, 297), ("Letter", 215.9, 279.4)])
def test_page_size(report: Report, size: str, width: float, height: float) -> None:
    document = docx.Document(io.BytesIO(render_docx(report, page_size=size)))
    section = document.sections[0]
    assert abs(section.page_width - Mm(width)) < Mm(0.5)
    assert abs(section.page_height - Mm(height)) < Mm(0.5)


def test_unfinished_report_is_marked(unfinished_report: Report) -> None:
    document = docx.Document(io.BytesIO(render_docx(unfinished_report)))
    texts = [p.text for p in document.paragraphs]
    assert "Unfinished draft: 6 of 7 sections written" in texts
    assert "This section has not been written yet." in texts
    assert "Unfinished draft" in document.sections[0].footer.paragraphs[0].text


def test_core_properties(document, report: Report) -> None:
    assert document.core_properties.title == report.title
    assert document.core_properties.author == "Draftwell"
