"""A short research through a real OpenAI-compatible server, end to end through the CLI.

`python -m llama_cpp.server` serves the embedded model on 127.0.0.1 (the session fixture in
conftest.py, n_ctx 2048; that server does not report its context, so the CLI gets --context).
The run must finish with citations that resolve to pages of the generated PDFs; a dead server
must fail with one clear line and leave no run behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from desktop.store.journal import RunJournal
from tests.test_e2e_cli import QUESTION, assert_citations_resolve, cli, write_facts

SERVER_CONTEXT = "2048"  # must match --n_ctx of the llama_server fixture


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_facts(tmp_path_factory.mktemp("server-sources"))


def research(sources: Path, server: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return cli(
        "research",
        QUESTION,
        "--sources",
        str(sources),
        "--server",
        server,
        "--context",
        SERVER_CONTEXT,
        "--max-steps",
        "8",
        "--max-extend",
        "0",
        "--json",
        data_dir=data_dir,
    )


def test_research_through_llama_cpp_server(llama_server: str, sources: Path, tmp_path: Path):
    done = research(sources, llama_server, tmp_path / "data")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["status"] == "finished" and result["steps"] <= 8
    report = Path(result["report_path"]).read_text(encoding="utf-8")
    assert result["citations"] > 0
    assert_citations_resolve(report, sources)
    assert "step 1/8 search @ outline" in done.stderr
    # Every request to the server went through the network gate into the run's journal: the
    # probe made while the model opened, and each chat request of the run.
    journal = RunJournal.open(tmp_path / "data", result["run_id"])
    entries = journal.network_entries()
    journal.close()
    assert {(e.host, e.purpose) for e in entries} == {("127.0.0.1", "model server")}
    assert entries[0].method == "GET"  # the probe: GET /v1/models
    chats = [e for e in entries if e.method == "POST" and e.bytes_sent > 1000]
    assert len(chats) >= result["steps"] - 1 and all(e.status == 200 for e in chats)


def test_a_dead_server_is_one_clear_line_and_no_run(
    closed_port: int, sources: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    failed = research(sources, f"http://127.0.0.1:{closed_port}/v1", data)
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.startswith("draftwell:")]
    assert lines == [f"draftwell: no server answers at http://127.0.0.1:{closed_port}/v1"]
    assert "Traceback" not in failed.stderr
    runs = list((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []
    assert runs == []
    assert failed.stdout == ""
