"""OCR for PDF pages without a usable text layer: Tesseract inside MuPDF, in a helper process.

The engine was chosen by measurement (bench/bench_ocr.py, README "OCR"): Tesseract, which
pymupdf's MuPDF has built in, so only its language data (`eng`, `chi_sim`: ~6.5 MB) has to be
installed or bundled; nothing is downloaded, ever. A page is OCR'd when it has no text but
carries an image (a scan), or when its text layer is garbage (mostly unmapped glyphs, U+FFFD).

pymupdf holds Python's GIL for the whole Tesseract call (seconds per page), which would freeze
the window, so pages are OCR'd in a helper process (`OcrProcess`, one per ingestion run, started
on the first page that needs it). Stopping ends that process at once: a page in progress is
dropped and done again on resume; pages already done are kept in the catalog (`ocr_pages`).
The helper is started with multiprocessing's "spawn": like any such program, a script that
indexes must keep its top level behind `if __name__ == "__main__":` (the app's entry points,
the CLI and pytest do; the frozen app calls `multiprocessing.freeze_support()`).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENGINE = "tesseract"
OCR_DPI = 300  # rendering resolution handed to Tesseract (150 dpi scans are upsampled)
LANGUAGES = ("eng", "chi_sim")
GARBAGE_SHARE = 0.5  # a text layer with at least this share of unmapped glyphs is garbage
SPARSE_TEXT_CHARS = 80  # fewer visible characters over a page-sized image: still a scan
TESSDATA_ENV = "DRAFTWELL_TESSDATA"
_SYSTEM_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
    "C:/Program Files/Tesseract-OCR/tessdata",
)
_CJK = r"\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}]) +(?=[{_CJK}])")
_POLL_S = 0.1


class OcrUnavailable(RuntimeError):
    """No Tesseract language data was found (say where it is looked for)."""


class OcrStopped(Exception):
    """The caller stopped while a page was being OCR'd; the helper process was ended."""


@dataclass(frozen=True, slots=True)
class OcrWord:
    """A word the engine read, with its box in PDF points (page coordinates, y down)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True, slots=True)
class OcrPage:
    """What OCR read on one page: its text blocks in reading order and its word boxes."""

    page: int
    blocks: tuple[str, ...]
    words: tuple[OcrWord, ...]
    engine: str = ENGINE

    def blocks_json(self) -> str:
        return json.dumps(list(self.blocks), ensure_ascii=False)

    def words_json(self) -> str:
        rows = [[round(w.x0, 2), round(w.y0, 2), round(w.x1, 2), round(w.y1, 2), w.text]
                for w in self.words]  # fmt: skip
        return json.dumps(rows, ensure_ascii=False)

    @classmethod
    def from_json(cls, page: int, engine: str, blocks: str, words: str) -> OcrPage:
        return cls(
            page,
            tuple(json.loads(blocks)),
            tuple(OcrWord(*row) for row in json.loads(words)),
            engine,
        )


# --- where the language data is -----------------------------------------------------------


def find_tessdata() -> Path | None:
    """Return the tessdata folder to use: $DRAFTWELL_TESSDATA, the app bundle's, then the system's.

    A folder counts only if it holds `eng.traineddata`.
    """
    candidates: list[Path] = []
    if os.environ.get(TESSDATA_ENV):
        candidates.append(Path(os.environ[TESSDATA_ENV]))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "tessdata")
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(Path(os.environ["TESSDATA_PREFIX"]))
    candidates.extend(Path(p) for p in _SYSTEM_TESSDATA)
    for folder in candidates:
        if (folder / "eng.traineddata").is_file():
            return folder
    return None


def tessdata_or_raise() -> Path:
    folder = find_tessdata()
    if folder is None:
        raise OcrUnavailable(
            "OCR language data not found: install tesseract-ocr-eng and tesseract-ocr-chi-sim "
            f"(or set {TESSDATA_ENV} to a tessdata folder)"
        )
    return folder


def languages(tessdata: Path) -> str:
    """The Tesseract language string for the installed languages of LANGUAGES ("eng+chi_sim")."""
    found = [lang for lang in LANGUAGES if (tessdata / f"{lang}.traineddata").is_file()]
    return "+".join(found)


# --- which pages need OCR -------------------------------------------------------------------


def is_garbage(text: str) -> bool:
    """True if most visible characters are unmapped glyphs (U+FFFD, private use, controls)."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return False
    bad = sum(1 for c in visible if c == "\ufffd" or "\ue000" <= c <= "\uf8ff" or ord(c) < 32)
    return bad >= GARBAGE_SHARE * len(visible)


def needs_ocr(page: Any, texts: Sequence[str]) -> bool:
    """True for a page whose text layer is garbage, or that shows a scan: an image and no text,
    or a large image (half the page or more) under a few words of text (a stamped header)."""
    joined = "".join(texts)
    visible = sum(1 for c in joined if not c.isspace())
    if visible and is_garbage(joined):
        return True
    if visible >= SPARSE_TEXT_CHARS:
        return False
    try:
        images = page.get_image_info()
    except Exception as exc:  # a damaged page: OCR can still try to read what it renders
        log.info("cannot list the images of page %d: %s", page.number + 1, exc)
        return True
    if not visible:
        return bool(images)
    area = abs(page.rect)
    return any(abs(_rect(info["bbox"]) & page.rect) >= 0.5 * area for info in images)


