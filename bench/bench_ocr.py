"""OCR accuracy and speed on real pages nobody here wrote: Debian's manuals, rasterised.

Pages of r-doc-pdf (R-intro), gnuplot-doc, debian-edu-doc-zh-cn (the Chinese Debian Edu
manuals for bookworm and bullseye) are rendered to grey images at 150 and 300 dpi and put into image-only PDFs. Those are
read through the ingestion's own path (`open_document` with the OCR helper process), and each
page's OCR text is compared with the original page's text layer.

CER = edit distance / reference length. The reference is the text layer's words put into lines
by position (its stream order is not the visual order); the hypothesis is the text the OCR
gives the index (its blocks, in the engine's reading order); both with whitespace removed and
NFKC (full-width punctuation = half-width). Only pages without images are used (OCR would read text
in screenshots that the text layer does not have), and no table-of-contents pages.

    python bench/bench_ocr.py [--manuals DIR] [--pages N] [--language L] [--stall]

--stall also measures how late a 10 ms tick on the main thread fires while pages are OCR'd on
a worker thread: in-process (pymupdf holds the GIL for the whole Tesseract call, the reason
Draftwell does not do that) and through `Library.add`, which OCRs in the helper process.

The manuals are fetched by scripts/fetch_manuals.sh (apt-get download; never committed).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.knowledge.formats import PageDone, load_pymupdf, open_document  # noqa: E402
from desktop.knowledge.ocr import (  # noqa: E402
    ENGINE,
    OCR_DPI,
    OcrProcess,
    OcrWord,
    close_cjk_gaps,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("r-doc-pdf", "gnuplot-doc", "debian-edu-doc-zh-cn")
SOURCES = {
    "English": ("doc/r-doc-pdf/manual/R-intro.pdf", "doc/gnuplot/gnuplot.pdf"),
    "Chinese": (
        # partly translated: the pages that are mostly Chinese are used
        "doc/debian-edu-doc-zh-cn/debian-edu-bookworm-manual.pdf",
        "doc/debian-edu-doc-zh-cn/debian-edu-bullseye-manual.pdf",
    ),
}
TARGETS = {"English": 0.03, "Chinese": 0.08}
DPIS = (150, 300)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class SourcePage:
    path: Path
    index: int
    reference: str


def fetch_manuals(folder: Path | None) -> Path:
    """The root the manuals are unpacked into (its usr/share/...)."""
    if folder is not None:
        return folder
    script = ROOT / "scripts" / "fetch_manuals.sh"
    cache = subprocess.run(
        [str(script), str(Path.home() / ".cache" / "draftwell-manuals"), *PACKAGES],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(cache) / "root"


def position_text(words: list[OcrWord]) -> str:
    """The text layer's words as lines in position order (top to bottom, left to right),
    normalised: the reference (a text layer's stream order is not its visual order)."""
    return normalised("\n".join(" ".join(w.text for w in line) for line in _lines(words)))


def normalised(text: str) -> str:
    """NFKC (full-width punctuation = half-width), whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", close_cjk_gaps(text)))


def _lines(words: list[OcrWord]) -> list[list[OcrWord]]:
    """Words grouped into lines: a word continues a line when its vertical middle is within 40%
    of the smaller of its own and the line's height from the line's middle."""
    lines: list[list[OcrWord]] = []
    middles: list[float] = []
    for word in sorted(words, key=_middle):
        height = word.y1 - word.y0
        if lines:
            line_height = min(w.y1 - w.y0 for w in lines[-1])
            if abs(_middle(word) - middles[-1]) <= 0.4 * min(height, line_height):
                lines[-1].append(word)
                middles[-1] = sum(_middle(w) for w in lines[-1]) / len(lines[-1])
                continue
        lines.append([word])
        middles.append(_middle(word))
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def _middle(word: OcrWord) -> float:
    return (word.y0 + word.y1) / 2


def choose_pages(root: Path, language: str, count: int) -> list[SourcePage]:
    """Up to `count` text-rich pages without images per manual, spread through each manual."""
    pymupdf = load_pymupdf()
    chosen: list[SourcePage] = []
    for relative in SOURCES[language]:
        path = root / "usr" / "share" / relative
        with pymupdf.open(path) as doc:
            found = []
            step = 1 if language == "Chinese" else 3  # the Chinese manual has few Chinese pages
            for index in range(max(8, doc.page_count // 10), doc.page_count, step):
                page = doc[index]
                if page.get_images():
                    continue
                words = [OcrWord(*w[:5]) for w in page.get_text("words")]
                text = position_text(words)
                cjk = len(_CJK.findall(text))
                wanted = cjk > 0.4 * len(text) if language == "Chinese" else cjk == 0
                seen = any(text[40:240] in other.reference for other in chosen + found)
                if len(text) > 800 and wanted and not seen and "....." not in text:
                    found.append(SourcePage(path, index, text))
                if len(found) == count:
                    break
            chosen.extend(found)
    return chosen


def scan(pages: list[SourcePage], dpi: int, target: Path) -> Path:
    """Write an image-only PDF: each source page rendered at `dpi` (grey), nothing else."""
    pymupdf = load_pymupdf()
    out = pymupdf.open()
    for source in pages:
        with pymupdf.open(source.path) as doc:
            page = doc[source.index]
            pixmap = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
            new = out.new_page(width=page.rect.width, height=page.rect.height)
            new.insert_image(new.rect, pixmap=pixmap)
    out.save(target)
    out.close()
    return target


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row at a time (insertions by a running minimum)."""
    if not a or not b:
        return len(a) + len(b)
    codes = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    columns = np.arange(len(b) + 1)
    row = columns.astype(np.int64)
    for i, char in enumerate(a, start=1):
        step = np.empty_like(row)
        step[0] = i
        step[1:] = np.minimum(row[1:] + 1, row[:-1] + (codes != ord(char)))
        row = np.minimum.accumulate(step - columns) + columns
    return int(row[-1])


class _EngineReader:
    def __init__(self, engine: OcrProcess, path: Path) -> None:
        self.engine, self.path = engine, path

    def read(self, page: int):
        return self.engine.read(str(self.path), page, lambda: False)


def measure(pages: list[SourcePage], dpi: int, folder: Path) -> tuple[float, float, list[float]]:
    """OCR an image-only PDF of `pages` through open_document; return CER, pages/s, per page."""
    pdf = scan(pages, dpi, folder / f"scan-{dpi}.pdf")
    engine = OcrProcess()
    try:
        engine.start()  # the helper process starts (imports pymupdf) before the clock
        started = time.perf_counter()
        items = list(open_document(pdf, _EngineReader(engine, pdf)).items)
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    read = [item.ocr for item in items if isinstance(item, PageDone)]
    errors = total = 0
    per_page = []
    for source, result in zip(pages, read, strict=True):
        hypothesis = normalised("\n".join(result.blocks)) if result else ""  # what is indexed
        distance = edit_distance(source.reference, hypothesis)
        per_page.append(distance / len(source.reference))
        errors += distance
        total += len(source.reference)
    return errors / total, len(pages) / elapsed, per_page


def tick_lateness(work: Callable[[], object]) -> tuple[float, float]:
    """Run `work` on a thread; return the worst and the 99th-percentile lateness (ms) of a
    10 ms sleep on this thread meanwhile (what a GUI thread's timer would see)."""
    done = threading.Event()

    def target() -> None:
        try:
            work()
        finally:
            done.set()

    late: list[float] = []
    thread = threading.Thread(target=target)
    thread.start()
    while not done.is_set():
        started = time.perf_counter()
        time.sleep(0.01)
        late.append((time.perf_counter() - started - 0.01) * 1000)
    thread.join()
    late.sort()
    return late[-1], late[int(0.99 * (len(late) - 1))]


def stall(pages: list[SourcePage], folder: Path) -> None:
    """Print main-thread tick lateness while OCR runs in-process and through Library.add."""
    from desktop.knowledge.library import Library
    from desktop.knowledge.ocr import find_tessdata, languages

    pdf = scan(pages, 300, folder / "stall.pdf")
    pymupdf = load_pymupdf()
    tessdata = find_tessdata()
    assert tessdata is not None

    def in_process() -> None:
        with pymupdf.open(pdf) as doc:
            for page in doc:
                page.get_textpage_ocr(
                    language=languages(tessdata), dpi=OCR_DPI, full=True, tessdata=str(tessdata)
                )

    worst, p99 = tick_lateness(in_process)
    print(f"stall, OCR in-process (not used):    worst {worst:7.0f} ms, p99 {p99:6.0f} ms")
    with Library(folder / "data") as library:
        library.warm_up()
        worst, p99 = tick_lateness(lambda: library.add([pdf]))
        (status,) = library.list()
    print(f"stall, Library.add (helper process): worst {worst:7.0f} ms, p99 {p99:6.0f} ms "
          f"({status.status}, {status.ocr_pages} OCR pages)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manuals", type=Path, help="root the manuals are unpacked into")
    parser.add_argument("--pages", type=int, default=3, help="pages per manual (default 3)")
    parser.add_argument("--stall", action="store_true", help="also measure main-thread stalls")
    parser.add_argument("--no-cer", action="store_true", help="skip the accuracy table")
    parser.add_argument("--language", choices=sorted(SOURCES), help="only this language")
    args = parser.parse_args()
    root = fetch_manuals(args.manuals)
    print(f"engine: {ENGINE} (OCR render {OCR_DPI} dpi), load: {os.getloadavg()[0]:.1f}, "
          f"cores: {os.cpu_count()}")  # fmt: skip
    print(f"{'language':<9} {'scan dpi':>8} {'pages':>5} {'CER':>7} {'target':>7} "
          f"{'pages/s':>8}  per-page CER")  # fmt: skip
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.stall:
            stall(choose_pages(root, "English", 2)[:3], Path(tmp))
        languages = [args.language] if args.language else list(SOURCES)
        for language in languages if not args.no_cer else ():
            pages = choose_pages(root, language, args.pages)
            for dpi in DPIS:
                cer, speed, per_page = measure(pages, dpi, Path(tmp))
                target = TARGETS[language]
                judged = dpi == 300 or language == "Chinese"
                failed |= judged and cer > target
                mark = f"{target:.0%}" if judged else "-"
                detail = " ".join(f"{c:.3f}" for c in per_page)
                print(f"{language:<9} {dpi:>8} {len(pages):>5} {cer:>7.2%} {mark:>7} "
                      f"{speed:>8.3f}  {detail}", flush=True)  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
