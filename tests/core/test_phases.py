"""`next_phase`: every transition of warp.md's "Transitions", as a pure function and in a run."""

from __future__ import annotations

from desktop.core.actions import ExtendPlan, InitPlan, Nop, Search, Write
from desktop.core.commands import LockSection, apply_command
from desktop.core.engine import Engine
from desktop.core.events import ListSink, RunFinished, StepCompleted, StepFailed
from desktop.core.outline import Outline
from desktop.core.phases import Next, after, next_phase, settle
from desktop.core.state import RunConfig, RunState
from desktop.llm.scripted import ScriptedBackend
from tests.helpers import MemoryRetriever, corpus, extend, init_plan, nop, raw, search, write

CONFIG = RunConfig(max_step=40, max_extend=2)


def planned(*written: str, phase="search", pack_for=None, **changes) -> RunState:
    outline = Outline.initial("T", [("A", "a"), ("B", "b")])
    for section_id in written:
        outline = outline.with_content(section_id, "text")
    return RunState("q", "en", phase=phase, outline=outline, pack_for=pack_for, **changes)


# ---- the cursor rule -------------------------------------------------------------------------
def test_before_the_outline_and_while_init_plan_is_due_nothing_changes() -> None:
    assert next_phase(RunState("q", "en"), CONFIG) == Next("search")
    first = RunState("q", "en", phase="init_plan", pack_for="outline")
    assert next_phase(first, CONFIG) == Next("init_plan")


def test_a_write_needs_a_pack_searched_for_the_cursor() -> None:
    assert next_phase(planned(phase="write", pack_for="s1"), CONFIG) == Next("write")
    # the cursor moved (the user wrote or deleted s1 meanwhile): search for the new one first
    assert next_phase(planned("s1", phase="write", pack_for="s1"), CONFIG) == Next("search")
    assert next_phase(planned("s1", phase="search", pack_for="s1"), CONFIG) == Next("search")


def test_after_the_last_write_the_run_deepens_while_the_budget_lasts() -> None:
    written = planned("s1", "s2", phase="write", pack_for="s2")
    assert next_phase(written, CONFIG) == Next("extend_plan")
    spent = planned("s1", "s2", phase="write", pack_for="s2", extend_count=2)
    assert next_phase(spent, CONFIG) == Next("done", "max_extend")
    # a user's deepen target forces one extension regardless of the budget
    forced = planned("s1", "s2", phase="write", extend_count=2, deepen_target="s1")
    assert next_phase(forced, CONFIG) == Next("extend_plan")


def test_a_due_extension_with_nothing_to_expand_ends_the_run() -> None:
    state = planned("s1", "s2", phase="extend_plan")
    for section_id in ("s1", "s2"):
        state, _ = apply_command(state, LockSection(section_id))  # locked: never expandable
    assert next_phase(state, CONFIG) == Next("done", "nothing to expand")
    # a write does not look ahead: the extension step decides
    assert next_phase(state.evolve(phase="write"), CONFIG) == Next("extend_plan")


def test_without_budgets_edits_only_reapply_the_cursor_rule() -> None:
    spent = planned("s1", "s2", phase="write", extend_count=9)
    assert next_phase(spent, None) == Next("extend_plan")  # the engine applies max_extend
    assert next_phase(planned("s1", "s2", phase="search"), None) == Next("extend_plan")


def test_a_locked_section_is_never_the_cursor() -> None:
    state, _ = apply_command(planned(phase="write", pack_for="s1"), LockSection("s1"))
    assert state.phase == "search"  # s2 is the cursor now: search for it first
    assert next_phase(state, CONFIG) == Next("search")


def test_a_finished_run_stays_finished_unless_an_edit_gives_it_a_cursor() -> None:
    done = planned("s1", "s2", phase="done", stop_reason="nop")
    assert next_phase(done, CONFIG) == Next("done", "nop")
    rewritten = planned("s1", phase="done", stop_reason="nop")  # s2's text was cleared
    assert settle(rewritten, None).phase == "search" and settle(rewritten, None).stop_reason is None


def test_settle_ends_a_run_without_its_deepen_target() -> None:
    state = planned("s1", "s2", phase="extend_plan", extend_count=2)
    settled = settle(state, CONFIG)
    assert (settled.phase, settled.stop_reason, settled.deepen_target) == (
        "done",
        "max_extend",
        None,
    )
    assert settle(settled, CONFIG) is settled  # already due: unchanged


