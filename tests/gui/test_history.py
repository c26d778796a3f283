"""Run history: a crashed run is offered at start-up; a finished run opens read-only."""

from __future__ import annotations

import subprocess
import sys

from desktop.core.state import RunConfig, RunState
from desktop.gui.history import RunHistoryDialog
from desktop.gui.presenter import Mode
from desktop.llm.scripted import ScriptedBackend
from desktop.session import ResearchSession
from desktop.store.journal import RunJournal
from tests.helpers import MemoryRetriever, corpus, init_plan, nop, search, write


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def crashed_run(data_dir) -> str:
    journal = RunJournal.create(
        data_dir, RunState("Why crash?", "en"), RunConfig(), sources=[], model="scripted"
    )
    journal.set_status("running")
    journal.db.execute("UPDATE run SET pid = ?", (dead_pid(),))
    run_id = journal.run_id
    journal.close()
    return run_id


def finished_run(data_dir) -> str:
    backend = ScriptedBackend(
        [search("solar"), init_plan("Energy", "Solar"), search("s"), write(), nop()]
    )
    session = ResearchSession.start(
        data_dir,
        "How good is solar?",
        sources=[],
        config=RunConfig(max_step=10, max_extend=1),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        model_name="scripted",
    )
    session.run()
    session.close()
    return session.run_id


def test_a_crashed_run_is_offered_for_resume_at_start_up(qtbot, make_window, data_dir):
    run_id = crashed_run(data_dir)
    window = make_window(check_interrupted=True)
    qtbot.waitUntil(lambda: window.resume_offer is not None, timeout=5000)
    box = window.resume_offer
    assert "Why crash?" in box.informativeText()
    show = next(b for b in box.buttons() if b.text() == "Show It")
    with qtbot.waitSignal(window.modeChanged, timeout=5000):
        show.click()
    qtbot.waitUntil(lambda: window.view.run_id == run_id, timeout=5000)
    assert window.mode == Mode.STOPPED and window.menu_actions.resume.isEnabled()
    assert window.question_box.question() == "Why crash?"


def test_a_finished_run_opens_read_only(qtbot, make_window, data_dir):
    run_id = finished_run(data_dir)
    window = make_window()
    window.menu_actions.open.trigger()
    dialog = window.history_dialog
    assert isinstance(dialog, RunHistoryDialog)
    qtbot.waitUntil(lambda: run_id in dialog.runs, timeout=5000)
    assert dialog.open_button.isEnabled() and not dialog.resume_button.isEnabled()
    with qtbot.waitSignal(window.draftRendered, timeout=5000):
        dialog.open_button.click()
    assert window.mode == Mode.FINISHED and not window.editable
    assert not window.menu_actions.resume.isEnabled() and window.menu_actions.export.isEnabled()
    assert "Solar" in window.draft.plain_text() and "References" in window.draft.plain_text()
    assert window.activity.model.rowCount() >= 5
    assert not any(a.isEnabled() for a in window.outline_panel.actions_list)


def test_resuming_a_run_held_by_another_process_is_refused_before_the_model_loads(
    qtbot, make_window, data_dir
):
    from tests.store.test_liveness import end, hold

    run_id = crashed_run(data_dir)
    window = make_window()
    window.open_run(run_id)  # shown as interrupted: Resume is offered
    qtbot.waitUntil(lambda: window.view.run_id == run_id, timeout=5000)
    assert window.menu_actions.resume.isEnabled()
    holder = hold(data_dir, run_id)  # meanwhile a terminal's `draftwell resume` took it
    try:
        with qtbot.waitSignal(window.runEnded, timeout=10_000) as ended:
            window.menu_actions.resume.trigger()
        (result,) = ended.args
        assert result.status == "failed"
        assert result.message.startswith(f"run {run_id} is in use by pid {holder.pid} on ")
        assert window.services.models.opened_on == []  # refused before loading the model
    finally:
        end(holder)
