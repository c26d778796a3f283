"""The WARP state machine on scripted replies: every transition, failures, budgets, edits."""

import pytest

from desktop.core.commands import (
    AddSection,
    DeepenSection,
    DeleteSection,
    LockSection,
    RenameSection,
    RewriteSection,
)
from desktop.core.engine import Engine
from desktop.core.events import (
    CommandApplied,
    CommandRejected,
    ListSink,
    RunFinished,
    SearchPerformed,
    StepFailed,
)
from desktop.core.state import RunConfig, RunState
from desktop.llm.scripted import ScriptedBackend
from tests.helpers import (
    MemoryRetriever,
    action,
    corpus,
    extend,
    init_plan,
    nop,
    raw,
    search,
    write,
)


def make_engine(replies, *, config=None, question="How do solar and wind energy compare?", **kw):
    backend = ScriptedBackend(replies, **kw)
    sink = ListSink()
    retriever = MemoryRetriever(corpus())
    engine = Engine(
        run_id="test",
        state=RunState(question=question, language="en"),
        config=config or RunConfig(max_step=40, max_extend=2),
        backend=backend,
        retriever=retriever,
        sink=sink,
    )
    return engine, backend, sink, retriever


def phases(backend):
    return [r.purpose for r in backend.requests]


def test_full_run_search_plan_write_extend_nop():
    replies = [
        search("solar", "wind"),
        init_plan("Energy", "Solar", "Wind"),
        search("solar"),
        write(),
        search("wind"),
        write(),
        extend("section-1", "Costs"),
        search("solar cost"),
        write(),
        nop(),
    ]
    engine, backend, sink, retriever = make_engine(replies)
    state = engine.run()
    assert backend.remaining == 0
    assert phases(backend) == [
        "search",
        "init_plan",
        "search",
        "write",
        "search",
        "write",
        "extend_plan",
        "search",
        "write",
        "extend_plan",
    ]
    assert state.done and state.stop_reason == "nop" and state.step == 10
    assert [n.section.title for n in state.outline.walk()] == ["Solar", "Costs", "Wind"]
    assert all(n.section.content for n in state.outline.walk())
    # The first search keeps 20 passages, later ones 10; one retrieval per keyword, top 20.
    packs = sink.of(SearchPerformed)
    assert [p.passages for p in packs] == [20, 10, 10, 10]
    assert retriever.queries[:2] == ["solar", "wind"]
    assert sink.of(RunFinished)[0].stop_reason == "nop"


def test_search_prompt_names_the_cursor_and_write_prompt_lists_pack():
    replies = [search("solar"), init_plan("E", "Solar", "Wind"), search("solar"), write()]
    engine, backend, *_ = make_engine(replies, config=RunConfig(max_step=4))
    engine.run()
    assert "You need to update section-1" in backend.requests[2].prompt_text
    write_prompt = backend.requests[3].prompt_text
    assert write_prompt.count("bibkey:textid") >= 10
    assert "** Analyzer's Instruction **\nYou need to update section-1\n" in write_prompt
    assert all(r.grammar for r in backend.requests)  # every call is grammar-constrained


def test_failed_parse_costs_a_step_and_keeps_the_phase():
    replies = [
        raw("search", "garbage"),
        search("solar"),
        raw("init_plan", action("{}")),
        init_plan("E", "Solar"),
        search("s"),
        write(),
        nop(),
    ]
    engine, backend, sink, _ = make_engine(replies)
    state = engine.run()
    failures = sink.of(StepFailed)
    assert [(f.step, f.phase) for f in failures] == [(1, "search"), (3, "init_plan")]
    assert state.step == 7 and state.done


def test_max_step_ends_the_run():
    replies = [search("a"), init_plan("E", "A", "B", "C"), search("a"), write()]
    engine, backend, sink, _ = make_engine(replies, config=RunConfig(max_step=4))
    state = engine.run()
    assert state.done and state.stop_reason == "max_step" and state.step == 4
    assert backend.remaining == 0


def test_max_extend_stops_without_asking_and_failed_extend_counts():
    replies = [
        search("a"),
        init_plan("E", "A"),
        search("a"),
        write(),
        raw("extend_plan", "not an action"),
        extend("section-1", "A1"),
        search("a1"),
        write(),
    ]
    engine, backend, *_ = make_engine(replies, config=RunConfig(max_step=40, max_extend=2))
    state = engine.run()
    assert state.extend_count == 2 and state.stop_reason == "max_extend"
    assert backend.remaining == 0


