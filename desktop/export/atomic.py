"""Write files all-or-nothing: a temp file beside the target, then an atomic rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class ExportError(Exception):
    """An export could not be written; the message is one clear line for the user."""


def write_atomically(path: Path, write: Callable[[Path], None], *, force: bool = False) -> Path:
    """Call `write(tmp)` then rename tmp onto `path`; refuse to overwrite unless `force`."""
    path = Path(path).expanduser().resolve()
    if path.exists() and not force:
        raise ExportError(f"{path} already exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise ExportError(f"folder does not exist: {path.parent}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write to {path.parent}: {exc.strerror}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def write_text_atomically(path: Path, text: str, *, force: bool = False) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)
