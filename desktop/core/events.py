"""Events the engine emits (past tense, immutable) and the sink they go through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from desktop.core.commands import Command
from desktop.core.outline import Outline
from desktop.core.verify import SectionCheck


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    question: str
    language: str
    resumed: bool


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: int
    phase: str
    cursor: str  # "outline", a position, or "none"
    section_id: str | None


@dataclass(frozen=True, slots=True)
class TokensStreamed:
    step: int
    phase: str
    text: str  # the new text only


@dataclass(frozen=True, slots=True)
class SearchPerformed:
    step: int
    keywords: tuple[str, ...]
    passages: int  # passages in the pack
    new_passages: int  # of those, never seen before in this run
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutlineChanged:
    outline: Outline
    reason: str  # "init-plan", "extend-plan", "write", "edit"


@dataclass(frozen=True, slots=True)
class SectionWritten:
    section_id: str
    position: str
    text: str
    trimmed: bool
    outline: Outline


@dataclass(frozen=True, slots=True)
class CitationsDropped:
    """A write cited keys that were never shown in this run; they were removed (soft mode)."""

    step: int
    position: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SectionChecked:
    """A written section's claims were checked against their cited passages (no LLM step)."""

    section_id: str
    position: str
    check: SectionCheck
    revising: bool  # the engine will rewrite the section once, naming the flagged sentences


@dataclass(frozen=True, slots=True)
class StepMetrics:
    prompt_tokens: int
    prefilled_tokens: int
    completion_tokens: int
    seconds: float
    first_token_seconds: float
    tokens_per_second: float
    model_seconds: float
    cached: bool  # answered from the run's LLM cache (resume)
    drafted_tokens: int = 0  # prompt-lookup speculation: tokens proposed and verified
    accepted_tokens: int = 0  # of those, kept


@dataclass(frozen=True, slots=True)
class StepCompleted:
    step: int
    phase: str
    next_phase: str
    metrics: StepMetrics


@dataclass(frozen=True, slots=True)
class StepFailed:
    step: int
    phase: str
    reason: str
    metrics: StepMetrics | None


@dataclass(frozen=True, slots=True)
class TimeEstimated:
    """The time to finish after a step (desktop.core.eta): seconds left and their range."""

    step: int
    seconds: float
    low: float
    high: float
    elapsed: float  # seconds since this session's run started


@dataclass(frozen=True, slots=True)
class CommandApplied:
    command: Command
    outline: Outline | None
    message: str


@dataclass(frozen=True, slots=True)
class CommandRejected:
    command: Command
    reason: str


@dataclass(frozen=True, slots=True)
class RunPaused:
    step: int


@dataclass(frozen=True, slots=True)
class RunStopped:
    step: int
    reason: str  # "stopped by user", …


@dataclass(frozen=True, slots=True)
class RunFinished:
    step: int
    stop_reason: str
    outline: Outline | None
    seconds: float = 0.0  # how long this session's run took


@dataclass(frozen=True, slots=True)
class RunFailed:
    step: int
    error: str


Event = (
    RunStarted
    | StepStarted
    | TokensStreamed
    | SearchPerformed
    | OutlineChanged
    | SectionWritten
    | CitationsDropped
    | SectionChecked
    | StepCompleted
    | StepFailed
    | TimeEstimated
    | CommandApplied
    | CommandRejected
    | RunPaused
    | RunStopped
    | RunFinished
    | RunFailed
)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class ListSink:
    """Collects events (tests, and the CLI's final summary)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]
