"""`open_run`, the one way a run is driven (CLI research and resume, the GUI's engine worker).

It builds the web retriever from the run's plan (a new run: the spec's; a resumed one: the
journal's), records the network into the run journal, and on every way out (finished, an
exception, Stop) closes exactly what it built: the web retriever and the journal, never the
caller's backend or local retriever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.cancel import CancelToken
from desktop.core.state import RunConfig
from desktop.knowledge.web import WebPlan, combine
from desktop.llm.scripted import ScriptedBackend
from desktop.session import WEB_META, RunSpec, SessionError, open_run
from desktop.store.journal import RunBusy, RunJournal
from tests.helpers import MemoryRetriever, corpus, init_plan, search, write
from tests.knowledge.test_web import SOLAR_HTML, FakeWeb

QUESTION = "How do solar and wind power compare for a home?"


class Local(MemoryRetriever):
    """The caller's local retriever: open_run must leave it open."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


class Built:
    """A web builder (the real `combine`) that records each plan and each close."""

    def __init__(self) -> None:
        self.plans: list[WebPlan] = []
        self.locals: list[object] = []
        self.closed = 0

    def __call__(self, local, plan: WebPlan, data_dir: Path):
        combined = combine(local, plan, data_dir)
        self.plans.append(plan)
        self.locals.append(local)
        builder = self

        class Recorded:
            def search(self, query: str, k: int):
                return combined.search(query, k)

            def close(self) -> None:
                builder.closed += 1
                combined.close()

        return Recorded()


@pytest.fixture
def plan(fake_web: FakeWeb) -> WebPlan:
    solar = fake_web.page("/solar", SOLAR_HTML)
    fake_web.results = [{"url": solar, "title": "Solar power", "content": "Panels."}]
    return WebPlan("searxng", fake_web.url, 0.5)


def spec(web_plan: WebPlan | None) -> RunSpec:
    return RunSpec(QUESTION, (), RunConfig(max_step=8, max_extend=0), "scripted", web_plan)


def finishing() -> list:
    return [
        search("solar power"),
        init_plan("Solar and wind", "Comparison"),
        search("solar wind"),
        write("Solar and wind differ", n_cites=2),
    ]


def assert_released(data: Path, run_id: str) -> None:
    """The journal was closed: another writer can claim the run now."""
    journal = RunJournal.open(data, run_id)
    try:
        journal.claim()
    finally:
        journal.close()


def test_a_finished_run_closes_the_web_search_and_journal_it_opened(tmp_path, plan) -> None:
    built, local = Built(), Local(corpus())
    backend = ScriptedBackend(finishing())
    with open_run(tmp_path, spec(plan), backend=backend, local=local, web_builder=built) as session:
        other = RunJournal.open(tmp_path, session.run_id)
        with pytest.raises(RunBusy):  # held while open: the check below can fail
            other.claim()
        other.close()
        session.run()
        assert session.status == "finished"
        logged = {e.purpose for e in session.journal.network_entries()}
    assert logged >= {"web search (SearXNG)", "web page"}  # recorded into the run's journal
    assert built.plans == [plan] and built.locals == [local] and built.closed == 1
    assert local.closed == 0  # the caller's
    assert_released(tmp_path, session.run_id)


def test_an_error_inside_the_run_still_closes_everything(tmp_path, plan) -> None:
    built = Built()
    with (
        pytest.raises(RuntimeError, match="the window went away"),
        open_run(
            tmp_path,
            spec(plan),
            backend=ScriptedBackend([]),
            local=Local(corpus()),
            web_builder=built,
        ) as session,
    ):
        run_id = session.run_id
        raise RuntimeError("the window went away")
    assert built.closed == 1
    assert_released(tmp_path, run_id)


def test_a_run_that_cannot_start_closes_the_web_search_it_built(tmp_path, plan) -> None:
    built = Built()
    empty = RunSpec("   ", (), RunConfig(), "scripted", plan)
    with (
        pytest.raises(SessionError, match="question is empty"),
        open_run(tmp_path, empty, backend=ScriptedBackend([]), local=Local([]), web_builder=built),
    ):
        pass
    assert built.plans == [plan] and built.closed == 1


def test_stop_then_resume_builds_the_same_web_search_and_closes_it_each_time(
    tmp_path, plan
) -> None:
    built = Built()
    cancel = CancelToken()
    first = ScriptedBackend(finishing()[:3])
    first.on_request = lambda request: cancel.set() if len(first.requests) == 3 else None
    with open_run(
        tmp_path,
        spec(plan),
        backend=first,
        local=Local(corpus()),
        cancel=cancel,
        web_builder=built,
    ) as session:
        session.run()
        assert session.status == "stopped"
        run_id = session.run_id
    assert built.closed == 1
    assert_released(tmp_path, run_id)

    again = Local(corpus())
    second = ScriptedBackend(finishing()[2:])
    with open_run(tmp_path, run_id, backend=second, local=again, web_builder=built) as resumed:
        assert resumed.web_plan == plan and resumed.notice == ""
        resumed.run()
        assert resumed.status == "finished"
    assert built.plans == [plan, plan]  # the journal's plan, not the (absent) settings
    assert built.locals[1] is again and built.closed == 2 and again.closed == 0
    assert_released(tmp_path, run_id)


def test_a_resume_in_offline_mode_builds_no_web_search(tmp_path) -> None:
    built = Built()
    remote = WebPlan("searxng", "https://search.example.org", 0.5)
    cancel = CancelToken()
    cancel.set()  # stopped before its first step
    with open_run(
        tmp_path,
        spec(None),
        backend=ScriptedBackend([]),
        local=Local(corpus()),
        cancel=cancel,
    ) as session:
        session.journal.set_meta(WEB_META, remote.to_dict())  # as if started online
        session.run()
        run_id = session.run_id
    with open_run(
        tmp_path,
        run_id,
        backend=ScriptedBackend(finishing()),
        local=Local(corpus()),
        web_builder=built,
    ) as resumed:
        assert resumed.web_plan is None and "offline mode" in resumed.notice
    assert built.plans == []


def test_the_citation_check_uses_the_librarys_embedder_through_a_web_combination():
    from desktop.knowledge.claim_similarity import EmbeddingSimilarity
    from desktop.knowledge.retrieval import LibraryRetriever
    from desktop.knowledge.web import CombinedRetriever
    from desktop.session import verifier_for

    class Embedder:
        """Stands for the library's embedder: only its identity is checked here."""

    embedder = Embedder()
    library = LibraryRetriever(None, None, embedder, None, hybrid=False)  # type: ignore[arg-type]
    for retriever in (library, CombinedRetriever(library, MemoryRetriever([]), 0.5)):
        similarity = verifier_for(retriever).similarity
        assert isinstance(similarity, EmbeddingSimilarity) and similarity.embedder is embedder
    assert verifier_for(MemoryRetriever([])).similarity is None  # no embedder: words only
