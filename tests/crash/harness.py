"""Kill a scripted research anywhere, resume it until it finishes, and check nothing was lost.

`reference()` runs tests.crash.scripted_research once without interruption over generated PDFs
and records its report, its library and the trace of every checkpoint it passed
(desktop.crashpoints). `plan_kills()` picks kill points from that trace, seeded, covering
every kind of checkpoint (ingestion, inside a journal commit, a streaming reply, an export).
`run_with_kills()` launches the child again and again in a fresh data folder, each launch
killed by SIGKILL at its planned checkpoint (or after a seeded random delay), then launches it
until it says done, and compares: the final report must equal the uninterrupted one, no
section once committed may vanish or change, no document may be indexed twice, and the
library's verify() must find nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

ROOT = Path(__file__).resolve().parents[2]
CHILD = "tests.crash.scripted_research"
LAUNCH_TIMEOUT_S = 120
FACTS = {
    "heat-pumps.pdf": [
        "A heat pump moves heat with a compressor and a refrigerant loop.",
        "The coefficient of performance of an air-source heat pump is about 3 in mild weather.",
        "Ground-source heat pumps use buried pipes and keep their efficiency in winter.",
        "Heat pumps run best with large radiators or underfloor heating.",
    ],
    "boilers.pdf": [
        "A condensing gas boiler reaches a seasonal efficiency of about 92 percent.",
        "Burning natural gas releases about 0.2 kilograms of carbon dioxide per kilowatt-hour.",
        "A new gas boiler costs between 2,000 and 4,000 euros installed.",
    ],
    "grid.pdf": [
        "Electricity grids with more wind power make heat pumps cleaner every year.",
        "Time-of-use tariffs lower the running cost of a heat pump at night.",
    ],
}
CATEGORIES = ("ingest.", "journal.commit.", "llm.prefill", "llm.stream", "export.", "library.")


def make_sources(folder: Path) -> Path:
    """Write the harness's PDFs (several pages each, a fact repeated per page)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pages in FACTS.items():
        doc = pymupdf.open()
        for number, fact in enumerate(pages, 1):
            page = doc.new_page()
            text = (f"Page {number}. {fact} ") * 10
            page.insert_textbox(pymupdf.Rect(72, 72, 520, 770), text, fontsize=11)
        doc.save(folder / name)
        doc.close()
    return folder


def category(name: str) -> str:
    return next((c for c in CATEGORIES if name.startswith(c)), name)


@dataclass(frozen=True, slots=True)
class Kill:
    """One planned kill: at checkpoint `spec` (NAME:N[,NAME:N…]) and/or `delay` seconds
    after the launch reached its first checkpoint, whichever comes first."""

    spec: str | None = None
    delay: float | None = None

    def describe(self) -> str:
        timer = f"after {self.delay:.2f}s" if self.delay is not None else ""
        return " or ".join(x for x in (timer, self.spec) if x)


@dataclass(slots=True)
class Launch:
    returncode: int
    site: str  # the last checkpoint passed (where a kill landed), or "" before any
    stdout: str


@dataclass(slots=True)
class Reference:
    max_extend: int
    report: str
    trace: list[str]
    library: dict[str, object]
    sections: dict[str, str]


@dataclass(slots=True)
class Outcome:
    """What one harness series found (the figures the bench prints)."""

    planned: int = 0
    kills: int = 0
    unreached: int = 0
    launches: int = 0
    sites: Counter[str] = field(default_factory=Counter)
    sections_lost: int = 0
    duplicates: int = 0
    verify_problems: list[str] = field(default_factory=list)
    report_identical: bool = False
    stray_temp_files: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return (
            self.report_identical
            and self.sections_lost == 0
            and self.duplicates == 0
            and not self.verify_problems
        )


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAFTWELL_CRASH")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env.update(extra)
    return env


