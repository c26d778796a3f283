"""Edit bookkeeping: optimistic preview, answers matched by identity, notes that expire."""

from __future__ import annotations

from desktop.core.commands import AddSection, DeleteSection, RenameSection
from desktop.core.outline import Outline
from desktop.gui.edits import APPLIED_TTL, EditTracker


def outline() -> Outline:
    return Outline.initial("T", [("A", "a"), ("B", "b")])


def test_preview_shows_pending_edits_and_strikes_deletions():
    tracker = EditTracker()
    tracker.queue(RenameSection("s1", "Alpha"), now=0)
    tracker.queue(DeleteSection("s2"), now=0)
    tracker.queue(AddSection("C", "c"), now=0)
    preview = tracker.preview(outline())
    assert [s.title for s in preview.outline.sections] == ["Alpha", "B", "C"]
    assert preview.struck == {"s2"} and preview.provisional == {"s3"}
    assert preview.notes["s1"].kind == "pending"


def test_answers_match_commands_by_identity_and_notes_expire():
    tracker = EditTracker()
    first, second = RenameSection("s1", "X"), RenameSection("s1", "X")
    tracker.queue(first, now=0)
    tracker.queue(second, now=0)
    before = outline()
    after = before.updated("s1", lambda s: s.__class__(s.id, "X", s.plan))
    tracker.applied(second, 3, before, after, now=1)
    assert tracker.pending == [first]
    assert tracker.notes["s1"].text == "rename · applied at step 3"
    tracker.rejected(first, "no reason", now=2)
    assert tracker.notes["s1"].kind == "rejected" and not tracker.pending
    assert not tracker.expire(now=2 + APPLIED_TTL)
    assert tracker.expire(now=1000)
    assert tracker.notes == {}


def test_an_applied_add_notes_the_new_section():
    tracker = EditTracker()
    command = AddSection("C", "c")
    tracker.queue(command, now=0)
    before = outline()
    after, _ = before.inserted(None, 5, "C", "c")
    assert tracker.applied(command, 2, before, after, now=0) == ["s3"]
    assert tracker.notes["s3"].kind == "applied"
