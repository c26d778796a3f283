"""The citation viewer highlights a passage on a scanned page from the words OCR read."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.gui.citation import ocr_rects, render_page
from desktop.knowledge.ocr import OcrProcess, find_tessdata
from tests.knowledge.knowledge_docs import make_image_pdf

pytestmark = pytest.mark.skipif(find_tessdata() is None, reason="Tesseract data not installed")

FIRST = "The ferry to the island leaves from the northern pier at seven."
SECOND = "Tickets are sold in the small kiosk beside the harbour office."


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[Path, list]:
    path = make_image_pdf(tmp_path_factory.mktemp("scan") / "scan.pdf", [FIRST + "\n\n" + SECOND])
    engine = OcrProcess()
    try:
        words = list(engine.read(str(path), 1, lambda: False).words)
    finally:
        engine.close()
    return path, words


def test_the_passage_is_highlighted_from_the_stored_ocr_words(qtbot, scan) -> None:
    path, words = scan
    asked = []

    def lookup(source: str, page: int):
        asked.append((source, page))
        return words

    result = render_page(str(path), 1, SECOND, ocr_words=lookup)

    assert asked == [(str(path), 1)]
    assert len(result.hits) >= 9  # most of the sentence's 11 words
    second_line_top = min(w.y0 for w in words if w.text == "Tickets")
    assert all(hit.top() >= second_line_top * 1.6 - 3 for hit in result.hits)  # not line 1


def test_without_a_library_the_engine_reads_the_page_for_the_highlight(qtbot, scan) -> None:
    path, _words = scan
    assert len(render_page(str(path), 1, FIRST).hits) >= 9


def test_words_not_in_the_passage_are_not_highlighted(scan) -> None:
    _path, words = scan
    assert ocr_rects(words, "A sentence that is nowhere on this page at all.") == []
    boxes = ocr_rects(words, "leaves from the northern pier")
    assert len(boxes) == 5
