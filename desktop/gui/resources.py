"""Locate the bundled resources (icons, style sheet, licences) in a checkout or a frozen app."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def resources_dir() -> Path:
    """The `resources/` folder: beside the package in a checkout, in _MEIPASS when frozen."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource(*parts: str) -> Path:
    """A path inside the resources folder (it may not exist; callers check)."""
    return resources_dir().joinpath(*parts)


def read_text(*parts: str, default: str = "") -> str:
    """A bundled text file's content, or `default` when it is missing."""
    path = resource(*parts)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("missing resource %s: %s", path, exc)
        return default
