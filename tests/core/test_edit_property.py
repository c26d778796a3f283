"""Property: random edits interleaved with scripted steps never crash a run.

A model double answers every phase validly (keywords, a plan, cited text, an extension or nop)
and, before random calls, random edits are queued: rename, re-plan, add, delete, move, lock,
unlock, rewrite, deepen, on existing ids and on ids that do not exist. Whatever the sequence,
the engine must never raise or fail, and must reach `done` within `max_step`. Seeded, so a
failure names the seed that reproduces it.
"""

from __future__ import annotations

import random

import pytest

from desktop.core import commands as c
from desktop.core.chat import ChatRequest, ChatResult
from desktop.core.engine import Engine
from desktop.core.events import ListSink, RunFailed
from desktop.core.state import RunConfig, RunState
from tests.helpers import MemoryRetriever, action, corpus, shown_keys

MAX_STEP = 40


class AnyPhaseModel:
    """Answers whatever phase it is asked, validly, like a model that follows the format."""

    model_id = "any-phase"
    context_length = 32768
    supports_grammar = True
    supports_json_schema = False

    def __init__(self, rng: random.Random, on_request) -> None:
        self.rng = rng
        self.on_request = on_request
        self.calls = 0
        self.sections = 0  # 0: a random number of sections

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def chat(self, request: ChatRequest, on_delta=None, cancel=None) -> ChatResult:
        self.calls += 1
        self.on_request(request)
        text = self._reply(request)
        return ChatResult(text, "stop", self.count_tokens(request.prompt_text), 10)

    def _reply(self, request: ChatRequest) -> str:
        purpose = request.purpose
        if purpose == "search":
            return action({"name": "search", "keywords": ["solar", "wind"]})
        if purpose == "init_plan":
            n = self.sections or self.rng.randint(1, 4)
            items = [{"title": f"Part {i}", "plan": f"Cover part {i}."} for i in range(n)]
            return action({"name": "init-plan", "title": "Energy", "sections": items})
        if purpose == "write":
            keys = shown_keys(request)[:2]
            cite = f" \\cite{{{', '.join(keys)}}}" if keys else ""
            return action(f"A grounded statement{cite}.")
        options = _positions(request.grammar)
        if options and (self.rng.random() < 0.6 or '"nop"' not in request.grammar):
            payload = {
                "name": "extend-plan",
                "position": self.rng.choice(options),
                "subsections": [{"title": "Detail", "plan": "Go deeper."}],
            }
            return action(payload)
        return action({"name": "nop"})

    def close(self) -> None:
        pass


def _positions(grammar: str) -> list[str]:
    """The positions the extend-plan grammar admits (its quoted alternatives)."""
    for line in grammar.splitlines():
        if line.startswith("extend ::="):
            return [p.strip('"\\') for p in line.split("sp (", 1)[1].split(")", 1)[0].split(" | ")]
    return []


def random_command(rng: random.Random, state: RunState) -> c.Command:
    ids = [n.section.id for n in state.outline.walk()] if state.outline else []
    target = rng.choice(ids + ["s999"]) if ids else "s999"
    parent = rng.choice([None, *ids])
    kind = rng.randrange(9)
    return [
        lambda: c.RenameSection(target, rng.choice(["New name", "  ", "Renamed"])),
        lambda: c.ReplanSection(target, "A new plan."),
        lambda: c.AddSection("Added", "Added plan.", parent, rng.choice([None, 0, 5])),
        lambda: c.DeleteSection(target),
        lambda: c.MoveSection(target, parent, rng.randrange(3)),
        lambda: c.LockSection(target),
        lambda: c.UnlockSection(target),
        lambda: c.RewriteSection(target),
        lambda: c.DeepenSection(target),
    ][kind]()


@pytest.mark.parametrize("seed", range(60))
def test_random_edits_never_crash_and_the_run_finishes(seed):
    rng = random.Random(seed)
    sink = ListSink()
    engine: Engine

    def maybe_edit(_request):
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            engine.commands.put(random_command(rng, engine.state))

    model = AnyPhaseModel(rng, maybe_edit)
    engine = Engine(
        run_id=f"prop-{seed}",
        state=RunState(question="How do solar and wind compare?", language="en"),
        config=RunConfig(max_step=MAX_STEP, max_extend=rng.randint(0, 3)),
        backend=model,
        retriever=MemoryRetriever(corpus()),
        sink=sink,
    )
    state = engine.run()
    assert not sink.of(RunFailed), f"seed {seed}: {sink.of(RunFailed)[0].error}"
    assert engine.status == "finished" and state.done, f"seed {seed}: {engine.status}"
    assert state.step <= MAX_STEP


@pytest.mark.parametrize("edit", ["lock", "delete"])
def test_removing_the_last_unwritten_section_during_search_finishes_the_run(edit):
    """The crash that was: the phase stayed `search` with no cursor (node_at('none')), and
    since the edit was journaled, every resume crashed again."""
    sink = ListSink()
    engine: Engine

    def edit_during_plan(request):
        if request.purpose == "init_plan":  # applied before the search that follows
            first = "s1"
            command = c.LockSection(first) if edit == "lock" else c.DeleteSection(first)
            engine.commands.put(command)

    model = AnyPhaseModel(random.Random(0), edit_during_plan)
    model.sections = 1
    engine = Engine(
        run_id="remove-last",
        state=RunState(question="Solar?", language="en"),
        config=RunConfig(max_step=10, max_extend=1),
        backend=model,
        retriever=MemoryRetriever(corpus()),
        sink=sink,
    )
    state = engine.run()
    assert not sink.of(RunFailed) and engine.status == "finished" and state.done


def test_an_unexpected_error_ends_the_run_as_failed_and_resumable():
    class BrokenRetriever:
        def search(self, query, k):
            raise RuntimeError("index file vanished\n  (and a second line of detail)")

    sink = ListSink()
    model = AnyPhaseModel(random.Random(0), lambda request: None)
    engine = Engine(
        run_id="broken",
        state=RunState(question="Solar?", language="en"),
        config=RunConfig(max_step=10),
        backend=model,
        retriever=BrokenRetriever(),
        sink=sink,
    )
    state = engine.run()
    assert engine.status == "failed" and state.step == 0  # the failed step was not committed
    (failed,) = sink.of(RunFailed)
    assert (
        "internal error in step 1 (search): RuntimeError: index file vanished (and" in failed.error
    )
    assert "\n" not in failed.error
    engine.retriever = MemoryRetriever(corpus())  # the cause is gone: the same state resumes
    assert engine.run().done
