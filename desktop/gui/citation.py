"""The citation viewer: the cited page of a document, rendered, with the passage highlighted.

Rendering uses pymupdf on a worker (`render_page` returns a QImage, which is safe to build off
the GUI thread): the passage is located with `page.search_for` on short runs of its words and
painted over in translucent yellow. A scanned page has no text layer to search: its passage is
matched against the word boxes OCR read (stored by the library, `ocr_words`; or, without a
library, read again by the OCR helper process) and those words are highlighted.

Web sources show their title, URL, access date and the cited passage as plain text: the viewer
never loads anything remote (no web engine; `LocalOnlyBrowser` refuses every non-local
resource, so not even an image in a passage is fetched). Open Source hands a web URL to the
system browser, and in offline mode only after the user confirms (`confirm`, injectable).
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop import network
from desktop.core.report import Reference
from desktop.gui.local_browser import LocalOnlyBrowser
from desktop.gui.tasks import BackgroundTasks

if TYPE_CHECKING:  # desktop.knowledge is imported on workers only (numpy; time to window)
    from desktop.knowledge.ocr import OcrWord

log = logging.getLogger(__name__)

RENDER_ZOOM = 1.6  # ~115 dpi: sharp enough, quick to render
WORDS_PER_PROBE = 6
MAX_PROBES = 16
HIGHLIGHT = QColor(255, 214, 0, 110)
WEB_SCHEMES = ("http", "https")

MIN_OCR_MATCH = 6  # characters in a row the passage and the OCR words must share
# Asks the user a yes/no question: (parent, title, text) → yes?
Confirm = Callable[[QWidget, str, str], bool]
# The word boxes OCR read on (path, 1-based page), or None if it never read that page.
OcrWords = Callable[[str, int], "Sequence[OcrWord] | None"]


def ask_question(parent: QWidget, title: str, text: str) -> bool:
    """A modal yes/no question (the default `Confirm`); No is the default button."""
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def offline_open_question(url: str) -> str:
    return (
        f"Offline mode is on. Open {url} in your browser?\n\n"
        "This leaves Draftwell's offline guarantee to your browser."
    )


@dataclass(frozen=True, slots=True)
class PageImage:
    """A rendered page and where the passage was found on it (image pixels)."""

    image: QImage
    hits: tuple[QRectF, ...]
    page: int
    pages: int


def probes(text: str) -> list[str]:
    """Short runs of the passage's words to search for (PDF line breaks split long phrases)."""
    words = text.split()
    runs = [
        " ".join(words[i : i + WORDS_PER_PROBE])
        for i in range(0, max(1, len(words) - WORDS_PER_PROBE + 1), WORDS_PER_PROBE)
    ]
    if len(words) > WORDS_PER_PROBE and len(words) % WORDS_PER_PROBE:
        runs.append(" ".join(words[-WORDS_PER_PROBE:]))
    return [r for r in runs if len(r) >= 8][:MAX_PROBES]


def _match_key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text)).lower()


def ocr_rects(words: Sequence[OcrWord], passage: str) -> list[tuple[float, float, float, float]]:
    """The boxes of the OCR words that spell the passage (runs of >= MIN_OCR_MATCH characters
    shared in order, compared without spaces and punctuation, so Chinese works too)."""
    owners: list[int] = []
    keys: list[str] = []
    for index, word in enumerate(words):
        key = _match_key(word.text)
        keys.append(key)
        owners.extend([index] * len(key))
    matcher = SequenceMatcher(None, "".join(keys), _match_key(passage), autojunk=False)
    hit: set[int] = set()
    for block in matcher.get_matching_blocks():
        if block.size >= MIN_OCR_MATCH:
            hit.update(owners[block.a : block.a + block.size])
    return [(words[i].x0, words[i].y0, words[i].x1, words[i].y1) for i in sorted(hit)]


def _engine_words(path: str, page: object) -> Sequence[OcrWord] | None:
    """Read a scanned page's words now (no library to ask), in the OCR helper process."""
    from desktop.knowledge.ocr import OcrProcess, find_tessdata, needs_ocr

    if find_tessdata() is None or not needs_ocr(page, [page.get_text()]):  # type: ignore[attr-defined]
        return None
    engine = OcrProcess()
    try:
        return engine.read(path, page.number + 1, lambda: False).words  # type: ignore[attr-defined]
    finally:
        engine.close()


def render_page(
    path: str,
    page_number: int,
    passage: str,
    zoom: float = RENDER_ZOOM,
    ocr_words: OcrWords | None = None,
) -> PageImage:
    """Render one page (1-based) with the passage highlighted. Runs on a worker thread."""
    from desktop.knowledge.formats import load_pymupdf

    pymupdf = load_pymupdf()

    with pymupdf.open(path) as doc:
        if not 1 <= page_number <= doc.page_count:
            raise ValueError(f"{Path(path).name} has no page {page_number}")
        page = doc[page_number - 1]
        rects = []
        for probe in probes(passage):
            rects.extend(page.search_for(probe))
        if not rects:  # a scan: highlight the words OCR read
            words = ocr_words(path, page_number) if ocr_words is not None else None
            if words is None:
                words = _engine_words(path, page)
            rects = [pymupdf.Rect(*box) for box in ocr_rects(words or (), passage)]
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        image = QImage(
            pix.samples, pix.width, pix.height, pix.stride, QImage.Format.Format_RGB888
        ).copy()
        pages = doc.page_count
    hits = tuple(QRectF(r.x0 * zoom, r.y0 * zoom, r.width * zoom, r.height * zoom) for r in rects)
    if hits:
        painter = QPainter(image)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(HIGHLIGHT)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for rect in hits:
            painter.drawRect(rect.adjusted(-1, -1, 1, 1))
        painter.end()
    return PageImage(image, hits, page_number, pages)


