"""What the window shows for a run view: its mode, the enabled actions, the status-bar text.

Pure functions of a `RunView` (run_view.py) and a few facts about the rest of the window
(`WindowFacts`: the question typed, the documents ticked, whether the library is ready and the
engine worker busy). The main window renders the decisions and acts only when they allow it;
tests check them without Qt (tests/test_presenter.py). Nothing here imports PySide6.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from desktop.core.usage import format_duration
from desktop.gui.run_view import RunEnded, RunView


class Mode(Enum):
    """What the window is doing; decides which actions are enabled."""

    IDLE = "idle"  # nothing loaded
    LOADING = "loading"  # a run is being started or resumed
    RUNNING = "running"
    PAUSED = "paused"  # pause asked for or in effect
    STOPPING = "stopping"
    STOPPED = "stopped"  # a resumable run is shown
    FINISHED = "finished"  # read-only
    FAILED = "failed"


ACTIVE = (Mode.LOADING, Mode.RUNNING, Mode.PAUSED, Mode.STOPPING)
STATUS_TEXT = {
    Mode.IDLE: "Ready",
    Mode.LOADING: "Starting…",
    Mode.RUNNING: "Running",
    Mode.PAUSED: "Paused",
    Mode.STOPPING: "Stopping…",
    Mode.STOPPED: "Stopped — Resume continues it",
    Mode.FINISHED: "Finished",
    Mode.FAILED: "Failed",
}
START_TIP = "Start researching the question (Ctrl+Enter)"
DEMO_TIP = (
    "The embedded model only demonstrates the pipeline: click to download "
    "AgentCPM-Report or to choose another model"
)
MODEL_TIP = "The model that answers: click to manage models"


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """What enablement depends on besides the run."""

    question: str = ""  # the question as typed (whitespace collapsed)
    sources: int = 0  # documents ticked in the library
    library_ready: bool = False
    worker_busy: bool = False  # the engine worker owns a run (RunController.active)


@dataclass(frozen=True, slots=True)
class Actions:
    """Which of the window's actions are enabled, and what Start's tooltip says."""

    start: bool
    pause: bool
    resume: bool
    stop: bool
    export: bool
    new: bool
    open: bool
    question_read_only: bool
    start_tip: str


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the model label depends on besides the run."""

    label: str  # the settings' model (shown before a run names its own)
    embedded_active: bool  # no GGUF and no server chosen: the embedded demo model answers
    embedded_file: str = ""  # the embedded GGUF's file name (what a run on it records)


@dataclass(frozen=True, slots=True)
class StatusLine:
    """The status bar's permanent labels (the elapsed time ticks apart: `elapsed_text`)."""

    state: str
    model: str
    model_tip: str
    step: str
    speed: str
    eta: str


@dataclass(frozen=True, slots=True)
class EndNotice:
    """What the window says when a run ends for now."""

    message: str  # for the status bar ("": none)
    message_ms: int
    title: str  # a desktop notification (when the run took long enough; "": none)
    text: str
    failure: str = ""  # the error, for a warning box ("": the run did not fail)


def mode_of(view: RunView) -> Mode:
    """The window's mode for a view."""
    if view.live:
        if view.stop_requested:
            return Mode.STOPPING
        if view.pause_requested or view.status == "paused":
            return Mode.PAUSED
        return Mode.RUNNING if view.opened else Mode.LOADING
    if view.read_only:
        return Mode.FINISHED
    match view.status:
        case "finished":
            return Mode.FINISHED
        case "failed":
            return Mode.FAILED
    if view.run_id is None:
        return Mode.IDLE  # nothing yet, or stopped before the run had a journal
    return Mode.STOPPED


def editable(view: RunView) -> bool:
    """Whether outline edits are accepted (queued now, or applied on resume)."""
    mode = mode_of(view)
    return view.outline is not None and mode not in (Mode.IDLE, Mode.FINISHED, Mode.STOPPING)


