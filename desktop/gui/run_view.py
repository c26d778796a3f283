"""The run the window shows, as an immutable value, and the pure reducer that updates it.

`RunView.apply(event)` returns the view after one event: an engine event (desktop.core.events),
one of the engine worker's messages (`RunOpened`, `RunEnded`, `EvidenceUpdated`, defined here so
that they need no Qt), or one of the user's requests (`StartRequested`, `ResumeRequested`,
`PauseRequested`, `UnpauseRequested`, `StopRequested`). It has no side effects; the main window
keeps `view = view.apply(event)` and renders the result, and the presenter (presenter.py) maps
a view to the window's mode and enabled actions.

The run's status is `RunStatus`, the vocabulary of the engine, the journal and the CLI. What is
only the window's (a run being started here, a pause or stop asked for and not yet in effect, a
run shown read-only) are separate flags, so that the status never takes a fourth vocabulary.

Nothing here imports PySide6 (tests/test_run_view.py checks it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import get_args

from desktop.core.eta import time_left_text
from desktop.core.events import (
    CommandApplied,
    OutlineChanged,
    RunFailed,
    RunPaused,
    RunStarted,
    SectionChecked,
    SectionWritten,
    StepCompleted,
    StepStarted,
    TimeEstimated,
    TokensStreamed,
)
from desktop.core.evidence import EvidenceRegistry
from desktop.core.outline import Outline
from desktop.core.state import RunState, RunStatus
from desktop.core.verify import SectionCheck

# What a journal's run may be besides a RunStatus: live in a process that is gone (RunInfo).
INTERRUPTED = "interrupted"
# Statuses of a run from the journal that this window may resume (the others are read-only).
RESUMABLE = (INTERRUPTED, "stopped", "failed", "paused", "created")


# ---- the engine worker's messages (sent by desktop.gui.engine_worker and bridge) ------------
@dataclass(frozen=True, slots=True)
class RunOpened:
    """The session exists: its id and what the status bar shows."""

    run_id: str
    question: str
    model: str
    max_step: int
    step: int
    resumed: bool
    sources: tuple[str, ...]
    language: str


@dataclass(frozen=True, slots=True)
class RunEnded:
    """The run is over for now: `status` is finished, stopped or failed.

    `at` is when it ended (time.monotonic, taken by the worker), so the reducer stays pure.
    """

    run_id: str | None
    status: RunStatus
    message: str
    stop_latency: float | None  # seconds from Stop to the end, when stopped
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class EvidenceUpdated:
    """The run's evidence registry grew (sent by the GUI sink, not the engine)."""

    registry: EvidenceRegistry


# ---- the user's requests (the window applies them when it acts on them) ---------------------
@dataclass(frozen=True, slots=True)
class StartRequested:
    """A new run was asked for: `created` is wall time (the report's date), `at` monotonic."""

    question: str
    sources: tuple[str, ...]
    model: str
    created: float
    at: float


@dataclass(frozen=True, slots=True)
class ResumeRequested:
    """The shown (stopped, failed or interrupted) run is being resumed from `at` (monotonic)."""

    at: float


@dataclass(frozen=True, slots=True)
class PauseRequested:
    """Pause after the current step was asked for (in effect once RunPaused arrives)."""


