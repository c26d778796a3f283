"""Liveness by OS lock: whoever works on a run or on the library holds an exclusive file lock.

A process that runs a research (or changes the library) holds an exclusive lock on a lock file
next to the data it writes, for as long as it works. "Alive" means "the lock is held": the
operating system drops the lock when the process ends, however it ends (SIGKILL, a crash, a
power cut followed by a reboot), so a stored process id is never trusted to tell liveness. A
stored pid can belong to an unrelated process after a reboot, a killed process that is not yet
reaped still answers a signal probe, and on Windows `os.kill(pid, sig)` terminates the process.

The lock comes from the `filelock` package (flock on Unix, LockFileEx on Windows). Its soft,
pid-based fallback is switched off: on a filesystem without flock, locking fails loudly
instead of guessing. The holder writes who it is (pid, host, since when) into the lock file so
that a refusal can name it; Windows locks byte 0 of the file, so the record starts at byte 1.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

CLAIM_TIMEOUT_S = 2.0  # a probe holds a free lock for microseconds; wait that out, not a holder
_RECORD_OFFSET = 1  # byte 0 is the one Windows locks; the holder record follows it


class LockBusy(RuntimeError):
    """Another live process holds the lock; the message is one line naming it."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock: process id, host name and when it took the lock (epoch seconds)."""

    pid: int
    host: str
    since: float

    def describe(self) -> str:
        if not self.pid:
            return "another process (it has not said who it is yet)"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host} since {when}"

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "host": self.host, "since": self.since}


def this_process() -> Holder:
    return Holder(os.getpid(), socket.gethostname(), time.time())


def describe(holder: Holder | None) -> str:
    return holder.describe() if holder is not None else "another process"


def _file_lock(path: Path, on_acquired=None) -> FileLock:
    return FileLock(
        path,
        thread_local=False,  # a GUI run is claimed on one thread and may be released on another
        fallback_to_soft=False,  # a soft lock is a pid file: the very thing this module replaces
        preserve_lock_file=True,  # waiters and probes must share one inode
        on_acquired=on_acquired,
    )


class ProcessLock:
    """An exclusive lock on `path` held by this process until `release` (or process death).

    `what` names the locked thing in the refusal line ("run 2026…", "the library").
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.holder = this_process()
        self._lock = _file_lock(self.path, self._write_record)

    def acquire(self, timeout: float = CLAIM_TIMEOUT_S) -> ProcessLock:
        """Take the lock, waiting up to `timeout` seconds; raise LockBusy naming the holder."""
        if self._lock.is_locked:
            return self
        self.holder = this_process()
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            holder = read_holder(self.path)
            raise LockBusy(f"{self.what} is in use by {describe(holder)}", holder) from None
        return self

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> ProcessLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write_record(self, fd: int) -> None:
        record = json.dumps(self.holder.to_json()).encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"\n" + record + b"\n")


def is_held(path: Path) -> bool:
    """True if some live process (this one included) holds the lock on `path` right now.

    A missing lock file is free (nothing ever locked it), and so is one this process cannot
    open for writing (a read-only data folder, where nobody can be writing either).
    """
    path = Path(path)
    if not path.exists():
        return False
    probe = _file_lock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError as exc:
        log.debug("cannot probe %s (%s); treating it as free", path, exc)
        return False
    probe.release(force=True)
    return False


def holder_of(path: Path) -> Holder | None:
    """The live holder of the lock on `path`, or None when nobody holds it.

    When the lock is held but its record is not readable yet, the holder is unknown: the pid
    is then 0.
    """
    if not is_held(path):
        return None
    return read_holder(path) or Holder(0, "an unknown host", 0.0)


def read_holder(path: Path) -> Holder | None:
    """The record the last holder wrote into the lock file (it may be gone: check `is_held`)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(_RECORD_OFFSET)
            data = json.loads(handle.read().decode("utf-8") or "null")
        return Holder(int(data["pid"]), str(data["host"]), float(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
