"""Write files all-or-nothing: a temp file beside the target, then an atomic rename.

A process killed between writing its temp file and renaming it leaves `.NAME.XXXX.tmp` beside
the target. The next export of that target removes them: every export of one target holds an
OS lock for it (desktop.locks, in a per-user folder of the system's temp dir, so nothing but
the export appears beside the target), so while it is held no other writer's temp file of that
target can exist, and the ones found are leftovers.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from desktop import crashpoints
from desktop.locks import LockBusy, ProcessLock

log = logging.getLogger(__name__)


class ExportError(Exception):
    """An export could not be written; the message is one clear line for the user."""


def _check_target(path: Path, force: bool) -> None:
    if path.is_dir():
        raise ExportError(f"{path} is a folder; choose a file name")
    if path.exists() and not force:
        raise ExportError(f"{path} already exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise ExportError(f"folder does not exist: {path.parent}")


def _default_mode() -> int:
    """The mode a plain `open()` would give a new file (mkstemp makes it 0600).

    Reads the umask without `os.umask`, which would change it for every thread for a moment.
    """
    umask = 0o022
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    return 0o666 & ~umask


EXPORT_LOCK_TIMEOUT_S = 30.0  # another export of the same file finishes well within this


def _lock_path(target: Path) -> Path:
    uid = getattr(os, "getuid", lambda: "user")()
    folder = Path(tempfile.gettempdir()) / f"draftwell-exports-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / (hashlib.sha256(str(target).encode("utf-8")).hexdigest()[:24] + ".lock")


@contextlib.contextmanager
def _sole_writer(target: Path) -> Iterator[None]:
    """Hold the export lock of `target`, and remove the temp files killed exports left."""
    try:
        lock = ProcessLock(_lock_path(target), str(target)).acquire(EXPORT_LOCK_TIMEOUT_S)
    except LockBusy as exc:
        raise ExportError(str(exc)) from None
    except OSError as exc:  # no usable temp dir: write without the lock, leave leftovers be
        log.debug("no export lock for %s (%s)", target, exc)
        yield
        return
    try:
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                log.info("removed %s, left by an export that was killed", stale)
        yield
    finally:
        lock.release()


def write_atomically(path: Path, write: Callable[[Path], object], *, force: bool = False) -> Path:
    """Call `write(tmp)` then rename tmp onto `path`; refuse to overwrite unless `force`."""
    path = Path(path).expanduser().resolve()
    _check_target(path, force)
    with _sole_writer(path):
        return _write_and_rename(path, write)


def _write_and_rename(path: Path, write: Callable[[Path], object]) -> Path:
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write to {path.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:  # the rename must not land before the data does
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        crashpoints.reached("export.written")
        os.replace(tmp, path)
        crashpoints.reached("export.renamed")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.info("wrote %s", path)
    return path


def write_text_atomically(path: Path, text: str, *, force: bool = False) -> Path:
    """Write UTF-8 text atomically (see `write_atomically`)."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)


def write_bytes_atomically(path: Path, data: bytes, *, force: bool = False) -> Path:
    """Write bytes atomically (see `write_atomically`)."""
    return write_atomically(path, lambda tmp: tmp.write_bytes(data), force=force)
