"""Web research through the CLI, in process, on the scripted backend and the real library.

- A run started with ``--web --search-url`` (a loopback fake SearXNG) stores its web plan in
  the journal (never a key); ``resume`` searches the web the same way although the settings
  have web search off, and both parts' requests are in the run's network log.
- Resumed in offline mode, a run whose plan would leave the machine continues with local
  documents only and says so in one line, without any connection.
- The web search key (environment variable or the owner-only fallback file) never reaches
  settings.json, a log record (DEBUG, during a whole research), the network log, the journal,
  the CLI's output or an exception message, also when the provider answers 401.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import socket
import stat
from pathlib import Path

import pytest

from desktop import cli, network, secrets
from desktop.core.cancel import CancelToken
from desktop.knowledge import web
from desktop.llm.scripted import ScriptedBackend
from desktop.session import WEB_META
from desktop.settings import Settings
from desktop.store.journal import RunJournal
from tests.helpers import init_plan, search, write
from tests.knowledge.test_web import SOLAR_HTML, WIND_TEXT, FakeWeb, send_json

QUESTION = "How do solar and wind power compare for a home?"
KEY = "sk-brave-SECRET-0123456789"
WRONG_KEY = "sk-wrong-key-987654321"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(web.WEB_SEARCH_KEY_ENV, raising=False)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    doc = tmp_path / "notes.md"
    doc.write_text(
        "# Notes\n\nHomes can use solar panels on the roof or a small wind turbine in the "
        "garden; solar output peaks in summer and wind output in winter.\n",
        encoding="utf-8",
    )
    return doc


class Cli:
    """Runs `desktop.cli.main` in process with a scripted backend per call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
        self.data = data
        self.backend: ScriptedBackend | None = None
        self.cancels: list[CancelToken] = []
        monkeypatch.setattr("desktop.session.open_backend", lambda *a: self.backend)
        monkeypatch.setattr(cli, "_install_sigint", self.cancels.append)

    def __call__(self, backend: ScriptedBackend, *args: str) -> int:
        self.backend = backend
        return cli.main([*args, "--data-dir", str(self.data)])


def _pages(fake_web: FakeWeb) -> tuple[str, str]:
    solar = fake_web.page("/solar", SOLAR_HTML)
    wind = fake_web.page("/wind", WIND_TEXT, "text/plain")
    fake_web.results = [
        {"url": solar, "title": "Solar power basics", "content": "Panels and sunlight."},
        {"url": wind, "title": "Wind energy", "content": "Turbines and wind."},
    ]
    return solar, wind


def _searches(fake_web: FakeWeb) -> int:
    return sum(1 for r in fake_web.requests if r.startswith("/search"))


def _only_run(data: Path) -> str:
    runs = sorted((data / "runs").glob("*.sqlite"))
    assert len(runs) == 1, runs
    return runs[0].stem


def _stopping_backend(run: Cli) -> ScriptedBackend:
    """Searches, plans, then is stopped (as Ctrl-C would) during the second search."""
    backend = ScriptedBackend(
        [search("solar power", "wind power"), init_plan("Solar and wind", "Comparison"), search()]
    )
    backend.on_request = lambda r: run.cancels[-1].set() if len(backend.requests) == 3 else None
    return backend


def _stopped_local_run(tmp_path: Path, docs: Path, monkeypatch, *args: str) -> tuple:
    """A run on the documents only, stopped during its second search: (data dir, Cli, run id)."""
    data = tmp_path / "data"
    data.mkdir()
    run = Cli(monkeypatch, data)
    code = run(_stopping_backend(run), "research", QUESTION, "--sources", str(docs), *args)
    assert code == cli.EXIT_STOPPED
    return data, run, _only_run(data)


