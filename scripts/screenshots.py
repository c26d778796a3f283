"""Screenshots of the real window under Xvfb: empty state, models page (mid-download from a
fake Hub on loopback), the embedding-model download of Settings (mid-download, same fake Hub),
mid-run, citation viewer, settings.

Usage: .venv/bin/python scripts/screenshots.py [OUT_DIR]   (default: screenshots/)

Runs the real app path: the real document library indexes resources/samples (embeddings and
Chroma), the embedded model (SmolLM2-135M through llama.cpp) researches a question, and the
window is captured at each moment. Without a display the script re-runs itself under
`xvfb-run -a`. A temporary data dir is used, so nothing of the user's is touched.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("screenshots")

QUESTION = (
    "How do heat pumps compare with gas boilers for heating a home: "
    "running costs, emissions and satisfaction?"
)


def ensure_display(argv: list[str]) -> int | None:
    """Re-run under xvfb-run when there is no X display; return its exit code, or None."""
    if os.environ.get("DISPLAY") or os.environ.get("DRAFTWELL_UNDER_XVFB"):
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        log.error("no DISPLAY and no xvfb-run: install xvfb")
        return 2
    env = {**os.environ, "DRAFTWELL_UNDER_XVFB": "1", "QT_QPA_PLATFORM": "xcb"}
    command = [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *argv]
    return subprocess.call(command, env=env)


def wait_for(app, condition: Callable[[], bool], timeout: float, what: str) -> bool:
    """Run the event loop until `condition()` holds; False (and a log line) on timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(10)
    check.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
    if not condition():
        check.start()
        loop.exec()
        check.stop()
    if not condition():
        log.warning("timed out after %.0f s waiting for %s", timeout, what)
        return False
    return True


def settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    wait_for(app, lambda: time.monotonic() >= end, seconds + 1, "the window to settle")


def save(widget, out: Path, name: str) -> Path:
    path = out / name
    widget.grab().save(str(path))
    log.info("saved %s", path)
    return path


def streaming_with_text(window) -> bool:
    """A section is streaming in, and the outline has more than one section, one written."""
    nodes = list(window.view.outline.walk()) if window.view.outline else []
    return (
        window.view.active_phase == "write"
        and len(window.draft.streamed_text) > 160
        and len(nodes) > 1
        and any(n.section.content for n in nodes)
    )


def models_page_shots(app, window, out: Path) -> None:
    """The models page: local models, then the two-click path from the first-run page's link
    (the Hub tab on AgentCPM-Report, refused while Offline is on, allowed once) to a download
    from a fake Hub on loopback (never the real Hub) held half-way, so the progress bar, speed
    and time left are in the picture; then the paused part in a new page, resumed."""
    from PySide6.QtCore import QUrl

    from desktop.gui.draft import MODELS_LINK
    from desktop.llm.models import DEFAULT_DOWNLOAD_REPO
    from tests.fakehub import Q8, FakeHub, make_gguf_files

    files = Path(tempfile.mkdtemp(prefix="draftwell-fakehub-"))
    hub = FakeHub(make_gguf_files(files), repo=DEFAULT_DOWNLOAD_REPO, hold=Q8, piece_delay=0.05)
    os.environ["HF_ENDPOINT"] = hub.url
    try:
        window.show_models()
        dialog = window.models_dialog
        wait_for(app, lambda: dialog.machine is not None and bool(dialog.local), 120, "the probe")
        settle(app)
        save(dialog, out, "models-page.png")
        dialog.reject()
        settle(app)
        window.draft.empty.anchorClicked.emit(QUrl(MODELS_LINK))  # "download AgentCPM-Report"
        dialog = window.models_dialog
        # Offline is on (the default): refused, with the one-time allow right there
        wait_for(app, lambda: dialog.offline_label.isVisibleTo(dialog), 30, "the refusal")
        wait_for(app, lambda: dialog.machine is not None, 120, "the probe")
        settle(app)
        save(dialog, out, "models-page-offline.png")
        dialog.allow_once()
        wait_for(app, lambda: dialog.listing is not None, 30, "the listing")
        dialog.hub_table.selectRow([f.name for f in dialog.listing.models()].index(Q8))
        dialog.download()
        wait_for(app, lambda: hub.holding.is_set(), 60, "half of the download")
        wait_for(app, lambda: "left" in dialog.status.text(), 30, "the speed and time left")
        settle(app, 0.8)
        save(dialog, out, "models-page-downloading.png")
        dialog.pause()
        hub.release()
        wait_for(app, lambda: dialog.job is None, 30, "the pause")
        dialog.reject()  # closed mid-download: the part is kept
        settle(app)
        window.run_status.model_label.click()  # the demo model's name: the download again
        dialog = window.models_dialog
        wait_for(app, lambda: dialog.offline_label.isVisibleTo(dialog), 30, "the refusal")
        dialog.allow_once()  # a new page, a new one-time allowance (logged again)
        wait_for(app, lambda: dialog.resume_button.isEnabled(), 30, "the paused part")
        wait_for(app, lambda: dialog.machine is not None, 120, "the probe")
        settle(app)
        save(dialog, out, "models-page-paused.png")
        dialog.resume()  # continues the part; when checked, the model is made active
        wait_for(app, lambda: window.settings.model.model_path is not None, 60, "the download")
        wait_for(app, lambda: len(dialog.local) > 1, 30, "the local list")
        settle(app)
        save(dialog, out, "models-page-downloaded.png")
        dialog.reject()
    finally:
        hub.close()
        os.environ.pop("HF_ENDPOINT", None)
        shutil.rmtree(files, ignore_errors=True)