def resume_kind(view: RunView, facts: WindowFacts) -> Literal["unpause", "resume"] | None:
    """What Resume does now: let a paused run go on, resume a shown run, or nothing."""
    mode = mode_of(view)
    if mode == Mode.PAUSED and facts.worker_busy:
        return "unpause"
    if view.run_id is not None and mode in (Mode.STOPPED, Mode.FAILED) and not facts.worker_busy:
        return "resume"
    return None


def can_pause(view: RunView) -> bool:
    return mode_of(view) in (Mode.LOADING, Mode.RUNNING)


def can_stop(view: RunView) -> bool:
    return mode_of(view) in (Mode.LOADING, Mode.RUNNING, Mode.PAUSED)


def can_start(view: RunView, facts: WindowFacts) -> bool:
    return (
        not facts.worker_busy
        and mode_of(view) not in ACTIVE
        and bool(facts.question)
        and facts.library_ready
        and facts.sources > 0
    )


def why_not_start(facts: WindowFacts) -> str:
    """Start's tooltip when it is disabled: the first thing missing."""
    if not facts.sources:
        return "Add documents to the library (and tick them) first"
    if not facts.question:
        return "Type a research question first"
    return START_TIP


def actions_for(view: RunView, facts: WindowFacts) -> Actions:
    """The enabled actions for a view and the window's facts."""
    mode, busy = mode_of(view), facts.worker_busy
    start = can_start(view, facts)
    return Actions(
        start=start,
        pause=can_pause(view),
        resume=resume_kind(view, facts) is not None,
        stop=can_stop(view),
        export=view.outline is not None,
        new=not busy,
        open=not busy,
        question_read_only=mode in ACTIVE,
        start_tip=why_not_start(facts) if not start and not busy else START_TIP,
    )


def state_text(view: RunView) -> str:
    mode = mode_of(view)
    if mode == Mode.PAUSED and view.status != "paused":
        return "Pausing after the current step…"
    return STATUS_TEXT[mode]


def status_line(view: RunView, model: ModelFacts) -> StatusLine:
    """The status bar's labels for a view."""
    name = view.model or model.label
    demo = model.embedded_active and view.model in ("", model.embedded_file)
    speed = view.tokens_per_second
    running = mode_of(view) in (Mode.RUNNING, Mode.PAUSED)
    return StatusLine(
        state=state_text(view),
        model=f"{name} — demo only" if demo else name,
        model_tip=DEMO_TIP if demo else MODEL_TIP,
        step=f"Step {view.step} / {view.max_step}" if view.max_step else "",
        speed=f"{speed:.1f} tok/s" if speed else "",
        eta=view.time_left if running else "",
    )


def elapsed_text(view: RunView, now: float) -> str:
    """'0:03:07': this session's time on the run (stopped at its end); "" before a start."""
    started = view.started_at
    if started is None:
        return ""
    seconds = int((view.ended_at or now) - started)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def network_text(offline: bool, web_search: bool) -> tuple[str, str]:
    """The network label and its tooltip: offline mode is shown at all times."""
    if offline:
        return "● Offline", (
            "Offline mode: nothing leaves this computer (no web search, no downloads). "
            "Edit → Settings to change it."
        )
    web = "web search on" if web_search else "web search off"
    return f"Online ({web})", "Offline mode is off (Edit → Settings to change it)."


def took_text(view: RunView) -> str:
    """'Took 1 h 05 min' for the run that just ended (this session's part of it), or ""."""
    started, ended = view.started_at, view.ended_at
    if started is None or ended is None:
        return ""
    return f"Took {format_duration(ended - started)}"


def end_notice(view: RunView, ended: RunEnded) -> EndNotice:
    """The status-bar message, notification and warning for a run that ended (view: after)."""
    match ended.status:
        case "finished":
            return EndNotice(
                "The research is finished. File → Export… saves the report.",
                15000,
                "Research finished",
                f"{view.question[:120]}\n{took_text(view)}",
            )
        case "stopped":
            return EndNotice(
                "Stopped. Resume continues from the last completed step.", 10000, "", ""
            )
    failure = ended.message or "unknown error"
    return EndNotice("", 0, "Research failed", failure, failure=failure)
