"""Threads: the model is used off the GUI thread, pause holds the run while edits still apply,
and quitting mid-run stops the engine quickly."""

from __future__ import annotations

import threading

from desktop.core.commands import RenameSection
from desktop.gui.presenter import Mode
from tests.gui.fakes import make_pdfs
from tests.helpers import init_plan, nop, search, write

WAIT = 10_000


def start(qtbot, window, tmp_path) -> None:
    window.add_documents([str(p) for p in make_pdfs(tmp_path / "docs")])
    qtbot.waitUntil(lambda: len(window.library_panel.checked_sources()) == 2, timeout=WAIT)
    window.question_box.setPlainText("How do heat pumps work?")
    window.menu_actions.start.trigger()


def test_pause_holds_the_run_and_edits_apply_while_paused(qtbot, make_window, tmp_path):
    replies = [
        search("heat pump"),
        init_plan("Heating", "Pumps", "Boilers"),
        search("pump"),
        write(),
        search("boiler"),
        write(),
        nop(),
    ]
    window = make_window(replies)
    backend = window.backend
    in_write = threading.Event()
    go_on = threading.Event()
    call_threads = []

    def on_request(request):
        call_threads.append(threading.current_thread() is threading.main_thread())
        if len(backend.requests) == 4:
            in_write.set()
            go_on.wait(WAIT / 1000)

    backend.on_request = on_request
    start(qtbot, window, tmp_path)
    qtbot.waitUntil(in_write.is_set, timeout=WAIT)
    window.menu_actions.pause.trigger()
    assert window.mode == Mode.PAUSED and window.menu_actions.resume.isEnabled()
    go_on.set()
    qtbot.waitUntil(lambda: window.view.status == "paused", timeout=WAIT)
    calls = len(backend.requests)
    window.outline_panel.select("s2")
    window.outline_panel.inline_edit(
        window.outline_panel.model.index_of("s2"), "Condensing boilers"
    )
    qtbot.waitUntil(lambda: not window.tracker.pending, timeout=WAIT)  # applied while paused
    # A second edit, sent only now, is applied by a later pass of the engine loop: had the
    # pause not held after the first one, that pass would come after the next model call.
    window.queue_edit(RenameSection("s1", "Air source pumps"))
    qtbot.waitUntil(lambda: not window.tracker.pending, timeout=WAIT)
    assert len(backend.requests) == calls  # no model call while paused
    with qtbot.waitSignal(window.runEnded, timeout=WAIT) as ended:
        window.menu_actions.resume.trigger()
    assert ended.args[0].status == "finished"
    assert "Condensing boilers" in backend.requests[calls].prompt_text
    assert not any(call_threads)  # every model call ran off the GUI thread
    assert "MainThread" not in window.services.models.opened_on


def test_quitting_mid_run_asks_then_stops_at_the_next_chunk(qtbot, make_window, tmp_path):
    """Stop lands at the stream's next checkpoint: the chunk in flight is the last one."""
    replies = [
        search("heat pump"),
        init_plan("Heating", "Pumps"),
        search("pump"),
        write("x " * 4000),  # 1,000 chunks of 8 characters
    ]
    window = make_window(replies)
    held_at = 3
    streaming = threading.Event()
    streamed: list[int] = []

    def hold(sent: int, cancel) -> None:  # the engine thread, inside a reply
        if len(window.backend.requests) < 4:
            return  # not the write reply yet
        streamed.append(sent)
        if sent == held_at:
            streaming.set()
            assert cancel.wait(WAIT / 1000), "Stop never reached the stream"

    window.backend.on_chunk = hold
    start(qtbot, window, tmp_path)
    qtbot.waitUntil(streaming.is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: window.view.active_phase == "write", timeout=WAIT)
    window.prompts.confirms.append(False)
    window.close()
    assert window.isVisible() and window.runs.active  # the user said no
    assert streamed[-1] == held_at  # ... and the stream is still held mid-reply
    window.prompts.confirms.append(True)
    window.close()
    assert not window.isVisible()
    assert window.runs._thread.isFinished() and window.workers_ended
    assert streamed[-1] == held_at  # no chunk streamed after Stop
    assert window.services.models.released == 1  # the model was closed on its thread


def test_edits_are_refused_without_a_run(qtbot, make_window):
    window = make_window()
    window.queue_edit(RenameSection("s1", "x"))
    assert window.tracker.pending == [] and not window.editable
