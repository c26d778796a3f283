"""Threads: the model is used off the GUI thread, pause holds the run while edits still apply,
and quitting mid-run stops the engine quickly."""

from __future__ import annotations

import threading
import time

from desktop.core.commands import RenameSection
from desktop.gui.main_window import Mode
from tests.gui.fakes import make_pdfs
from tests.helpers import init_plan, nop, search, write

WAIT = 10_000


def start(qtbot, window, tmp_path) -> None:
    window.add_documents([str(p) for p in make_pdfs(tmp_path / "docs")])
    qtbot.waitUntil(lambda: len(window.library_panel.checked_sources()) == 2, timeout=WAIT)
    window.question_box.setPlainText("How do heat pumps work?")
    window.act_start.trigger()


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
    window.act_pause.trigger()
    assert window.mode == Mode.PAUSED and window.act_resume.isEnabled()
    go_on.set()
    qtbot.waitUntil(lambda: window.run.status == "paused", timeout=WAIT)
    calls = len(backend.requests)
    window.outline_panel.select("s2")
    window.outline_panel.inline_edit(
        window.outline_panel.model.index_of("s2"), "Condensing boilers"
    )
    qtbot.waitUntil(lambda: not window.tracker.pending, timeout=WAIT)  # applied while paused
    time.sleep(0.3)
    assert len(backend.requests) == calls  # no model call while paused
    with qtbot.waitSignal(window.runEnded, timeout=WAIT) as ended:
        window.act_resume.trigger()
    assert ended.args[0].status == "finished"
    assert "Condensing boilers" in backend.requests[calls].prompt_text
    assert not any(call_threads)  # every model call ran off the GUI thread
    assert "MainThread" not in window.services.models.opened_on


def test_quitting_mid_run_asks_then_stops_within_a_second(qtbot, make_window, tmp_path):
    replies = [
        search("heat pump"),
        init_plan("Heating", "Pumps"),
        search("pump"),
        write("x " * 4000),
    ]
    window = make_window(replies)
    window.backend.delay = 0.01  # a slow stream: 8 characters every 10 ms
    start(qtbot, window, tmp_path)
    qtbot.waitUntil(
        lambda: window.run.active_phase == "write" and bool(window.run.stream_raw), timeout=WAIT
    )
    window.prompts.confirms.append(False)
    window.close()
    assert window.isVisible() and window.runs.active  # the user said no
    window.prompts.confirms.append(True)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 1.5
    assert not window.runs.active or window.runs._thread.isFinished()
    assert window.services.models.released == 1  # the model was closed on its thread


def test_edits_are_refused_without_a_run(qtbot, make_window):
    window = make_window()
    window.queue_edit(RenameSection("s1", "x"))
    assert window.tracker.pending == [] and not window.editable
