"""Web research in the GUI: runs journal their network log and resume with their own web plan;
the citation viewer shows web sources as text only and asks before opening a browser offline;
the settings dialog warns when Offline would refuse the model server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument

from desktop import network
from desktop.core.evidence import Passage
from desktop.core.report import Reference
from desktop.core.state import RunConfig
from desktop.gui import citation
from desktop.gui.citation import CitationViewer
from desktop.gui.engine_worker import RunController
from desktop.gui.tasks import BackgroundTasks
from desktop.llm.scripted import ScriptedBackend
from desktop.session import WEB_META
from desktop.settings import Settings
from desktop.store.journal import RunJournal
from tests.gui.fakes import ScriptedModels
from tests.helpers import MemoryRetriever, corpus, init_plan, search, write
from tests.knowledge.test_web import SOLAR_HTML, WIND_TEXT, FakeWeb

WAIT = 15_000
QUESTION = "How do solar and wind power compare for a home?"
SHORT = Settings.of(max_step=8, max_extend=0)


@pytest.fixture
def fake_web() -> Iterator[FakeWeb]:
    fake = FakeWeb()
    solar = fake.page("/solar", SOLAR_HTML)
    wind = fake.page("/wind", WIND_TEXT, "text/plain")
    fake.results = [
        {"url": solar, "title": "Solar power basics", "content": "Panels and sunlight."},
        {"url": wind, "title": "Wind energy", "content": "Turbines and wind."},
    ]
    yield fake
    fake.close()


def _controller(qtbot, backend: ScriptedBackend) -> RunController:
    return RunController(ScriptedModels(backend))


def _searches(fake: FakeWeb) -> int:
    return sum(1 for r in fake.requests if r.startswith("/search"))


# ---- runs ------------------------------------------------------------------------------------
def test_gui_runs_journal_the_network_log_and_resume_with_their_web_plan(
    qtbot, tmp_path: Path, fake_web: FakeWeb
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    local = MemoryRetriever(corpus())
    with_search = Settings.of(
        web_search=True, search_url=fake_web.url, web_share=0.5, max_step=8, max_extend=0
    )
    first = ScriptedBackend(
        [search("solar power", "wind power"), init_plan("Solar and wind", "Comparison"), search()]
    )
    controller = _controller(qtbot, first)
    try:
        first.on_request = lambda r: controller.stop() if len(first.requests) == 3 else None
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.start(data, with_search, lambda: local, QUESTION, [])
        assert ended.args[0].status == "stopped", ended.args[0]
        run_id = ended.args[0].run_id
        journal = RunJournal.open(data, run_id)
        before = journal.network_entries()
        assert journal.meta(WEB_META) == {
            "provider": "searxng",
            "search_url": fake_web.url,
            "web_share": 0.5,
        }
        journal.close()
        assert {e.purpose for e in before} >= {"web search (SearXNG)", "web page"}
        assert {e.host for e in before} == {"127.0.0.1"}
        searched = _searches(fake_web)
    finally:
        assert controller.shutdown()

    # Resumed with web search now off in the settings: the run's own plan still applies.
    second = ScriptedBackend([search("solar wind comparison"), write("They differ", n_cites=4)])
    controller = _controller(qtbot, second)
    try:
        no_web = Settings.of(web_search=False, max_step=8, max_extend=0)
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.resume(data, no_web, lambda: local, run_id)
        assert ended.args[0].status == "finished", ended.args[0]
    finally:
        assert controller.shutdown()
    assert _searches(fake_web) > searched
    journal = RunJournal.open(data, run_id)
    after = journal.network_entries()
    state = journal.latest_state()
    journal.close()
    assert after[: len(before)] == before and len(after) > len(before)
    assert {p.kind for p in state.registry.by_key.values()} == {"file", "web"}


def test_a_gui_resume_uses_the_run_plan_not_the_settings(
    qtbot, tmp_path: Path, fake_web: FakeWeb
) -> None:
    """A run started without web search stays without it, even if the settings now turn it on;
    the worker takes the web plan from the journal, not from the settings."""
    data = tmp_path / "data"
    data.mkdir()
    local = MemoryRetriever(corpus())
    first = ScriptedBackend(
        [search("solar power"), init_plan("Solar and wind", "Comparison"), search()]
    )
    controller = _controller(qtbot, first)
    try:
        first.on_request = lambda r: controller.stop() if len(first.requests) == 3 else None
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.start(data, SHORT, lambda: local, QUESTION, [])
        run_id = ended.args[0].run_id
    finally:
        assert controller.shutdown()
    with_search = Settings.of(
        web_search=True, search_url=fake_web.url, web_share=1.0, max_step=8, max_extend=0
    )
    second = ScriptedBackend([search("solar"), write("They differ", n_cites=2)])
    controller = _controller(qtbot, second)
    try:
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.resume(data, with_search, lambda: local, run_id)
        assert ended.args[0].status == "finished", ended.args[0]
    finally:
        assert controller.shutdown()
    assert fake_web.requests == []
    journal = RunJournal.open(data, run_id)
    assert journal.network_entries() == [] and journal.meta(WEB_META) is None
    journal.close()


def test_a_gui_resume_offline_says_the_web_is_skipped(qtbot, tmp_path: Path) -> None:
    from desktop.knowledge.web import WebPlan
    from desktop.session import ResearchSession

    data = tmp_path / "data"
    data.mkdir()
    plan = WebPlan("duckduckgo", None, 0.5)
    session = ResearchSession.start(
        data,
        QUESTION,
        sources=[],
        config=RunConfig(max_step=8, max_extend=0),
        backend=ScriptedBackend([]),
        retriever=MemoryRetriever(corpus()),
        model_name="scripted",
        web_plan=plan,
    )
    run_id = session.run_id
    session.journal.set_status("stopped")
    session.close()
    backend = ScriptedBackend(
        [search("solar"), init_plan("Solar", "One"), search("solar"), write(n_cites=1)]
    )
    controller = _controller(qtbot, backend)
    messages: list[str] = []
    controller.loading.connect(messages.append)
    try:
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.resume(data, SHORT, lambda: MemoryRetriever(corpus()), run_id)
        assert ended.args[0].status == "finished", ended.args[0]
    finally:
        assert controller.shutdown()
    assert (
        "Offline mode: this run searched the web (duckduckgo); it continues with your "
        "documents only"
    ) in messages
    assert network.recent_entries() == []


def test_a_model_server_probe_is_journaled_with_the_run(qtbot, tmp_path: Path) -> None:
    """Requests made while the model opens (a server's probe) reach the run's journal too."""
    data = tmp_path / "data"
    data.mkdir()
    backend = ScriptedBackend(
        [search("solar"), init_plan("Solar", "One"), search("solar"), write(n_cites=1)]
    )
    models = ScriptedModels(backend)
    real_open = models.open

    def open_with_probe(settings, data_dir):
        network.guard("http://127.0.0.1:9/v1/models", "model server")  # as the probe logs
        return real_open(settings, data_dir)

    models.open = open_with_probe  # type: ignore[method-assign]
    controller = RunController(models)
    try:
        with qtbot.waitSignal(controller.ended, timeout=WAIT) as ended:
            controller.start(data, SHORT, lambda: MemoryRetriever(corpus()), QUESTION, [])
        assert ended.args[0].status == "finished", ended.args[0]
    finally:
        assert controller.shutdown()
    journal = RunJournal.open(data, ended.args[0].run_id)
    entries = journal.network_entries()
    journal.close()
    assert [(e.host, e.purpose) for e in entries] == [("127.0.0.1", "model server")]


# ---- the citation viewer -------------------------------------------------------------------------
WEB_URL = "https://energy.example.org/solar?ref=1"


def _web_reference(text: str = "Panels convert sunlight into electricity.") -> Reference:
    passage = Passage(
        text=text,
        source=WEB_URL,
        chunk_id="web:abc:0",
        title="Solar <b>power</b> basics",
        kind="web",
        accessed="2026-11-24",
    )
    return Reference(1, "textid1", passage)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def open_url(url: QUrl) -> bool:
        urls.append(url.toString())
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    return urls


@pytest.fixture
def viewer(qtbot) -> Iterator[CitationViewer]:
    tasks = BackgroundTasks()
    view = CitationViewer(tasks)
    qtbot.addWidget(view)
    yield view
    assert tasks.wait()


def test_a_web_source_is_shown_as_text_only(viewer: CitationViewer) -> None:
    hostile = 'Read this <img src="https://tracker.example.org/pixel.png"> now.'
    viewer.show_reference(_web_reference(hostile))
    shown = viewer.passage.toPlainText()
    assert "Solar <b>power</b> basics" in shown  # the title as text, markup not interpreted
    assert WEB_URL in shown and "accessed 2026-11-24" in shown
    assert hostile in shown  # the passage's markup is text too: no image element exists
    assert "<img" not in viewer.passage.toHtml().replace("&lt;img", "")
    assert viewer.open_button.isEnabled()
    assert viewer.page_label.text().startswith("A web page")
    # Even if markup with a remote image reached the browser, nothing would be fetched.
    viewer.passage.setHtml('<img src="https://tracker.example.org/pixel.png">')
    viewer.passage.document().adjustSize()  # lays the document out: images are asked for
    assert "https://tracker.example.org/pixel.png" in viewer.passage.refused
    resource = viewer.passage.loadResource(
        QTextDocument.ResourceType.ImageResource.value, QUrl("http://tracker.example.org/x.png")
    )
    assert resource is None


def test_open_source_online_opens_the_browser(viewer: CitationViewer, opened, monkeypatch) -> None:
    network.configure(offline=False)
    asked: list[str] = []
    monkeypatch.setattr(citation, "ask_question", lambda *a: asked.append(a[2]) or False)
    viewer.show_reference(_web_reference())
    assert viewer.open_source() is True
    assert opened == [WEB_URL] and asked == []


def test_open_source_offline_asks_first(viewer: CitationViewer, opened, monkeypatch) -> None:
    asked: list[str] = []
    answers = [False, True]
    monkeypatch.setattr(
        citation, "ask_question", lambda parent, title, text: asked.append(text) or answers.pop(0)
    )
    viewer.show_reference(_web_reference())
    assert viewer.open_source() is False  # declined: nothing opened
    assert opened == []
    assert len(asked) == 1 and asked[0].startswith(f"Offline mode is on. Open {WEB_URL}")
    assert "offline guarantee to your browser" in asked[0]
    viewer.open_button.click()  # accepted: handed to the browser
    assert opened == [WEB_URL] and len(asked) == 2


def test_links_in_the_viewer_go_through_the_same_check(qtbot, opened) -> None:
    answers: list[bool] = []
    tasks = BackgroundTasks()
    view = CitationViewer(tasks, confirm=lambda parent, title, text: answers.append(True) or False)
    qtbot.addWidget(view)
    view.show_reference(_web_reference())
    view.header.linkActivated.emit(WEB_URL)  # the header's link
    view.passage.anchorClicked.emit(QUrl(WEB_URL))  # a link in the passage pane
    assert answers == [True, True] and opened == []  # both asked (offline), both declined
    assert view.open_url(QUrl("file:///etc/passwd")) is False  # never a non-web link
    assert view.open_url(QUrl("javascript:alert(1)")) is False
    assert len(answers) == 2 and opened == []
    assert tasks.wait()


# ---- the settings dialog -------------------------------------------------------------------------
def test_settings_warn_when_offline_would_refuse_the_model_server(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from desktop.gui import settings_dialog
    from desktop.gui.settings_dialog import Environment, SettingsDialog
    from tests.gui.fakes import CannedPrompts

    env = Environment((), "SmolLM2 (embedded)", False, "the system keyring", False)
    monkeypatch.setattr(settings_dialog, "probe_environment", lambda data_dir: env)
    tasks = BackgroundTasks()
    dialog = SettingsDialog(
        Settings.of(server_url="http://gpu-box.example.org:8080/v1"),
        tmp_path,
        tasks,
        CannedPrompts(),
    )
    qtbot.addWidget(dialog)
    dialog.show()
    warning = dialog.server_warning
    assert dialog.offline.isChecked() and warning.isVisible()
    assert "refused" in warning.text()
    dialog.offline.setChecked(False)
    assert not warning.isVisible()
    dialog.offline.setChecked(True)
    assert warning.isVisible()
    dialog.server_url.setText("http://localhost:8080/v1")
    assert not warning.isVisible()
    dialog.server_url.setText("http://127.0.0.1:8080/v1")
    assert not warning.isVisible()
    dialog.server_url.setText("192.168.1.20:8080")  # no scheme: still a remote host
    assert warning.isVisible()
    dialog.use_embedded.setChecked(True)  # no server in use: nothing to warn about
    assert not warning.isVisible()
    dialog.reject()
    assert tasks.wait()
