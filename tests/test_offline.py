"""Offline by default, web research on request: whole runs on the scripted backend.

- A research with web search off (the default) opens no network connection at all: every
  `socket.connect` raises during ingest, retrieval and the run, and the run still finishes.
- A research with local + web evidence against a loopback fake SearXNG cites the fake URLs, and
  its requests are in the run journal's network log.
- The CLI refuses --web in offline mode (and with --offline) before loading anything, model
  downloads are refused offline, and a fresh install is offline.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desktop import network
from desktop.core.state import RunConfig
from desktop.knowledge.web import CombinedRetriever, PageFetcher, SearxngProvider, WebRetriever
from desktop.llm.scripted import ScriptedBackend
from desktop.session import ResearchSession
from desktop.settings import Settings
from desktop.store.journal import RunJournal
from tests.helpers import MemoryRetriever, corpus, init_plan, search, write
from tests.knowledge.test_web import SOLAR_HTML, WIND_TEXT, FakeWeb

QUESTION = "How do solar and wind power compare for a home?"


def _replies(n_cites: int = 2) -> list:
    return [
        search("solar power", "wind power"),
        init_plan("Solar and wind at home", "Comparison"),
        search("solar wind comparison"),
        write("Solar and wind differ in output and cost", n_cites=n_cites),
    ]


def _config() -> RunConfig:
    return RunConfig(max_step=8, max_extend=0)


def test_research_with_web_off_opens_no_network_connection(
    tmp_path: Path, no_sockets: list
) -> None:
    from desktop.knowledge.library import Library

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "energy.md").write_text(
        "# Solar\n\nSolar panels turn sunlight into electricity at about twenty percent "
        "efficiency.\n\n# Wind\n\nWind turbines produce more power in winter, when homes "
        "need more heat and light.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    settings = Settings.load(data)
    assert settings.privacy.offline and not settings.web.web_search  # a fresh install
    library = Library(data)
    try:
        statuses = library.add([docs])
        assert [s.status for s in statuses] == ["indexed"]
        session = ResearchSession.start(
            data,
            QUESTION,
            sources=[str(docs)],
            config=_config(),
            backend=ScriptedBackend(_replies()),
            retriever=library.retriever([docs]),
            model_name="scripted",
        )
        with network.recording_to(session.journal):
            session.run()
        assert session.engine.status == "finished"
        report = session.report()
        assert report.references and all(r.passage.kind == "file" for r in report.references)
        assert session.journal.network_entries() == []
        session.close()
    finally:
        library.close()
    assert no_sockets == []
    assert network.recent_entries() == []


def test_research_with_web_cites_the_fake_urls(tmp_path: Path, fake_web: FakeWeb) -> None:
    solar = fake_web.page("/solar", SOLAR_HTML)
    wind = fake_web.page("/wind", WIND_TEXT, "text/plain")
    fake_web.results = [
        {"url": solar, "title": "Solar power basics", "content": "Panels and sunlight."},
        {"url": wind, "title": "Wind energy", "content": "Turbines and wind."},
    ]
    web = WebRetriever(SearxngProvider(fake_web.url), PageFetcher(allow_loopback=True))
    retriever = CombinedRetriever(MemoryRetriever(corpus()), web, web_share=0.5)
    backend = ScriptedBackend(_replies(n_cites=4))
    session = ResearchSession.start(
        tmp_path,
        QUESTION,
        sources=[],
        config=_config(),
        backend=backend,
        retriever=retriever,
        model_name="scripted",
    )
    with network.recording_to(session.journal):
        session.run()
    web.close()
    assert session.engine.status == "finished"
    report = session.report()
    labels = [r.label for r in report.references]
    assert any(solar in label or wind in label for label in labels), labels
    assert {r.passage.kind for r in report.references} == {"file", "web"}
    web_ref = next(r for r in report.references if r.passage.kind == "web")
    assert "(accessed " in web_ref.label
    # the page's "ignore previous instructions" reached the model only inside the passages
    write_prompt = backend.requests[-1].prompt_text
    before, passages = write_prompt.split("** Retrieved Information **", 1)
    assert "Ignore previous instructions" in passages
    assert "Ignore previous instructions" not in before
    assert "alert(" not in write_prompt and "<script" not in write_prompt
    logged = session.journal.network_entries()
    assert {e.purpose for e in logged} >= {"web search (SearXNG)", "web page"}
    assert all(e.host == "127.0.0.1" for e in logged)
    run_id = session.run_id
    session.close()
    reopened = RunJournal.open(tmp_path, run_id)
    assert len(reopened.network_entries()) == len(logged)
    reopened.close()


def test_cli_refuses_web_offline_before_loading_anything(
    tmp_path: Path, capsys, no_sockets: list
) -> None:
    from desktop.cli import main

    docs = tmp_path / "a.md"
    docs.write_text("# A\n\nSome text about solar power.\n", encoding="utf-8")
    base = ["research", QUESTION, "--sources", str(docs), "--data-dir", str(tmp_path / "d")]
    assert main([*base, "--web", "--offline"]) == 1
    assert "cannot be used together" in capsys.readouterr().err
    assert main([*base, "--web", "--search-url", "https://search.example.org"]) == 1
    err = capsys.readouterr().err
    assert "offline mode is on" in err and err.count("\n") == 1
    assert main([*base, "--server", "http://models.example.org:8080/v1"]) == 1
    assert "offline mode is on: the model server" in capsys.readouterr().err
    assert no_sockets == []
    assert not list((tmp_path / "d").glob("runs/*.sqlite"))


def test_model_download_is_refused_offline(tmp_path: Path, no_sockets: list, monkeypatch) -> None:
    from desktop.llm.models import ModelError, download_model

    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ModelError, match="offline mode is on"):
        download_model(
            "org/repo", None, tmp_path, quant="Q4_K_M", endpoint="https://hub.example.org"
        )
    assert no_sockets == []
    entry = network.recent_entries(1)[0]
    assert (entry.host, entry.outcome) == ("hub.example.org", "refused")


def test_offline_is_the_default_and_loopback_servers_stay_allowed(tmp_path: Path) -> None:
    assert Settings().privacy.offline is True
    Settings.path(tmp_path).write_text('{"web_search": true}', encoding="utf-8")
    assert Settings.load(tmp_path).privacy.offline is True  # settings from before the field
    assert network.is_offline()
    for host in ("localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"):
        assert network.is_loopback(host)
    for host in ("example.org", "10.0.0.1", "192.168.1.10", "0.0.0.0", "localhost.example.org"):
        assert not network.is_loopback(host)
    network.check("http://127.0.0.1:8080/v1", "model server")  # allowed
    with pytest.raises(network.OfflineError):
        network.check("http://192.168.1.10:8080/v1", "model server")


def test_journal_migrations_add_the_network_log_and_meta_to_old_runs(tmp_path: Path) -> None:
    from desktop.store import journal as journal_module

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    journal_module._migration_1(db)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    journal = RunJournal(path)
    assert journal.db.execute("PRAGMA user_version").fetchone()[0] == len(journal_module.MIGRATIONS)
    entry = network.NetworkEntry(1.0, "example.org", "web page", "GET", 200, 0, 1234)
    journal.record_network(entry)
    assert journal.network_entries() == [entry]
    assert journal.meta("web") is None  # a run from before migration 3: no web plan
    journal.set_meta("web", {"provider": "searxng", "web_share": 0.5})
    journal.set_meta("web", {"provider": "duckduckgo", "web_share": 0.25})
    assert journal.meta("web") == {"provider": "duckduckgo", "web_share": 0.25}
    journal.close()


@pytest.mark.slow
def test_cli_research_with_web_cites_the_fake_urls(tmp_path: Path, fake_web: FakeWeb) -> None:
    """The real CLI, embedded model, --web --search-url on loopback: the report cites the pages."""
    import json
    import os
    import subprocess
    import sys

    solar = fake_web.page("/solar", SOLAR_HTML)
    wind = fake_web.page("/wind", WIND_TEXT, "text/plain")
    fake_web.results = [
        {"url": solar, "title": "Solar power basics", "content": "Panels and sunlight."},
        {"url": wind, "title": "Wind energy", "content": "Turbines and wind."},
    ]
    data = tmp_path / "data"
    data.mkdir()
    Settings.of(web_share=1.0).save(data)  # offline stays on: the endpoint is on loopback
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nHomes can use solar panels or small wind turbines.\n", "utf-8")
    out = tmp_path / "report.md"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [
            sys.executable, "-m", "desktop.cli", "research", QUESTION, "--sources", str(doc),
            "--web", "--search-url", fake_web.url, "--max-steps", "8", "--max-extend", "0",
            "--out", str(out), "--json", "--data-dir", str(data),
        ],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    report = out.read_text(encoding="utf-8")
    assert result["citations"] > 0, report
    references = report.split("## References", 1)[1]
    assert solar in references or wind in references, report
    assert "notes.md" not in references  # web_share 1.0: every passage came from the web
    journal = RunJournal.open(data, result["run_id"])
    assert {e.host for e in journal.network_entries()} == {"127.0.0.1"}
    journal.close()
    assert any("/search" in r for r in fake_web.requests)


def test_settings_dialog_web_section_and_key_consent(qtbot, tmp_path: Path, monkeypatch) -> None:
    """Web off and Offline on by default; the file fallback for the key needs a yes."""
    import json

    from PySide6.QtWidgets import QDialog

    from desktop.gui import settings_dialog
    from desktop.gui.settings_dialog import Environment, SettingsDialog
    from desktop.gui.tasks import BackgroundTasks
    from tests.gui.fakes import CannedPrompts

    env = Environment((), "SmolLM2 (embedded)", False, "a plaintext file", False)
    monkeypatch.setattr(settings_dialog, "probe_environment", lambda data_dir: env)
    monkeypatch.setattr("desktop.secrets.keyring_available", lambda: False)
    stored: list = []
    monkeypatch.setattr(
        "desktop.secrets.set_secret",
        lambda name, value, data_dir, allow_file=True: stored.append((name, allow_file)) or "x",
    )
    prompts = CannedPrompts()
    tasks = BackgroundTasks()
    dialog = SettingsDialog(Settings(), tmp_path, tasks, prompts)
    qtbot.addWidget(dialog)
    assert dialog.offline.isChecked() and not dialog.web_search.isChecked()
    assert not dialog.web_search.isEnabled() and not dialog.web_key.isEnabled()
    dialog.offline.setChecked(False)
    dialog.web_search.setChecked(True)
    dialog.web_provider.setCurrentIndex(dialog.web_provider.findData("brave"))
    assert dialog.web_key.isEnabled() and not dialog.search_url.isEnabled()
    dialog.web_key.setText("sk-brave-SECRET-0123456789")
    dialog.web_share.setValue(40)
    prompts.confirms = [False]
    with qtbot.waitSignal(dialog.saved):
        dialog.accept()
    assert prompts.asked == ["No system keyring"] and stored == []  # refused: nothing stored
    written = json.loads(Settings.path(tmp_path).read_text(encoding="utf-8"))
    assert written["offline"] is False and written["web_provider"] == "brave"
    assert written["web_share"] == 0.4 and "sk-brave" not in json.dumps(written)
    dialog2 = SettingsDialog(Settings.load(tmp_path), tmp_path, tasks, prompts)
    qtbot.addWidget(dialog2)
    dialog2.web_key.setText("sk-brave-SECRET-0123456789")
    prompts.confirms = [True]
    with qtbot.waitSignal(dialog2.secretSaved):
        dialog2.accept()
    assert stored == [("web-search-api-key", True)]
    assert "No request" in dialog2.network_log_text()
    with pytest.raises(network.OfflineError):
        network.guard("https://duckduckgo.com/", "web search (DuckDuckGo)")
    assert "duckduckgo.com  web search (DuckDuckGo)  refused" in dialog2.network_log_text()
    dialog2.show_network_log()
    log_view = dialog2.findChild(QDialog, "networkLogDialog")
    assert log_view is not None and log_view.isVisible()
    log_view.reject()
    assert tasks.wait()
