"""Shared test helpers: scripted WARP replies, an in-memory retriever for control flow, and
the one PDF generator (pymupdf) every test uses."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from desktop.core.chat import ChatRequest
from desktop.core.evidence import Passage
from desktop.llm.scripted import Expect

KEY_RE = re.compile(r"^bibkey:(textid\d+)$", re.MULTILINE)


def action(payload: dict | str, thought: str = "Thinking.") -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"<thought>{thought}</thought>\n<action>{body}</action>"


def search(*keywords: str) -> Expect:
    return Expect("search", action({"name": "search", "keywords": list(keywords)}))


def init_plan(title: str, *sections: str) -> Expect:
    items = [{"title": s, "plan": f"Cover {s.lower()}."} for s in sections]
    return Expect("init_plan", action({"name": "init-plan", "title": title, "sections": items}))


def extend(position: str, *titles: str) -> Expect:
    items = [{"title": t, "plan": f"Detail {t.lower()}."} for t in titles]
    payload = {"name": "extend-plan", "position": position, "subsections": items}
    return Expect("extend_plan", action(payload))


def nop() -> Expect:
    return Expect("extend_plan", action({"name": "nop"}))


def shown_keys(request: ChatRequest) -> list[str]:
    """The evidence keys a write prompt listed (its `** Retrieved Information **` block)."""
    prompt = request.prompt_text
    block = prompt.split("** Retrieved Information **", 1)[-1].split("## Action Example", 1)[0]
    return KEY_RE.findall(block)


PASSAGE_BLOCK_RE = re.compile(r"^bibkey:(textid\d+)\n(.*?)(?=\n\nbibkey:|\Z)", re.M | re.S)


def shown_passages(prompt: str) -> list[tuple[str, str]]:
    """(key, text) of every passage a write or init-plan prompt showed, in order."""
    for marker in ("** Retrieved Information **\n", "** Latest Retrieved Information **\n"):
        if marker in prompt:
            block = prompt.split(marker, 1)[1].split("\n\n## ", 1)[0]
            return [(k, " ".join(t.split())) for k, t in PASSAGE_BLOCK_RE.findall(block)]
    return []


def write(text: str = "A grounded sentence about the topic", n_cites: int = 1) -> Expect:
    """A write reply that cites the first `n_cites` keys the prompt showed."""

    def reply(request: ChatRequest) -> str:
        keys = shown_keys(request)[:n_cites]
        cite = f" \\cite{{{', '.join(keys)}}}" if keys else ""
        return action(f"{text}{cite}. Another supported statement{cite}.")

    return Expect("write", reply)


def raw(purpose: str, text: str, finish_reason: str = "stop") -> Expect:
    return Expect(purpose, text, finish_reason)


class MemoryRetriever:
    """Ranks passages by shared words with the query; deterministic, for control-flow tests."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.queries: list[str] = []

    def search(self, query: str, k: int) -> list[Passage]:
        self.queries.append(query)
        words = set(query.lower().split())
        scored = sorted(
            self.passages,
            key=lambda p: (-len(words & set(p.text.lower().split())), p.chunk_id),
        )
        return scored[:k]

    def close(self) -> None:
        pass


def corpus(n: int = 30, source: str = "/docs/manual.pdf") -> list[Passage]:
    topics = ["solar", "wind", "storage", "grid", "policy", "cost"]
    return [
        Passage(
            text=f"Passage {i} about {topics[i % len(topics)]} energy and its {i}th aspect.",
            source=source,
            page=i // 3 + 1,
            chunk_id=f"c{i}",
        )
        for i in range(n)
    ]


def make_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    toc: Sequence[tuple[int, str, int]] = (),
    title: str = "",
    encrypt_password: str | None = None,
) -> Path:
    """Write a PDF with one text page per entry (text wraps); optional bookmarks and password."""
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        spare = page.insert_textbox(page.rect + (50, 50, -50, -50), text, fontsize=10)
        assert spare >= 0, "the text does not fit on one page"
    if toc:
        doc.set_toc([list(entry) for entry in toc])
    if title:
        doc.set_metadata({"title": title})
    if encrypt_password is None:
        doc.save(path)
    else:
        doc.save(
            path,
            encryption=pymupdf.PDF_ENCRYPT_AES_256,
            user_pw=encrypt_password,
            owner_pw=encrypt_password + "-owner",
        )
    doc.close()
    return path


def one_section_report(text: str, registry, *, title: str = "T"):
    """The report of an outline with one section holding `text`, cited from `registry`."""
    from desktop.core.outline import Outline
    from desktop.core.report import build_report

    outline = Outline.initial(title, [("S", "P")]).with_content("s1", text)
    return build_report(
        outline,
        registry,
        question="q",
        created="2026-12-01",
        model="m",
        finished=True,
        language="en",
    )
