"""Two launches on one data folder: the second brings the first to the front and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from desktop.gui.single_instance import SingleInstance

ROOT = Path(__file__).resolve().parents[2]
SECOND_LAUNCH = """
import sys
from desktop.gui.app import run_gui
sys.exit(run_gui(["draftwell", "--data-dir", sys.argv[1], *sys.argv[2:]]))
"""
CLAIM_AND_WAIT = """
import sys
from PySide6.QtCore import QCoreApplication
from desktop.gui.single_instance import SingleInstance
app = QCoreApplication([])
assert SingleInstance(sys.argv[1]).claim()
print("claimed", flush=True)
app.exec()
"""


def launch(code: str, *args: str, tmp_path: Path, **kwargs) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], text=True, env=env, cwd=tmp_path, **kwargs
    )


def test_a_second_launch_hands_its_documents_to_the_open_app_and_exits(qtbot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    first = SingleInstance(data)
    assert first.claim()
    try:
        with qtbot.waitSignal(first.activated, timeout=60_000) as handed:
            second = launch(
                SECOND_LAUNCH, str(data), "notes.pdf", tmp_path=tmp_path, stderr=subprocess.PIPE
            )
        _, stderr = second.communicate(timeout=60)
    finally:
        first.release()
    assert handed.args == [[str(tmp_path / "notes.pdf")]]
    assert second.returncode == 0
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"draftwell: Draftwell is already open on {data} (pid {os.getpid()} ")
    assert line.endswith("; brought it to the front")


def test_a_crashed_app_does_not_block_the_next_launch(qtbot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    crashed = launch(CLAIM_AND_WAIT, str(data), tmp_path=tmp_path, stdout=subprocess.PIPE)
    assert crashed.stdout is not None and crashed.stdout.readline().strip() == "claimed"
    assert not SingleInstance(data).claim()  # alive: the folder is taken
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=30)
    crashed.stdout.close()
    after = SingleInstance(data)
    assert after.claim()  # the OS dropped the lock; the dead app's socket is replaced
    try:
        with qtbot.waitSignal(after.activated, timeout=10_000) as handed:
            assert SingleInstance(data).forward([])
    finally:
        after.release()
    assert handed.args == [[]]
