"""User edits to a running report (imperative, immutable) and the pure function applying them.

The GUI and the CLI queue commands; the engine applies them between steps with
`apply_command`, which returns the new state or raises `Rejected`. User edits win over the
model: the next prompt sees them, and the cursor rule places written and unwritten sections
without special cases.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, assert_never

from desktop.core.outline import MAX_DEPTH, Outline, OutlineError
from desktop.core.phases import settle

if TYPE_CHECKING:
    from desktop.core.state import RunState


class Rejected(ValueError):
    """The command does not fit the current state; the message says why."""


@dataclass(frozen=True, slots=True)
class RenameSection:
    section_id: str
    title: str


@dataclass(frozen=True, slots=True)
class ReplanSection:
    section_id: str
    plan: str


@dataclass(frozen=True, slots=True)
class AddSection:
    """Add a section under `parent_id` (None: top level) at `index` (None: at the end)."""

    title: str
    plan: str
    parent_id: str | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteSection:
    section_id: str


@dataclass(frozen=True, slots=True)
class MoveSection:
    section_id: str
    parent_id: str | None
    index: int


@dataclass(frozen=True, slots=True)
class LockSection:
    section_id: str


@dataclass(frozen=True, slots=True)
class UnlockSection:
    section_id: str


@dataclass(frozen=True, slots=True)
class RewriteSection:
    section_id: str


@dataclass(frozen=True, slots=True)
class DeepenSection:
    section_id: str


Command = (
    RenameSection
    | ReplanSection
    | AddSection
    | DeleteSection
    | MoveSection
    | LockSection
    | UnlockSection
    | RewriteSection
    | DeepenSection
)


def command_to_dict(command: Command) -> dict:
    data = {f: getattr(command, f) for f in command.__dataclass_fields__}
    return {"type": type(command).__name__, **data}


def command_from_dict(data: dict) -> Command:
    kinds = {cls.__name__: cls for cls in Command.__args__}
    fields = dict(data)
    cls = kinds[fields.pop("type")]
    return cls(**fields)


def _text(value: str, what: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise Rejected(f"the {what} cannot be empty")
    return value


def _unlocked(outline: Outline, section_id: str, verb: str) -> None:
    if outline.node(section_id).locked:
        raise Rejected(f"unlock the section before you {verb} it")


def _edit(outline: Outline, command: Command) -> tuple[Outline, str]:
    match command:
        case RenameSection(section_id, title):
            title = _text(title, "title")
            return outline.updated(section_id, lambda s: replace(s, title=title)), "renamed"
        case ReplanSection(section_id, plan):
            plan = _text(plan, "plan")
            return outline.updated(section_id, lambda s: replace(s, plan=plan)), "re-planned"
        case AddSection(title, plan, parent_id, index):
            title, plan = _text(title, "title"), _text(plan or title, "plan")
            if parent_id is not None and outline.node(parent_id).depth >= MAX_DEPTH:
                raise Rejected("a section three levels deep cannot have subsections")
            position = 10**9 if index is None else index
            outline, section = outline.inserted(parent_id, position, title, plan)
            return outline, f"added {outline.node(section.id).position}"
        case DeleteSection(section_id):
            return outline.removed(section_id), "deleted"
        case MoveSection(section_id, parent_id, index):
            return outline.moved(section_id, parent_id, index), "moved"
        case LockSection(section_id):
            return outline.updated(section_id, lambda s: replace(s, locked=True)), "locked"
        case UnlockSection(section_id):
            return outline.updated(section_id, lambda s: replace(s, locked=False)), "unlocked"
        case RewriteSection(section_id):
            _unlocked(outline, section_id, "rewrite")
            return outline.with_content(section_id, None), "cleared for rewriting"
        case DeepenSection(section_id):
            node = outline.node(section_id)
            _unlocked(outline, section_id, "deepen")
            if node.depth >= MAX_DEPTH:
                raise Rejected("a section three levels deep cannot be deepened")
            if node.section.subsections:
                raise Rejected("the section already has subsections")
            return outline, "will be deepened by the next extension"
        case _:
            assert_never(command)


def apply_command(state: RunState, command: Command) -> tuple[RunState, str]:
    """Apply one edit to a state; raise `Rejected` with a reason when it does not fit."""
    if state.outline is None:
        raise Rejected("the outline does not exist yet")
    try:
        outline, message = _edit(state.outline, command)
    except OutlineError as exc:
        raise Rejected(str(exc)) from exc
    state = state.evolve(outline=outline)
    if isinstance(command, DeepenSection):
        state = state.evolve(deepen_target=command.section_id)
    elif state.deepen_target is not None and not _still_deepenable(outline, state.deepen_target):
        state = state.evolve(deepen_target=None)
    return normalize_phase(state), message


def _still_deepenable(outline: Outline, section_id: str) -> bool:
    return any(n.section.id == section_id for n in outline.expandable())


def normalize_phase(state: RunState) -> RunState:
    """Re-derive the phase after an edit, so the cursor rule decides what happens next
    (`desktop.core.phases.next_phase` without budgets: those are the engine's to apply).

    A search with nothing left to search for (the user locked or deleted the last unwritten
    section) moves on to extension, as a write of that section would have."""
    return settle(state, None)


class CommandQueue:
    """Unbounded FIFO from the GUI (or a test) to the engine; drained between steps."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()

    def put(self, command: Command) -> None:
        self._queue.put(command)

    def drain(self) -> list[Command]:
        commands = []
        while True:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                return commands
