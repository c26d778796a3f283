"""Liveness by lock: a run is alive while a process holds its lock, whatever pid it stores.

Covers the three ways a stored pid lied (a reused pid, a killed but unreaped process, and the
Windows `os.kill` hazard, which cannot recur because no liveness probe signals anything), one
writer per run (a second holder is refused with one line naming the first), journals from
before the lock, a full disk and a read-only data folder.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.core.state import RunConfig, RunState
from desktop.locks import ProcessLock, holder_of, is_held
from desktop.store.journal import JournalError, RunBusy, RunJournal, list_runs

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

HOLD = """
import sys
from pathlib import Path
from desktop.store.journal import RunJournal
journal = RunJournal.open(Path(sys.argv[1]), sys.argv[2])
journal.claim()
journal.set_status("running")
print("held", flush=True)
sys.stdin.read()
"""


def new_run(data: Path, status: str = "running") -> str:
    journal = RunJournal.create(
        data, RunState(question="q", language="en"), RunConfig(), sources=[], model="m"
    )
    journal.set_status(status)
    run_id = journal.run_id
    journal.close()
    return run_id


def store_pid(data: Path, run_id: str, pid: int) -> None:
    with sqlite3.connect(data / "runs" / f"{run_id}.sqlite") as db:
        db.execute("UPDATE run SET pid = ?", (pid,))


def hold(data: Path, run_id: str) -> subprocess.Popen[str]:
    """A child process that holds the run until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data), run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def end(child: subprocess.Popen[str]) -> None:
    """Let a holder go (closing its stdin ends it) and reap it."""
    for pipe in (child.stdin, child.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()
    child.wait(timeout=30)


def cli(*args: str, data: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.cli", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        **kwargs,
    )


def test_a_journal_whose_pid_is_a_live_unrelated_process_is_offered_for_resume(tmp_path):
    run_id = new_run(tmp_path)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store_pid(tmp_path, run_id, unrelated.pid)  # the pid was reused after a reboot
        assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]
        journal = RunJournal.open(tmp_path, run_id)
        journal.claim()  # and it can be resumed
        journal.close()
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_killed_holder_is_gone_at_once_even_before_it_is_reaped(tmp_path):
    run_id = new_run(tmp_path)
    child = hold(tmp_path, run_id)
    assert list_runs(tmp_path)[0].status == "running"
    child.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while is_held(tmp_path / "runs" / f"{run_id}.lock"):  # the kernel drops it on exit
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert Path(f"/proc/{child.pid}").exists()  # a zombie: os.kill(pid, 0) would still succeed
    assert list_runs(tmp_path)[0].status == "interrupted"
    end(child)


def test_a_second_writer_is_refused_with_one_line_naming_the_holder(tmp_path):
    run_id = new_run(tmp_path, "paused")
    child = hold(tmp_path, run_id)
    try:
        journal = RunJournal.open(tmp_path, run_id)
        with pytest.raises(RunBusy) as refused:
            journal.claim()
        with pytest.raises(RunBusy):
            journal.set_status("running")  # a write claims first, so it is refused too
        journal.close()
        message = str(refused.value)
        assert "\n" not in message
        assert f"run {run_id} is in use by pid {child.pid} on {socket.gethostname()} since " in (
            message
        )
        assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", message)

        resumed = cli("resume", run_id, data=tmp_path)
        assert resumed.returncode == 1
        lines = resumed.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by pid {child.pid}" in lines[0], resumed.stderr
        assert list_runs(tmp_path)[0].status == "running"
    finally:
        end(child)
    assert list_runs(tmp_path)[0].status == "interrupted"  # it ended without finishing


def test_the_holder_record_survives_probes(tmp_path):
    lock = ProcessLock(tmp_path / "x.lock", "x").acquire()
    for _ in range(3):
        assert is_held(lock.path)  # a probe from this process conflicts too
    holder = holder_of(lock.path)
    assert holder is not None and holder.pid == os.getpid()
    lock.release()
    assert holder_of(lock.path) is None and not is_held(tmp_path / "never.lock")


def test_a_journal_from_before_the_lock_migrates_cleanly(tmp_path):
    """Old journals have a pid and no lock file: free, so offered for resume and claimable."""
    run_id = new_run(tmp_path)
    (tmp_path / "runs" / f"{run_id}.lock").unlink()
    store_pid(tmp_path, run_id, os.getpid())  # even our own pid does not make it alive
    assert list_runs(tmp_path)[0].status == "interrupted"
    journal = RunJournal.open(tmp_path, run_id)
    journal.set_status("running")
    assert journal.info().status == "running"
    journal.close()


def test_a_full_disk_gives_one_line_and_the_journal_still_opens(tmp_path):
    run_id = new_run(tmp_path)
    journal = RunJournal.open(tmp_path, run_id)
    before = journal.latest_state()
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
    big = before.evolve(question="q " * 50_000, step=1)
    with pytest.raises(JournalError) as full:
        journal.commit(big, "step", {})
    assert str(full.value) == f"cannot save run {run_id}: the disk is full"
    journal.close()
    reopened = RunJournal.open(tmp_path, run_id)
    assert reopened.latest_state() == before  # the failed commit left nothing half-written
    reopened.commit(big, "step", {})  # and once there is room the run goes on
    assert reopened.latest_state().step == 1
    reopened.close()


READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def read_only_command(data: Path, args: list[str]) -> list[str]:
    """`args` with `data` read-only: by permissions, or as root (who ignores them) by a
    read-only bind mount in a private mount namespace."""
    if os.geteuid() != 0:
        for path in [*data.rglob("*"), data]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return args
    if shutil.which("unshare") is None:
        pytest.skip("root needs unshare(1) for a read-only mount")
    return ["unshare", "-rm", "sh", "-c", READ_ONLY_MOUNT, str(data), *args]


def test_a_read_only_data_folder_lists_and_exports_runs_but_refuses_to_resume_in_one_line(
    tmp_path,
):
    data = tmp_path / "data"
    run_ids = sorted(new_run(data) for _ in range(2))
    (data / "library").mkdir()  # a library folder that cannot even get its catalog
    command = [sys.executable, "-m", "desktop.cli"]

    def ro_cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = read_only_command(data, [*command, *args, "--data-dir", str(data)])
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=ENV)

    listed = ro_cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == run_ids
    assert {r["status"] for r in json.loads(listed.stdout)} == {"interrupted"}
    resumed = ro_cli("resume", run_ids[0])
    assert resumed.returncode == 1
    assert resumed.stderr.strip().splitlines() == [
        f"draftwell: run {run_ids[0]} cannot continue: the data folder is read-only"
    ]
    library = ro_cli("library", "list")
    assert library.returncode == 1
    assert library.stderr.strip().splitlines() == [
        f"draftwell: cannot open the library in {data / 'library'}: the data folder is read-only"
    ]
    out = tmp_path / "export.md"  # outside the read-only folder
    exported = ro_cli("export", run_ids[0], "--format", "md", "--out", str(out))
    assert exported.returncode == 1  # these runs have no outline yet: one line says so
    assert exported.stderr.strip().splitlines() == [
        f"draftwell: run {run_ids[0]} has no outline yet: nothing to export"
    ]
    for path in [*data.rglob("*"), data]:
        path.chmod(0o755 if path.is_dir() else 0o644)


KILL_NAMES = {"kill", "killpg"}
SIGNALLING = [  # each must be caught
    "alive = os.kill(int(pid), 0)",
    "from os import kill\nkill(pid, 0)",
    "from os import kill as probe\nprobe(stored, signal.SIGTERM)",
    "import os as system\nsystem.kill(\n    pid,\n    0,\n)",
    "os.killpg(group, 0)",
]
HARMLESS = [  # and these not: signalling oneself, and Popen.kill() of one's own child
    "os.kill(os.getpid(), signal.SIGKILL)",
    "child.kill()",
    "print('os.kill(pid, 0)')",
]


def _is_own_pid(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getpid"
    )


def signal_sends(source: str) -> list[int]:
    """Lines of every call that sends a signal to a process other than this one: any call
    of a function named kill/killpg (or imported from os under another name) with a first
    argument other than `os.getpid()`."""
    tree = ast.parse(source)
    names = set(KILL_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names |= {alias.asname for alias in node.names if alias.name in KILL_NAMES}
    names.discard(None)
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or _is_own_pid(node.args[0]):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called in names:
            lines.append(node.lineno)
    return lines


def test_the_signal_scan_catches_every_spelling():
    assert all(signal_sends(source) for source in SIGNALLING), SIGNALLING
    assert not any(signal_sends(source) for source in HARMLESS)


def test_no_process_but_this_one_is_ever_signalled():
    """`os.kill(pid, 0)` is no liveness test (reused pids, zombies), and on Windows any
    `os.kill(pid, sig)` terminates the process: nothing here signals a stored pid."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("desktop", "bench", "scripts", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in signal_sends(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


TRY_TO_CLAIM = """
import sys
from pathlib import Path
from desktop.store.journal import RunBusy, RunJournal
journal = RunJournal.open(Path(sys.argv[1]), sys.argv[2])
try:
    journal.claim()
    print("claimed it")
except RunBusy as exc:
    print(exc)
journal.close()
"""


def test_a_resume_holds_the_run_while_its_model_loads(tmp_path, monkeypatch, capsys):
    """`draftwell resume` claims the run before loading the model and keeps it to the end: a
    second resume that starts meanwhile is refused instead of slipping into the gap."""
    import desktop.session
    from desktop.cli import main as cli_main
    from desktop.llm.scripted import ScriptedBackend
    from tests.crash.scripted_research import policy

    run_id = new_run(tmp_path)  # "running", its writer dead
    tries: list[str] = []

    def load_the_model(choice, runtime, data_dir):
        second = subprocess.run(
            [sys.executable, "-c", TRY_TO_CLAIM, str(tmp_path), run_id],
            capture_output=True, text=True, env=ENV, timeout=60, check=False,
        )  # fmt: skip
        tries.append(second.stdout.strip() or second.stderr[-2000:])
        return ScriptedBackend([policy] * 40)

    monkeypatch.setattr(desktop.session, "open_backend", load_the_model)
    code = cli_main(["resume", run_id, "--data-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert len(tries) == 1 and tries[0].startswith(f"run {run_id} is in use by pid {os.getpid()}")
    assert list_runs(tmp_path)[0].status == "finished"
