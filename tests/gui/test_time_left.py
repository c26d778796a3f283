"""The status bar's time to finish and the activity log's time per call type."""

from __future__ import annotations

import os
from pathlib import Path

from desktop.core.events import (
    RunFinished,
    RunStarted,
    StepCompleted,
    StepMetrics,
    TimeEstimated,
)
from desktop.gui.presenter import Mode
from desktop.gui.run_view import RunEnded, RunOpened, StartRequested


def metrics(seconds: float, completion: int) -> StepMetrics:
    return StepMetrics(900, 300, completion, seconds, 2.0, completion / seconds, seconds, False)


def rows(window) -> list[str]:
    model = window.activity.model
    return [model.item(r, 3).text() for r in range(model.rowCount())]


def test_status_bar_shows_the_time_left_and_the_log_the_time_per_call_type(make_window):
    window = make_window()
    window._set_view(
        window.view.apply(StartRequested("How do heat pumps work?", (), "m", 0.0, 0.0))
    )
    window._on_loading("Opening the document index…")
    assert window.statusBar().currentMessage() == "Opening the document index…"
    window._on_opened(RunOpened("r1", "How do heat pumps work?", "m", 40, 0, False, (), "en"))
    assert window.mode == Mode.RUNNING
    assert window.statusBar().currentMessage() == ""  # the loading line ends with the opening
    window._on_event(RunStarted("r1", "How do heat pumps work?", "en", resumed=False))
    window._on_event(StepCompleted(1, "search", "init_plan", metrics(4.0, 40)))
    window._on_event(TimeEstimated(1, 1500.0, 900.0, 3300.0, 4.0))
    assert window.run_status.eta_label.text() == "~25 min 00 s left (15 min 00 s – 55 min 00 s)"
    window._on_event(StepCompleted(2, "write", "search", metrics(60.0, 450)))
    window._on_event(StepCompleted(3, "write", "search", metrics(40.0, 300)))
    window._on_event(RunFinished(3, "nop", None, 104.0))
    shot = os.environ.get("DRAFTWELL_SHOT_DIR")
    if shot:  # a look at the real widgets (see the report): DRAFTWELL_SHOT_DIR=/tmp/shots
        window.resize(1280, 800)
        window.grab().save(str(Path(shot) / "time-left.png"))
    log = rows(window)
    assert "Finished (nop) in 1 min 44 s" in log
    spent = [r for r in log if r.startswith("Time spent")]
    assert spent[0].startswith("Time spent · search: 1 call, prompt 900 tok (300 prefilled), 40")
    assert spent[1].startswith("Time spent · write: 2 calls, prompt 1800 tok (600 prefilled), 750")
    window._on_ended(RunEnded("r1", "finished", "", None))
    assert window.mode == Mode.FINISHED
    assert window.run_status.eta_label.text() == ""  # no estimate once the run is over
