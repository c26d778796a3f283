"""The report outline: an immutable tree of sections (at most three levels) and its operations.

Sections carry a stable `id` (what user edits refer to) and get a `position` such as
`section-2.1` from their place in the tree (what the model refers to). Every operation returns
a new outline; nothing here mutates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

MAX_DEPTH = 3


class OutlineError(ValueError):
    """An operation that does not fit the tree (unknown id, too deep, …)."""


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    plan: str = ""
    content: str | None = None
    subsections: tuple[Section, ...] = ()
    locked: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    """A section seen from the walk: where it is, how deep, and whether a lock covers it."""

    section: Section
    position: str  # "section-2.1"
    depth: int  # 1 for top level
    parent_id: str | None
    locked: bool  # the section or one of its ancestors is locked

    @property
    def number(self) -> str:
        return self.position.removeprefix("section-")


@dataclass(frozen=True, slots=True)
class Outline:
    title: str
    sections: tuple[Section, ...] = ()
    next_id: int = field(default=1)

    # ---- construction -------------------------------------------------------------------
    @staticmethod
    def initial(title: str, items: Sequence[tuple[str, str]]) -> Outline:
        outline = Outline(title=title)
        for item_title, plan in items:
            outline, _ = outline.inserted(None, len(outline.sections), item_title, plan)
        return outline

    def new_section(self, title: str, plan: str) -> tuple[Outline, Section]:
        section = Section(id=f"s{self.next_id}", title=title, plan=plan)
        return replace(self, next_id=self.next_id + 1), section

    # ---- reading ------------------------------------------------------------------------
    def walk(self) -> Iterator[Node]:
        """Yield every section in depth-first order (a parent before its children)."""

        def visit(sections, prefix, depth, parent_id, inherited_lock):
            for index, section in enumerate(sections, start=1):
                number = f"{prefix}.{index}" if prefix else str(index)
                locked = inherited_lock or section.locked
                yield Node(section, f"section-{number}", depth, parent_id, locked)
                yield from visit(section.subsections, number, depth + 1, section.id, locked)

        yield from visit(self.sections, "", 1, None, False)

    def node(self, section_id: str) -> Node:
        for node in self.walk():
            if node.section.id == section_id:
                return node
        raise OutlineError(f"no section with id {section_id!r}")

    def node_at(self, position: str) -> Node:
        for node in self.walk():
            if node.position == position:
                return node
        raise OutlineError(f"no section at {position!r}")

    def get(self, section_id: str) -> Section:
        return self.node(section_id).section

    def has(self, section_id: str) -> bool:
        return any(node.section.id == section_id for node in self.walk())

    def cursor(self) -> Node | None:
        """The first unlocked section, depth-first, that has no content yet."""
        for node in self.walk():
            if not node.locked and node.section.content is None:
                return node
        return None

    def current(self) -> Node:
        """The cursor, for a phase that works on it (search or write a section)."""
        node = self.cursor()
        if node is None:
            raise RuntimeError("every section is written or locked: there is no cursor")
        return node

    def expandable(self) -> list[Node]:
        """Sections the model may give subsections: shallow enough, childless, unlocked."""
        return [
            n
            for n in self.walk()
            if n.depth < MAX_DEPTH and not n.section.subsections and not n.locked
        ]

    def subtree_height(self, section: Section) -> int:
        if not section.subsections:
            return 1
        return 1 + max(self.subtree_height(s) for s in section.subsections)

    # ---- transforming -------------------------------------------------------------------
    def updated(self, section_id: str, change: Callable[[Section], Section]) -> Outline:
        found = False

        def rebuild(sections: tuple[Section, ...]) -> tuple[Section, ...]:
            nonlocal found
            out = []
            for section in sections:
                if section.id == section_id:
                    found = True
                    section = change(section)
                elif section.subsections:
                    section = replace(section, subsections=rebuild(section.subsections))
                out.append(section)
            return tuple(out)

        sections = rebuild(self.sections)
        if not found:
            raise OutlineError(f"no section with id {section_id!r}")
        return replace(self, sections=sections)

    def with_content(self, section_id: str, content: str | None) -> Outline:
        return self.updated(section_id, lambda s: replace(s, content=content))

    def expanded(self, section_id: str, items: Sequence[tuple[str, str]]) -> Outline:
        """Give a childless section new subsections (titles and plans)."""
        node = self.node(section_id)
        if node.depth >= MAX_DEPTH:
            raise OutlineError(f"{node.position} is already at the deepest level")
        outline = self
        for item_title, plan in items:
            outline, _ = outline.inserted(section_id, 10**9, item_title, plan)
        return outline

    def inserted(
        self, parent_id: str | None, index: int, title: str, plan: str
    ) -> tuple[Outline, Section]:
        """Insert a new section under `parent_id` (None: top level) at `index` (clamped)."""
        outline, section = self.new_section(title, plan)
        return outline.placed(parent_id, index, section), section

    def placed(self, parent_id: str | None, index: int, section: Section) -> Outline:
        if parent_id is None:
            sections = list(self.sections)
            sections.insert(max(0, min(index, len(sections))), section)
            return replace(self, sections=tuple(sections))
        parent = self.node(parent_id)
        if parent.depth + self.subtree_height(section) > MAX_DEPTH:
            raise OutlineError(f"{parent.position} cannot hold another level")

        def add(p: Section) -> Section:
            subs = list(p.subsections)
            subs.insert(max(0, min(index, len(subs))), section)
            return replace(p, subsections=tuple(subs))

        return self.updated(parent_id, add)

    def removed(self, section_id: str) -> Outline:
        self.node(section_id)

        def rebuild(sections: tuple[Section, ...]) -> tuple[Section, ...]:
            return tuple(
                replace(s, subsections=rebuild(s.subsections))
                for s in sections
                if s.id != section_id
            )

        return replace(self, sections=rebuild(self.sections))

    def moved(self, section_id: str, parent_id: str | None, index: int) -> Outline:
        section = self.get(section_id)
        if parent_id is not None and (
            parent_id == section_id or self._is_descendant(parent_id, section)
        ):
            raise OutlineError("a section cannot move inside itself")
        return self.removed(section_id).placed(parent_id, index, section)

    def _is_descendant(self, section_id: str, root: Section) -> bool:
        return any(
            s.id == section_id or self._is_descendant(section_id, s) for s in root.subsections
        )

    # ---- (de)serialization --------------------------------------------------------------
    def to_dict(self) -> dict:
        def dump(s: Section) -> dict:
            return {
                "id": s.id,
                "title": s.title,
                "plan": s.plan,
                "content": s.content,
                "locked": s.locked,
                "subsections": [dump(c) for c in s.subsections],
            }

        return {
            "title": self.title,
            "next_id": self.next_id,
            "sections": [dump(s) for s in self.sections],
        }

    @staticmethod
    def from_dict(data: dict) -> Outline:
        def load(d: dict) -> Section:
            return Section(
                id=d["id"],
                title=d["title"],
                plan=d.get("plan", ""),
                content=d.get("content"),
                locked=bool(d.get("locked", False)),
                subsections=tuple(load(c) for c in d.get("subsections", [])),
            )

        return Outline(
            title=data["title"],
            sections=tuple(load(s) for s in data.get("sections", [])),
            next_id=int(data.get("next_id", 1)),
        )
