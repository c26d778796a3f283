"""The reported symptom, end to end: a window killed mid-run offers the resume at the next start.

Tried as a new user would: killing the window mid-run and starting it again gave no resume offer
the first time (the killed process, not yet reaped, still answered a pid probe). Here a real
window runs a scripted research in its own process (tests/gui/window_child.py), is SIGKILLed
once its journal holds a committed step, and, before that process is even reaped, a second
window starts on the same data folder: it must offer the run for resume.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.crash.scripted_research import QUESTION
from tests.gui.fakes import make_pdfs

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 120  # how long a launch may take on a loaded machine (a bound, not a measurement)


def launch(mode: str, data: Path, docs: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gui.window_child", mode, str(data), str(docs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def committed_steps(data: Path) -> int:
    for journal in (data / "runs").glob("*.sqlite") if (data / "runs").exists() else []:
        try:
            with sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True) as db:
                return db.execute("SELECT COALESCE(MAX(step), 0) FROM snapshots").fetchone()[0]
        except sqlite3.Error:
            return 0
    return 0


def test_a_window_killed_mid_run_offers_the_resume_at_the_next_start(tmp_path: Path) -> None:
    data, docs = tmp_path / "data", tmp_path / "docs"
    data.mkdir()
    make_pdfs(docs)
    running = launch("run", data, docs, tmp_path)
    deadline = time.monotonic() + BOUND_S
    while committed_steps(data) < 1 and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.poll() is None and committed_steps(data) >= 1, running.communicate()[1][-3000:]
    running.kill()  # SIGKILL; not reaped yet: a pid probe would still find it
    try:
        assert Path(f"/proc/{running.pid}").exists()
        offer = launch("offer", data, docs, tmp_path)
        stdout, stderr = offer.communicate(timeout=BOUND_S)
    finally:
        running.communicate()
    assert offer.returncode == 0, (stdout, stderr[-3000:])
    assert stdout.startswith("offered ") and QUESTION in stdout
