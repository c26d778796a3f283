"""Named checkpoints where a crash test can make this process kill itself, deterministically.

The code that persists things calls `reached("journal.commit.before_commit")` and the like at
the moments a crash would hurt most (inside a journal transaction, between a vector upsert and
its catalog commit, while a reply streams, between writing an export and renaming it). Normally
that is one dictionary lookup and nothing happens. Two environment variables switch it on:

- `DRAFTWELL_CRASH_AT=N` (or `PREFIX:N`): at the N-th checkpoint this process reaches (the
  N-th whose name starts with PREFIX), it sends itself SIGKILL: no `finally`, no `atexit`, no
  flush of this process's buffers. That is not quite a power cut: what the process had handed to
  the operating system still reaches the disk, while a power cut also loses what the OS had not
  written yet (the run journal syncs each commit, synchronous=FULL, so its commits survive
  both). Where SIGKILL does not exist, `os._exit` is the nearest.
  Several comma-separated targets (`ingest.committed:2,journal.commit:1`) each count on their
  own and the first one reached kills: a backstop for a target the work may never reach.
- `DRAFTWELL_CRASH_TRACE=FILE`: append every checkpoint's name to FILE, so a harness can count
  the checkpoints of an uninterrupted run and pick where to kill.

The kill-anywhere harness (tests/crash, bench/bench_kill_anywhere.py) uses both.
"""

from __future__ import annotations

import os
import signal

AT_ENV = "DRAFTWELL_CRASH_AT"
TRACE_ENV = "DRAFTWELL_CRASH_TRACE"
KILLED_EXIT = 137


class _Plan:
    """This process's crash plan, read from the environment once."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        for part in os.environ.get(AT_ENV, "").split(","):
            prefix, _, number = part.strip().rpartition(":")
            if number.isdigit() and int(number) > 0:
                self.targets.append((prefix, int(number)))
        self.counts = [0] * len(self.targets)
        self.trace = os.environ.get(TRACE_ENV) or None

    @property
    def active(self) -> bool:
        return bool(self.targets or self.trace)


_plan: _Plan | None = None


def reached(name: str) -> None:
    """Mark a checkpoint; die here if this is the one the crash plan names."""
    global _plan
    if _plan is None:
        _plan = _Plan()
    if not _plan.active:
        return
    if _plan.trace:
        with open(_plan.trace, "a", encoding="utf-8") as trace:
            trace.write(name + "\n")
    for index, (prefix, target) in enumerate(_plan.targets):
        if name.startswith(prefix):
            _plan.counts[index] += 1
            if _plan.counts[index] == target:
                kill_self()


def kill_self() -> None:
    """End this process at once, the way SIGKILL does (nothing runs after this)."""
    sigkill = getattr(signal, "SIGKILL", None)
    if sigkill is not None:
        os.kill(os.getpid(), sigkill)
    os._exit(KILLED_EXIT)


def reset() -> None:
    """Forget the plan read so far (tests that change the environment call this)."""
    global _plan
    _plan = None
