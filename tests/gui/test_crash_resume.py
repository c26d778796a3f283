"""The reported symptom, end to end: a window killed mid-run offers the resume at the next start.

Tried as a new user would: killing the window mid-run and starting it again gave no resume offer
the first time (the killed process, not yet reaped, still answered a pid probe). Here a real
window runs a scripted research in its own process (tests/gui/window_child.py), is SIGKILLed
once its journal holds a committed step, and, before that process is even reaped, a second
window starts on the same data folder: it must offer the run for resume.

A read-only data folder (app.lock cannot be made) opens read-only instead of refusing to start:
past runs are listed, opened and exported; adding documents, starting and resuming are refused,
each with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.gui.main_window import READ_ONLY_NOTICE
from tests.crash.scripted_research import QUESTION
from tests.gui.fakes import make_pdfs
from tests.gui.test_history import crashed_run, finished_run

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 120  # how long a launch may take on a loaded machine (a bound, not a measurement)


def child_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }


def launch(mode: str, data: Path, docs: Path, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gui.window_child", mode, str(data), str(docs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(tmp_path),
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


READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def test_a_read_only_data_folder_opens_lists_and_exports_and_refuses_changes_in_one_line(
    tmp_path: Path,
) -> None:
    data, docs, out = tmp_path / "data", tmp_path / "docs", tmp_path / "report.md"
    data.mkdir()
    make_pdfs(docs)
    finished_run(data)
    crashed_run(data)
    command = [sys.executable, "-m", "tests.gui.window_child", "read-only", str(data)]
    command += [str(docs), str(out)]
    if os.geteuid() != 0:
        for path in [*data.rglob("*"), data]:
            path.chmod(0o555 if path.is_dir() else 0o444)
    elif shutil.which("unshare") is None:
        pytest.skip("root needs unshare(1) for a read-only mount")
    else:  # root ignores permissions: a read-only bind mount in a private mount namespace
        command = ["unshare", "-rm", "sh", "-c", READ_ONLY_MOUNT, str(data), *command]
    child = subprocess.run(
        command, capture_output=True, text=True, env=child_env(tmp_path), cwd=tmp_path,
        timeout=BOUND_S, check=False,
    )  # fmt: skip
    assert child.returncode == 0, (child.stdout, child.stderr[-3000:])
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["claimed read-only"] is True
    assert seen["notice"] == READ_ONLY_NOTICE
    refusal = "{} needs a writable data folder; this one is read-only"
    assert seen["adding"] == refusal.format("Adding documents")
    assert seen["starting"] == refusal.format("Starting a research")
    assert seen["resuming"] == refusal.format("Resuming a run")
    assert seen["exported"].startswith("# ")  # the finished run's report
    assert seen["resume offered"] is False  # nothing here could resume it
    assert seen["runs"] == ["finished", "interrupted"]
    for path in [*data.rglob("*"), data]:
        path.chmod(0o755 if path.is_dir() else 0o644)