def test_max_extend_zero_finishes_after_last_write():
    replies = [search("a"), init_plan("E", "A"), search("a"), write()]
    engine, backend, *_ = make_engine(replies, config=RunConfig(max_extend=0))
    state = engine.run()
    assert state.done and state.stop_reason == "max_extend"


def test_cut_off_write_is_trimmed_not_empty():
    cut = raw(
        "write",
        "<thought>t</thought><action>Claim one \\cite{textid1}. Claim two is cu",
        finish_reason="length",
    )
    replies = [search("a"), init_plan("E", "A"), search("a"), cut, nop()]
    engine, *_ = make_engine(replies)
    state = engine.run()
    assert state.outline.sections[0].content == "Claim one \\cite{textid1}."


def test_edits_queued_mid_run_appear_in_next_prompt_and_locks_hold():
    replies = [
        search("a"),
        init_plan("E", "Solar", "Wind", "Grid"),
        search("a"),
        write(),
        search("b"),
        write(),
        search("c"),
        write(),
        nop(),
    ]
    engine, backend, sink, _ = make_engine(replies)

    def on_request(request):
        if len(backend.requests) == 4:  # during the first write: queue edits
            engine.commands.put(RenameSection("s2", "Offshore wind"))
            engine.commands.put(AddSection("Storage", "Batteries and pumped hydro"))
            engine.commands.put(DeleteSection("s3"))
            engine.commands.put(LockSection("s1"))
            engine.commands.put(RewriteSection("s1"))  # rejected: locked

    backend.on_request = on_request
    state = engine.run()
    next_prompt = backend.requests[4].prompt_text
    assert "# Section-2 [Offshore wind]: [PLAN]" in next_prompt
    assert "# Section-3 [Storage]: [PLAN]" in next_prompt and "Grid" not in next_prompt
    assert "You need to update section-2" in next_prompt  # the locked section-1 is skipped
    assert len(sink.of(CommandApplied)) == 4
    assert "unlock" in sink.of(CommandRejected)[0].reason
    assert [s.title for s in state.outline.sections] == ["Solar", "Offshore wind", "Storage"]


def test_locked_section_is_never_expanded_or_rewritten():
    replies = [search("a"), init_plan("E", "A", "B"), search("a"), write(), search("b"), write()]
    engine, backend, *_ = make_engine(replies + [nop()])
    engine.commands.put(LockSection("s1"))  # rejected: no outline yet
    state = engine.run()
    assert state.done
    # Lock after the fact, then ask for a rewrite and a deepen: both are rejected.
    engine2, backend2, sink2, _ = make_engine([], config=RunConfig(max_step=40))
    engine2.state = state.evolve(phase="done")
    engine2.commands.put(LockSection("s1"))
    engine2.commands.put(DeepenSection("s1"))
    engine2.commands.put(RewriteSection("s1"))
    engine2.run()
    assert len(sink2.of(CommandRejected)) == 2 and backend2.requests == []


def test_extension_grammar_offers_only_unlocked_positions():
    replies = [
        search("a"),
        init_plan("E", "A", "B"),
        search("a"),
        write(),
        search("b"),
        write(),
        nop(),
    ]
    engine, backend, sink, _ = make_engine(replies)

    def lock_written_section(request):
        if len(backend.requests) == 5:  # the search for section-2: lock the written section-1
            engine.commands.put(LockSection("s1"))

    backend.on_request = lock_written_section
    state = engine.run()
    assert backend.remaining == 0 and len(sink.of(CommandApplied)) == 1
    ext = [r for r in backend.requests if r.purpose == "extend_plan"][0]
    positions = ext.grammar.split('\\"position\\":')[1].split("\n")[0]
    assert "section-2" in positions and "section-1" not in positions
    assert state.outline.get("s1").locked and state.outline.get("s1").content


def test_rewrite_and_deepen_steer_the_model():
    replies = [
        search("a"),
        init_plan("E", "A", "B"),
        search("a"),
        write(),
        search("b"),
        write(),
        nop(),
    ]
    engine, backend, *_ = make_engine(replies)
    state = engine.run()
    assert state.stop_reason == "nop"
    more = [
        search("a again"),
        write("Rewritten text"),
        extend("section-2", "B1", "B2"),
        search("b1"),
        write(),
        search("b2"),
        write(),
        nop(),
    ]
    engine2, backend2, sink2, _ = make_engine(more)
    engine2.state = state
    engine2.commands.put(RewriteSection("s1"))
    engine2.commands.put(DeepenSection("s2"))
    state2 = engine2.run()
    assert state2.outline.get("s1").content.startswith("Rewritten text")
    forced = [r for r in backend2.requests if r.purpose == "extend_plan"][0]
    assert "The user asked for section-2 to be expanded" in forced.prompt_text
    assert '"nop"' not in forced.grammar  # the user's request cannot be declined
    assert [n.section.title for n in state2.outline.walk()] == ["A", "B", "B1", "B2"]


