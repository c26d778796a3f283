"""Evidence registry keys and the per-keyword quota merge."""

from desktop.core.evidence import EvidenceRegistry, Passage, quota_merge


def p(name: str) -> Passage:
    return Passage(text=f"text of {name}", source="/d.pdf", page=1, chunk_id=name)


def test_same_text_same_key_across_searches():
    reg, keys = EvidenceRegistry().with_passages([p("a"), p("b")])
    reg, keys2 = reg.with_passages([p("b"), p("c"), Passage("text   of a", "/other.pdf", 3)])
    assert keys == ["textid1", "textid2"]
    assert keys2 == ["textid2", "textid3", "textid1"]
    assert len(reg) == 3


def test_quota_gives_each_keyword_its_share_then_round_robin():
    r1 = [p(f"a{i}") for i in range(20)]
    r2 = [p(f"b{i}") for i in range(2)]
    r3 = [p(f"c{i}") for i in range(20)]
    merged = quota_merge([r1, r2, r3], 10)
    names = [x.chunk_id for x in merged]
    assert names[:3] == ["a0", "a1", "a2"]
    assert names[3:5] == ["b0", "b1"]
    assert names[5:8] == ["c0", "c1", "c2"]
    assert names[8:] == ["a3", "c3"]  # leftovers round-robin (b is exhausted)


def test_quota_dedupes_and_respects_first_budget():
    shared = p("shared")
    merged = quota_merge([[shared] + [p(f"a{i}") for i in range(30)], [shared, p("b")]], 20)
    assert len(merged) == 20
    assert [x.chunk_id for x in merged].count("shared") == 1
    assert quota_merge([], 10) == [] and quota_merge([[p("x")]], 0) == []


def test_quota_merge_dedups_while_picking_so_each_keyword_keeps_its_best_hits():
    def p(name: str) -> Passage:
        return Passage(name, "/d.pdf", page=1, chunk_id=name)

    # "b1" and "b2" are keyword B's best hits but also sit deep in keyword A's ranking.
    a = [p(f"a{i}") for i in range(1, 8)] + [p("b1"), p("b2")]
    b = [p("b1"), p("b2"), p("b3")]
    merged = quota_merge([a, b], 4)
    assert [x.text for x in merged] == ["a1", "a2", "b1", "b2"]
    assert len({x.fingerprint for x in quota_merge([a, b, a], 9)}) == 9


def test_report_neutralizes_bare_numbers_and_links_outside_code():
    from tests.helpers import one_section_report

    web = Passage("page text", "https://example.org/a", kind="web", chunk_id="w")
    registry, keys = EvidenceRegistry().with_passages([web])
    text = (
        f"Seen in [12] and [3, 7] \\cite{{{keys[0]}}}; see [the page](https://example.org/a) "
        "and [粒度](/_/), ![x](http://tracker/img.png). Code `a[1]` stays."
    )
    report = one_section_report(text, registry)
    body = report.sections[0].body
    assert "(12)" in body and "(3, 7)" in body and "⟦1⟧" in body
    assert "[the page](https://example.org/a)" in body
    assert "粒度" in body and "](/_/)" not in body and "tracker" not in body
    assert "`a[1]`" in body
