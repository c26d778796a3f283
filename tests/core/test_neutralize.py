"""Bare numbers and links to nowhere in a model's section: none survives into a report or export.

Each case is checked on the text and on what a CommonMark reader (the exporters' parser) makes of
it: no link or image may point anywhere but this run's web evidence.
"""

from __future__ import annotations

import pytest

from desktop.core.neutralize import _stray_targets, neutralize

WEB = frozenset({"https://example.org/a", "https://example.org/a b"})


@pytest.mark.parametrize(
    "text",
    [
        "see [docs][1] for more",
        "go to <https://evil.example/> now",
        "mail <someone@evil.example> now",
        "a [site][a] here\n\n[a]: https://evil.example/x",
        "a [site][] here\n\n[site]: https://evil.example/x 'title'",
        "[x](<https://e.org/a b>) kept?",
        "[a [12] b](http://x.org) nested",
        "[粒度](/_/) 三次",
        "![chart](http://tracker/img.png) here",
        "[page](https://evil.example/(x)) parens",
        '[t](https://evil.example/ "title") titled',
        "[[nested]](https://evil.example/) label",
    ],
)
def test_no_link_to_a_non_evidence_target_survives(text):
    out = neutralize(text, WEB)
    assert _stray_targets(out, WEB) == [], out
    assert "evil" not in out or "](" not in out


def test_labels_and_addresses_stay_readable():
    assert neutralize("see [docs][1] for more") == "see docs for more"
    assert neutralize("go to <https://evil.example/> now") == "go to https://evil.example/ now"
    assert neutralize("[粒度](/_/) 三次") == "粒度 三次"
    assert neutralize("![chart](http://tracker/img.png) x") == "chart x"
    out = neutralize("a [site][a] here\n\n[a]: https://evil.example/x")
    assert out == "a site here\n\na: https://evil.example/x"


def test_links_to_this_runs_web_evidence_are_kept():
    assert (
        neutralize("[the page](https://example.org/a)", WEB) == "[the page](https://example.org/a)"
    )
    assert (
        neutralize("<https://example.org/a>", WEB)
        == "[https://example.org/a](https://example.org/a)"
    )
    # An image of an evidence page becomes a link: the report never fetches a remote image.
    assert neutralize("![pic](https://example.org/a)", WEB) == "[pic](https://example.org/a)"
    spaced = neutralize("[x](<https://example.org/a b>)", WEB)
    assert spaced == "[x](<https://example.org/a b>)" and _stray_targets(spaced, WEB) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen in [12] and [3, 7].", "Seen in (12) and (3, 7)."),
        ("escaped \\[12\\] too", "escaped (12) too"),
        ("全角【12】与［3，4］", "全角（12）与（3，4）"),
        ("a range [4–6]", "a range (4–6)"),
        ("code `a[1]` stays", "code `a[1]` stays"),
        ("```\nx = y[1]\n```", "```\nx = y[1]\n```"),
        ("a [docs][2] link", "a docs link"),
    ],
)
def test_bare_numbers_never_read_as_citations(text, expected):
    assert neutralize(text) == expected


def test_citations_and_real_markdown_pass_unchanged():
    text = (
        "| Rule | Use |\n|---|---|\n| `\\toprule` | top |\n\n- one \\cite{textid1}\n"
        "1. two < three, p < 0.05 \\cite{textid2,textid3}\n\n> quoted\n\n[not a link] here"
    )
    assert neutralize(text) == text


def test_a_form_no_rewrite_foresaw_is_escaped_rather_than_kept(monkeypatch):
    import desktop.core.neutralize as module

    monkeypatch.setattr(module, "_prose", lambda part, web_urls: part)  # every rewrite missing
    module.neutralize.cache_clear()
    out = module.neutralize("see [docs](https://evil.example/) and <https://evil.example/>")
    assert _stray_targets(out, frozenset()) == []
    assert "docs" in out


def test_exports_link_only_to_evidence_pages(tmp_path):
    """End to end: a section full of tricks, through build_report, to DOCX and PDF."""
    import pymupdf
    from docx import Document

    from desktop.core.evidence import EvidenceRegistry, Passage
    from desktop.export import export_report
    from tests.helpers import one_section_report

    web = Passage("page text", "https://example.org/a", kind="web", chunk_id="w")
    registry, keys = EvidenceRegistry().with_passages([web])
    text = (
        f"See [docs][1], <https://evil.example/> and [a [12] b](http://x.org) "
        f"\\cite{{{keys[0]}}}; the [page](https://example.org/a) is real.\n\n"
        "[r]: https://evil.example/ref"
    )
    report = one_section_report(text, registry)
    docx_path = export_report(report, "docx", tmp_path / "r.docx")
    pdf_path = export_report(report, "pdf", tmp_path / "r.pdf")
    md = export_report(report, "md", tmp_path / "r.md").read_text()
    md_targets = _stray_targets(md, frozenset({"https://example.org/a"}))
    assert [t for t in md_targets if not t.startswith("#")] == [], md_targets
    rels = Document(str(docx_path)).part.rels.values()
    external = {r.target_ref for r in rels if r.is_external and "hyperlink" in r.reltype}
    assert external <= {"https://example.org/a"}, external
    with pymupdf.open(pdf_path) as pdf:
        uris = {link.get("uri") for page in pdf for link in page.get_links() if link.get("uri")}
    assert uris <= {"https://example.org/a"}, uris
    assert "(12)" in md and "evil.example" in md  # the address stays readable, as text
