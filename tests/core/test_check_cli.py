"""`draftwell check RUN_ID [--json]` and the `support` summary of `research --json`."""

import json

from desktop import cli
from desktop.core.state import RunConfig
from desktop.llm.scripted import Expect, ScriptedBackend
from desktop.session import ResearchSession
from tests.core.test_engine_checks import UNSUPPORTED, grounded, ungrounded
from tests.helpers import MemoryRetriever, corpus, init_plan, search


def finished_run(tmp_path):
    backend = ScriptedBackend(
        [
            search("solar"),
            init_plan("Energy", "Solar", "Wind"),
            search("solar"),
            Expect("write", ungrounded),
            search("wind"),
            Expect("write", grounded),
        ]
    )
    session = ResearchSession.start(
        tmp_path,
        "How does solar energy work?",
        sources=[],
        config=RunConfig(max_step=20, max_extend=0),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        model_name="scripted",
    )
    session.run()
    return session


def test_check_json_lists_every_claim_with_verdict_and_source(tmp_path, capsys):
    session = finished_run(tmp_path)
    session.close()
    assert cli.main(["check", session.run_id, "--json", "--data-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["support"]["claims"] == 3 and data["support"]["unsupported"] == 1
    assert data["support"]["label"] == "3 claims · 67% supported · 1 unsupported"
    flagged = [c for c in data["claims"] if c["verdict"] != "supported"]
    assert [c["claim"] for c in flagged] == [UNSUPPORTED + "."]
    assert flagged[0]["section"] == "1" and flagged[0]["sources"][0]["source"] == "/docs/manual.pdf"
    assert flagged[0]["sources"][0]["page"] is not None


def test_check_table(tmp_path, capsys):
    session = finished_run(tmp_path)
    session.close()
    assert cli.main(["check", session.run_id, "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["sect", "verdict", "source", "claim"]
    assert any(line.startswith("1      unsupported") and "Offshore" in line for line in out)
    assert out[-1] == "3 claims · 67% supported · 1 unsupported"


def test_check_of_an_unknown_run_is_one_clear_line(tmp_path, capsys):
    assert cli.main(["check", "nope", "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("draftwell: no run with id nope")


def test_research_json_gains_a_support_summary(tmp_path, capsys):
    session = finished_run(tmp_path)
    try:
        cli._finish_run(session, tmp_path, None, True)
    finally:
        session.close()
    data = json.loads(capsys.readouterr().out)
    assert data["support"]["claims"] == 3 and data["support"]["supported"] == 2
