"""The window's run view, reduced without Qt from the events of a real (scripted) run."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError
from typing import get_args

import pytest

from desktop.core.events import (
    ListSink,
    RunFinished,
    SearchPerformed,
    SectionChecked,
    StepCompleted,
    StepMetrics,
    StepStarted,
    TokensStreamed,
)
from desktop.core.state import RunConfig, RunState, RunStatus
from desktop.core.support import checked_report
from desktop.gui.run_view import (
    EvidenceUpdated,
    RunEnded,
    RunOpened,
    RunView,
    StartRequested,
)
from desktop.llm.scripted import ScriptedBackend
from desktop.session import ResearchSession, report_for
from tests.helpers import MemoryRetriever, corpus, init_plan, nop, search, write

QUESTION = "How good is solar power?"


def qt_loaded_after_importing(module: str) -> bool:
    """Whether importing `module` in a fresh interpreter loads PySide6."""
    code = f"import sys, {module}; print('PySide6' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip() == "True"


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
    """A finished two-section run on the real engine and journal: its session and events."""
    data_dir = tmp_path_factory.mktemp("data")
    sink = ListSink()
    backend = ScriptedBackend(
        [search("solar"), init_plan("Energy", "Solar", "Wind")]
        + [search("s"), write(), search("w"), write(), nop()]
    )
    session = ResearchSession.start(
        data_dir,
        QUESTION,
        sources=[],
        config=RunConfig(max_step=20, max_extend=1),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        model_name="scripted",
        sink=sink,
    )
    session.run()
    yield session, sink.events
    session.close()


def started(session) -> list:
    """What the window applies before the engine's events: the request and the opened run."""
    info = session.journal.info()
    return [
        StartRequested(QUESTION, (), "scripted", info.created, 100.0),
        RunOpened(session.run_id, QUESTION, "scripted", 20, 0, False, (), "en"),
    ]


def reduce(events, view: RunView | None = None) -> list[RunView]:
    views = [view or RunView()]
    for event in events:
        views.append(views[-1].apply(event))
    return views


def test_the_run_view_module_needs_no_qt():
    assert not qt_loaded_after_importing("desktop.gui.run_view")
    assert qt_loaded_after_importing("desktop.gui.window_actions")  # the check can fail


def test_a_whole_run_reduces_to_the_journal_s_final_state(scripted_run):
    session, events = scripted_run
    final = session.journal.latest_state()
    views = reduce(
        [
            *started(session),
            *events,
            EvidenceUpdated(final.registry),
            RunEnded(session.run_id, "finished", "", None, at=160.0),
        ]
    )
    view = views[-1]
    assert view.outline == final.outline and view.registry == final.registry
    assert view.step == final.step == events[-1].step
    assert view.status == "finished" and not view.live
    assert view.active_id is None and view.active_phase is None
    assert view.checks == tuple(e.check for e in events if isinstance(e, SectionChecked))
    speeds = [e.metrics.tokens_per_second for e in events if isinstance(e, StepCompleted)]
    assert view.tokens_per_second == speeds[-1]
    assert (view.started_at, view.ended_at) == (100.0, 160.0)
    assert view.time_left.endswith(")") and "left" in view.time_left
    # One vocabulary: every status the view passes through is the engine's and journal's.
    assert {v.status for v in views} <= set(get_args(RunStatus))
    assert {v.status for v in views} == {"created", "running", "finished"}


def test_the_view_reports_the_same_report_as_the_export(scripted_run):
    """The report is built once, by the core: from the view it is the CLI export's report."""
    session, events = scripted_run
    final = session.journal.latest_state()
    view = reduce([*started(session), *events, EvidenceUpdated(final.registry)])[-1]
    assert view.outline is not None
    shown = checked_report(
        view.outline,
        view.registry,
        view.checks,
        question=view.question,
        created=view.created,
        model=view.model,
        finished=True,
        language=view.language,
    )
    exported = report_for(session.journal)
    assert shown == exported
    assert exported.references and exported.claims  # a report worth comparing


