"""The run's state between steps (an immutable snapshot) and its configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Budgets and switches of one run (the CLI flags and the settings dialog set these).

    The defaults are the settings AgentCPM-Report was run with (temperature 0.7, top_p 0.8,
    2048 new tokens, a thought long enough to plan). `for_small_model` adds the guards that
    make a tiny model's output usable.
    """

    max_step: int = 140
    max_extend: int = 8
    hard_mode: bool = False
    cite_every: int = 0  # 0: off; n: a citation at least every n sentences (tiny models: 3)
    script_guard: bool = False  # grammar forbids Latin letters in a Chinese report (tiny models)
    brief_thought: bool = False  # the prompt asks for a short thought (tiny models)
    first_budget: int = 20  # passages kept by the first search (before the outline)
    later_budget: int = 10
    per_keyword: int = 20
    temperature: float = 0.7
    top_p: float = 0.8
    repeat_penalty: float = 1.0
    max_tokens: int = 2048  # write, init-plan and extend-plan (never below the grammar's need)
    max_tokens_search: int = 1024
    thought_chars: int = 4000
    keyword_chars: int = 80
    title_chars: int = 160
    plan_chars: int = 600
    sentence_chars: int = 400  # tiny write grammar only
    max_sections: int = 12  # the protocol's bound; small models get fewer
    max_subsections: int = 7
    seed: int = 0
    # The citation check (desktop.core.verify): after each write, free of LLM steps; the judge
    # (a yes/no call per doubtful claim, at most judge_budget a run) and one revision of a
    # section with flagged sentences (costs one step) are options.
    check_claims: bool = True
    judge_claims: bool = False
    judge_budget: int = 60
    revise_unsupported: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def grammar_limits(self, language: str):
        """Bounds for the grammars; a Chinese character carries about three Latin letters."""
        from desktop.core.grammars import GrammarLimits

        scale = 3 if language == "zh" else 1
        return GrammarLimits(
            thought_chars=self.thought_chars,
            keyword_chars=max(4, self.keyword_chars // scale),
            title_chars=max(8, self.title_chars // scale),
            plan_chars=max(16, self.plan_chars // scale),
            sentence_chars=max(40, self.sentence_chars // scale),
            max_sections=self.max_sections,
            max_subsections=self.max_subsections,
        )

    def budget(self, phase: str, language: str) -> int:
        """max_tokens for a phase: the setting, raised to what its grammar can need."""
        if phase == "search":
            return max(self.max_tokens_search, self._need(phase, language))
        return max(self.max_tokens, self._need(phase, language))

    def _need(self, phase: str, language: str) -> int:
        """Tokens the longest reply a JSON grammar admits takes (write is unbounded: 0)."""
        limits = self.grammar_limits(language)
        item = limits.title_chars + limits.plan_chars + 32
        chars = {
            "search": 5 * (limits.keyword_chars + 4) + 48,
            "init_plan": limits.title_chars + limits.max_sections * item + 64,
            "extend_plan": limits.max_subsections * item + 96,
        }.get(phase)
        if chars is None:
            return 0
        per_token = 1.0 if language == "zh" else 3.0  # characters per token, conservatively
        return int((limits.thought_chars + 32 + chars) / per_token)

    @staticmethod
    def from_dict(data: dict) -> RunConfig:
        known = {k: v for k, v in data.items() if k in RunConfig.__dataclass_fields__}
        return RunConfig(**known)

    @staticmethod
    def for_small_model(**overrides) -> RunConfig:
        """Guards that make a tiny model's output usable: frequent citations, fixed script,
        a short thought and short titles (its grammars cap them)."""
        base: dict[str, Any] = dict(
            cite_every=3,
            script_guard=True,
            brief_thought=True,
            repeat_penalty=1.15,
            thought_chars=120,
            keyword_chars=24,
            title_chars=48,
            plan_chars=120,
            sentence_chars=200,
            max_sections=6,
            max_subsections=4,
            max_tokens=480,
            max_tokens_search=320,
        )
        base.update(overrides)
        return RunConfig(**base)


# WARP's phases (warp.md, "State"): a closed set; desktop.core.phases says which is due.
Phase = Literal["search", "init_plan", "write", "extend_plan", "done"]
# A run's status: the engine's, the journal's (run.status) and what the CLI and GUI report.
RunStatus = Literal["created", "running", "paused", "stopped", "finished", "failed"]


@dataclass(frozen=True, slots=True)
class RunState:
    question: str
    language: str
    phase: Phase = "search"
    outline: Outline | None = None
    step: int = 0
    extend_count: int = 0
    registry: EvidenceRegistry = field(default_factory=EvidenceRegistry)
    pack: tuple[str, ...] = ()  # keys of the latest evidence pack, in rank order
    pack_for: str | None = None  # "outline" or the section id the pack was searched for
    deepen_target: str | None = None
    stop_reason: str | None = None  # "nop", "max_step", "max_extend" when done
    revise: dict | None = None  # the flagged sentences of the section being revised (verify)
    revised: tuple[str, ...] = ()  # sections already revised once (never twice)

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def planned(self) -> Outline:
        """The outline, for the phases that come after init_plan made it."""
        if self.outline is None:
            raise RuntimeError(f"phase {self.phase!r} needs the outline, and there is none yet")
        return self.outline

    @property
    def cursor_label(self) -> str:
        """`outline` before the outline exists, else the cursor's position or `none`."""
        if self.outline is None:
            return "outline"
        node = self.outline.cursor()
        return node.position if node else "none"

    def evolve(self, **changes) -> RunState:
        return replace(self, **changes)

    # The registry is journaled separately (append-only), so snapshots stay small.
    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "language": self.language,
            "phase": self.phase,
            "outline": self.outline.to_dict() if self.outline else None,
            "step": self.step,
            "extend_count": self.extend_count,
            "registry_size": len(self.registry),
            "pack": list(self.pack),
            "pack_for": self.pack_for,
            "deepen_target": self.deepen_target,
            "stop_reason": self.stop_reason,
            "revise": self.revise,
            "revised": list(self.revised),
        }

    @staticmethod
    def from_dict(data: dict, registry: EvidenceRegistry) -> RunState:
        return RunState(
            question=data["question"],
            language=data["language"],
            phase=data["phase"],
            outline=Outline.from_dict(data["outline"]) if data.get("outline") else None,
            step=int(data["step"]),
            extend_count=int(data["extend_count"]),
            registry=registry,
            pack=tuple(data.get("pack", ())),
            pack_for=data.get("pack_for"),
            deepen_target=data.get("deepen_target"),
            stop_reason=data.get("stop_reason"),
            revise=data.get("revise"),
            revised=tuple(data.get("revised", ())),
        )


def passage_to_dict(passage: Passage) -> dict:
    return asdict(passage)


def passage_from_dict(data: dict) -> Passage:
    return Passage(**{k: v for k, v in data.items() if k in Passage.__dataclass_fields__})


def registry_from_items(items: list[tuple[str, dict]]) -> EvidenceRegistry:
    """Rebuild a registry from journaled (key, passage) rows in key order."""
    by_key = {key: passage_from_dict(data) for key, data in items}
    by_fp = {p.fingerprint: key for key, p in by_key.items()}
    return EvidenceRegistry(by_key, by_fp)
