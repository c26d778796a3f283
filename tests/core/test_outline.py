"""Outline tree: positions, the cursor rule, locks, expansion and edits."""

import pytest

from desktop.core.outline import Outline, OutlineError


def outline3() -> Outline:
    return Outline.initial("T", [("A", "a"), ("B", "b"), ("C", "c")])


def test_positions_are_depth_first_and_ids_stable():
    o = outline3()
    o = o.expanded(o.sections[1].id, [("B1", "b1"), ("B2", "b2")])
    assert [(n.position, n.section.title) for n in o.walk()] == [
        ("section-1", "A"),
        ("section-2", "B"),
        ("section-2.1", "B1"),
        ("section-2.2", "B2"),
        ("section-3", "C"),
    ]
    assert o.node_at("section-2.2").section.id == "s5"


def test_cursor_is_first_unwritten_parent_before_children():
    o = outline3()
    assert o.cursor().position == "section-1"
    o = o.with_content("s1", "text")
    assert o.cursor().position == "section-2"
    o = o.expanded("s1", [("A1", "a1")])
    assert o.cursor().section.title == "A1"  # first new subsection comes first


def test_cursor_skips_locked_subtrees_and_is_none_when_all_written():
    o = outline3().expanded("s2", [("B1", "b1")])
    o = o.updated(
        "s2",
        lambda s: s.__class__(
            **{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "locked": True}
        ),
    )
    o = o.with_content("s1", "x")
    assert o.cursor().section.title == "C"
    o = o.with_content("s3", "y")
    assert o.cursor() is None


def test_expandable_excludes_deep_locked_and_parents():
    o = outline3().expanded("s1", [("A1", "a1")])
    o = o.expanded("s4", [("A1a", "x")])
    positions = [n.position for n in o.expandable()]
    assert "section-1" not in positions and "section-1.1" not in positions
    assert "section-1.1.1" not in positions  # third level cannot be expanded
    assert positions == ["section-2", "section-3"]
    with pytest.raises(OutlineError):
        o.expanded("s5", [("too deep", "x")])


def test_move_and_remove_and_roundtrip():
    o = outline3().expanded("s2", [("B1", "b1")])
    o = o.moved("s3", "s2", 0)
    assert [n.position for n in o.walk() if n.section.id == "s3"] == ["section-2.1"]
    with pytest.raises(OutlineError):
        o.moved("s2", "s3", 0)  # into its own child
    o = o.removed("s1")
    assert o.sections[0].title == "B"
    assert Outline.from_dict(o.to_dict()) == o
