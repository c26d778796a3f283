"""Ingestion benchmark: end-to-end pages/s and chunks/s vs the raw embedder, and peak memory.

    python bench/bench_ingest.py [--pages 300] [--memory] [--manuals DIR]

1. Throughput: the first `--pages` pages of R's reference manual go through `Library.add` (parse,
   chunk, embed, Chroma, catalog) with the model already loaded, and the raw embedder alone embeds
   exactly the texts that were embedded; the two alternate for `--rounds` rounds, because on a
   shared machine the load changes under a long run. The ratio shows how well parsing and storage
   hide behind embedding (target >= 0.9).
2. `--memory`: the whole 2,415-page refman.pdf is ingested in a child process while its resident
   memory is sampled; prints the peak, and RSS at each tenth of the pages (flat = streaming).

The manuals come from Debian (scripts/fetch_manuals.sh); they are never committed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REFMAN = "usr/share/R/doc/manual/refman.pdf"


def manuals_dir(given: str | None) -> Path:
    """Return the unpacked manuals, fetching them with scripts/fetch_manuals.sh if needed."""
    cache = Path(given or Path.home() / ".cache" / "draftwell-manuals")
    if not (cache / "root" / REFMAN).exists():
        subprocess.run(
            ["bash", str(REPO / "scripts" / "fetch_manuals.sh"), str(cache)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return cache / "root"


def first_pages(source: Path, pages: int, target: Path) -> Path:
    import pymupdf

    with pymupdf.open(source) as doc:
        doc.select(list(range(min(pages, doc.page_count))))
        doc.save(target)
    return target


def throughput(pdf: Path, batch_size: int, rounds: int) -> None:
    """Time end to end and raw embedding in alternating order, `rounds` times; print both."""
    from desktop.knowledge.embedder import default_embedder
    from desktop.knowledge.ingest import EMBED_SLICE

    embedder = default_embedder()
    embedder.load()
    embedder.embed(["warm up the model"] * 8)
    ratios = []
    status, texts = _ingest(pdf, embedder, batch_size)  # also warms the caches
    for number in range(rounds):
        order = ("e2e", "raw") if number % 2 == 0 else ("raw", "e2e")
        timings: dict[str, float] = {}
        for kind in order:
            started = time.perf_counter()
            if kind == "e2e":
                _ingest(pdf, embedder, batch_size)
            else:  # the same embed calls the pipeline makes, without parsing or storage
                for first in range(0, len(texts), EMBED_SLICE):
                    embedder.embed(texts[first : first + EMBED_SLICE])
            timings[kind] = time.perf_counter() - started
        ratios.append(timings["raw"] / timings["e2e"])
        for kind in ("e2e", "raw"):
            took = timings[kind]
            print(f"round {number + 1} {kind:3}: {took:6.1f} s  {status.pages / took:6.2f} pages/s  "
                  f"{status.chunks / took:6.1f} chunks/s")  # fmt: skip
    print(f"document: {pdf.name}: {status.pages} pages, {status.chunks} chunks "
          f"({len(texts)} distinct vectors), batch {batch_size}")  # fmt: skip
    print("ratio end-to-end / raw embedder per round: "
          + ", ".join(f"{r:.2f}" for r in ratios)
          + f"; median {statistics.median(ratios):.2f}  (target >= 0.90)")  # fmt: skip


def _ingest(pdf: Path, embedder: object, batch_size: int) -> tuple[object, list[str]]:
    """Ingest `pdf` into a fresh library; return its status and the texts it embedded."""
    from desktop.knowledge.library import Library

    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp), embedder=embedder, batch_size=batch_size)  # type: ignore[arg-type]
        (status,) = library.add([pdf])
        texts = _embedded_texts(library)
        library.close()
    assert status.status == "indexed", status
    return status, texts


def _embedded_texts(library: object) -> list[str]:
    """Return, in order, the texts the library embedded (one per distinct vector)."""
    catalog = library._catalog  # type: ignore[attr-defined]
    rows = catalog._db().execute(
        "SELECT heading, text FROM chunks WHERE id = vec ORDER BY doc, seq"
    )
    return [f"{heading}\n{text}" if heading else text for heading, text in rows]


def memory(pdf: Path, batch_size: int) -> None:
    import psutil

    code = (
        "import sys, time; from pathlib import Path;"
        "from desktop.knowledge.library import Library;"
        "from desktop.knowledge.embedder import default_embedder;"
        "e = default_embedder(); e.load(); e.embed(['warm'] * 4);"
        "print('loaded', flush=True);"
        f"lib = Library(Path(sys.argv[1]), embedder=e, batch_size={batch_size});"
        "t = time.perf_counter();"
        "report = lambda p: print('page', p.page, p.pages, p.chunks, flush=True) "
        "if p.pages and p.page % max(1, p.pages // 10) == 0 else None;"
        "(s,) = lib.add([Path(sys.argv[2])], progress=report);"
        "print('done', s.status, s.pages, s.chunks, round(time.perf_counter() - t, 1), flush=True)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen(
            [sys.executable, "-c", code, tmp, str(pdf)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        process = psutil.Process(child.pid)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], process.memory_info().rss)
                except psutil.NoSuchProcess:
                    return
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert child.stdout is not None
        for line in child.stdout:
            rss = process.memory_info().rss / 2**20 if child.poll() is None else 0
            words = line.split()
            if words[0] == "loaded":
                print(f"model loaded        : RSS {rss:7.0f} MiB")
            elif words[0] == "page":
                print(f"page {words[1]:>5}/{words[2]} ({words[3]:>6} chunks): RSS {rss:7.0f} MiB")
            elif words[0] == "done":
                print(f"finished: {' '.join(words[1:4])} in {words[4]} s")
        child.wait()
        stop.set()
        sampler.join()
    print(f"peak RSS while ingesting {pdf.name}: {peak[0] / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manuals", help="cache dir of the Debian manuals")
    parser.add_argument("--pages", type=int, default=100, help="refman pages for throughput")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--memory", action="store_true", help="also ingest all of refman.pdf")
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args()
    refman = manuals_dir(args.manuals) / REFMAN
    if not args.no_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            part = first_pages(refman, args.pages, Path(tmp) / "refman-part.pdf")
            throughput(part, args.batch_size, args.rounds)
    if args.memory:
        memory(refman, args.batch_size)


if __name__ == "__main__":
    main()
