"""Query benchmark: latency at 10k/100k chunks, and recall of vector vs hybrid retrieval.

    python bench/bench_query.py [--latency] [--recall] [--sizes 10000 100000] [--manuals DIR]
                                [--chunkers current pre14]

Latency: a synthetic library (chunk texts sampled from the manuals' own words, random unit
vectors) of each size goes through the real retriever; every query includes embedding the query
with the real model. Prints p50/p95 for vector-only and hybrid search (k=20, what WARP asks per
keyword), and the query embedding alone. Built indexes are cached under ~/.cache/draftwell-bench.

Recall: nine Debian manuals are ingested for real, then the questions in
bench_query_questions.py are asked of BM25 alone, vectors alone and the hybrid (RRF) ranking;
prints recall@5/@10/@20 and MRR for each. `--chunkers current pre14` builds the library once
per chunker: this tree's desktop/knowledge/chunking.py, and the one before issue #14 (read from
git history, commit PRE14_CHUNKER) swapped into ingestion, and ends with one comparison table
over all questions. Each library is cached under a name keyed by its chunker's source, so a
changed chunker is re-ingested and an unchanged one reused (comments and docstrings do not count).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import random
import re
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_ingest import manuals_dir  # noqa: E402
from bench_query_questions import HELD_OUT, MANUALS, QUESTIONS  # noqa: E402

CACHE = Path.home() / ".cache" / "draftwell-bench"
K = 20
_DOT_LEADERS = re.compile(r"(?:\.\s){4,}")
# The last commit before issue #14's merge (166ddbf): its chunker counted words, not tokens.
PRE14_CHUNKER = "19f5e647b6f5ad2ce298515adcf666a932b42696"
CHUNKING = "desktop/knowledge/chunking.py"


# --- latency ---------------------------------------------------------------------------------


def vocabulary(root: Path) -> list[str]:
    """Return the words of a few manuals, with repeats (so sampling keeps Zipf's law)."""
    import pymupdf

    words: list[str] = []
    for name in ("R-intro", "gnuplot", "R-admin"):
        with pymupdf.open(root / MANUALS[name]) as doc:
            for page in doc:
                words.extend(re.findall(r"[A-Za-z][A-Za-z_.]+", page.get_text()))
    return words


def synthetic_library(size: int, words: list[str], embedder: object) -> object:
    """Build (or reuse) a library with `size` synthetic chunks in 100 documents."""
    import numpy as np

    from desktop.knowledge.catalog import ChunkRow
    from desktop.knowledge.ingest import chunk_id
    from desktop.knowledge.library import Library

    folder = CACHE / f"synthetic-{size}"
    library = Library(folder, embedder=embedder)  # type: ignore[arg-type]
    if (folder / "complete").exists():
        return library
    catalog, index = library._catalog, library._vector_index()
    rng = random.Random(size)
    vectors_rng = np.random.default_rng(size)
    per_doc = size // 100
    started = time.perf_counter()
    for number in range(100):
        digest = hashlib.sha256(f"synthetic document {number}".encode()).hexdigest()
        with catalog.transaction() as db:
            catalog.new_document(db, digest, f"/synthetic/doc{number}.pdf", 1)
            catalog.update_document(db, digest, status="indexed", chunks=per_doc, worker=None)
        for first in range(0, per_doc, 1000):
            seqs = range(first, min(per_doc, first + 1000))
            rows = [
                ChunkRow(
                    chunk_id(digest, s),
                    digest,
                    s,
                    s // 4 + 1,
                    "",
                    0,
                    0,
                    " ".join(rng.choices(words, k=150)),
                    chunk_id(digest, s),
                )  # fmt: skip
                for s in seqs
            ]
            vectors = vectors_rng.standard_normal((len(rows), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.upsert(
                [r.id for r in rows], vectors, [{"doc": digest, "seq": r.seq} for r in rows]
            )
            with catalog.transaction() as db:
                catalog.add_chunks(db, rows)
    assert index.count() == catalog.chunk_count() == per_doc * 100, "chunk ids collided"
    (folder / "complete").touch()
    print(f"built synthetic index of {size} chunks in {time.perf_counter() - started:.0f} s")
    return library


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] * 1000
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms"


def latency(sizes: list[int], root: Path, rounds: int) -> None:
    from desktop.knowledge.embedder import default_embedder

    embedder = default_embedder()
    embedder.load()
    queries = [q for q, _, _ in QUESTIONS]
    words = vocabulary(root)
    embed_times = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            embedder.embed_query(query)
            embed_times.append(time.perf_counter() - started)
    print(f"query embedding alone          : {percentiles(embed_times)}")
    for size in sizes:
        library = synthetic_library(size, words, embedder)
        for hybrid in (False, True):
            retriever = library.retriever(hybrid=hybrid)  # type: ignore[attr-defined]
            retriever.search(queries[0], K)  # warm up
            times = []
            for _ in range(rounds):
                for query in queries:
                    started = time.perf_counter()
                    assert len(retriever.search(query, K)) == K
                    times.append(time.perf_counter() - started)
            label = "hybrid" if hybrid else "vector"
            print(f"{size:>7} chunks, {label}, k={K}: {percentiles(times)}  (n={len(times)})")
        keyword = library.retriever(hybrid=True)  # type: ignore[attr-defined]
        times = []
        for query in queries:
            started = time.perf_counter()
            keyword.keyword_ids(query, 40)
            times.append(time.perf_counter() - started)
        print(f"{size:>7} chunks, BM25 part alone : {percentiles(times)}")
        library.close()  # type: ignore[attr-defined]


# --- recall ----------------------------------------------------------------------------------


def chunker_source(name: str) -> str:
    """Return the source of chunker `name`: "current" (this tree) or "pre14" (git history)."""
    if name == "current":
        return (REPO / CHUNKING).read_text(encoding="utf-8")
    if name == "pre14":
        shown = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{PRE14_CHUNKER}:{CHUNKING}"],
            capture_output=True,
            text=True,
        )
        if shown.returncode != 0:
            raise SystemExit(
                f"the pre14 chunker is read from git history (commit {PRE14_CHUNKER[:10]}), "
                f"which this checkout lacks (a shallow clone?): {shown.stderr.strip()}"
            )
        return shown.stdout
    raise SystemExit(f"unknown chunker {name} (current or pre14)")


def use_chunker(name: str) -> str:
    """Make ingestion chunk with chunker `name`; return a short hash of its source."""
    from desktop.knowledge import ingest

    source = chunker_source(name)
    module = types.ModuleType(f"chunking_{name}")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{name}:{CHUNKING}", "exec"), module.__dict__)  # noqa: S102
    takes_budget = "budget" in module.chunk_section.__code__.co_varnames
    ingest.chunk_section = (  # type: ignore[assignment]
        module.chunk_section
        if takes_budget
        else lambda section, budget=None: module.chunk_section(section)  # word-counted, no limit
    )
    return code_digest(source)


def code_digest(source: str) -> str:
    """Return a short hash of Python source that ignores its comments and docstrings."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):  # a docstring
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:10]


def eval_library(root: Path, chunker: str = "current") -> object:
    from desktop.knowledge.embedder import default_embedder
    from desktop.knowledge.library import Library

    digest = use_chunker(chunker)
    library = Library(CACHE / f"eval-{chunker}-{digest}", embedder=default_embedder())
    started = time.perf_counter()
    statuses = library.add([root / path for path in MANUALS.values()])
    chunks = sum(s.chunks for s in statuses)
    pages = sum(s.pages for s in statuses)
    print(f"eval library ({chunker} chunker {digest}): {len(statuses)} manuals, {pages} pages, "
          f"{chunks} chunks (ready in {time.perf_counter() - started:.0f} s)")  # fmt: skip
    return library


def first_hit(ranked: list[object], manual: str, needles: tuple[str, ...]) -> int | None:
    """Return the 1-based rank of the first answering chunk, or None."""
    wanted = Path(MANUALS[manual]).name
    for rank, passage in enumerate(ranked, start=1):
        text = " ".join(passage.text.split()).lower()  # type: ignore[attr-defined]
        if Path(passage.source).name != wanted or _DOT_LEADERS.search(text):  # type: ignore[attr-defined]
            continue
        if any(needle.lower() in text for needle in needles):
            return rank
    return None


def rankings(library: object, query: str) -> dict[str, list[object]]:
    """Return the top-K passages of each retrieval variant for `query`."""
    from desktop.knowledge.retrieval import CANDIDATES, reciprocal_rank_fusion

    vector = library.retriever(hybrid=False)  # type: ignore[attr-defined]
    hybrid = library.retriever(hybrid=True)  # type: ignore[attr-defined]
    dense = vector.ranked_ids(query, CANDIDATES)
    lexical = vector.keyword_ids(query, CANDIDATES)
    ids = {
        "bm25": lexical[:K],
        "vector": dense[:K],
        "hybrid": hybrid.ranked_ids(query, K),
        "rrf60": reciprocal_rank_fusion([dense, lexical], k=60)[:K],
    }
    rows = library._catalog.chunk_rows([i for found in ids.values() for i in found])  # type: ignore[attr-defined]
    return {name: vector._passages([rows[i] for i in found]) for name, found in ids.items()}


def evaluate(
    library: object, title: str, questions: list[tuple[str, str, tuple[str, ...]]]
) -> dict[str, list[int | None]]:
    ranks: dict[str, list[int | None]] = {}
    print(f"\n{title}\n{'query':48} " + " ".join(f"{n:>6}" for n in VARIANTS))
    for query, manual, needles in questions:
        found = {n: first_hit(p, manual, needles) for n, p in rankings(library, query).items()}
        for name in VARIANTS:
            ranks.setdefault(name, []).append(found[name])
        print(f"{query[:48]:48} " + " ".join(f"{str(found[n] or '-'):>6}" for n in VARIANTS))
    for name, values in ranks.items():
        at, mrr = scores(values)
        print(f"{name:6}: recall@5 {at[5]:.2f}  recall@10 {at[10]:.2f}  recall@20 {at[20]:.2f}  "
              f"MRR {mrr:.3f}")  # fmt: skip
    return ranks


def scores(values: list[int | None]) -> tuple[dict[int, float], float]:
    """Return recall@5/10/20 and the mean reciprocal rank of first-hit ranks (None: missed)."""
    at = {k: sum(1 for r in values if r is not None and r <= k) / len(values) for k in (5, 10, 20)}
    return at, sum(1 / r for r in values if r) / len(values)


VARIANTS = ("bm25", "vector", "hybrid", "rrf60")


def recall(root: Path, chunkers: list[str]) -> None:
    """Print recall of BM25, vectors, the library's hybrid and plain RRF(k=60) fusion."""
    summary: dict[str, dict[str, list[int | None]]] = {}
    for chunker in chunkers:
        library = eval_library(root, chunker)
        print("hybrid = weighted RRF as the library does it; rrf60 = textbook RRF, equal weights")
        tuning = evaluate(library, f"[{chunker}] tuning questions ({len(QUESTIONS)})", QUESTIONS)
        held = evaluate(library, f"[{chunker}] held-out questions ({len(HELD_OUT)})", HELD_OUT)
        summary[chunker] = {v: tuning[v] + held[v] for v in VARIANTS}
        library.close()  # type: ignore[attr-defined]
    print(f"\nall {len(QUESTIONS) + len(HELD_OUT)} questions over {len(MANUALS)} manuals "
          f"(load {os.getloadavg()[0]:.1f})")  # fmt: skip
    for chunker, ranks in summary.items():
        for variant in ("vector", "hybrid", "bm25"):
            at, mrr = scores(ranks[variant])
            print(f"{chunker:8} {variant:6}: recall@5 {at[5]:.2f}  recall@10 {at[10]:.2f}  "
                  f"recall@20 {at[20]:.2f}  MRR {mrr:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manuals", help="cache dir of the Debian manuals")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--recall", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=4, help="passes over the questions")
    parser.add_argument(
        "--chunkers", nargs="+", default=["current"], help="current and/or pre14 (recall only)"
    )
    args = parser.parse_args()
    root = manuals_dir(args.manuals)
    print(f"load: {os.getloadavg()[0]:.1f} (1-minute average; the machine may be shared)")
    if not (args.latency or args.recall):
        args.latency = args.recall = True
    if args.recall:
        recall(root, args.chunkers)
    if args.latency:
        latency(args.sizes, root, args.rounds)


if __name__ == "__main__":
    main()