def test_resume_searches_the_web_as_the_run_did(
    tmp_path: Path, fake_web: FakeWeb, docs: Path, monkeypatch, capsys
) -> None:
    solar, wind = _pages(fake_web)
    data = tmp_path / "data"
    data.mkdir()
    Settings.of(web_share=0.5).save(data)  # web search off in the settings; offline stays on
    run = Cli(monkeypatch, data)
    code = run(
        _stopping_backend(run),
        "research", QUESTION, "--sources", str(docs), "--web", "--search-url", fake_web.url,
        "--max-steps", "8", "--max-extend", "0",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == cli.EXIT_STOPPED, err
    assert "web search: searxng at 127.0.0.1, 50% of passages" in err
    run_id = _only_run(data)
    journal = RunJournal.open(data, run_id)
    assert journal.meta(WEB_META) == {
        "provider": "searxng",
        "search_url": fake_web.url,
        "web_share": 0.5,
    }
    before = journal.network_entries()
    journal.close()
    assert {e.purpose for e in before} >= {"web search (SearXNG)", "web page"}
    searched = _searches(fake_web)
    assert searched >= 1

    resumed = ScriptedBackend([search("solar wind comparison"), write("They differ", n_cites=4)])
    assert run(resumed, "resume", run_id, "--json") == 0
    captured = capsys.readouterr()
    assert "web search: searxng at 127.0.0.1, 50% of passages" in captured.err
    result = json.loads(captured.out)
    assert result["status"] == "finished" and result["citations"] > 0
    assert _searches(fake_web) > searched  # the resumed run searched the web again
    references = Path(result["report_path"]).read_text(encoding="utf-8")
    references = references.split("## References", 1)[1]
    assert solar in references or wind in references, references
    assert "notes.md" in references  # and the local document: the 50 % split held
    journal = RunJournal.open(data, run_id)
    after = journal.network_entries()
    journal.close()
    assert after[: len(before)] == before and len(after) > len(before)
    assert {e.host for e in after} == {"127.0.0.1"}
    assert "web search (SearXNG)" in {e.purpose for e in after[len(before) :]}


def test_resume_offline_drops_a_remote_web_plan_with_one_line(
    tmp_path: Path, docs: Path, monkeypatch, capsys
) -> None:
    data, run, run_id = _stopped_local_run(
        tmp_path, docs, monkeypatch, "--max-steps", "8", "--max-extend", "0"
    )
    journal = RunJournal.open(data, run_id)
    assert journal.meta(WEB_META) is None  # no web: nothing stored
    # As if the run had searched a public SearXNG while online:
    remote = {"provider": "searxng", "search_url": "https://search.example.org", "web_share": 0.5}
    journal.set_meta(WEB_META, remote)
    journal.close()
    capsys.readouterr()

    attempts: list = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("test guard: no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    resumed = ScriptedBackend([search("solar wind"), write("They differ", n_cites=2)])
    assert run(resumed, "resume", run_id, "--offline", "--json") == 0
    captured = capsys.readouterr()
    notice = [line for line in captured.err.splitlines() if "searched the web" in line]
    assert notice == [
        "offline mode: this run searched the web (searxng); it continues with your documents only"
    ]
    assert json.loads(captured.out)["status"] == "finished"
    assert attempts == []
    journal = RunJournal.open(data, run_id)
    assert journal.network_entries() == []  # nothing was even attempted
    assert journal.meta(WEB_META) == remote  # kept: an online resume would search again
    journal.close()


def test_resume_refuses_an_unreadable_web_plan(
    tmp_path: Path, docs: Path, monkeypatch, capsys
) -> None:
    data, run, run_id = _stopped_local_run(tmp_path, docs, monkeypatch)
    journal = RunJournal.open(data, run_id)
    journal.set_meta(WEB_META, {"provider": "altavista", "web_share": 3})
    journal.close()
    capsys.readouterr()
    assert run(ScriptedBackend([]), "resume", run_id) == 1
    assert capsys.readouterr().err == (
        "draftwell: the run's stored web search settings are not valid\n"
    )


# ---- the search key ---------------------------------------------------------------------------
def _brave_route(fake_web: FakeWeb, pages: tuple[str, str]):
    def brave(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.headers.get("X-Subscription-Token") != KEY:
            h.send_error(401, "invalid subscription token")
            return
        results = [
            {"url": url, "title": f"Page {i}", "description": f"Solar and wind, part {i}."}
            for i, url in enumerate(pages)
        ]
        send_json(h, {"web": {"results": results}})

    fake_web.routes["/brave"] = brave
    return fake_web.url + "/brave"


def _everything_written(data: Path) -> bytes:
    """Every file under the data dir except the secrets file (journals, WAL, settings, reports)."""
    blobs = []
    for path in sorted(data.rglob("*")):
        if path.is_file() and path.name != secrets.SECRETS_FILENAME:
            blobs.append(path.read_bytes())
    return b"\n".join(blobs)


@pytest.mark.parametrize("storage", ["environment", "file"])
def test_the_search_key_never_leaves_its_store(
    storage: str,
    tmp_path: Path,
    fake_web: FakeWeb,
    docs: Path,
    monkeypatch,
    capsys,
    caplog,
) -> None:
    pages = (fake_web.url + "/solar", fake_web.url + "/wind")
    _pages(fake_web)
    monkeypatch.setattr(web, "BRAVE_URL", _brave_route(fake_web, pages))
    data = tmp_path / "data"
    data.mkdir()
    Settings.of(offline=False, web_search=True, web_provider="brave", web_share=0.5).save(data)
    if storage == "environment":
        monkeypatch.setenv(web.WEB_SEARCH_KEY_ENV, KEY)
    else:
        monkeypatch.setattr(secrets, "_keyring_backend", lambda: None)  # headless: no keyring
        with caplog.at_level(logging.WARNING):
            where = secrets.set_secret(web.WEB_SEARCH_KEY, KEY, data, allow_file=True)
        assert "plaintext" in where and "plaintext" in caplog.text  # the visible warning
        key_file = data / secrets.SECRETS_FILENAME
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    run = Cli(monkeypatch, data)
    backend = ScriptedBackend(
        [
            search("solar power", "wind power"),
            init_plan("Solar and wind", "Comparison"),
            search("solar wind"),
            write("They differ", n_cites=4),
        ]
    )
    code = run(
        backend, "research", QUESTION, "--sources", str(docs), "--max-steps", "8",
        "--max-extend", "0", "--json",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    report = Path(result["report_path"]).read_text(encoding="utf-8")
    assert fake_web.url + "/solar" in report or fake_web.url + "/wind" in report
    assert any(h.get("X-Subscription-Token") == KEY for h in fake_web.headers)  # it was used
    journal = RunJournal.open(data, result["run_id"])
    assert journal.meta(WEB_META) == {"provider": "brave", "search_url": None, "web_share": 0.5}
    entries = journal.network_entries()
    journal.close()
    assert "web search (Brave)" in {e.purpose for e in entries}

    # The wrong key: a 401 is a warning (no web passages), the message names no key.
    monkeypatch.setattr(secrets, "_keyring_backend", lambda: None)
    monkeypatch.setenv(web.WEB_SEARCH_KEY_ENV, WRONG_KEY)
    provider = web.build_provider("brave", data)
    with pytest.raises(web.WebSearchError) as refused:
        provider.search("solar", 3)
    provider.close()
    assert "401" in str(refused.value) and WRONG_KEY not in str(refused.value)
    retriever = web.WebRetriever(web.build_provider("brave", data))
    assert retriever.search("solar", 3) == []
    assert any("401" in e for e in retriever.errors)
    retriever.close()

    for secret in (KEY, WRONG_KEY):
        assert secret not in Settings.path(data).read_text(encoding="utf-8")
        assert secret.encode() not in _everything_written(data)  # journal, WAL, report
        assert secret not in caplog.text
        assert all(secret not in str(r.args) for r in caplog.records)
        assert secret not in captured.err + captured.out
        assert secret not in json.dumps([e.to_dict() for e in network.recent_entries(500)])
        assert secret not in str(refused.value) and secret not in repr(provider)
    assert not list(data.glob("**/.secrets-*"))  # no stray temp copies of the key file
    if storage == "file":
        assert KEY in (data / secrets.SECRETS_FILENAME).read_text(encoding="utf-8")
    assert os.environ.get(web.WEB_SEARCH_KEY_ENV) == WRONG_KEY