def embedder_download_shots(app, window, out: Path) -> None:
    """Settings → Documents → Download…: a tiny sentence-transformers model from a fake Hub on
    loopback, held half-way through its weights (the one-time allowance is used: Offline is on)."""
    from tests.fakehub import EMBEDDER_REPO, FakeHub, tiny_embedder_files

    files = Path(tempfile.mkdtemp(prefix="draftwell-fakehub-"))
    hub = FakeHub(
        tiny_embedder_files(files), repo=EMBEDDER_REPO, hold="model.safetensors", piece_delay=0.02
    )
    os.environ["HF_ENDPOINT"] = hub.url
    try:
        window.show_settings()
        settings = window.settings_dialog
        settings.show_embedder_download()
        dialog = settings.embedder_download
        dialog.repo_edit.setText(EMBEDDER_REPO)
        dialog.download()  # Offline is on (the default): refused, with the one-time allow
        wait_for(app, lambda: dialog.offline_label.isVisibleTo(dialog), 30, "the refusal")
        settle(app)
        save(dialog, out, "embedder-download-offline.png")
        dialog.allow_once()
        wait_for(app, lambda: hub.holding.is_set(), 60, "half of the weights")
        settle(app, 0.8)
        save(dialog, out, "embedder-download.png")
        hub.release()
        wait_for(app, lambda: dialog.job is None, 60, "the download")
        settle(app)
        save(dialog, out, "embedder-downloaded.png")
        dialog.reject()
        settings.reject()
    finally:
        hub.close()
        os.environ.pop("HF_ENDPOINT", None)
        shutil.rmtree(files, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="screenshots")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the run")
    parser.add_argument(
        "--models-only",
        action="store_true",
        help="only the first-run page, the models page and the embedder download",
    )
    args = parser.parse_args(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    code = ensure_display([str(Path(__file__).resolve()), *argv[1:]])
    if code is not None:
        return code
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from PySide6.QtWidgets import QApplication

    from desktop.core.commands import RenameSection
    from desktop.gui.app import configure_app
    from desktop.gui.main_window import MainWindow
    from desktop.gui.services import Services
    from desktop.settings import Settings

    app = QApplication([argv[0]])
    configure_app(app)
    data = Path(tempfile.mkdtemp(prefix="draftwell-shots-"))
    Settings.of(max_step=40, max_extend=2).save(data)
    window = MainWindow(
        Services(data, ui_settings_file=data / "ui.ini", check_interrupted_runs=False)
    )
    window.resize(1440, 900)
    window.show()
    settle(app, 1.0)
    save(window, out, "empty-state.png")
    models_page_shots(app, window, out)
    embedder_download_shots(app, window, out)
    Settings.of(max_step=40, max_extend=2).save(data)  # the run below uses the embedded model again
    window.settings = Settings.load(data)
    window._update_status()
    if args.models_only:
        window.close()
        shutil.rmtree(data, ignore_errors=True)
        return 0

    samples = sorted(str(p) for p in (ROOT / "resources" / "samples").glob("*.pdf"))
    window.add_documents(samples)
    wait_for(
        app, lambda: len(window.library_panel.checked_sources()) == len(samples), 300, "indexing"
    )
    window.question_box.setPlainText(QUESTION)
    window.start_run()
    wait_for(app, lambda: window.view.outline is not None, args.timeout, "the outline")
    first = window.view.outline.sections[-1]
    window.queue_edit(RenameSection(first.id, f"{first.title} (edited)"))
    # The embedded model may plan one section and finish before a second one streams: then
    # the shot shows the finished run (and says so) instead of waiting out the timeout.
    wait_for(
        app,
        lambda: streaming_with_text(window) or not window.runs.active,
        args.timeout,
        "a streaming section",
    )
    if not window.runs.active:
        logging.info("the run ended before a second section streamed: shooting it finished")
    save(window, out, "main-window-running.png")

    wait_for(
        app, lambda: bool(window.report and window.report.references), args.timeout, "a citation"
    )
    if window.report and window.report.references:
        window.show_citation(window.report.references[0].number)
        rendered = []
        window.citations.rendered.connect(rendered.append)
        wait_for(app, lambda: bool(rendered), 60, "the cited page")
        settle(app)
        save(window, out, "citation-viewer.png")
    window.stop_run()
    wait_for(app, lambda: not window.runs.active, 30, "the stop")

    window.show_settings()
    dialog = window.settings_dialog
    wait_for(app, lambda: "Keys are kept" in dialog.secret_note.text(), 60, "the settings probe")
    settle(app)
    save(dialog, out, "settings-dialog.png")
    dialog.reject()
    window.close()
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