def _rect(bbox: Sequence[float]) -> Any:
    import pymupdf

    return pymupdf.Rect(bbox)


# --- reading one page (runs in the helper process) -------------------------------------------


def read_page(page: Any, tessdata: Path, language: str, dpi: int = OCR_DPI) -> OcrPage:
    """OCR one pymupdf page: text blocks (CJK gaps closed) and word boxes in page coordinates."""
    import pymupdf

    textpage = page.get_textpage_ocr(
        flags=pymupdf.TEXT_DEHYPHENATE | pymupdf.TEXT_MEDIABOX_CLIP,
        language=language,
        dpi=dpi,
        full=True,
        tessdata=str(tessdata),
    )
    # reading order (block, line, word) as Tesseract gives it; see block_text
    found = [w for w in page.get_text("words", textpage=textpage) if w[4].strip()]
    words = tuple(OcrWord(w[0], w[1], w[2], w[3], w[4]) for w in found)
    blocks: dict[int, list[OcrWord]] = {}
    for w, word in zip(found, words, strict=True):
        blocks.setdefault(w[5], []).append(word)
    texts = tuple(text for text in (block_text(b) for b in blocks.values()) if text)
    return OcrPage(page.number + 1, texts, words)


def block_text(words: Sequence[OcrWord]) -> str:
    """Join a block's words in the engine's reading order, a line break wherever a word starts
    left of the word before it (the next line), else a space; CJK gaps closed.

    Tesseract's reading order is kept rather than re-sorting by position: its word boxes for
    Chinese often span two lines (a box from one line's top to the next line's bottom), and a
    position sort then splices half of one line into another (measured in bench/bench_ocr.py:
    Chinese CER 10.5 % sorted by position, 7.5 % in reading order, same OCR)."""
    parts: list[str] = []
    previous: OcrWord | None = None
    for word in words:
        if previous is not None:
            parts.append("\n" if word.x0 < previous.x0 else " ")
        parts.append(word.text)
        previous = word
    return close_cjk_gaps("".join(parts)).strip()


def close_cjk_gaps(text: str) -> str:
    """Drop the spaces Tesseract puts between Chinese characters (not between Latin words)."""
    return _CJK_GAP.sub("", text)


def _load_pymupdf() -> Any:
    sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
    import pymupdf

    return pymupdf


def _serve(connection: Any) -> None:
    """The helper process: read (path, page number, tessdata, language, dpi), answer, repeat."""
    pymupdf = _load_pymupdf()
    documents: dict[str, Any] = {}
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        path, number, tessdata, language, dpi = request
        try:
            if path not in documents:
                documents.clear()
                documents[path] = pymupdf.open(path)
            page = documents[path].load_page(number - 1)
            connection.send(("ok", read_page(page, Path(tessdata), language, dpi)))
        except Exception as exc:  # answer with the reason; the parent fails only that page
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class OcrProcess:
    """OCR pages one at a time in a helper process (see the module docstring)."""

    def __init__(self, tessdata: Path | None = None, dpi: int = OCR_DPI) -> None:
        self.tessdata = tessdata or tessdata_or_raise()
        self.language = languages(self.tessdata)
        self.dpi = dpi
        self._process: Any = None
        self._connection: Any = None

    def read(self, path: str, number: int, stopped: Callable[[], bool]) -> OcrPage:
        """OCR page `number` (1-based) of `path`. Raises OcrStopped (process ended) when
        `stopped()` turns true first, RuntimeError when the engine fails on the page."""
        self.start()
        self._connection.send((path, number, str(self.tessdata), self.language, self.dpi))
        while not self._connection.poll(_POLL_S):
            if stopped():
                self.close(kill=True)
                raise OcrStopped()
            if not self._process.is_alive():
                self.close(kill=True)
                raise RuntimeError("the OCR helper process ended unexpectedly")
        try:
            kind, value = self._connection.recv()
        except EOFError as exc:
            self.close(kill=True)
            raise RuntimeError("the OCR helper process ended unexpectedly") from exc
        if kind != "ok":
            raise RuntimeError(value)
        return value

    def start(self) -> None:
        """Start the helper process now (it otherwise starts with the first page)."""
        if self._process is not None and self._process.is_alive():
            return
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="draftwell-ocr", daemon=True)
        process.start()
        child.close()
        self._process, self._connection = process, parent
        log.info("OCR helper process %d started (%s, %s)", process.pid, self.language, ENGINE)

    def close(self, kill: bool = False) -> None:
        """End the helper process: politely, or at once (`kill`, e.g. mid-page on Stop)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if process is None:
            return
        if not kill:
            try:
                connection.send(None)
                process.join(timeout=5)
            except (OSError, ValueError):
                pass
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        connection.close()
