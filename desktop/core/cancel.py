"""Cooperative cancellation: a token checked between streamed chunks and between retrievals."""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised at a checkpoint after a cancel token was set."""


class CancelToken:
    """A thread-safe flag; `raise_if_set` is the checkpoint long loops call."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the token is set or `timeout` seconds pass; True if it was set."""
        return self._event.wait(timeout)

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise Cancelled()