def test_the_section_being_written_streams_until_the_next_step(scripted_run):
    session, events = scripted_run
    first_write = next(e for e in events if isinstance(e, StepStarted) and e.phase == "write")
    until = events.index(first_write)
    stream = [
        e for e in events[until:] if isinstance(e, TokensStreamed) and e.step == first_write.step
    ]
    view = reduce([*started(session), *events[: until + 1], *stream])[-1]
    assert view.active_phase == "write" and view.active_id == first_write.section_id
    assert view.stream_raw == "".join(e.text for e in stream)
    assert "<action>A grounded sentence" in view.stream_raw
    search_tokens = TokensStreamed(first_write.step, "search", "ignored")
    assert view.apply(search_tokens) is view  # only writes stream into the draft
    later = view.apply(StepStarted(first_write.step + 1, "search", "section-2", "s2"))
    assert later.stream_raw == "" and later.active_phase == "search"
    # Tokens of another step start a new paragraph, even without its StepStarted.
    assert view.apply(TokensStreamed(first_write.step + 1, "write", "New")).stream_raw == "New"


def test_apply_returns_a_new_view_and_leaves_the_old_one():
    view = RunView()
    metrics = StepMetrics(900, 300, 40, 4.0, 1.0, 10.0, 4.0, cached=False)
    after = view.apply(StepCompleted(1, "search", "init_plan", metrics))
    assert (after.step, after.tokens_per_second) == (1, 10.0)
    assert (view.step, view.tokens_per_second) == (0, None)
    with pytest.raises(FrozenInstanceError):
        after.step = 2  # type: ignore[misc]
    cached = StepMetrics(900, 900, 40, 0.0, 0.0, 9999.0, 0.0, cached=True)
    assert after.apply(StepCompleted(2, "write", "search", cached)).tokens_per_second == 10.0


def test_events_the_view_does_not_show_leave_it_unchanged():
    view = RunView(run_id="r1", status="running", live=True, opened=True)
    assert view.apply(SearchPerformed(1, ("solar",), 3, 3, ("a", "b", "c"))) is view
    assert view.apply(RunFinished(1, "nop", None)) is view  # RunEnded decides the end
    assert view.apply(object()) is view


def test_an_end_without_an_id_keeps_the_run_s_id():
    view = RunView(run_id="r1", status="running", live=True, opened=True, active_id="s1")
    ended = view.apply(RunEnded(None, "stopped", "", 0.2, at=5.0))
    assert ended.run_id == "r1" and ended.status == "stopped" and ended.ended_at == 5.0
    assert not (ended.live or ended.opened) and ended.active_id is None


@pytest.mark.parametrize(
    ("journal", "status", "read_only"),
    [
        ("interrupted", "stopped", False),  # its process is gone: stopped, resumable
        ("stopped", "stopped", False),
        ("failed", "failed", False),
        ("paused", "paused", False),
        ("created", "created", False),
        ("finished", "finished", True),
        ("running", "running", True),  # running in another window
    ],
)
def test_a_run_from_the_journal_gets_a_run_status(journal, status, read_only):
    state = RunState(QUESTION, "en", step=3)
    view = RunView.of_journal(
        run_id="r1",
        status=journal,
        model="m",
        created=1.0,
        sources=("a.pdf",),
        state=state,
        max_step=40,
    )
    assert (view.status, view.read_only) == (status, read_only)
    assert (view.step, view.max_step, view.question, view.live) == (3, 40, QUESTION, False)


def test_an_unknown_journal_status_is_refused():
    with pytest.raises(ValueError, match="unknown run status 'exploded'"):
        RunView.of_journal(
            run_id="r1",
            status="exploded",
            model="m",
            created=1.0,
            sources=(),
            state=RunState(QUESTION, "en"),
            max_step=40,
        )
