"""Markdown export: golden output, citations as anchored links, and the round trip."""

from __future__ import annotations

import os
import re

import pytest

from desktop.core.report import Report, ReportSection
from desktop.export.markdown import read_markdown, render_body, render_markdown
from tests.export.conftest import GOLDEN


def _golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def _strip_ids(sections: tuple[ReportSection, ...]) -> list[tuple]:
    return [
        (s.number, s.level, s.title, s.body.strip(), s.written, _strip_ids(s.subsections))
        for s in sections
    ]


@pytest.mark.parametrize("finished", [True, False])
def test_markdown_matches_golden(report: Report, unfinished_report: Report, finished: bool) -> None:
    chosen = report if finished else unfinished_report
    name = "sample.md" if finished else "sample-unfinished.md"
    assert render_markdown(chosen) == _golden(name, render_markdown(chosen))


@pytest.mark.parametrize("finished", [True, False])
def test_markdown_round_trips(report: Report, unfinished_report: Report, finished: bool) -> None:
    chosen = report if finished else unfinished_report
    document = read_markdown(render_markdown(chosen))
    assert document.title == chosen.title
    assert document.finished is chosen.finished
    assert _strip_ids(document.sections) == _strip_ids(chosen.sections)
    assert document.references == tuple((r.number, r.label) for r in chosen.references)


def test_every_citation_link_has_an_anchor(report: Report) -> None:
    text = render_markdown(report)
    targets = set(re.findall(r"\]\(#(ref-\d+)\)", text))
    anchors = set(re.findall(r'<a id="(ref-\d+)"></a>', text))
    assert targets == anchors == {f"ref-{n}" for n in range(1, 13)}


def test_contents_links_every_heading(report: Report) -> None:
    text = render_markdown(report)
    for section in report.walk():
        anchor = "sec-" + section.number.replace(".", "-")
        assert f'<a id="{anchor}"></a>' in text
        assert f"](#{anchor})" in text


def test_citations_inside_code_stay_plain_text() -> None:
    body = "See ⟦1⟧.\n\n```\nx = 1  # ⟦2,3⟧\n```"
    assert render_body(body) == "See [[1]](#ref-1).\n\n```\nx = 1  # [2, 3]\n```"


def test_unfinished_report_is_marked(unfinished_report: Report) -> None:
    text = render_markdown(unfinished_report)
    assert "> **Unfinished draft: 6 of 7 sections written**" in text
    assert "*This section has not been written yet.*" in text
