"""Scanned PDFs are read by OCR (Tesseract, in a helper process): indexed, found, resumable.

The scans are generated here: text typeset with pymupdf, rendered to an image, and inserted as
the page's only content, so nothing but OCR can read them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.cancel import Cancelled, CancelToken
from desktop.knowledge.formats import PageDone, open_document
from desktop.knowledge.library import Library
from desktop.knowledge.ocr import (
    OcrProcess,
    OcrWord,
    block_text,
    close_cjk_gaps,
    find_tessdata,
    is_garbage,
)

from .knowledge_docs import make_garbage_text_pdf, make_image_pdf

pytestmark = pytest.mark.skipif(
    find_tessdata() is None, reason="Tesseract language data is not installed (make setup)"
)

LIGHTHOUSE = "The lighthouse keeper writes every passing ship into a green ledger."
CRANES = "Migrating cranes rest at the old reservoir for three days each spring."


class _Reader:
    """A PageOcr over one file, straight from the engine (no catalog)."""

    def __init__(self, engine: OcrProcess, path: Path) -> None:
        self.engine, self.path = engine, path

    def read(self, page: int):
        return self.engine.read(str(self.path), page, lambda: False)


def test_a_scan_is_indexed_by_ocr_and_a_sentence_is_found_on_its_page(
    library: Library, docs: Path
) -> None:
    scan = make_image_pdf(docs / "scan.pdf", [LIGHTHOUSE, CRANES])
    reports = []

    (status,) = library.add([scan], progress=reports.append)

    assert (status.status, status.pages, status.ocr_pages) == ("indexed", 2, 2)
    assert status.to_json()["ocr_pages"] == 2
    assert [r.ocr_pages for r in reports if not r.done and r.page] == [1, 2]  # per page
    hit = library.retriever().search("Where do the cranes rest in spring?", 3)[0]
    assert (Path(hit.source), hit.page) == (scan, 2)
    assert "reservoir for three days" in hit.text
    hit = library.retriever().search("green ledger of passing ships", 3)[0]
    assert hit.page == 1 and "lighthouse keeper" in hit.text
    assert library.verify() == []


def test_with_ocr_off_a_scan_says_so_and_is_read_once_ocr_is_on(
    tmp_path: Path, docs: Path, embedder
) -> None:
    scan = make_image_pdf(docs / "scan.pdf", [CRANES])
    with Library(tmp_path / "data", embedder=embedder, ocr=False) as off:
        (status,) = off.add([scan])
    assert (status.status, status.ocr_pages) == ("no-text", 0)
    assert "OCR is off" in (status.error or "")

    with Library(tmp_path / "data", embedder=embedder) as on:
        (status,) = on.add([scan])  # the same, unchanged file: retried because OCR is on now
        assert (status.status, status.ocr_pages) == ("indexed", 1)
        assert on.verify() == []


def test_a_stopped_scan_resumes_without_running_ocr_again_on_finished_pages(
    library: Library, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"Page {n} of the survey counts {n * 7} herons near the {name} marsh."
             for n, name in enumerate(("north", "south", "east", "west"), start=1)]  # fmt: skip
    scan = make_image_pdf(docs / "survey.pdf", texts)
    engine_pages: list[int] = []
    real_read = OcrProcess.read

    def counting_read(self, path, number, stopped):
        engine_pages.append(number)
        return real_read(self, path, number, stopped)

    monkeypatch.setattr(OcrProcess, "read", counting_read)
    cancel = CancelToken()

    def stop_after_page_two(progress) -> None:
        if progress.page >= 2:
            cancel.set()

    with pytest.raises(Cancelled):
        library.add([scan], progress=stop_after_page_two, cancel=cancel)
    (interrupted,) = library.list()
    done = interrupted.ocr_pages
    assert interrupted.status == "indexing" and 2 <= done < 4

    engine_pages.clear()
    (status,) = library.add([scan])

    assert engine_pages == list(range(done + 1, 5))  # only the pages not finished before
    assert (status.status, status.ocr_pages) == ("indexed", 4)
    hit = library.retriever().search("herons near the west marsh", 2)[0]
    assert hit.page == 4
    assert library.verify() == []


def test_rerun_ocr_reads_every_page_again(
    library: Library, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = make_image_pdf(docs / "scan.pdf", [LIGHTHOUSE])
    library.add([scan])
    engine_pages: list[int] = []
    real_read = OcrProcess.read

    def counting_read(self, path, number, stopped):
        engine_pages.append(number)
        return real_read(self, path, number, stopped)

    monkeypatch.setattr(OcrProcess, "read", counting_read)
    assert library.add([scan])[0].status == "indexed"
    assert engine_pages == []  # unchanged: nothing to do

    (status,) = library.rerun_ocr([scan])

    assert engine_pages == [1]
    assert (status.status, status.ocr_pages) == ("indexed", 1)
    assert library.verify() == []


def test_ocr_reads_chinese_and_english_with_word_boxes_on_the_page(tmp_path: Path) -> None:
    chinese = "所有服务使用同一个用户名和密码，得益于中央用户数据库的验证和授权。"
    scan = make_image_pdf(tmp_path / "zh.pdf", [chinese, LIGHTHOUSE], dpi=200, font="china-s")
    engine = OcrProcess()
    try:
        items = list(open_document(scan, _Reader(engine, scan)).items)
    finally:
        engine.close()
    pages = [item.ocr for item in items if isinstance(item, PageDone)]
    assert [p.page for p in pages if p] == [1, 2]
    zh_text = "".join(pages[0].blocks).replace(" ", "")
    assert "中央用户数据库" in zh_text
    assert "keeper writes every" in " ".join(pages[1].blocks)
    keeper = [w for w in pages[1].words if w.text == "keeper"]
    assert len(keeper) == 1
    box = keeper[0]
    assert 40 < box.x0 < box.x1 < 300 and 40 < box.y0 < box.y1 < 90  # line 1, inside the margin


def test_a_page_with_a_garbage_text_layer_is_read_by_ocr(library: Library, docs: Path) -> None:
    broken = make_garbage_text_pdf(docs / "broken.pdf", "Otters hold hands while they sleep.")
    (status,) = library.add([broken])
    assert (status.status, status.ocr_pages) == ("indexed", 1)
    hit = library.retriever().search("otters sleeping", 1)[0]
    assert "Otters hold hands" in hit.text and "\ue000" not in hit.text


def test_a_scan_under_a_stamped_line_of_text_is_still_read_by_ocr(tmp_path: Path) -> None:
    import pymupdf

    scan = make_image_pdf(tmp_path / "stamped.pdf", [CRANES])
    doc = pymupdf.open(scan)
    doc[0].insert_text((40, 820), "Downloaded 2024-03-01", fontsize=8)  # a text layer of 3 words
    doc.save(tmp_path / "stamped-2.pdf")
    doc.close()
    engine = OcrProcess()
    try:
        path = tmp_path / "stamped-2.pdf"
        items = list(open_document(path, _Reader(engine, path)).items)
    finally:
        engine.close()
    (done,) = [item for item in items if isinstance(item, PageDone)]
    assert done.ocr is not None
    assert "reservoir for three days" in " ".join(done.ocr.blocks)


def test_a_garbage_text_layer_counts_as_no_text() -> None:
    assert is_garbage("\ufffd\ufffd\ufffd \ufffd\ufffd ab")
    assert is_garbage("\ue001\ue002\ue003\ue004")
    assert not is_garbage("An ordinary sentence with one odd glyph \ufffd.")
    assert not is_garbage("   ")


def test_spaces_between_chinese_characters_are_closed_but_not_between_words() -> None:
    assert close_cjk_gaps("中央 用户 数据库 and web 代理") == "中央用户数据库 and web 代理"


def test_a_block_reads_in_the_engines_order_even_where_a_box_spans_two_lines() -> None:
    # boxes as Tesseract gives them for a Chinese paragraph (page 3 of the Debian Edu
    # bullseye manual): the first word of line 2 has a box from line 1's top to line 2's
    # bottom, so its middle sorts it into line 1 by position
    words = [
        OcrWord(57, 105, 121, 118, "一个Skolelinux"),
        OcrWord(129, 105, 232, 118, "网络需要一个主服务器"),
        OcrWord(557, 105, 566, 127, "并"),
        OcrWord(58, 105, 202, 129, "由选择主服务器配置文件(profile)"),
        OcrWord(210, 118, 239, 129, "而安装"),
    ]
    assert block_text(words) == (
        "一个Skolelinux 网络需要一个主服务器并\n由选择主服务器配置文件(profile) 而安装"
    )
    # Latin words keep their spaces, and each new line starts where the text went back left
    latin = [
        OcrWord(10, 0, 40, 10, "Heat"),
        OcrWord(45, 0, 70, 10, "pumps"),
        OcrWord(10, 12, 30, 22, "move"),
    ]
    assert block_text(latin) == "Heat pumps\nmove"


def test_the_cli_lists_ocr_pages_and_runs_ocr_again(tmp_path: Path, docs: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    scan = make_image_pdf(docs / "scan.pdf", [LIGHTHOUSE, CRANES])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[2])}

    def cli(*args: str) -> list[dict]:
        command = [sys.executable, "-m", "desktop.cli", "library", *args, "--json"]
        done = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=600, env=env, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)

    (added,) = cli("add", str(scan))
    assert (added["status"], added["ocr_pages"]) == ("indexed", 2)
    (listed,) = cli("list")
    assert (listed["status"], listed["pages"], listed["ocr_pages"]) == ("indexed", 2, 2)
    (again,) = cli("ocr", str(scan))
    assert (again["status"], again["ocr_pages"]) == ("indexed", 2)
