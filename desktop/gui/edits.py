"""Outline edits as the user sees them: pending until the engine answers, then applied or rejected.

Qt-free bookkeeping for the outline tree. Pending commands are shown optimistically (the
preview applies them with the engine's own pure `apply_command`), deletions are struck through
until the engine removes the section, and every answer leaves a short note on the section.
Commands are matched to the engine's answers by identity: the same object crosses the queue.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from desktop.core.commands import (
    AddSection,
    Command,
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
)
from desktop.core.outline import Outline
from desktop.core.state import RunState

log = logging.getLogger(__name__)

APPLIED_TTL = 90.0  # seconds an "applied" note stays on a section (a few steps)
REJECTED_TTL = 180.0

VERBS = {
    RenameSection: "rename",
    ReplanSection: "new plan",
    AddSection: "add",
    DeleteSection: "delete",
    MoveSection: "move",
    LockSection: "lock",
    UnlockSection: "unlock",
    RewriteSection: "rewrite",
    DeepenSection: "deepen",
}


def verb(command: Command) -> str:
    return VERBS[type(command)]


def target_id(command: Command) -> str | None:
    """The section a command is about (AddSection: none yet)."""
    return getattr(command, "section_id", None)


@dataclass(frozen=True, slots=True)
class EditNote:
    """What the tree shows beside a section: kind is pending, applied or rejected."""

    kind: str
    text: str  # short, for the Edits column
    at: float
    detail: str = ""  # the tooltip: why, or what happens next


@dataclass(frozen=True, slots=True)
class Preview:
    """The outline to display: engine outline plus pending edits, and how to mark rows."""

    outline: Outline | None
    struck: frozenset[str] = frozenset()  # pending deletions
    provisional: frozenset[str] = frozenset()  # rows that only exist in the preview
    notes: dict[str, EditNote] = field(default_factory=dict)


class EditTracker:
    """Pending edits and the notes the engine's answers leave (see the module docstring)."""

    def __init__(self) -> None:
        self.pending: list[Command] = []
        self.notes: dict[str, EditNote] = {}

    def clear(self) -> None:
        self.pending.clear()
        self.notes.clear()

    def queue(self, command: Command, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.pending.append(command)
        section = target_id(command)
        if section is not None:
            self.notes[section] = EditNote(
                "pending", f"{verb(command)} · pending", now, "applied before the model's next step"
            )

    def _take(self, command: Command) -> bool:
        for index, queued in enumerate(self.pending):
            if queued is command:
                del self.pending[index]
                return True
        return False

    def applied(
        self,
        command: Command,
        step: int,
        before: Outline | None,
        after: Outline | None,
        now: float | None = None,
    ) -> list[str]:
        """Record an applied edit; return the ids it concerns (new ones for AddSection)."""
        now = time.monotonic() if now is None else now
        self._take(command)
        ids = [target_id(command)] if target_id(command) else []
        if isinstance(command, AddSection) and after is not None:
            old = {n.section.id for n in before.walk()} if before else set()
            ids = [n.section.id for n in after.walk() if n.section.id not in old]
        text = f"{verb(command)} · applied at step {step}"
        for section in ids:
            self.notes[section] = EditNote("applied", text, now, "the model's next prompt shows it")
        return [i for i in ids if i]

    def rejected(self, command: Command, reason: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._take(command)
        section = target_id(command)
        if section is not None:
            self.notes[section] = EditNote("rejected", f"{verb(command)} · rejected", now, reason)

    def expire(self, now: float | None = None) -> bool:
        """Drop old answered notes; True when something changed."""
        now = time.monotonic() if now is None else now
        ttl = {"applied": APPLIED_TTL, "rejected": REJECTED_TTL}
        stale = [
            k
            for k, note in self.notes.items()
            if note.kind in ttl and now - note.at > ttl[note.kind]
        ]
        for key in stale:
            del self.notes[key]
        return bool(stale)

    def preview(self, outline: Outline | None) -> Preview:
        """Apply pending edits to the engine's outline for display."""
        if outline is None:
            return Preview(None, notes=dict(self.notes))
        state = RunState(question="", language="en", outline=outline)
        struck: set[str] = set()
        for command in self.pending:
            if isinstance(command, DeleteSection):
                struck.add(command.section_id)
                continue
            try:
                state, _ = apply_command(state, command)
            except Rejected as exc:
                log.debug("pending %s does not fit the preview: %s", verb(command), exc)
        shown = state.outline or outline
        known = {n.section.id for n in outline.walk()}
        provisional = {n.section.id for n in shown.walk()} - known
        return Preview(shown, frozenset(struck), frozenset(provisional), dict(self.notes))
