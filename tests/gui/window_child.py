"""A Draftwell window in its own process, for tests that kill it (tests/gui/test_crash_resume.py).

Usage: python -m tests.gui.window_child run|offer|read-only DATA_DIR DOCS_DIR [OUT_FILE]

Both modes start like the app does (claim the data folder, build the main window, show it)
over the test fakes: PDFs read for real, a scripted model that answers any phase slowly.

- `run`: add the PDFs in DOCS_DIR, start a research and keep going (the test SIGKILLs this
  process once the run's journal holds a committed step). Prints `started`.
- `offer`: start with the interrupted-run check on, as the app does; print `offered STEPS
  QUESTION` when the resume offer appears and exit 0, or `no offer` and exit 1 if none came
  within a minute.
- `read-only` (DATA_DIR must be read-only): claim the folder the way the app does
  (desktop.gui.app), try to add the PDFs, start a research and resume the interrupted run
  (each must be refused in one line), open the finished run and export it to OUT_FILE; print
  what happened as one JSON object and exit 0.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.gui.app import claim_data_folder, show_window  # noqa: E402
from desktop.gui.main_window import MainWindow  # noqa: E402
from desktop.gui.presenter import Mode  # noqa: E402
from desktop.gui.services import Services  # noqa: E402
from desktop.gui.single_instance import SingleInstance  # noqa: E402
from desktop.llm.scripted import ScriptedBackend  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from desktop.store.journal import list_runs  # noqa: E402
from tests.crash.scripted_research import QUESTION, policy  # noqa: E402
from tests.gui.fakes import CannedPrompts, PdfLibrary, ScriptedModels  # noqa: E402

OFFER_TIMEOUT_MS = 60_000
POLL_MS = 50


def window_for(
    data: Path, check_interrupted: bool, prompts: CannedPrompts | None = None
) -> MainWindow:
    if os.access(data, os.W_OK):
        Settings.of(max_step=40, max_extend=1).save(data)
    backend = ScriptedBackend([policy] * 200, chunk_chars=8, delay=0.02)  # a slow model
    services = Services(
        data,
        open_library=lambda path, settings: PdfLibrary(path, settings),
        models=ScriptedModels(backend),
        prompts=prompts or CannedPrompts(),
        ui_settings_file=data.parent / "ui.ini",
        notify_after_seconds=3600,
        check_interrupted_runs=check_interrupted,
    )
    return MainWindow(services)


def start_when_indexed(window: MainWindow, docs: Path) -> None:
    pdfs = sorted(str(p) for p in docs.glob("*.pdf"))
    window.add_documents(pdfs)
    panel = window.library_panel

    def check() -> None:
        if not all(panel.status_of(p) == "indexed" for p in pdfs):
            QTimer.singleShot(POLL_MS, check)
            return
        window.question_box.setPlainText(QUESTION)
        window.menu_actions.start.trigger()
        print("started", flush=True)

    QTimer.singleShot(POLL_MS, check)


def report_offer(app: QApplication, window: MainWindow) -> None:
    waited = 0

    def check() -> None:
        nonlocal waited
        box = window.resume_offer
        if box is not None:
            print(f"offered {box.informativeText()!r}", flush=True)
            app.exit(0)
        elif waited >= OFFER_TIMEOUT_MS:
            print("no offer", flush=True)
            app.exit(1)
        else:
            waited += POLL_MS
            QTimer.singleShot(POLL_MS, check)

    QTimer.singleShot(POLL_MS, check)


def in_turn(app: QApplication, steps: list[tuple[Callable[[], bool], Callable[[], None]]]) -> None:
    """Run each step's action once its condition holds, in order; give up after a minute."""
    waited = 0

    def check() -> None:
        nonlocal waited
        if not steps:
            app.exit(0)
            return
        ready, action = steps[0]
        if ready():
            steps.pop(0)
            action()
        elif waited >= OFFER_TIMEOUT_MS:
            print(json.dumps({"stuck at step": len(steps)}), flush=True)
            app.exit(1)
            return
        waited += POLL_MS
        QTimer.singleShot(POLL_MS, check)

    QTimer.singleShot(POLL_MS, check)


def read_only(app: QApplication, data: Path, docs: Path, out: Path) -> int:
    """The `read-only` mode (see the module docstring)."""
    instance = claim_data_folder(str(data), [])
    assert instance is not None
    prompts = CannedPrompts()
    prompts.save_as = (str(out), "md")
    window = window_for(data, check_interrupted=True, prompts=prompts)
    show_window(window, instance, [])
    runs = {info.status: info.id for info in list_runs(data)}
    seen: dict[str, object] = {"claimed read-only": instance.read_only}

    def line() -> str:
        return window.read_only_notice.text() if window.read_only else ""

    def note(key: str) -> Callable[[], None]:
        return lambda: seen.__setitem__(key, line())

    def add() -> None:
        seen["notice"] = line()
        window.add_documents([str(p) for p in docs.glob("*.pdf")])

    def start() -> None:
        window.question_box.setPlainText(QUESTION)
        window.start_run()

    steps: list[tuple[Callable[[], bool], Callable[[], None]]] = [
        (lambda: True, add),
        (lambda: True, note("adding")),
        (lambda: True, start),
        (lambda: True, note("starting")),
        (lambda: True, lambda: window.open_run(runs["interrupted"], resume=True)),
        (lambda: window.view.run_id == runs["interrupted"], note("resuming")),
        (lambda: True, lambda: window.open_run(runs["finished"])),
        (lambda: window.mode == Mode.FINISHED, window.export_report),
        (out.exists, lambda: seen.update(exported=out.read_text(encoding="utf-8")[:200])),
    ]
    in_turn(app, steps)
    code = app.exec()
    seen["resume offered"] = window.resume_offer is not None
    seen["runs"] = sorted(runs)
    print(json.dumps(seen), flush=True)
    window.close()
    instance.release()
    return int(code)


def main(argv: list[str]) -> int:
    mode, data, docs = argv[0], Path(argv[1]), Path(argv[2])
    app = QApplication([])
    if mode == "read-only":
        return read_only(app, data, docs, Path(argv[3]))
    instance = SingleInstance(data)
    if not instance.claim():
        print(f"the data folder is taken ({instance.holder_text})", flush=True)
        return 2
    window = window_for(data, check_interrupted=mode == "offer")
    window.show()
    if mode == "run":
        start_when_indexed(window, docs)
    else:
        report_offer(app, window)
    code = app.exec()
    window.close()  # CannedPrompts confirms closing a running window
    instance.release()
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
