"""The engine→GUI sink: token deltas coalesced, order kept, evidence snapshots sent."""

from __future__ import annotations

from desktop.core.events import StepCompleted, StepMetrics, StepStarted, TokensStreamed
from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.state import RunState
from desktop.gui.bridge import EventRelay, EvidenceUpdated, QtEventSink

METRICS = StepMetrics(1, 1, 1, 0.1, 0.0, 10.0, 0.1, False)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def collect(qtbot):
    relay = EventRelay()
    got = []
    relay.event.connect(got.append)
    return relay, got


def test_tokens_are_coalesced_to_the_interval_and_flushed_before_other_events(qtbot):
    relay, got = collect(qtbot)
    clock = Clock()
    sink = QtEventSink(relay, interval=0.05, clock=clock)
    sink.emit(StepStarted(1, "write", "section-1", "s1"))
    for i in range(100):  # 100 tokens within 0.04 s: at most one flush
        clock.now += 0.0004
        sink.emit(TokensStreamed(1, "write", f"t{i} "))
    streamed = [e for e in got if isinstance(e, TokensStreamed)]
    assert len(streamed) <= 1
    sink.emit(StepCompleted(1, "write", "search", METRICS))
    streamed = [e for e in got if isinstance(e, TokensStreamed)]
    assert "".join(e.text for e in streamed) == "".join(f"t{i} " for i in range(100))
    assert isinstance(got[-1], StepCompleted)  # the tail came before the step's end


def test_a_steady_stream_gives_about_twenty_updates_a_second(qtbot):
    relay, got = collect(qtbot)
    clock = Clock()
    sink = QtEventSink(relay, interval=0.05, clock=clock)
    for _ in range(1000):  # 100 tokens a second for 10 seconds
        clock.now += 0.01
        sink.emit(TokensStreamed(1, "write", "x"))
    updates = len([e for e in got if isinstance(e, TokensStreamed)])
    assert 150 <= updates <= 210


def test_evidence_is_sent_when_the_registry_grows(qtbot):
    relay, got = collect(qtbot)
    registry, _ = EvidenceRegistry().with_passages([Passage("text", "/a.pdf", 1)])
    state = RunState("q", "en", registry=registry)
    sink = QtEventSink(relay)
    sink.watch(lambda: state)
    sink.emit(StepCompleted(1, "search", "init_plan", METRICS))
    sink.emit(StepCompleted(2, "init_plan", "search", METRICS))
    updates = [e for e in got if isinstance(e, EvidenceUpdated)]
    assert len(updates) == 1 and len(updates[0].registry) == 1
