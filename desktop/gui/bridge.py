"""Engine events into Qt: a sink that turns `emit` on the engine thread into a queued signal.

Token deltas are coalesced on the engine thread (about 20 updates a second) and flushed before
any other event, so the GUI sees events in the engine's order but never one signal per token.
The sink also sends the run's evidence registry (an immutable snapshot) when it grows, so the
draft view can number citations without reading the journal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from desktop.core.events import (
    CommandApplied,
    Event,
    RunStarted,
    StepCompleted,
    TokensStreamed,
)
from desktop.core.state import RunState
from desktop.gui.run_view import EvidenceUpdated

log = logging.getLogger(__name__)

STREAM_INTERVAL = 0.05  # seconds between coalesced token updates (~20 per second)


class EventRelay(QObject):
    """Lives on the GUI thread; emitting from the engine thread queues the call.

    Signals: event(object) — an engine event (desktop.core.events) or EvidenceUpdated.
    """

    event = Signal(object)


class QtEventSink:
    """The engine's EventSink: coalesces token deltas and forwards everything to a relay."""

    def __init__(
        self,
        relay: EventRelay,
        interval: float = STREAM_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._relay = relay
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._pending_head: TokensStreamed | None = None
        self._last_flush = 0.0
        self._state: Callable[[], RunState] | None = None
        self._registry_size = -1

    def watch(self, state: Callable[[], RunState]) -> None:
        """Read the engine's committed state (on the engine thread) to send evidence updates."""
        self._state = state

    def emit(self, event: Event) -> None:
        if isinstance(event, TokensStreamed):
            self._stream(event)
            return
        self.flush()
        self._relay.event.emit(event)
        if isinstance(event, RunStarted | StepCompleted | CommandApplied):
            self._send_evidence()

    def flush(self) -> None:
        """Send the coalesced tokens now (before any other event, and at the end)."""
        with self._lock:
            head, text = self._pending_head, "".join(self._pending)
            self._pending_head, self._pending = None, []
            self._last_flush = self._clock()
        if head is not None and text:
            self._relay.event.emit(TokensStreamed(head.step, head.phase, text))

    def _stream(self, event: TokensStreamed) -> None:
        with self._lock:
            stale = self._pending_head is not None and self._pending_head.step != event.step
        if stale:
            self.flush()
        with self._lock:
            if self._pending_head is None:
                self._pending_head = event
            self._pending.append(event.text)
            due = self._clock() - self._last_flush >= self._interval
        if due:
            self.flush()

    def _send_evidence(self) -> None:
        if self._state is None:
            return
        registry = self._state().registry
        if len(registry) != self._registry_size:
            self._registry_size = len(registry)
            self._relay.event.emit(EvidenceUpdated(registry))
