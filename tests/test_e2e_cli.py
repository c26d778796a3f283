"""End to end through the CLI: real llama.cpp (embedded model), real Chroma, generated PDFs.

Covers a finished research whose every citation resolves to an existing file and page, a run
killed with SIGKILL mid-run that resumes without losing a committed section, and bad input
that fails with one clear line and leaves no run behind.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pymupdf
import pytest

from tests.helpers import make_pdf

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"
FACTS = {
    "heat-pumps.pdf": [
        "A heat pump moves heat with a compressor and a refrigerant loop.",
        "The coefficient of performance of an air-source heat pump is about 3 in mild weather.",
        "Ground-source heat pumps use buried pipes and keep their efficiency in winter.",
    ],
    "boilers.pdf": [
        "A condensing gas boiler reaches a seasonal efficiency of about 92 percent.",
        "Burning natural gas releases about 0.2 kilograms of carbon dioxide per kilowatt-hour.",
        "A new gas boiler costs between 2,000 and 4,000 euros installed.",
    ],
}


def write_facts(folder: Path) -> Path:
    """The FACTS documents as PDFs (each fact repeated: a page holds a few chunks)."""
    for name, pages in FACTS.items():
        make_pdf(folder / name, [(text + " ") * 12 for text in pages])
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    return write_facts(tmp_path_factory.mktemp("sources"))


def cli(*args: str, data_dir: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "desktop.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def references(report: str) -> list[tuple[str, int]]:
    refs = re.findall(r"\[(\d+)\] (.+?), p\. (\d+)", report.split("## References", 1)[1])
    return [(name, int(page)) for _, name, page in refs]


def assert_citations_resolve(report: str, sources: Path) -> None:
    """Every reference names an existing source file and page; every one is cited, in order."""
    refs = references(report)
    assert refs, report
    for name, page in refs:
        pdf = sources / name
        assert pdf.exists(), name
        with pymupdf.open(pdf) as doc:
            assert 1 <= page <= doc.page_count
    used = {int(n) for n in re.findall(r"\[\[(\d+)\]\]", report)}
    assert used == set(range(1, len(refs) + 1))  # every reference cited, numbered by first use


def test_research_produces_a_report_whose_citations_resolve(sources, tmp_path):
    out = tmp_path / "report.md"
    done = cli(
        "research",
        QUESTION,
        "--sources",
        str(sources),
        "--max-steps",
        "14",
        "--max-extend",
        "1",
        "--out",
        str(out),
        "--json",
        data_dir=tmp_path / "data",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert set(result) == {
        "run_id",
        "status",
        "steps",
        "report_path",
        "citations",
        "sources_cited",
        "support",
    }
    assert result["status"] == "finished" and result["steps"] <= 14
    report = out.read_text(encoding="utf-8")
    assert result["citations"] > 0
    assert_citations_resolve(report, sources)
    assert "step 1/14 search @ outline" in done.stderr  # progress on stderr


def committed_writes(journal: Path) -> int:
    try:
        with sqlite3.connect(journal) as db:
            rows = db.execute("SELECT detail FROM snapshots WHERE kind = 'step'").fetchall()
    except sqlite3.Error:
        return 0
    return sum(json.loads(d).get("phase") == "write" for (d,) in rows)


def sections(journal: Path) -> dict[str, str]:
    with sqlite3.connect(journal) as db:
        state = json.loads(
            db.execute("SELECT state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()[0]
        )

    def walk(items):
        for s in items:
            yield s
            yield from walk(s["subsections"])

    return {s["id"]: s["content"] for s in walk(state["outline"]["sections"]) if s["content"]}


def test_killed_run_resumes_without_losing_sections(sources, tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "desktop.cli",
            "research",
            QUESTION,
            "--sources",
            str(sources),
            "--max-steps",
            "14",
            "--max-extend",
            "1",  # so the last write is followed by an extension call the kill can land in
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 300
    journal = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []
        if found and committed_writes(found[0]) >= 1:
            journal = found[0]
            break
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.kill()  # SIGKILL: no cleanup runs (and no research left behind if the test fails)
    proc.wait()
    assert journal is not None and alive, "no write was committed in time"
    before = sections(journal)
    assert before

    listed = json.loads(cli("runs", "--json", data_dir=data).stdout)
    with sqlite3.connect(journal) as db:
        trail = db.execute("SELECT step, kind, phase, detail FROM snapshots").fetchall()
    assert listed[0]["status"] == "interrupted", trail
    resumed = cli("resume", listed[0]["id"], "--json", data_dir=data)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["status"] == "finished"
    after = sections(journal)
    for section_id, text in before.items():
        assert after.get(section_id) == text  # committed sections survived untouched


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing-model", "model file not found"),
        ("not-gguf", "not a GGUF model file"),
        ("no-sources", "no sources"),
        ("empty-pdf", "none of the sources could be indexed"),
    ],
)
def test_bad_input_fails_with_one_clear_line(case, expect, tmp_path):
    data = tmp_path / "data"
    args = ["research", QUESTION]
    if case == "missing-model":
        args += ["--model", str(tmp_path / "nope.gguf"), "--sources", str(tmp_path)]
    elif case == "not-gguf":
        fake = tmp_path / "fake.gguf"
        fake.write_text("this is not a model")
        args += ["--model", str(fake), "--sources", str(tmp_path)]
    elif case == "empty-pdf":
        empty = tmp_path / "empty.pdf"
        empty.write_bytes(b"")
        args += ["--sources", str(empty)]
    done = cli(*args, data_dir=data, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("draftwell:")]
    assert len(lines) == 1 and expect in lines[0], done.stderr
    runs = list((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []
    assert runs == []  # nothing half-written
