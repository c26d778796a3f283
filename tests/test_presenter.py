"""The window's modes, enabled actions and status text, decided without Qt."""

from __future__ import annotations

import pytest

from desktop.core.events import RunPaused, RunStarted, TimeEstimated
from desktop.core.outline import Outline
from desktop.gui import presenter
from desktop.gui.presenter import Mode, ModelFacts, WindowFacts
from desktop.gui.run_view import (
    PauseRequested,
    ResumeRequested,
    RunEnded,
    RunOpened,
    RunView,
    StartRequested,
    StopRequested,
    UnpauseRequested,
)
from tests.test_run_view import qt_loaded_after_importing

READY = WindowFacts(question="Why?", sources=2, library_ready=True, worker_busy=False)
BUSY = WindowFacts(question="Why?", sources=2, library_ready=True, worker_busy=True)
OUTLINE = Outline.initial("Energy", [("Solar", "Cover solar.")])


def opened(run_id: str = "r1") -> RunOpened:
    return RunOpened(run_id, "Why?", "model.gguf", 40, 0, False, ("a.pdf",), "en")


def live() -> RunView:
    """A run started in this window, its session open, the engine running."""
    view = RunView().apply(StartRequested("Why?", ("a.pdf",), "m", 1.0, 10.0))
    return view.apply(opened()).apply(RunStarted("r1", "Why?", "en", False))


def stopped() -> RunView:
    return live().apply(StopRequested()).apply(RunEnded("r1", "stopped", "", 0.1, at=20.0))


def test_the_presenter_module_needs_no_qt():
    assert not qt_loaded_after_importing("desktop.gui.presenter")


def test_a_run_goes_through_the_modes_the_window_shows():
    view = RunView()
    assert presenter.mode_of(view) == Mode.IDLE
    view = view.apply(StartRequested("Why?", ("a.pdf",), "m", 1.0, 10.0))
    assert presenter.mode_of(view) == Mode.LOADING
    view = view.apply(opened())
    assert presenter.mode_of(view) == Mode.RUNNING
    view = view.apply(PauseRequested())
    assert presenter.mode_of(view) == Mode.PAUSED
    assert presenter.state_text(view) == "Pausing after the current step…"
    view = view.apply(RunPaused(3))
    assert presenter.state_text(view) == "Paused"
    view = view.apply(UnpauseRequested())
    assert (presenter.mode_of(view), view.status) == (Mode.RUNNING, "running")
    view = view.apply(StopRequested())
    assert presenter.mode_of(view) == Mode.STOPPING
    assert presenter.mode_of(view.apply(RunPaused(4))) == Mode.STOPPING  # stop wins
    view = view.apply(RunEnded("r1", "stopped", "", 0.3))
    assert presenter.mode_of(view) == Mode.STOPPED
    view = view.apply(ResumeRequested(30.0))
    assert presenter.mode_of(view) == Mode.LOADING
    view = view.apply(opened()).apply(RunEnded("r1", "finished", "", None))
    assert presenter.mode_of(view) == Mode.FINISHED


def test_a_pause_asked_for_while_loading_holds_once_the_run_opens():
    view = RunView().apply(StartRequested("Why?", (), "m", 1.0, 10.0)).apply(PauseRequested())
    assert presenter.mode_of(view) == Mode.PAUSED
    assert presenter.mode_of(view.apply(opened())) == Mode.PAUSED


@pytest.mark.parametrize(
    ("ended", "mode"),
    [
        (RunEnded("r1", "finished", "", None), Mode.FINISHED),
        (RunEnded("r1", "stopped", "", 0.2), Mode.STOPPED),
        (RunEnded("r1", "failed", "boom", None), Mode.FAILED),
        (RunEnded(None, "failed", "no model", None), Mode.FAILED),
    ],
)
def test_the_end_of_a_run_decides_the_mode(ended, mode):
    assert presenter.mode_of(live().apply(ended)) == mode


