"""Run journal: committed steps survive, evidence is stored once, the LLM cache answers."""

from desktop.core.engine import Engine
from desktop.core.events import ListSink
from desktop.core.state import RunConfig, RunState
from desktop.llm.scripted import ScriptedBackend
from desktop.store.journal import RunJournal, list_runs
from tests.helpers import MemoryRetriever, corpus, init_plan, nop, search, write


def test_resume_from_journal_continues_where_it_stopped(tmp_path):
    config = RunConfig(max_step=40, max_extend=1)
    state = RunState(question="q about solar", language="en")
    journal = RunJournal.create(tmp_path, state, config, sources=["/d"], model="scripted")
    first = ScriptedBackend(
        [search("solar"), init_plan("E", "A", "B"), search("a"), write(), search("b")]
    )
    engine = Engine(
        run_id=journal.run_id,
        state=state,
        config=config,
        backend=first,
        retriever=MemoryRetriever(corpus()),
        journal=journal,
    )
    first.on_request = lambda r: engine.stop() if len(first.requests) == 5 else None
    engine.run()
    assert engine.status == "stopped" and journal.info().status == "stopped"
    run_id = journal.run_id
    journal.close()

    reopened = RunJournal.open(tmp_path, run_id)
    resumed = reopened.latest_state()
    assert resumed.step == 4 and resumed.phase == "search"
    assert resumed.outline.get("s1").content and len(resumed.registry) == len(engine.state.registry)
    assert resumed.registry.by_key == engine.state.registry.by_key
    second = ScriptedBackend([search("b"), write(), nop()])
    engine2 = Engine(
        run_id=run_id,
        state=resumed,
        config=reopened.config,
        backend=second,
        retriever=MemoryRetriever(corpus()),
        journal=reopened,
        sink=ListSink(),
    )
    final = engine2.run()
    assert final.done and second.remaining == 0
    info = reopened.info()
    assert info.status == "finished" and info.steps == 7
    assert [r.id for r in list_runs(tmp_path)] == [run_id]


def test_llm_cache_answers_a_repeated_step(tmp_path):
    state = RunState(question="q", language="en")
    journal = RunJournal.create(tmp_path, state, RunConfig(), sources=[], model="m")
    backend = ScriptedBackend([search("solar")])
    engine = Engine(
        run_id=journal.run_id,
        state=state,
        config=RunConfig(max_step=1),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        journal=journal,
    )
    engine.run()
    # A crash right after the call: the state before it is what resume sees; the call is cached.
    replay = Engine(
        run_id=journal.run_id,
        state=state,
        config=RunConfig(max_step=1),
        backend=ScriptedBackend([]),
        retriever=MemoryRetriever(corpus()),
        journal=journal,
    )
    replay.run()
    assert replay.state.step == 1 and replay.state.pack_for == "outline"
    assert len(replay.state.pack) == 20


def test_interrupted_status_when_process_is_gone(tmp_path):
    journal = RunJournal.create(
        tmp_path, RunState(question="q", language="en"), RunConfig(), sources=[], model="m"
    )
    journal.set_status("running")
    assert journal.info().status == "running"  # this process holds it
    run_id = journal.run_id
    journal.close()  # what the OS does for a process that dies
    assert RunJournal.open(tmp_path, run_id).info().status == "interrupted"


def test_every_commit_is_synced_so_a_power_cut_keeps_it(tmp_path):
    """WAL with synchronous=NORMAL may roll back the last commits after a power cut; the
    journal's promise (a power cut loses at most the step in progress) needs FULL."""
    journal = RunJournal.create(
        tmp_path, RunState(question="q", language="en"), RunConfig(), sources=[], model="m"
    )
    assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    journal.close()