def launch(work: Path, kill: Kill | None = None, max_extend: int = 1) -> Launch:
    """Run the child once in `work` (data/, sources/, report.md), optionally killing it.

    `max_extend` sizes the research: each extension adds two sections to write."""
    trace = work / "trace.txt"
    trace.unlink(missing_ok=True)
    extra = {"DRAFTWELL_CRASH_TRACE": str(trace)}
    if kill is not None and kill.spec:
        extra["DRAFTWELL_CRASH_AT"] = kill.spec
    args = [str(work / "data"), str(work / "sources"), str(work / "report.md"), str(max_extend)]
    child = subprocess.Popen(
        [sys.executable, "-m", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(**extra),
        cwd=work,
    )
    if kill is not None and kill.delay is not None:
        _kill_after(child, trace, kill.delay)
    stdout, stderr = child.communicate(timeout=LAUNCH_TIMEOUT_S)
    names = trace.read_text(encoding="utf-8").split() if trace.exists() else []
    if child.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"child failed ({child.returncode}): {stderr[-3000:]}")
    return Launch(child.returncode, names[-1] if names else "", stdout)


def _kill_after(child: subprocess.Popen[str], trace: Path, delay: float) -> None:
    """SIGKILL `child` `delay` seconds after its first checkpoint (start-up excluded)."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while not trace.exists() and child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the child never reached a checkpoint")
        time.sleep(0.005)
    time.sleep(delay)
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)


def committed_sections(data: Path) -> dict[str, str]:
    """Section id → text in the latest committed state of the (only) run, if any."""
    runs = sorted((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []
    found: dict[str, str] = {}
    for path in runs:
        try:
            with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
                row = db.execute("SELECT state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            continue
        if row is None:
            continue
        outline = json.loads(row[0]).get("outline") or {"sections": []}
        stack = list(outline["sections"])
        while stack:
            section = stack.pop()
            stack.extend(section["subsections"])
            if section["content"]:
                found[section["id"]] = section["content"]
    return found


def library_figures(data: Path) -> dict[str, object]:
    """Documents, chunk rows per document, vectors and verify() problems of the library."""
    from desktop.knowledge.library import Library
    from tests.crash.scripted_research import HashEmbedder

    library = Library(data, embedder=HashEmbedder())
    try:
        problems = library.verify()
        vectors = library._vector_index().count()
    finally:
        library.close()
    with sqlite3.connect(data / "library" / "catalog.sqlite3") as db:
        rows = db.execute("SELECT path, status FROM documents").fetchall()
        documents = {Path(path).name: status for path, status in rows}
        chunks = dict(db.execute("SELECT doc, count(*) FROM chunks GROUP BY doc").fetchall())
        paths = db.execute("SELECT count(*) FROM paths").fetchone()[0]
    return {
        "documents": documents,
        "chunks": sorted(chunks.values()),
        "vectors": vectors,
        "paths": paths,
        "problems": problems,
    }


def prepare(work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    make_sources(work / "sources")
    return work


def reference(work: Path, max_extend: int = 1) -> Reference:
    """One uninterrupted run: its report, checkpoint trace, library and sections."""
    prepare(work)
    done = launch(work, max_extend=max_extend)
    assert done.returncode == 0 and done.stdout.startswith("done"), done
    trace = (work / "trace.txt").read_text(encoding="utf-8").split()
    return Reference(
        max_extend,
        (work / "report.md").read_text(encoding="utf-8"),
        trace,
        library_figures(work / "data"),
        committed_sections(work / "data"),
    )


INGEST_POINTS = ("ingest.upserted", "ingest.before_commit", "ingest.committed")
RESEARCH_POINTS = (
    "journal.commit.evidence",
    "journal.commit.before_commit",
    "journal.commit.after_commit",
    "llm.prefill",
    "llm.stream",
)
EXPORT_POINTS = ("export.written", "export.renamed")


class KillPlanner:
    """Picks each launch's kill point from where the work is now (seeded).

    While documents are unindexed it kills inside ingestion (up to a quarter of the kills);
    while the run is unfinished, inside the research; then inside the export (at least a
    sixth of the kills are kept for it). Each target carries a backstop at the next stage's
    first checkpoint, so a target the launch never reaches still kills it there instead of
    letting it run to the end. `timed` of the kills are SIGKILLs from outside after a random
    delay instead.
    """

    def __init__(self, count: int, timed: int, rng: random.Random) -> None:
        self.rng = rng
        self.left = count
        self.ingest_budget = max(1, round(count * 0.25))
        self.export_reserve = max(1, round(count / 6))
        self.timed = set(rng.sample(range(count), min(timed, count)))
        self.issued = 0
        # Each stage's checkpoints in a seeded order, taken in turn: all of them get a kill.
        self._points = {
            stage: itertools.cycle(rng.sample(points, len(points)))
            for stage, points in (
                ("ingest", INGEST_POINTS),
                ("research", RESEARCH_POINTS),
                ("export", EXPORT_POINTS),
            )
        }

    def next(self, data: Path) -> Kill | None:
        if self.left == 0:
            return None
        self.left -= 1
        self.issued += 1
        rng = self.rng
        timed = self.issued - 1 in self.timed
        if not _library_done(data) and self.ingest_budget > 0:
            self.ingest_budget -= 1
            point = f"{next(self._points['ingest'])}:{rng.randint(1, 2)},"
            return self._kill(timed, point, backstop="journal.commit.evidence:1")
        if not _run_finished(data) and self.left >= self.export_reserve:
            name = next(self._points["research"])
            # Small numbers: each research kill lets about one step through, so the kills
            # spread over the whole run instead of finishing it early.
            number = rng.randint(1, 10) if name == "llm.stream" else rng.randint(1, 2)
            return self._kill(timed, f"{name}:{number},", backstop="export.written:1")
        return self._kill(timed, f"{next(self._points['export'])}:1", backstop="")

    def _kill(self, timed: bool, point: str, backstop: str) -> Kill:
        """A checkpoint kill, or a timed one (that keeps the backstop: the scripted work is
        fast, and a late timer would otherwise let a launch run to the end)."""
        if timed:
            return Kill(spec=backstop or None, delay=self.rng.uniform(0.0, 0.3))
        return Kill(spec=point + backstop)


def _library_done(data: Path) -> bool:
    catalog = data / "library" / "catalog.sqlite3"
    if not catalog.exists():
        return False
    with sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True) as db:
        try:
            rows = db.execute("SELECT status FROM documents").fetchall()
        except sqlite3.Error:
            return False
    return len(rows) == len(FACTS) and all(status == "indexed" for (status,) in rows)


def _run_finished(data: Path) -> bool:
    for path in sorted((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
            try:
                row = db.execute("SELECT status FROM run").fetchone()
            except sqlite3.Error:
                continue
        if row and row[0] == "finished":
            return True
    return False


def run_with_kills(work: Path, planner: KillPlanner, ref: Reference) -> Outcome:
    """Launch with each planned kill, then until done; compare with the reference."""
    started = time.monotonic()
    prepare(work)
    outcome = Outcome(planned=planner.left)
    seen: dict[str, str] = {}

    def observe() -> None:
        now = committed_sections(work / "data")
        outcome.sections_lost += sum(1 for k, text in seen.items() if now.get(k) != text)
        seen.clear()
        seen.update(now)

    while (kill := planner.next(work / "data")) is not None:
        result = launch(work, kill, ref.max_extend)
        outcome.launches += 1
        if result.returncode == -signal.SIGKILL:
            outcome.kills += 1
            outcome.sites[category(result.site) if result.site else "start-up"] += 1
        else:
            outcome.unreached += 1
        observe()
    for _ in range(5):
        result = launch(work, max_extend=ref.max_extend)
        outcome.launches += 1
        observe()
        if result.returncode == 0:
            break
    else:
        raise AssertionError("the research never finished after the kills")
    report = (work / "report.md").read_text(encoding="utf-8")
    outcome.report_identical = report == ref.report
    outcome.sections_lost += sum(1 for k, text in ref.sections.items() if seen.get(k) != text)
    figures = library_figures(work / "data")
    outcome.verify_problems = list(figures["problems"])  # type: ignore[call-overload]
    outcome.duplicates = _duplicates(figures, ref.library)
    outcome.stray_temp_files = len(list(work.glob(".report.md.*.tmp")))
    outcome.seconds = time.monotonic() - started
    return outcome


def _duplicates(figures: dict[str, object], expected: dict[str, object]) -> int:
    """Extra documents, chunk rows or vectors beyond the uninterrupted library."""
    extra = 0
    extra += max(0, len(figures["documents"]) - len(expected["documents"]))  # type: ignore[arg-type]
    extra += max(0, figures["vectors"] - expected["vectors"])  # type: ignore[operator]
    extra += max(0, figures["paths"] - expected["paths"])  # type: ignore[operator]
    got, want = figures["chunks"], expected["chunks"]
    extra += sum(max(0, g - w) for g, w in zip(got, want, strict=False))  # type: ignore[call-overload]
    if figures["documents"] != expected["documents"] or got != want:
        extra = max(extra, 1)
    return extra
