"""Start the desktop app: `run_gui(argv)` builds the QApplication and the main window.

The window is shown before anything heavy is imported (torch, sentence-transformers,
llama_cpp and chromadb load later, on worker threads), so it appears in well under a second.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

_STARTED = time.perf_counter()

log = logging.getLogger(__name__)

APP_ID = "draftwell"
EXIT_DEADLINE_SECONDS = 30.0  # closing waits 10 s for workers; this is the hard limit


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="draftwell", description="Draftwell desktop app")
    parser.add_argument("--data-dir", help="where the library, runs, models and settings live")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("paths", nargs="*", help="documents to add to the library")
    args, _unknown = parser.parse_known_args(list(argv)[1:])  # Qt options (-style …) pass through
    return args


def configure_app(app) -> None:
    """Names, icon and the small style sheet; palette and style stay the platform's."""
    from desktop.gui import icons
    from desktop.gui.resources import read_text

    app.setApplicationName("Draftwell")
    app.setOrganizationName("Draftwell")
    app.setApplicationDisplayName("Draftwell")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(icons.app_icon())
    style = read_text("style", "draftwell.qss")
    if style:
        app.setStyleSheet(style)


def make_window(data_dir=None):
    """The main window with the real services (for run_gui, the benchmark and screenshots)."""
    from desktop.gui.main_window import MainWindow
    from desktop.gui.services import Services
    from desktop.settings import resolve_data_dir

    return MainWindow(Services(resolve_data_dir(data_dir)))


def quit_on_signals(window) -> None:
    """SIGTERM and SIGINT close the window the normal way (run stopped and journaled, layout
    saved, exit code 0). Qt's event loop does not run Python code on its own, so a timer wakes
    the interpreter a few times a second to let it notice a signal.

    The handler only arms the exit deadline and queues the close: Python runs it between two
    bytecodes of whatever the main thread was doing (an import, a log call), and closing waits
    for worker threads that may need the very lock that frame holds.
    """
    import signal

    from PySide6.QtCore import QTimer

    def handle(signum, _frame) -> None:
        arm_exit_deadline()
        log.info("signal %d: closing", signum)
        QTimer.singleShot(0, window.quit_without_asking)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
    wake = QTimer(window)
    wake.setInterval(250)
    wake.timeout.connect(lambda: None)
    wake.start()


def arm_exit_deadline(seconds: float = EXIT_DEADLINE_SECONDS) -> None:
    """Guarantee the process ends within `seconds` of starting to close.

    Closing waits at most ~10 s for the workers, then leaves without them; this is the net
    under that. A watchdog thread in C (faulthandler; it needs neither the GIL nor Qt) prints
    every thread's stack to stderr and exits with status 1 if the process is still alive, so
    a native call that holds the GIL or a lock cycle can delay a logout, never block it.
    Arming again restarts the count.
    """
    import faulthandler

    faulthandler.dump_traceback_later(seconds, exit=True)


def claim_data_folder(data_dir: str | None, paths: list[str]):
    """This app's SingleInstance claim, or None when another app has the folder (it was asked
    to come to the front and take `paths`; one line on stderr says so)."""
    from desktop.gui.single_instance import SingleInstance
    from desktop.settings import resolve_data_dir

    folder = resolve_data_dir(data_dir)
    instance = SingleInstance(folder)
    if instance.claim():
        return instance
    raised = instance.forward(paths)
    action = "brought it to the front" if raised else "it did not answer"
    print(
        f"draftwell: Draftwell is already open on {folder} ({instance.holder_text}); {action}",
        file=sys.stderr,
    )
    return None


def show_window(window, instance, paths: list[str]) -> None:
    """Show the window on the folder `instance` claimed (read-only if it is) and add `paths`."""
    from desktop.gui.single_instance import bring_to_front

    instance.activated.connect(lambda handed: bring_to_front(window, handed))
    window.shuttingDown.connect(lambda: arm_exit_deadline())
    if instance.read_only:
        window.open_read_only()
    window.show()
    if paths:
        window.add_documents(paths)


def run_gui(argv: Sequence[str]) -> int:
    """Open the main window and run the event loop; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(argv))
    configure_app(app)
    paths = [os.path.abspath(p) for p in args.paths]
    try:
        instance = claim_data_folder(args.data_dir, paths)
        if instance is None:
            return 0
        window = make_window(args.data_dir)
    except OSError as exc:
        log.error("cannot open the data folder: %s", exc)
        return 1
    show_window(window, instance, paths)
    quit_on_signals(window)
    log.info("window shown %.0f ms after start", (time.perf_counter() - _STARTED) * 1000)
    code = int(app.exec())
    instance.release()
    if not window.workers_ended:
        # A worker thread is stuck in native code (e.g. still importing torch on a loaded
        # machine): Qt would abort on destroying its running thread. The run journal and the
        # library are SQLite (crash-safe), so leave now with the real exit code.
        log.warning("a worker thread is still busy; exiting without waiting for it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(run_gui(sys.argv))