def test_max_step_ends_the_run_in_any_phase_but_edits_know_no_budget() -> None:
    for phase in ("search", "init_plan", "write", "extend_plan"):
        spent = planned(phase=phase, pack_for="s1", step=40)
        assert next_phase(spent, CONFIG) == Next("done", "max_step"), phase
        assert next_phase(spent, None) == next_phase(spent.evolve(step=0), CONFIG), phase
    assert next_phase(planned(phase="write", pack_for="s1", step=39), CONFIG) == Next("write")
    done = planned("s1", "s2", phase="done", stop_reason="nop", step=40)
    assert next_phase(done, CONFIG) == Next("done", "nop")  # the reason it stopped is kept


# ---- where an action leads -------------------------------------------------------------------
def test_each_action_leads_where_warp_says() -> None:
    fresh = RunState("q", "en")
    assert after(Search(("k",)), fresh, CONFIG) == Next("init_plan")  # the outline's search
    assert after(Search(("k",)), planned(), CONFIG) == Next("write")
    assert after(InitPlan("T", (("A", "a"),)), planned(), CONFIG) == Next("search")
    assert after(ExtendPlan("section-1", (("C", "c"),)), planned(), CONFIG) == Next("search")
    assert after(Nop(), planned("s1", "s2"), CONFIG) == Next("done", "nop")


def test_after_a_write_the_cursor_rule_decides() -> None:
    text = Write("text", False, ())
    assert after(text, planned("s1", phase="write", pack_for="s1"), CONFIG) == Next("search")
    both = planned("s1", "s2", phase="search", pack_for="s2")
    assert after(text, both, CONFIG) == Next("extend_plan")
    spent = planned("s1", "s2", pack_for="s2", extend_count=2)
    assert after(text, spent, CONFIG) == Next("done", "max_extend")


# ---- the same transitions in a run -----------------------------------------------------------
def test_a_run_walks_every_transition() -> None:
    backend = ScriptedBackend(
        [
            search("solar"),  # search → init_plan (the cursor is `outline`)
            init_plan("Energy", "Solar"),  # init_plan → search
            search("solar"),  # search → write
            write("Solar panels turn light into power", n_cites=1),  # write → extend_plan
            raw("extend_plan", "<action>not json</action>"),  # fails: stays, costs an extension
            extend("section-1", "Cost", "Output"),  # extend-plan → search
            search("cost"),
            write("Panels cost less each year", n_cites=1),  # write → search (a cursor left)
            search("output"),
            write("Output follows the sun", n_cites=1),  # write → done: max_extend spent
        ]
    )
    sink = ListSink()
    engine = Engine(
        run_id="t",
        state=RunState("How do solar panels compare?", "en"),
        config=RunConfig(max_step=40, max_extend=2),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        sink=sink,
    )
    final = engine.run()
    steps = [(e.phase, e.next_phase) for e in sink.of(StepCompleted)]
    assert steps == [
        ("search", "init_plan"),
        ("init_plan", "search"),
        ("search", "write"),
        ("write", "extend_plan"),
        ("extend_plan", "search"),
        ("search", "write"),
        ("write", "search"),
        ("search", "write"),
        ("write", "done"),
    ]
    assert [e.phase for e in sink.of(StepFailed)] == ["extend_plan"]
    assert final.step == 10 and final.extend_count == 2 and final.stop_reason == "max_extend"
    assert sink.of(RunFinished)


def test_nop_ends_the_run_and_max_step_ends_it_too() -> None:
    def run(replies, config):
        engine = Engine(
            run_id="t",
            state=RunState("How do solar panels compare?", "en"),
            config=config,
            backend=ScriptedBackend(replies),
            retriever=MemoryRetriever(corpus()),
            sink=ListSink(),
        )
        return engine.run()

    opening = [search("solar"), init_plan("Energy", "Solar"), search("solar"), write(n_cites=1)]
    assert run([*opening, nop()], RunConfig(max_step=40, max_extend=2)).stop_reason == "nop"
    assert run(opening[:2], RunConfig(max_step=2, max_extend=2)).stop_reason == "max_step"
