"""The citation check inside a run: checked after each write, journaled, revised once, resumed."""

from desktop.core.chat import ChatRequest
from desktop.core.engine import Engine
from desktop.core.events import ListSink, SectionChecked
from desktop.core.state import RunConfig, RunState
from desktop.core.support import current_checks
from desktop.core.verify import SectionVerifier, Thresholds
from desktop.llm.scripted import Expect, ScriptedBackend
from desktop.store.journal import RunJournal
from tests.helpers import (
    MemoryRetriever,
    action,
    corpus,
    init_plan,
    nop,
    search,
    shown_passages,
)

UNSUPPORTED = "Offshore turbines deliver 42 gigawatts along the northern coast"


def first_passage(request: ChatRequest) -> tuple[str, str]:
    return next((k, t) for k, t in shown_passages(request.prompt_text) if t.startswith("Passage"))


def grounded(request: ChatRequest) -> str:
    """A write that restates the first passage it was shown, cited to it."""
    key, text = first_passage(request)
    return action(f"{text.rstrip('.')} \\cite{{{key}}}.")


def ungrounded(request: ChatRequest) -> str:
    """A write whose sentence its cited passage does not support."""
    key, text = first_passage(request)
    return action(f"{text.rstrip('.')} \\cite{{{key}}}. {UNSUPPORTED} \\cite{{{key}}}.")


def make_engine(replies, config, journal=None, state=None, verifier=None):
    backend = ScriptedBackend(replies)
    sink = ListSink()
    engine = Engine(
        run_id="test",
        state=state or RunState(question="How does solar energy work?", language="en"),
        config=config,
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        sink=sink,
        journal=journal,
        verifier=verifier,
    )
    return engine, backend, sink


def test_each_write_is_checked_without_an_llm_step():
    replies = [
        search("solar"),
        init_plan("Energy", "Solar", "Wind"),
        search("solar"),
        Expect("write", ungrounded),
        search("wind"),
        Expect("write", grounded),
    ]
    engine, backend, sink = make_engine(replies, RunConfig(max_step=20, max_extend=0))
    state = engine.run()
    assert backend.remaining == 0 and state.step == 6  # checking cost no step
    checks = sink.of(SectionChecked)
    assert [c.section_id for c in checks] == ["s1", "s2"]
    first, second = checks[0].check, checks[1].check
    assert [c.verdict for c in first.claims] == ["supported", "unsupported"]
    assert first.claims[1].text == UNSUPPORTED + "."
    assert [c.verdict for c in second.claims] == ["supported"]
    assert not checks[0].revising  # the option is off by default


def test_revise_rewrites_a_flagged_section_once_naming_its_sentences():
    replies = [
        search("solar"),
        init_plan("Energy", "Solar"),
        search("solar"),
        Expect("write", ungrounded),
        Expect("write", ungrounded),  # the revision: still flagged, but never revised twice
    ]
    config = RunConfig(max_step=20, max_extend=0, revise_unsupported=True)
    engine, backend, sink = make_engine(replies, config)
    state = engine.run()
    assert [r.purpose for r in backend.requests] == [
        "search",
        "init_plan",
        "search",
        "write",
        "write",
    ]
    assert state.done and state.step == 5  # the revision cost exactly one step
    first_prompt, revision_prompt = backend.requests[3].prompt_text, backend.requests[4].prompt_text
    assert UNSUPPORTED not in first_prompt
    assert f'"{UNSUPPORTED}."' in revision_prompt and "Revise this section" in revision_prompt
    assert "unsupported" in revision_prompt
    checks = sink.of(SectionChecked)
    assert [c.revising for c in checks] == [True, False]
    assert state.outline.get("s1").content  # the rewrite is kept
    assert state.revised == ("s1",) and state.revise is None


def test_resume_keeps_every_check(tmp_path):
    config = RunConfig(max_step=40, max_extend=0, revise_unsupported=True)
    state = RunState(question="How does solar energy work?", language="en")
    journal = RunJournal.create(tmp_path, state, config, sources=[], model="scripted")
    replies = [
        search("solar"),
        init_plan("Energy", "Solar", "Wind"),
        search("solar"),
        Expect("write", ungrounded),
        Expect("write", grounded),
        search("wind"),
    ]
    engine, backend, _ = make_engine(replies, config, journal, state)
    backend.on_request = lambda r: engine.stop() if len(backend.requests) == 6 else None
    engine.run()
    assert engine.status == "stopped"
    before = journal.checks()
    assert [(c.section_id, len(c.flagged)) for c in before] == [("s1", 1), ("s1", 0)]
    run_id = journal.run_id
    journal.close()

    reopened = RunJournal.open(tmp_path, run_id)
    resumed = reopened.latest_state()
    assert resumed.revised == ("s1",)  # a resumed run will not revise s1 again
    engine2, backend2, sink2 = make_engine(
        [search("wind"), Expect("write", grounded)], reopened.config, reopened, resumed
    )
    final = engine2.run()
    assert final.done and backend2.remaining == 0
    after = reopened.checks()
    assert after[:2] == before  # nothing lost, nothing rewritten
    assert [c.section_id for c in after] == ["s1", "s1", "s2"]
    current = current_checks(final.outline, after, final.registry)
    assert [(c.section_id, len(c.flagged)) for c in current] == [("s1", 0), ("s2", 0)]
    reopened.close()


def test_checks_can_be_turned_off():
    replies = [search("solar"), init_plan("E", "Solar"), search("solar"), Expect("write", grounded)]
    engine, _, sink = make_engine(replies, RunConfig(max_step=20, max_extend=0, check_claims=False))
    engine.run()
    assert sink.of(SectionChecked) == []


def test_the_judge_runs_on_the_run_model_within_its_budget():
    """With judge_claims the engine asks the same backend a grammar-constrained yes/no."""
    replies = [
        search("solar"),
        init_plan("E", "Solar"),
        search("solar"),
        Expect("write", ungrounded),
        Expect("check", "no"),  # the budget allows one question, about the first claim
    ]
    config = RunConfig(max_step=20, max_extend=0, judge_claims=True, judge_budget=1)
    ask_always = SectionVerifier(thresholds=Thresholds(judge_band=(0.0, 1.01)))
    engine, backend, sink = make_engine(replies, config, verifier=ask_always)
    state = engine.run()
    assert backend.remaining == 0 and state.step == 4  # judge calls are not WARP steps
    judge_call = backend.requests[-1]
    assert judge_call.purpose == "check" and judge_call.grammar == 'root ::= "yes" | "no"'
    assert judge_call.temperature == 0.0 and "Does the passage support the claim?" in (
        judge_call.prompt_text
    )
    check = sink.of(SectionChecked)[0].check
    assert check.judge_calls == 1 and engine.verifier.budget.remaining == 0
    assert [c.judged for c in check.claims] == ["no", ""]
    assert check.claims[0].verdict != "supported"  # the judge's no overrules the words


def test_nop_keeps_flagged_sections_unrevised_without_the_option():
    replies = [
        search("solar"),
        init_plan("E", "Solar"),
        search("solar"),
        Expect("write", ungrounded),
        nop(),
    ]
    engine, backend, sink = make_engine(replies, RunConfig(max_step=20, max_extend=1))
    engine.run()
    assert [r.purpose for r in backend.requests][-1] == "extend_plan"
    assert len(sink.of(SectionChecked)) == 1
