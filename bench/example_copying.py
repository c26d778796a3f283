"""Does a model copy the prompts' examples? Search, init-plan and extend-plan per question, real llama.cpp.

Shared by `bench/bench_example_copying.py` (all of ../shared/data's questions) and the test
(a few of them): each question runs the engine from the start until the outline exists, over
passages of the sample documents; then, with every section marked written (its plan as its
text), one extend-plan call. Every keyword, the report title, every section title and every
new subsection title is compared with the strings the prompts' examples show
(`prompts.example_strings`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core import prompts
from desktop.core.engine import Engine
from desktop.core.events import ListSink, OutlineChanged, SearchPerformed
from desktop.core.language import detect_language
from desktop.core.state import RunConfig, RunState

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT.parent / "shared" / "data" / "deepresearch-bench-queries.jsonl"


@dataclass
class Copying:
    questions: int = 0
    strings: int = 0  # keywords and titles checked
    copied: list[tuple[str, str]] = field(default_factory=list)  # (question, copied string)
    no_outline: int = 0
    extended: int = 0  # questions whose extend-plan call added subsections


def questions(limit_per_language: int | None = None) -> list[str]:
    rows = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines()]
    out = []
    for language in ("en", "zh"):
        picked = [r["prompt"] for r in rows if r["language"] == language]
        out += picked[:limit_per_language] if limit_per_language else picked
    return out


class SampleRetriever:
    """Ranks the sample documents' passages by shared words (no embedder needed)."""

    def __init__(self) -> None:
        import pymupdf

        from desktop.core.evidence import Passage

        self.passages = []
        for pdf in sorted((ROOT / "resources" / "samples").glob("*.pdf")):
            with pymupdf.open(pdf) as doc:
                for number, page in enumerate(doc, start=1):
                    words = page.get_text().split()
                    for start in range(0, len(words), 80):
                        text = " ".join(words[start : start + 80])
                        self.passages.append(Passage(text, str(pdf), number, f"{number}-{start}"))

    def search(self, query: str, k: int):
        terms = set(query.lower().split())
        scored = sorted(self.passages, key=lambda p: -len(terms & set(p.text.lower().split())))
        return scored[:k]


def check(backend, qs: list[str], config: RunConfig) -> Copying:
    examples = {s.lower() for s in prompts.example_strings()}
    result = Copying()
    retriever = SampleRetriever()
    for question in qs:
        sink = ListSink()
        language = detect_language(question)
        engine = Engine(
            run_id="copying",
            state=RunState(question=question, language=language),
            config=RunConfig(**{**config.to_dict(), "max_step": 6, "max_extend": 1}),
            backend=backend,
            retriever=retriever,
            sink=sink,
        )
        while engine.state.outline is None and engine.state.step < 4 and not engine.state.done:
            engine.step()
        result.questions += 1
        strings = [k for e in sink.of(SearchPerformed) for k in e.keywords]
        if engine.state.outline is None:
            result.no_outline += 1
        else:
            strings.append(engine.state.outline.title)
            strings += [s.title for s in engine.state.outline.sections]
            subsections = _extend_once(engine, sink)
            result.extended += bool(subsections)
            strings += subsections
        result.strings += len(strings)
        result.copied += [(question, s) for s in strings if s.strip().lower() in examples]
    return result


def _extend_once(engine: Engine, sink: ListSink) -> list[str]:
    """One extend-plan call on the outline with every section written: the new titles."""
    outline = engine.state.planned
    for section in outline.sections:
        outline = outline.with_content(section.id, section.plan or section.title)
    engine.state = engine.state.evolve(outline=outline, phase="extend_plan")
    before = {node.section.id for node in outline.walk()}
    engine.step()
    changed = [e.outline for e in sink.of(OutlineChanged) if e.reason == "extend-plan"]
    if not changed:
        return []
    return [n.section.title for n in changed[-1].walk() if n.section.id not in before]
