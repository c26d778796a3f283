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

The run's history is checked after every launch too: the snapshots earlier launches committed
must still be there unchanged (id, step, state hash), and a resumed launch's first new snapshot
must be the step after the newest one (a resume that rewinds redoes committed steps and, with a
deterministic model, would still end in an identical report). After each kill, `list_runs` must
call the unfinished run interrupted even with a live unrelated pid stored as its writer.
"""

from __future__ import annotations

import hashlib
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
CATEGORIES = (
    "ingest.",
    "journal.commit.",
    "llm.prefill",
    "llm.stream.write",
    "llm.stream",
    "export.",
    "library.",
)


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
    first_section_commit: int  # how many snapshots exist once the first section is written
    write_chunks: int  # streamed pieces of one `write` reply


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
    steps_rewound: int = 0  # committed steps a resume did again instead of going on
    history_changed: int = 0  # snapshots of earlier launches that vanished or changed
    misreported: list[str] = field(default_factory=list)  # list_runs not saying interrupted
    late_kills: int = 0  # kills that landed once a section was committed
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return (
            self.report_identical
            and self.sections_lost == 0
            and self.steps_rewound == 0
            and self.history_changed == 0
            and not self.misreported
            and self.duplicates == 0
            and not self.verify_problems
            and self.stray_temp_files == 0
        )


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAFTWELL_CRASH")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env.update(extra)
    return env


def launch(
    work: Path, kill: Kill | None = None, max_extend: int = 1, env: dict[str, str] | None = None
) -> Launch:
    """Run the child once in `work` (data/, sources/, report.md), optionally killing it.

    `max_extend` sizes the research: each extension adds two sections to write. `env` adds
    environment variables (the tests' fault injections, tests.crash.scripted_research)."""
    trace = work / "trace.txt"
    trace.unlink(missing_ok=True)
    extra = {**(env or {}), "DRAFTWELL_CRASH_TRACE": str(trace)}
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


def _journals(data: Path) -> list[Path]:
    return sorted((data / "runs").glob("*.sqlite")) if (data / "runs").exists() else []


def _states(data: Path) -> list[tuple[int, int, str]]:
    """(id, step, state JSON) of every committed snapshot of the run, oldest first.

    A kill inside the run's first commit leaves a journal with no run in it (the next launch
    starts the run afresh), so journals without snapshots are passed over; a second journal
    with snapshots would be a second run, which the harness must never see."""
    found = []
    for path in _journals(data):
        try:
            with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT id, step, state FROM snapshots ORDER BY id").fetchall()
        except sqlite3.Error:
            continue
        if rows:
            found.append(rows)
    assert len(found) <= 1, f"{len(found)} runs in {data}: a launch started the run again"
    return found[0] if found else []


def snapshot_history(data: Path) -> list[tuple[int, int, str]]:
    """(id, step, state hash) of every committed snapshot of the run, oldest first."""
    return [
        (row_id, step, hashlib.sha256(state.encode("utf-8")).hexdigest())
        for row_id, step, state in _states(data)
    ]


def _sections_of(state: str) -> dict[str, str]:
    outline = json.loads(state).get("outline") or {"sections": []}
    found: dict[str, str] = {}
    stack = list(outline["sections"])
    while stack:
        section = stack.pop()
        stack.extend(section["subsections"])
        if section["content"]:
            found[section["id"]] = section["content"]
    return found


def committed_sections(data: Path) -> dict[str, str]:
    """Section id → text in the latest committed state of the (only) run, if any."""
    states = _states(data)
    return _sections_of(states[-1][2]) if states else {}


def _first_section_commit(data: Path) -> int:
    """How many snapshots the run has once its first section is written."""
    for count, (_, _, state) in enumerate(_states(data), 1):
        if _sections_of(state):
            return count
    raise AssertionError("the uninterrupted run wrote no section")


def _write_chunks(trace: list[str]) -> int:
    """Streamed pieces of the first `write` reply in a checkpoint trace."""
    start = trace.index("llm.prefill.write") + 1
    return len(list(itertools.takewhile(lambda name: name == "llm.stream.write", trace[start:])))


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
        _first_section_commit(work / "data"),
        _write_chunks(trace),
    )


INGEST_POINTS = ("ingest.upserted", "ingest.before_commit", "ingest.committed")
RESEARCH_POINTS = (
    "journal.commit.evidence",
    "journal.commit.before_commit",
    "journal.commit.after_commit",
    "llm.prefill",
    "llm.stream",
    "llm.stream.write",
)
EXPORT_POINTS = ("export.written", "export.renamed")