def test_a_run_stopped_before_it_had_a_journal_leaves_the_window_idle():
    view = RunView().apply(StartRequested("Why?", (), "m", 1.0, 10.0)).apply(StopRequested())
    assert presenter.mode_of(view.apply(RunEnded(None, "stopped", "", 0.1))) == Mode.IDLE


@pytest.mark.parametrize(
    ("status", "mode"),
    [("finished", Mode.FINISHED), ("running", Mode.FINISHED), ("interrupted", Mode.STOPPED)],
)
def test_a_run_from_the_history_is_read_only_unless_resumable(status, mode):
    from desktop.core.state import RunState

    view = RunView.of_journal(
        run_id="r1",
        status=status,
        model="m",
        created=1.0,
        sources=(),
        state=RunState("Why?", "en", outline=OUTLINE),
        max_step=40,
    )
    assert presenter.mode_of(view) == mode
    assert presenter.editable(view) == (mode == Mode.STOPPED)
    resumable = presenter.resume_kind(view, READY) == "resume"
    assert resumable == (mode == Mode.STOPPED)


def test_start_needs_a_question_ticked_documents_a_ready_library_and_an_idle_worker():
    assert presenter.actions_for(RunView(), READY).start
    missing = [
        WindowFacts("", 2, True, False),
        WindowFacts("Why?", 0, True, False),
        WindowFacts("Why?", 2, False, False),
        WindowFacts("Why?", 2, True, True),
    ]
    assert [presenter.actions_for(RunView(), f).start for f in missing] == [False] * 4
    assert not presenter.actions_for(live(), READY).start  # a run is on


def test_start_s_tooltip_names_the_first_thing_missing():
    def tip(facts):
        return presenter.actions_for(RunView(), facts).start_tip

    assert tip(WindowFacts("", 0, True, False)).startswith("Add documents to the library")
    assert tip(WindowFacts("", 2, True, False)) == "Type a research question first"
    assert tip(READY) == presenter.START_TIP
    assert tip(BUSY) == presenter.START_TIP  # no excuse shown while the worker is busy


@pytest.mark.parametrize(
    ("view", "facts", "enabled"),
    [
        # (pause, resume, stop, export, new, open, question read-only)
        (RunView(), READY, (False, False, False, False, True, True, False)),
        (live(), BUSY, (True, False, True, False, False, False, True)),
        (live().apply(PauseRequested()), BUSY, (False, True, True, False, False, False, True)),
        (live().apply(StopRequested()), BUSY, (False, False, False, False, False, False, True)),
        (stopped(), READY, (False, True, False, False, True, True, False)),
        (stopped(), BUSY, (False, False, False, False, False, False, False)),
    ],
)
def test_which_actions_each_mode_enables(view, facts, enabled):
    a = presenter.actions_for(view, facts)
    assert (a.pause, a.resume, a.stop, a.export, a.new, a.open, a.question_read_only) == enabled


def test_export_needs_an_outline():
    view = live().apply(RunEnded("r1", "finished", "", None))
    assert not presenter.actions_for(view, READY).export
    view = RunView(run_id="r1", status="finished", outline=OUTLINE)
    assert presenter.actions_for(view, READY).export


def test_resume_lets_a_paused_run_go_on_or_resumes_a_shown_one():
    paused = live().apply(PauseRequested())
    assert presenter.resume_kind(paused, BUSY) == "unpause"
    assert presenter.resume_kind(paused, READY) is None  # the worker let go of it
    assert presenter.resume_kind(stopped(), READY) == "resume"
    assert presenter.resume_kind(stopped(), BUSY) is None
    failed = live().apply(RunEnded("r1", "failed", "boom", None))
    assert presenter.resume_kind(failed, READY) == "resume"
    never_opened = RunView().apply(StartRequested("Why?", (), "m", 1.0, 1.0))
    assert (
        presenter.resume_kind(never_opened.apply(RunEnded(None, "failed", "", None)), READY) is None
    )
    assert presenter.resume_kind(live(), BUSY) is None


