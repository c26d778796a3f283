"""The child process of the kill-anywhere harness: ingest, research, export — resumably.

Usage: python -m tests.crash.scripted_research DATA_DIR SOURCES_DIR REPORT_FILE [MAX_EXTEND]

Every launch does whatever is still undone: adds SOURCES_DIR to the library (interrupted
documents resume), starts the run or resumes the unfinished one, and exports its report to
REPORT_FILE as Markdown. It prints `done RUN_ID` at the end. The model is a deterministic
policy on the scripted backend (its reply is a function of the prompt, so a resumed step asks
and gets the same as an uninterrupted one); the embedder hashes words (a sentence-transformers
load per launch would cost seconds, and the harness restarts the process dozens of times).
Kill points come from desktop.crashpoints (DRAFTWELL_CRASH_AT).

Two fault injections prove the harness notices a resume that loses history (never set them
outside those tests): DRAFTWELL_TEST_RESUME_BEHIND=N resumes from the snapshot N behind the
newest (the steps after it are done again), DRAFTWELL_TEST_DROP_SNAPSHOTS=N deletes the N
snapshots before the newest before resuming.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop.core.chat import ChatRequest
from desktop.core.state import RunConfig, RunState, registry_from_items
from desktop.export.atomic import write_text_atomically
from desktop.export.markdown import render_markdown
from desktop.knowledge.embedder import Embedder
from desktop.knowledge.library import Library
from desktop.llm.scripted import ScriptedBackend
from desktop.session import ResearchSession, report_for
from desktop.store.journal import RunJournal, list_runs

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"
MAX_STEP = 120
EXPANDABLE = ("section-1", "section-2", "section-3", "section-1.1", "section-1.2")
BATCH_SIZE = 2  # small batches: many ingestion commits to be killed between
CHUNK_CHARS = 24  # streamed reply pieces (each is a checkpoint)
CHUNK_DELAY_S = 0.003  # a little time per piece, so a kill by timer can land mid-research
SECTIONS = ("Running costs", "Emissions", "Comfort and noise")
KEYWORDS = ("heat pump efficiency", "gas boiler cost", "carbon emissions", "installation")
LISTED_KEY = re.compile(r"^(?:bibkey:)?(textid\d+)\b", re.MULTILINE)
RESUME_BEHIND_ENV = "DRAFTWELL_TEST_RESUME_BEHIND"
DROP_SNAPSHOTS_ENV = "DRAFTWELL_TEST_DROP_SNAPSHOTS"


class HashEmbedder(Embedder):
    """Bag-of-words vectors hashed into 128 dimensions: deterministic, numpy only, instant."""

    DIMENSION = 128

    def __init__(self) -> None:
        super().__init__(name="hash-words-128")

    @property
    def dimension(self) -> int:
        return self.DIMENSION

    @property
    def max_tokens(self) -> int:
        return 256

    @property
    def prefixes(self) -> tuple[str, str]:
        return ("", "")

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2

    def load(self) -> object:
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
                vectors[row, bucket % self.DIMENSION] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def _action(payload: dict | str) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"<thought>Following the plan.</thought>\n<action>{body}</action>"


def policy(request: ChatRequest) -> str:
    """The scripted model: a reply that depends only on the request."""
    prompt = request.prompt_text
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
    match request.purpose:
        case "search":
            first = int(digest[:8], 16) % len(KEYWORDS)
            return _action({"name": "search", "keywords": [KEYWORDS[first], KEYWORDS[first - 1]]})
        case "init_plan":
            sections = [{"title": t, "plan": f"Compare {t.lower()}."} for t in SECTIONS]
            return _action(
                {"name": "init-plan", "title": "Heat pumps or boilers", "sections": sections}
            )
        case "write":
            keys = list(dict.fromkeys(LISTED_KEY.findall(prompt)))[:2]
            cite = f" \\cite{{{', '.join(keys)}}}" if keys else ""
            return _action(
                f"The evidence points one way (note {digest[:10]}){cite}. "
                f"A second finding supports it{cite}."
            )
        case "extend_plan":
            # The first position the outline shows without subsections yet.
            shown = prompt.lower()
            position = next((p for p in EXPANDABLE if f"{p}.1" not in shown), None)
            if position is None:
                return _action({"name": "nop"})
            subsections = [
                {"title": f"Air source ({position})", "plan": "Detail air source units."},
                {"title": f"Ground source ({position})", "plan": "Detail ground loops."},
            ]
            payload = {"name": "extend-plan", "position": position, "subsections": subsections}
            return _action(payload)
    raise AssertionError(f"unexpected call for {request.purpose!r}")


def backend() -> ScriptedBackend:
    return ScriptedBackend([policy] * 200, chunk_chars=CHUNK_CHARS, delay=CHUNK_DELAY_S)


def inject_history_faults(data_dir: Path, run_id: str) -> None:
    """Break resume on purpose when a test asks for it (see the module docstring)."""
    behind = int(os.environ.get(RESUME_BEHIND_ENV) or 0)
    drop = int(os.environ.get(DROP_SNAPSHOTS_ENV) or 0)
    if drop:
        journal = RunJournal.open(data_dir, run_id)
        with journal._writing() as db:
            db.execute(
                "DELETE FROM snapshots WHERE id IN "
                "(SELECT id FROM snapshots ORDER BY id DESC LIMIT ? OFFSET 1)",
                (drop,),
            )
        journal.close()
    if behind:

        def older_state(journal: RunJournal) -> RunState:
            rows = journal.db.execute("SELECT state FROM snapshots ORDER BY id DESC").fetchall()
            data = json.loads(rows[min(behind, len(rows) - 1)][0])
            items = journal.db.execute(
                "SELECT key, passage FROM evidence WHERE seq <= ? ORDER BY seq",
                (data["registry_size"],),
            ).fetchall()
            registry = registry_from_items([(k, json.loads(p)) for k, p in items])
            return RunState.from_dict(data, registry)

        RunJournal.latest_state = older_state  # type: ignore[method-assign]


def research(data_dir: Path, library: Library, sources: Path, max_extend: int) -> str:
    """Start the run, or resume the unfinished one; return its id."""
    runs = list_runs(data_dir)
    retriever = library.retriever([sources])
    if runs and runs[0].status == "finished":
        return runs[0].id
    if runs:
        inject_history_faults(data_dir, runs[0].id)
        session = ResearchSession.resume(
            data_dir, runs[0].id, backend=backend(), retriever=retriever
        )
    else:
        session = ResearchSession.start(
            data_dir,
            QUESTION,
            sources=[str(sources)],
            config=RunConfig(max_step=MAX_STEP, max_extend=max_extend),
            backend=backend(),
            retriever=retriever,
            model_name="scripted",
        )
    try:
        session.run()
        return session.run_id
    finally:
        session.close()


def export(data_dir: Path, run_id: str, out: Path) -> None:
    journal = RunJournal.open(data_dir, run_id)
    try:
        report = report_for(journal)
    finally:
        journal.close()
    write_text_atomically(out, render_markdown(report), force=True)


def main(argv: list[str]) -> int:
    data_dir, sources, out = (Path(a) for a in argv[:3])
    max_extend = int(argv[3]) if len(argv) > 3 else 1
    library = Library(data_dir, embedder=HashEmbedder(), batch_size=BATCH_SIZE)
    try:
        library.add([sources])
        run_id = research(data_dir, library, sources, max_extend)
    finally:
        library.close()
    export(data_dir, run_id, out)
    print(f"done {run_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