@dataclass(frozen=True, slots=True)
class UnpauseRequested:
    """A paused run was told to go on."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """Stop was asked for (in effect once RunEnded arrives)."""


@dataclass(frozen=True, slots=True)
class RunView:
    """The run the window shows (see the module docstring); replaced, never mutated."""

    run_id: str | None = None
    question: str = ""
    language: str = "en"
    model: str = ""
    created: float = 0.0  # wall time the run was created (the report's date)
    sources: tuple[str, ...] = ()
    outline: Outline | None = None
    registry: EvidenceRegistry = field(default_factory=EvidenceRegistry)
    step: int = 0
    max_step: int = 0
    active_id: str | None = None
    active_phase: str | None = None
    status: RunStatus = "created"
    stream_step: int = -1
    stream_raw: str = ""
    started_at: float | None = None  # monotonic: this session's part of the run
    ended_at: float | None = None
    failure_logged: bool = False  # a RunFailed was logged (the window need not log it again)
    tokens_per_second: float | None = None
    checks: tuple[SectionCheck, ...] = ()  # SectionChecks of the run, oldest first
    time_left: str = ""  # the latest time-to-finish estimate (desktop.core.eta)
    # The window's own part (not a status): a run this window's worker owns, its session
    # opened, a pause or stop asked for and not yet over, a run shown that cannot be resumed.
    live: bool = False
    opened: bool = False
    pause_requested: bool = False
    stop_requested: bool = False
    read_only: bool = False

    @classmethod
    def of_journal(
        cls,
        *,
        run_id: str,
        status: str,
        model: str,
        created: float,
        sources: tuple[str, ...],
        state: RunState,
        max_step: int,
        checks: tuple[SectionCheck, ...] = (),
    ) -> RunView:
        """A run read from its journal (status as RunInfo gives it: a RunStatus or
        "interrupted"); read-only unless it is one this window may resume."""
        return cls(
            run_id=run_id,
            question=state.question,
            language=state.language,
            model=model,
            created=created,
            sources=tuple(sources),
            outline=state.outline,
            registry=state.registry,
            step=state.step,
            max_step=max_step,
            status=journal_status(status),
            checks=tuple(checks),
            read_only=status == "finished" or status not in RESUMABLE,
        )

    def apply(self, event: object) -> RunView:
        """The view after `event`; unknown events leave it as it is."""
        return apply(self, event)


def journal_status(status: str) -> RunStatus:
    """A RunInfo status as a RunStatus: an interrupted run is one that stopped."""
    if status == INTERRUPTED:
        return "stopped"
    if status not in get_args(RunStatus):
        raise ValueError(f"unknown run status {status!r}")
    return status  # type: ignore[return-value]


def apply(view: RunView, event: object) -> RunView:
    """The pure reducer behind `RunView.apply`."""
    match event:
        case TokensStreamed(step, phase, text):
            return _streamed(view, step, phase, text)
        case StepStarted(step, phase, _, section_id):
            return replace(
                view,
                step=step,
                active_id=section_id,
                active_phase=phase,
                stream_raw="",
                stream_step=step,
            )
        case OutlineChanged(outline, _) | SectionWritten(_, _, _, _, outline):
            return replace(view, outline=outline)
        case SectionChecked(_, _, check, _):
            return replace(view, checks=(*view.checks, check))
        case StepCompleted(step, _, _, metrics):
            speed = view.tokens_per_second if metrics.cached else metrics.tokens_per_second
            return replace(view, step=step, tokens_per_second=speed, active_phase=None)
        case TimeEstimated(_, seconds, low, high, _):
            return replace(view, time_left=time_left_text(seconds, low, high))
        case EvidenceUpdated(registry):
            return replace(view, registry=registry)
        case CommandApplied(_, outline, _) if outline is not None:
            return replace(view, outline=outline)
        case RunPaused():
            return replace(view, status="paused")
        case RunStarted():
            return replace(view, status="running")
        case RunFailed():
            return replace(view, failure_logged=True)
        case RunOpened():
            return _opened(view, event)
        case RunEnded():
            return _ended(view, event)
        case _:
            return _requested(view, event)


def _requested(view: RunView, event: object) -> RunView:
    match event:
        case StartRequested(question, sources, model, created, at):
            return RunView(
                question=question,
                sources=sources,
                model=model,
                created=created,
                started_at=at,
                live=True,
            )
        case ResumeRequested(at):
            return replace(
                view,
                started_at=at,
                ended_at=None,
                failure_logged=False,
                time_left="",
                live=True,
                opened=False,
                pause_requested=False,
                stop_requested=False,
            )
        case PauseRequested():
            return replace(view, pause_requested=True)
        case UnpauseRequested():
            return replace(view, pause_requested=False, status="running")
        case StopRequested():
            return replace(view, stop_requested=True)
    return view


def _streamed(view: RunView, step: int, phase: str, text: str) -> RunView:
    """Only the write phase streams into the draft; a new step starts a new paragraph."""
    if phase != "write":
        return view
    raw = view.stream_raw if step == view.stream_step else ""
    return replace(view, stream_step=step, stream_raw=raw + text)


def _opened(view: RunView, opened: RunOpened) -> RunView:
    return replace(
        view,
        run_id=opened.run_id,
        question=opened.question,
        model=opened.model,
        max_step=opened.max_step,
        step=opened.step,
        sources=opened.sources,
        language=opened.language,
        opened=True,
    )


def _ended(view: RunView, ended: RunEnded) -> RunView:
    return replace(
        view,
        run_id=ended.run_id or view.run_id,
        status=ended.status,
        active_id=None,
        active_phase=None,
        ended_at=ended.at,
        live=False,
        opened=False,
        pause_requested=False,
        stop_requested=False,
    )