class KillPlanner:
    """Picks each launch's kill point from where the work is now (seeded).

    While documents are unindexed it kills inside ingestion (up to a quarter of the kills);
    while the run is unfinished, inside the research; then inside the export (at least a
    sixth of the kills are kept for it). Only a few research kills may land before the first
    section is written (the run's opening steps are few and alike); once those are spent, the
    research targets are counted from the commit that writes it, so the rest land among written
    sections. Each target carries a backstop at the next stage's first checkpoint, so a target
    the launch never reaches still kills it there instead of letting it run to the end. `timed`
    of the kills (none inside ingestion) are SIGKILLs from outside after a random delay instead.
    """

    def __init__(self, count: int, timed: int, rng: random.Random, ref: Reference) -> None:
        self.rng = rng
        self.left = count
        self.ingest_budget = max(1, round(count * 0.25))
        self.export_reserve = max(1, round(count / 6))
        self.early_budget = max(1, round(count * 0.15))
        self.first_section_commit = ref.first_section_commit
        self.write_chunks = ref.write_chunks
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
            if timed:  # ingestion is short: a timer would often end it, leaving no ingest kills
                self.timed.add(self.issued)  # the next kill is timed instead
            point = f"{next(self._points['ingest'])}:{rng.randint(1, 2)},"
            return Kill(spec=point + "journal.commit.evidence:1")
        if not _run_finished(data) and self.left >= self.export_reserve:
            if timed:
                return self._timed("export.written:1")
            name = next(self._points["research"])
            to_first = self.first_section_commit - len(_states(data))
            if to_first > 0 and self.early_budget > 0:
                self.early_budget -= 1
                to_first = 0
            point = self._research_point(name, max(0, to_first))
            return Kill(spec=point + ",export.written:1")
        if timed:
            return self._timed("")
        return Kill(spec=f"{next(self._points['export'])}:1")

    def _research_point(self, name: str, to_first: int) -> str:
        """A research target; `to_first` commits are still needed for the first section (0:
        aim anywhere). Small numbers: each kill lets about one step through, so the kills
        spread over the whole run instead of finishing it early."""
        rng = self.rng
        if name.startswith("llm.stream"):
            if to_first:  # inside the second write's reply: the first one is committed
                return f"llm.stream.write:{self.write_chunks + rng.randint(1, self.write_chunks)}"
            return f"{name}:{rng.randint(1, 10 if name == 'llm.stream' else self.write_chunks)}"
        if name == "llm.prefill":
            return "llm.prefill.write:2" if to_first else f"{name}:{rng.randint(1, 2)}"
        # The to_first-th commit of this launch writes the first section: land in it (after
        # it committed) or in the next one.
        low = 0 if name == "journal.commit.after_commit" else 1
        return f"{name}:{to_first + rng.randint(low, 1) if to_first else rng.randint(1, 2)}"

    def _timed(self, backstop: str) -> Kill:
        """A kill after a random delay, keeping the next stage's backstop (the scripted work
        is fast, and a late timer would otherwise let a launch run to the end). It takes no
        checkpoint from the rotation, so every checkpoint kind still gets its kills."""
        return Kill(spec=backstop or None, delay=self.rng.uniform(0.0, 0.3))


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


class History:
    """What the run had committed after the previous launch, to compare the next one with."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.sections: dict[str, str] = {}
        self.snapshots: list[tuple[int, int, str]] = []

    def observe(self, data: Path) -> None:
        """Count lost sections, changed history and rewound steps since the last look."""
        outcome = self.outcome
        now = committed_sections(data)
        outcome.sections_lost += sum(1 for k, text in self.sections.items() if now.get(k) != text)
        self.sections = now
        rows = snapshot_history(data)
        kept = rows[: len(self.snapshots)]
        outcome.history_changed += len(self.snapshots) - len(kept)
        changed = zip(self.snapshots, kept, strict=False)
        outcome.history_changed += sum(1 for old, new in changed if old != new)
        added = rows[len(self.snapshots) :]
        if self.snapshots and added:
            outcome.steps_rewound += max(0, self.snapshots[-1][1] + 1 - added[0][1])
        self.snapshots = rows


def check_interrupted(data: Path, outcome: Outcome) -> None:
    """After a kill: with a live unrelated pid stored as the run's writer (this harness's
    own), `list_runs` must still call the unfinished run interrupted."""
    from desktop.store.journal import list_runs

    for path in _journals(data):
        try:
            with sqlite3.connect(path) as db:
                db.execute("UPDATE run SET pid = ?", (os.getpid(),))
        except sqlite3.Error:  # killed inside its creation: no run in it (list_runs skips it)
            continue
    for info in list_runs(data):
        if info.status not in ("finished", "interrupted"):
            outcome.misreported.append(f"{info.id} listed {info.status} after a kill")


def run_with_kills(
    work: Path, planner: KillPlanner, ref: Reference, env: dict[str, str] | None = None
) -> Outcome:
    """Launch with each planned kill, then until done; compare with the reference.

    `env` goes to every launch (the tests' fault injections)."""
    started = time.monotonic()
    prepare(work)
    outcome = Outcome(planned=planner.left)
    history = History(outcome)
    data = work / "data"
    while (kill := planner.next(data)) is not None:
        result = launch(work, kill, ref.max_extend, env)
        outcome.launches += 1
        if result.returncode == -signal.SIGKILL:
            outcome.kills += 1
            outcome.sites[category(result.site) if result.site else "start-up"] += 1
            check_interrupted(data, outcome)
        else:
            outcome.unreached += 1
        history.observe(data)
        if result.returncode == -signal.SIGKILL and history.sections and not _run_finished(data):
            outcome.late_kills += 1
    for _ in range(5):
        result = launch(work, max_extend=ref.max_extend, env=env)
        outcome.launches += 1
        history.observe(data)
        if result.returncode == 0:
            break
    else:
        raise AssertionError("the research never finished after the kills")
    report = (work / "report.md").read_text(encoding="utf-8")
    outcome.report_identical = report == ref.report
    outcome.sections_lost += sum(
        1 for k, text in ref.sections.items() if history.sections.get(k) != text
    )
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
