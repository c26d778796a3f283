"""Work around a PySide6 reference-count bug that crashes long sessions on CPython < 3.12.

PySide6-Essentials 6.12 (the installed version) returns `None` from void C++ methods without
taking a reference, so every call such as `label.setText(…)`, `item.setData(…)` or
`QCoreApplication.processEvents()` drops one reference to `None`. On CPython 3.12+ `None` is
immortal and nothing happens; on 3.11 its count reaches zero after some thousands of calls and
the process aborts with "Fatal Python error: none_dealloc". A 100 000-call `setText` loop
reproduces it.

`protect_none()` gives `None` the same treatment 3.12 gives it: a reference count so large that
no number of stray decrements can reach zero. `None` is never freed in a healthy interpreter,
so this changes nothing else. Remove it once PySide6 is fixed or Python ≥ 3.12 is required.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_BALLAST = 1 << 40
_applied = False


def protect_none() -> bool:
    """Make `None` effectively immortal on CPython < 3.12; True when it was applied now."""
    global _applied
    if _applied or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += _BALLAST
    _applied = True
    log.debug("None made immortal (PySide6 void-return reference bug)")
    return True
