"""User edit commands: the pure apply function, rejections and phase re-derivation."""

import pytest

from desktop.core.commands import (
    AddSection,
    DeepenSection,
    DeleteSection,
    LockSection,
    MoveSection,
    Rejected,
    RenameSection,
    ReplanSection,
    RewriteSection,
    UnlockSection,
    apply_command,
    command_from_dict,
    command_to_dict,
)
from desktop.core.outline import Outline
from desktop.core.state import RunState


def state(phase="write", pack_for="s2") -> RunState:
    o = Outline.initial("T", [("A", "a"), ("B", "b"), ("C", "c")]).with_content("s1", "done")
    return RunState(question="q", language="en", phase=phase, outline=o, pack_for=pack_for)


def test_rename_replan_add_move_delete():
    s, msg = apply_command(state(), RenameSection("s2", "  New   B "))
    assert s.outline.get("s2").title == "New B" and msg == "renamed"
    s, _ = apply_command(s, ReplanSection("s2", "new plan"))
    assert s.outline.get("s2").plan == "new plan"
    s, msg = apply_command(s, AddSection("Sub", "p", parent_id="s1"))
    assert msg == "added section-1.1"
    s, _ = apply_command(s, MoveSection("s3", None, 0))
    assert [x.title for x in s.outline.sections] == ["C", "A", "New B"]
    s, _ = apply_command(s, DeleteSection("s1"))
    assert [x.title for x in s.outline.sections] == ["C", "New B"]


def test_rejections_have_reasons():
    with pytest.raises(Rejected, match="empty"):
        apply_command(state(), RenameSection("s2", "   "))
    with pytest.raises(Rejected, match="no section"):
        apply_command(state(), DeleteSection("s99"))
    with pytest.raises(Rejected, match="outline does not exist"):
        apply_command(RunState(question="q", language="en"), LockSection("s1"))
    locked, _ = apply_command(state(), LockSection("s1"))
    with pytest.raises(Rejected, match="unlock"):
        apply_command(locked, RewriteSection("s1"))
    unlocked, _ = apply_command(locked, UnlockSection("s1"))
    assert apply_command(unlocked, RewriteSection("s1"))


def test_edits_move_the_phase_by_the_cursor_rule():
    # Deleting the section a search was made for sends the run back to search.
    s, _ = apply_command(state(pack_for="s2"), DeleteSection("s2"))
    assert s.phase == "search"
    # Rewriting a section of a finished run restarts drafting.
    done = state(phase="done")
    done = done.evolve(outline=done.outline.with_content("s2", "x").with_content("s3", "y"))
    s, _ = apply_command(done, RewriteSection("s2"))
    assert s.phase == "search" and s.outline.cursor().section.id == "s2"
    # Deepening a finished run asks for an extension of exactly that section.
    s, _ = apply_command(done, DeepenSection("s3"))
    assert s.phase == "extend_plan" and s.deepen_target == "s3"
    # Deleting the deepen target drops it.
    s, _ = apply_command(s, DeleteSection("s3"))
    assert s.deepen_target is None


def test_commands_serialize():
    for cmd in [AddSection("t", "p", "s1", 2), MoveSection("s1", None, 0), LockSection("s2")]:
        assert command_from_dict(command_to_dict(cmd)) == cmd
