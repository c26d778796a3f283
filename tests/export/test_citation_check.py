"""Exports of the citation check: DOCX comments on flagged sentences, the appendix in all three."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace

import docx
import pytest
from docx.oxml.ns import qn

from desktop.core.report import ReportClaim
from desktop.export.docx_writer import render_docx
from desktop.export.markdown import read_markdown, render_markdown
from desktop.export.pdf_writer import render_pdf
from tests.export.sample_report import sample_report

FLAGGED_BACKGROUND = "Air-source heat pumps now heat a large share of new homes."
FLAGGED_DISCUSSION = (
    "Across sources, the evidence agrees on three points: efficiency depends on climate, "
    "running cost depends on tariffs, and lifetime emissions fall well below gas boilers."
)
FLAGGED_ITEM = "grid studies that model peak load;"
SUPPORTED = (
    "Their efficiency, the coefficient of performance (COP), drops as the outdoor air gets "
    "colder, which field trials confirm at scale."
)


def checked_report(appendix: bool = True):
    claims = (
        ReportClaim(
            "1",
            "s1",
            FLAGGED_BACKGROUND,
            "unsupported",
            0.12,
            ("the cited passage says little of this",),
            "Heat pumps move heat.",
            (1,),
        ),
        ReportClaim("1", "s1", SUPPORTED, "supported", 0.9, (), "COP falls", (2, 3)),
        ReportClaim("1.1", "s2", FLAGGED_ITEM, "partial", 0.4, ("number 7 not in it",), "", (4,)),
        ReportClaim("3", "s7", FLAGGED_DISCUSSION, "partial", 0.45, (), "Tariffs.", (10, 11, 12)),
    )
    return replace(sample_report(), claims=claims, check_appendix=appendix)


def comment_anchors(document) -> dict[int, str]:
    """Comment id → the document text between its range start and end."""
    anchors: dict[int, list[str]] = {}
    open_ids: set[int] = set()
    for element in document.element.body.iter():
        if element.tag == qn("w:commentRangeStart"):
            open_ids.add(int(element.get(qn("w:id"))))
            anchors.setdefault(int(element.get(qn("w:id"))), [])
        elif element.tag == qn("w:commentRangeEnd"):
            open_ids.discard(int(element.get(qn("w:id"))))
        elif element.tag == qn("w:t"):
            for comment_id in open_ids:
                anchors[comment_id].append(element.text or "")
    return {k: "".join(v) for k, v in anchors.items()}


def test_docx_has_a_comment_anchored_on_each_flagged_sentence():
    document = docx.Document(io.BytesIO(render_docx(checked_report())))
    comments = {c.comment_id: c for c in document.comments}
    anchors = comment_anchors(document)
    assert len(comments) == 3 and set(anchors) == set(comments)
    anchored = sorted(anchors.values())
    assert anchored == sorted(
        [
            "Air-source heat pumps now heat a large share of new homes [1].",
            "grid studies that model peak load [4];",
            "Across sources, the evidence agrees on three points [10, 11, 12]: efficiency "
            "depends on climate, running cost depends on tariffs, and lifetime emissions fall "
            "well below gas boilers [12].",
        ]
    )
    first = next(c for c in comments.values() if "Heat pumps move heat" in c.text)
    assert first.author == "Draftwell"
    assert first.text.startswith("Citation check: unsupported — the cited passage says little")
    # the supported sentence has no comment, and the body text is unchanged around comments
    assert not any("efficiency, the coefficient" in a for a in anchors.values())
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Air-source heat pumps now heat a large share of new homes [1]. Their efficiency" in body


def test_docx_without_claims_has_no_comments():
    document = docx.Document(io.BytesIO(render_docx(sample_report())))
    assert list(document.comments) == []


def test_markdown_appendix_lists_claim_verdict_source_and_page():
    text = render_markdown(checked_report())
    appendix = text.split("## Citation check", 1)[1]
    assert "4 claims · 25% supported · 2 partial · 1 unsupported" in appendix
    rows = [line for line in appendix.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Section | Claim | Verdict | Source | Page |"
    assert rows[1] == (
        f"| 1 | {FLAGGED_BACKGROUND} | **unsupported** | [[1]](#ref-1) heat-pumps-2023.pdf | 4 |"
    )
    assert "| 1.1 | grid studies that model peak load; | **partly supported** |" in rows[3]
    assert "| supported |" in rows[2] and "17" in rows[2]
    # the appendix does not disturb reading the report back
    assert len(read_markdown(text).references) == 12
    assert "## Citation check" not in render_markdown(checked_report(appendix=False))


def test_docx_appendix_is_a_table():
    document = docx.Document(io.BytesIO(render_docx(checked_report())))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings[-1] == "Citation check"
    table = document.tables[-1]
    assert [c.text for c in table.rows[0].cells] == [
        "Section",
        "Claim",
        "Verdict",
        "Source",
        "Page",
    ]
    assert [c.text for c in table.rows[1].cells] == [
        "1",
        FLAGGED_BACKGROUND,
        "unsupported",
        "[1] heat-pumps-2023.pdf",
        "4",
    ]


@pytest.mark.skipif(
    subprocess.run(["which", "pdftotext"], capture_output=True).returncode != 0,
    reason="pdftotext (poppler-utils) missing",
)
def test_pdf_appendix(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(render_pdf(checked_report()))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    appendix = text.rsplit("Citation check", 1)[1]
    assert "25% supported" in appendix and "partly" in appendix  # narrow cells wrap words
    assert "heat-pumps-2023.pdf" in appendix and "unsupported" in appendix