class CitationViewer(QWidget):
    """Shows one reference: its page with the passage highlighted, or its URL.

    Signals: rendered(int) — the page is shown; the number of highlighted places.
    """

    rendered = Signal(int)

    def __init__(
        self,
        tasks: BackgroundTasks,
        parent: QWidget | None = None,
        *,
        confirm: Confirm | None = None,
        ocr_words: OcrWords | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._confirm = confirm
        self._ocr_words = ocr_words
        self.reference: Reference | None = None
        self._request = 0
        self.header = QLabel("Click a citation such as [1] in the draft to see its source here.")
        self.header.setObjectName("citationHeader")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.header.setOpenExternalLinks(False)  # links go through open_url (offline check)
        self.header.linkActivated.connect(lambda link: self.open_url(QUrl(link)))
        self.open_button = QPushButton("Open Source")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_source)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.open_button)
        self.passage = LocalOnlyBrowser()
        self.passage.setObjectName("citationPassage")
        self.passage.anchorClicked.connect(self.open_url)
        self.page_label = QLabel()
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.page_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.page_label)
        self.scroll.setWidgetResizable(False)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.passage)
        splitter.addWidget(self.scroll)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([130, 600])
        self.passage.setMinimumHeight(60)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.hits = 0
        self._hits: tuple[QRectF, ...] = ()
        self.image: QImage | None = None

    def show_reference(self, reference: Reference) -> None:
        self.reference = reference
        self._request += 1
        p = reference.passage
        self.open_button.setEnabled(True)
        if p.kind == "web":
            self._show_web(reference)
            return
        self.passage.setHtml(f"<p><b>Cited passage</b></p><p>{html.escape(p.text)}</p>")
        self.header.setText(f"[{reference.number}] {html.escape(reference.label)}")
        if p.page is None or not p.source.lower().endswith(".pdf"):
            where = f" ({p.locator})" if p.locator else ""
            self._show_message(f"No page image for this kind of document{where}.")
            self.rendered.emit(0)
            return
        self._show_message("Rendering the page…")
        request = self._request
        self._tasks.submit(
            lambda: render_page(p.source, p.page, p.text, ocr_words=self._ocr_words),
            lambda result: self._on_rendered(request, result),
            lambda exc: self._on_failed(request, exc),
        )

    def _show_web(self, reference: Reference) -> None:
        """Title, URL, access date and the passage: text only, nothing is loaded."""
        p = reference.passage
        title = html.escape(p.title or p.source)
        url = html.escape(p.source)
        accessed = f"<br>accessed {html.escape(p.accessed)}" if p.accessed else ""
        self.header.setText(f'[{reference.number}] <a href="{url}">{title}</a>')
        self.passage.setHtml(
            f"<p><b>{title}</b><br><tt>{url}</tt>{accessed}</p>"
            f"<p><b>Cited passage</b></p><p>{html.escape(p.text)}</p>"
        )
        self.open_button.setEnabled(QUrl(p.source).scheme() in WEB_SCHEMES)
        self._show_message("A web page: use Open Source to view it in your browser.")
        self.rendered.emit(0)

    def _show_message(self, text: str) -> None:
        self.image = None
        self._hits = ()
        self.page_label.setPixmap(QPixmap())
        self.page_label.setText(text)
        self.page_label.adjustSize()

    def _on_rendered(self, request: int, result: PageImage) -> None:
        if request != self._request:
            return  # the user clicked another citation meanwhile
        self.image = result.image
        self._hits = result.hits
        self.hits = len(result.hits)
        self.page_label.setText("")
        self._fit()
        if not result.hits:
            self.header.setText(self.header.text() + " — passage not found on the page image")
        self.rendered.emit(self.hits)

    def _fit(self) -> None:
        """Scale the page to the viewer's width and bring the first highlight into view."""
        if self.image is None:
            return
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        width = max(200, self.scroll.width() - bar - 2 * self.scroll.frameWidth() - 2)
        scale = min(1.0, width / self.image.width())
        pixmap = QPixmap.fromImage(self.image)
        if scale < 1.0:
            pixmap = pixmap.scaledToWidth(
                round(self.image.width() * scale), Qt.TransformationMode.SmoothTransformation
            )
        self.page_label.setPixmap(pixmap)
        self.page_label.resize(pixmap.size())
        if self._hits:
            top = min(hit.top() for hit in self._hits) * scale
            self.scroll.verticalScrollBar().setValue(max(0, int(top) - 48))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _on_failed(self, request: int, exc: Exception) -> None:
        if request != self._request:
            return
        log.warning("cannot render the cited page: %s", exc)
        self._show_message(f"The page cannot be shown: {exc}")
        self.rendered.emit(0)

    def open_source(self) -> bool:
        """Open the cited document (or web page, see `open_url`); True if it was handed over."""
        if self.reference is None:
            return False
        p = self.reference.passage
        if p.kind == "web":
            return self.open_url(QUrl(p.source))
        return QDesktopServices.openUrl(QUrl.fromLocalFile(p.source))

    def open_url(self, url: QUrl) -> bool:
        """Hand a web URL to the system browser; in offline mode only if the user says yes."""
        if url.scheme() not in WEB_SCHEMES:
            log.warning("not opening a link that is not http(s): %s", url.scheme() or "no scheme")
            return False
        shown = url.toDisplayString()
        if network.is_offline():
            confirm = self._confirm or ask_question
            if not confirm(self, "Open in browser", offline_open_question(shown)):
                return False
        return QDesktopServices.openUrl(url)