def test_edits_are_taken_while_the_run_can_still_use_them():
    no_outline = live().apply(RunEnded("r1", "stopped", "", 0.1))
    assert not presenter.editable(no_outline)  # no outline yet
    from dataclasses import replace

    def at(view: RunView) -> bool:
        return presenter.editable(replace(view, outline=OUTLINE))

    assert at(live()) and at(live().apply(PauseRequested())) and at(stopped())
    assert at(live().apply(RunEnded("r1", "failed", "boom", None)))
    assert not at(live().apply(StopRequested()))
    assert not at(live().apply(RunEnded("r1", "finished", "", None)))
    assert not at(RunView())


def test_the_status_line_of_a_running_run():
    view = live().apply(TimeEstimated(3, 90.0, 60.0, 120.0, 30.0))
    line = presenter.status_line(view, ModelFacts("settings-model", embedded_active=False))
    assert line.state == "Running" and line.model == "model.gguf"  # the run names it
    assert line.model_tip == presenter.MODEL_TIP
    assert line.step == "Step 0 / 40" and line.speed == ""
    assert line.eta == "~1 min 30 s left (1 min 00 s – 2 min 00 s)"
    ended = view.apply(RunEnded("r1", "finished", "", None))
    assert presenter.status_line(ended, ModelFacts("x", False)).eta == ""  # over: no estimate


def test_the_embedded_model_is_called_a_demo_only_when_it_answers():
    demo = ModelFacts("SmolLM2", embedded_active=True, embedded_file="smol.gguf")
    idle = presenter.status_line(RunView(), demo)
    assert (idle.model, idle.model_tip) == ("SmolLM2 — demo only", presenter.DEMO_TIP)
    on_it = RunView(model="smol.gguf")
    assert presenter.status_line(on_it, demo).model == "smol.gguf — demo only"
    other = RunView(model="agentcpm.gguf")  # an older run, made with another model
    assert presenter.status_line(other, demo).model == "agentcpm.gguf"
    assert presenter.status_line(RunView(), ModelFacts("SmolLM2", False)).model == "SmolLM2"


def test_the_elapsed_time_counts_this_session_and_stops_at_the_end():
    assert presenter.elapsed_text(RunView(), now=50.0) == ""
    view = live()  # started at 10.0
    assert presenter.elapsed_text(view, now=3735.0) == "1:02:05"
    ended = view.apply(RunEnded("r1", "finished", "", None, at=75.0))
    assert presenter.elapsed_text(ended, now=9999.0) == "0:01:05"


def test_what_the_window_says_when_a_run_ends():
    start = RunView().apply(StartRequested("Why is the sky blue?", (), "m", 1.0, 10.0))
    done = start.apply(RunEnded("r1", "finished", "", None, at=3910.0))
    notice = presenter.end_notice(done, RunEnded("r1", "finished", "", None))
    assert notice.message.startswith("The research is finished") and not notice.failure
    assert (notice.title, notice.text) == (
        "Research finished",
        "Why is the sky blue?\nTook 1 h 05 min",
    )
    stopped_notice = presenter.end_notice(done, RunEnded("r1", "stopped", "", 0.1))
    assert stopped_notice.message.startswith("Stopped.") and not stopped_notice.title
    failed = presenter.end_notice(done, RunEnded("r1", "failed", "model gone", None))
    assert (failed.title, failed.failure, failed.message) == ("Research failed", "model gone", "")
    assert presenter.end_notice(done, RunEnded("r1", "failed", "", None)).failure == "unknown error"
    assert presenter.took_text(start) == ""  # not ended yet


def test_the_network_label_says_offline_first():
    assert presenter.network_text(True, True)[0] == "● Offline"  # offline wins over web search
    assert presenter.network_text(False, True)[0] == "Online (web search on)"
    assert presenter.network_text(False, False)[0] == "Online (web search off)"
    assert "nothing leaves this computer" in presenter.network_text(True, False)[1]
