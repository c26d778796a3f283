"""Whether another process (a crashed run, an interrupted ingestion) is still alive."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True if a process with this id exists (one owned by another user counts as alive)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
