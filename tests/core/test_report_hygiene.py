"""Reference hygiene: a passage found in two files is one source; no uncited reference."""

from desktop.core.evidence import EvidenceRegistry, Passage, quota_merge
from desktop.core.outline import Outline
from desktop.core.report import build_report, split_citations

TEXT = "Heat pumps move heat from the outside air into the house."


def report_of(registry, content):
    outline = Outline.initial("T", [("A", "a"), ("B", "b")]).with_content("s1", content)
    return build_report(
        outline,
        registry,
        question="Q",
        created="2025-01-01",
        model="m",
        finished=True,
        language="en",
    )


def test_the_same_passage_from_a_copy_and_a_mirror_is_cited_once():
    original = Passage(TEXT, "/docs/heat.pdf", page=3)
    copy = Passage(TEXT, "/backup/heat (copy).pdf", page=3)
    # a mirror whose text extraction differs in ligatures, hyphenation, case and spacing
    mirror = Passage(
        "Heat pumps move heat from the out-\nside air into the house.".replace("fi", "ﬁ"),
        "/mirror/heat.pdf",
        page=4,
    )
    assert original.fingerprint == copy.fingerprint == mirror.fingerprint
    merged = quota_merge([[original, copy], [mirror]], 10)
    assert merged == [original]  # retrieval hands the writer one passage, not three
    registry, keys = EvidenceRegistry().with_passages([original, copy, mirror])
    assert keys == ["textid1", "textid1", "textid1"]
    report = report_of(registry, "Heat pumps move heat \\cite{textid1, textid1}.")
    assert [r.label for r in report.references] == ["heat.pdf, p. 3"]


def test_different_passages_stay_apart():
    a = Passage("Heat pumps move heat.", "/d/a.pdf", page=1)
    b = Passage("Heat pumps move no heat.", "/d/a.pdf", page=1)
    assert a.fingerprint != b.fingerprint


def test_the_reference_list_shows_only_cited_sources():
    registry, _ = EvidenceRegistry().with_passages(
        [Passage(f"Passage {n} text.", f"/d/{n}.pdf", page=n) for n in range(1, 6)]
    )
    # textid2 and textid5 are retrieved but never cited; textid9 does not exist
    report = report_of(
        registry, "One \\cite{textid3}. Two \\cite{textid1, textid9}. Three \\cite{textid3}."
    )
    assert [r.label for r in report.references] == ["3.pdf, p. 3", "1.pdf, p. 1"]
    cited = {
        n
        for section in report.walk()
        for part in split_citations(section.body)
        if isinstance(part, tuple)
        for n in part
    }
    assert cited == {r.number for r in report.references} == {1, 2}