def test_long_outline_is_abbreviated_to_fit_the_context():
    long_text = "word " * 3000
    replies = [
        search("a"),
        init_plan("E", "A", "B", "C"),
        search("a"),
        raw("write", action(long_text.strip() + " \\cite{textid1}.")),
        search("b"),
        raw("write", action(long_text.strip() + " \\cite{textid1}.")),
        search("c"),
    ]
    engine, backend, *_ = make_engine(replies, config=RunConfig(max_step=7), context_length=3000)
    engine.run()
    last = backend.requests[-1]
    assert backend.count_tokens(last.prompt_text) + last.max_tokens <= 3000
    assert "word ... word" in last.prompt_text  # earlier sections were abbreviated


def test_prompt_that_cannot_fit_fails_the_run_clearly():
    engine, backend, sink, _ = make_engine([search("a")], context_length=100)
    engine.run()
    assert engine.status == "failed"
    assert backend.requests == []


def test_stop_mid_stream_does_not_commit_the_step():
    replies = [search("a"), init_plan("E", "A"), search("a"), write("x " * 200)]
    engine, backend, sink, _ = make_engine(replies, chunk_chars=4)

    def stop_in_write(request):
        if request.purpose == "write":
            engine.stop()

    backend.on_request = stop_in_write
    state = engine.run()
    assert engine.status == "stopped"
    assert state.step == 3 and state.phase == "write"


@pytest.mark.parametrize("question", ["收集整理目前中国9阶层实际收入和财务状况"])
def test_chinese_question_gets_chinese_instructions_and_script_guard(question):
    replies = [search("中产"), init_plan("中国中产", "收入")]
    config = RunConfig.for_small_model(max_step=2)
    engine, backend, *_ = make_engine(replies, config=config, question=question)
    engine.state = engine.state.evolve(language="zh")
    engine.run()
    assert "Simplified Chinese" in backend.requests[0].prompt_text
    assert "[一-鿿] [一-鿿]{0,7}" in backend.requests[0].grammar  # Chinese only
    assert "a-zA-Z" in backend.requests[1].grammar  # no Latin letters in titles and plans


def test_a_citation_of_a_passage_never_shown_is_dropped_and_announced():
    from desktop.cli import ProgressPrinter
    from desktop.core.events import CitationsDropped

    invented = raw(
        "write", action("Claim one \\cite{textid1, textid99}. Claim two \\cite{textid98}.")
    )
    replies = [search("a"), init_plan("E", "A"), search("a"), invented, nop()]
    engine, _, sink, _ = make_engine(replies)
    state = engine.run()
    assert state.outline.sections[0].content == "Claim one \\cite{textid1}. Claim two."
    dropped = [e for e in sink.events if isinstance(e, CitationsDropped)]
    assert [(e.position, e.keys) for e in dropped] == [("section-1", ("textid99", "textid98"))]
    line = ProgressPrinter(max_step=40)._line(dropped[0])
    assert line is not None and "textid99, textid98" in line and "section-1" in line


@pytest.mark.parametrize("phase", ["search", "init_plan", "extend_plan"])
def test_a_json_action_cut_off_by_length_is_retried_once_with_twice_the_budget(phase):
    cut = raw(phase, '<thought>t</thought><action>{"name": "', finish_reason="length")
    script = {
        "search": [cut, search("a"), init_plan("E", "A"), search("a"), write(), nop()],
        "init_plan": [search("a"), cut, init_plan("E", "A"), search("a"), write(), nop()],
        "extend_plan": [
            search("a"),
            init_plan("E", "A"),
            search("a"),
            write(),
            cut,
            extend("section-1", "B"),
            search("b"),
            write(),
            nop(),
        ],
    }[phase]
    engine, backend, *_ = make_engine(script)
    state = engine.run()
    assert state.done and backend.remaining == 0
    asked = [r.max_tokens for r in backend.requests if r.purpose == phase]
    assert asked[1] == 2 * asked[0], asked
    assert len([e for e in engine.sink.events if isinstance(e, StepFailed)]) == 0


def test_a_cut_off_json_action_is_retried_only_within_the_context():
    cut = raw("search", '<thought>t</thought><action>{"name": "', finish_reason="length")
    engine, backend, *_ = make_engine([cut, cut, search("a")], context_length=2600)
    engine.step()
    asked = [r.max_tokens for r in backend.requests]
    assert len(asked) == 2 and asked[0] < asked[1] < 2 * asked[0], asked
