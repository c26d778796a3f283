"""Read each supported format into a stream of headed sections and page-done markers.

`open_document(path)` checks the file (empty, wrong content, encrypted, truncated) and raises
`DocumentError` with a status and a one-line message for the user; otherwise it returns a
`ParsedDocument` whose `items` iterator yields `Section`s and, for paged formats, a `PageDone`
after each page. PDFs stream page by page, so memory stays flat on huge files. Given a `PageOcr`,
PDF pages without a usable text layer (scans, garbage glyphs) are read by OCR instead
(desktop.knowledge.ocr); their sections come from the OCR text, with the same page numbers.
"""

from __future__ import annotations

import logging
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from xml.etree import ElementTree

from desktop.knowledge.chunking import Section
from desktop.knowledge.htmltext import decode_html, extract
from desktop.knowledge.ocr import OcrPage, OcrStopped, needs_ocr

log = logging.getLogger(__name__)

PDF_SUFFIXES = frozenset({".pdf"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst", ".org"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED_SUFFIXES = (
    PDF_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | {".docx", ".epub"}
)
TEXT_SECTION_CHARS = 50_000  # long plain texts are cut (at paragraphs) into sections this big

_NO_TEXT_HINT = (
    "no text layer (a scanned or image-only document?): run OCR on it, e.g. "
    "`ocrmypdf in.pdf out.pdf`, and add the result"
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


class DocumentError(Exception):
    """A document that cannot be indexed: `status` is failed, encrypted or no-text."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class PageDone:
    """Marker: every section of `page` has been yielded; `ocr` is set if OCR read the page."""

    page: int
    ocr: OcrPage | None = None


class PageOcr(Protocol):
    """Reads one page of the open PDF by OCR (None: OCR is off or found nothing it could use)."""

    def read(self, page: int) -> OcrPage | None: ...


Item = Section | PageDone


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """An opened document: title, page count (0 if unpaged) and its lazy item stream."""

    title: str
    pages: int
    items: Iterator[Item]


def no_text_error() -> DocumentError:
    return DocumentError("no-text", _NO_TEXT_HINT)


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def open_document(path: Path, ocr: PageOcr | None = None) -> ParsedDocument:
    """Open `path` by its suffix, or raise DocumentError saying why it cannot be indexed.

    `ocr` reads the PDF pages that need it (see the module docstring); None: no OCR."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError("failed", f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DocumentError("failed", "the file is empty (0 bytes)")
    try:
        if suffix in PDF_SUFFIXES:
            return _open_pdf(path, ocr)
        if suffix in MARKDOWN_SUFFIXES:
            return _open_markdown(path)
        if suffix in TEXT_SUFFIXES:
            return _open_text(path)
        if suffix in HTML_SUFFIXES:
            return _open_html(path)
        if suffix == ".docx":
            return _open_docx(path)
        if suffix == ".epub":
            return _open_epub(path)
    except OSError as exc:
        raise DocumentError("failed", f"cannot read the file: {exc.strerror or exc}") from exc
    raise DocumentError("failed", f"unsupported format {suffix or '(no suffix)'}")


# --- PDF ---------------------------------------------------------------------------------------


def load_pymupdf() -> Any:
    """pymupdf without its optional layout analyser. pymupdf 2 imports ``pymupdf.layout`` (ONNX
    models and onnxruntime: ~0.45 s holding the GIL, ~50 MB) whenever it is importable, and
    Draftwell only reads text blocks; marking the module absent makes pymupdf skip it."""
    if "pymupdf" not in sys.modules:
        sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
    import pymupdf

    return pymupdf


def _open_pdf(path: Path, ocr: PageOcr | None = None) -> ParsedDocument:
    pymupdf = load_pymupdf()

    _check_pdf_bytes(path)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # pymupdf raises several types for damaged files
        raise DocumentError("failed", f"not a readable PDF: {exc}") from exc
    if doc.needs_pass:
        doc.close()
        raise DocumentError(
            "encrypted",
            "password-protected PDF: save a copy without the password "
            "(e.g. `qpdf --decrypt`) and add that",
        )
    if doc.page_count == 0:
        doc.close()
        raise DocumentError("failed", "the PDF has no pages")
    title = (doc.metadata or {}).get("title", "").strip() or path.stem
    return ParsedDocument(title=title, pages=doc.page_count, items=_pdf_items(doc, ocr))


def _check_pdf_bytes(path: Path) -> None:
    """Reject files that are not PDFs, or that end early, before MuPDF silently repairs them."""
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read()
    if b"%PDF-" not in head:
        kind = "text" if _looks_like_text(head) else "some other binary format"
        raise DocumentError("failed", f"not a PDF (no %PDF header; the content looks like {kind})")
    if b"%%EOF" not in tail:
        raise DocumentError(
            "failed", "truncated PDF: the file ends early (an interrupted download?)"
        )


def _pdf_items(doc: Any, ocr: PageOcr | None = None) -> Iterator[Item]:
    """Yield each page's sections (split where a bookmark title starts), then PageDone."""
    pymupdf = load_pymupdf()

    flags = pymupdf.TEXT_DEHYPHENATE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_LIGATURES
    toc = _toc_by_page(doc)
    heading = ""
    try:
        for index in range(doc.page_count):
            number = index + 1
            texts, read = _page_texts(doc, index, flags, ocr)
            for section in _page_sections(texts, number, heading, toc.get(number, [])):
                heading = section.heading
                yield section
            heading = toc[number][-1] if toc.get(number) else heading
            yield PageDone(number, read)
    finally:
        doc.close()


def _page_texts(
    doc: Any, index: int, flags: int, ocr: PageOcr | None
) -> tuple[list[str], OcrPage | None]:
    """Return a page's text blocks: from its text layer, or from OCR when the page needs it."""
    number = index + 1
    try:
        page = doc.load_page(index)
        blocks = page.get_text("blocks", flags=flags)
    except Exception as exc:  # one damaged page must not lose the rest
        log.warning("page %d of %s unreadable: %s", number, doc.name, exc)
        return [], None
    texts = [b[4] for b in blocks if b[6] == 0 and b[4].strip()]
    if ocr is None or not needs_ocr(page, texts):
        return texts, None
    try:
        read = ocr.read(number)
    except OcrStopped:
        raise
    except Exception as exc:  # the engine failed on this page: keep the rest of the document
        log.warning("OCR of page %d of %s failed: %s", number, doc.name, exc)
        return [], None
    if read is None:  # no usable OCR: an empty or garbage text layer adds nothing
        return [], None
    return list(read.blocks), read


def _toc_by_page(doc: Any) -> dict[int, list[str]]:
    """Map page number → bookmark titles that start on it, in order."""
    by_page: dict[int, list[str]] = {}
    try:
        toc = doc.get_toc(simple=True)
    except Exception as exc:
        log.info("no usable outline in %s: %s", doc.name, exc)
        return by_page
    for _level, title, page in toc:
        if page >= 1 and title.strip():
            by_page.setdefault(page, []).append(" ".join(title.split()))
    return by_page


_SECTION_NUMBER = re.compile(
    r"^(?:(?:chapter|section|appendix)\s+)?(?:\d+(?:\.\d+)*|[a-z](?:\.\d+)+|[a-z]:)[.:]?\s+"
)


def _page_sections(
    blocks: list[str], page: int, heading: str, titles: list[str]
) -> Iterator[Section]:
    """Group a page's text blocks into sections, starting a new one at each bookmark title."""
    pending = list(titles)
    paragraphs: list[str] = []
    offset = 0
    section_offset = 0
    for block in blocks:
        matched = _matching_title(block, pending)
        if matched is not None:
            if paragraphs:
                yield Section("\n\n".join(paragraphs), page, heading, section_offset)
            paragraphs, section_offset = [], offset
            heading = matched
            pending = pending[pending.index(matched) + 1 :]
        paragraphs.append(block.strip())
        offset += len(block.strip()) + 2
    if paragraphs:
        yield Section("\n\n".join(paragraphs), page, heading, section_offset)


def _matching_title(block: str, titles: list[str]) -> str | None:
    if not titles:
        return None
    first_line = " ".join(block.strip().split("\n", 1)[0].split()).lower()
    stripped = _SECTION_NUMBER.sub("", first_line, count=1)
    for title in titles:
        lowered = title.lower()
        if first_line.startswith(lowered) or stripped.startswith(lowered):
            return title
    return None


# --- plain text and Markdown -------------------------------------------------------------------


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if not _looks_like_text(data[:8192]):
        raise DocumentError("failed", "not a text file (the content is binary)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls <= len(sample) // 100


def _open_text(path: Path) -> ParsedDocument:
    text = _read_text(path)
    return ParsedDocument(title=path.stem, pages=0, items=_text_sections(text, "", 0))


def _text_sections(text: str, heading: str, offset: int) -> Iterator[Section]:
    """Yield `text` as sections of at most ~TEXT_SECTION_CHARS, cut at paragraph breaks."""
    start = 0
    while start < len(text):
        end = len(text)
        if end - start > TEXT_SECTION_CHARS:
            cut = text.rfind("\n\n", start, start + TEXT_SECTION_CHARS)
            end = cut if cut > start else start + TEXT_SECTION_CHARS
        if text[start:end].strip():
            yield Section(text[start:end], None, heading, offset + start)
        start = end


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _open_markdown(path: Path) -> ParsedDocument:
    text = _read_text(path)
    sections = list(_markdown_sections(text))
    title = next((s.heading for s in sections if s.heading), "") or path.stem
    return ParsedDocument(title=title, pages=0, items=iter(sections))


def _markdown_sections(text: str) -> Iterator[Section]:
    """Split Markdown at ATX and setext headings (not inside fences); offsets are the file's."""
    heading, body_start, position = "", 0, 0
    fence: str | None = None
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        fence_match = _FENCE.match(stripped)
        if fence_match and (fence is None or fence_match.group(1) == fence):
            fence = fence_match.group(1) if fence is None else None
        elif fence is None:
            title, heading_start = _heading_at(lines, index, position)
            if title is not None:
                yield from _text_sections(text[body_start:heading_start], heading, body_start)
                heading, body_start = title, position + len(line)
        position += len(line)
    yield from _text_sections(text[body_start:], heading, body_start)


def _heading_at(lines: list[str], index: int, position: int) -> tuple[str | None, int]:
    """Return (heading text, where the heading starts) if line `index` ends a heading."""
    line = lines[index].rstrip("\r\n")
    atx = _ATX.match(line)
    if atx:
        return atx.group(2).strip(), position
    previous = lines[index - 1].strip() if index else ""
    before = lines[index - 2].strip() if index > 1 else ""
    underline = _SETEXT.match(line) and (len(line.strip()) >= 2 or line.strip() == "=")
    if underline and previous and not before and not _FENCE.match(previous):
        return previous, position - len(lines[index - 1])
    return None, position


# --- HTML and EPUB -----------------------------------------------------------------------------


def _open_html(path: Path) -> ParsedDocument:
    page = extract(decode_html(path.read_bytes()))
    sections = list(_offset_sections(page.sections, 0))
    return ParsedDocument(title=page.title or path.stem, pages=0, items=iter(sections))


def _offset_sections(html_sections: list[Any], start: int) -> Iterator[Section]:
    """Give extracted sections running offsets in the document's extracted text."""
    offset = start
    for section in html_sections:
        text = section.text
        yield Section(text, None, section.heading, offset)
        offset += len(text) + 2


_OPF_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _open_epub(path: Path) -> ParsedDocument:
    try:
        book = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DocumentError("failed", "not a valid EPUB (not a zip archive)") from exc
    try:
        _check_epub_drm(book)
        opf_path, title, chapters = _epub_spine(book)
    except (KeyError, ElementTree.ParseError) as exc:
        book.close()
        raise DocumentError("failed", f"not a valid EPUB: {exc}") from exc
    except DocumentError:
        book.close()
        raise
    return ParsedDocument(
        title=title or path.stem, pages=0, items=_epub_items(book, opf_path, chapters)
    )


def _check_epub_drm(book: zipfile.ZipFile) -> None:
    """Raise for DRM: encryption.xml that covers more than fonts (font obfuscation is fine)."""
    try:
        manifest = book.read("META-INF/encryption.xml")
    except KeyError:
        return
    root = ElementTree.fromstring(manifest)
    for ref in root.iter("{http://www.w3.org/2001/04/xmlenc#}CipherReference"):
        uri = (ref.get("URI") or "").lower()
        if not uri.endswith((".otf", ".ttf", ".woff", ".woff2")):
            raise DocumentError("encrypted", "DRM-protected EPUB: its text cannot be read")


def _epub_spine(book: zipfile.ZipFile) -> tuple[PurePosixPath, str, list[str]]:
    """Return the package file's path, the book title and the chapter hrefs in reading order."""
    container = ElementTree.fromstring(book.read("META-INF/container.xml"))
    rootfile = container.find(".//c:rootfile", _OPF_NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise DocumentError("failed", "not a valid EPUB: no package file in container.xml")
    opf_path = PurePosixPath(rootfile.get("full-path", ""))
    package = ElementTree.fromstring(book.read(str(opf_path)))
    title = " ".join((package.findtext(".//dc:title", "", _OPF_NS) or "").split())
    items = {
        item.get("id"): item.get("href", "")
        for item in package.iterfind(".//opf:manifest/opf:item", _OPF_NS)
        if "html" in (item.get("media-type") or "")
    }
    spine = [
        items[ref.get("idref")]
        for ref in package.iterfind(".//opf:spine/opf:itemref", _OPF_NS)
        if ref.get("idref") in items
    ]
    return opf_path, title, spine


def _epub_items(book: zipfile.ZipFile, opf_path: PurePosixPath, hrefs: list[str]) -> Iterator[Item]:
    from urllib.parse import unquote

    heading, offset = "", 0
    try:
        for href in hrefs:
            name = str(opf_path.parent / unquote(href.split("#", 1)[0]))
            try:
                chapter = extract(decode_html(book.read(name.removeprefix("./"))), heading)
            except KeyError:
                log.warning("EPUB chapter %s is missing from %s", name, book.filename)
                continue
            for section in _offset_sections(chapter.sections, offset):
                offset = section.offset + len(section.text) + 2
                yield section
            heading = chapter.last_heading
    finally:
        book.close()


# --- DOCX --------------------------------------------------------------------------------------


def _open_docx(path: Path) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with path.open("rb") as handle:
        head = handle.read(8)
    if head == _OLE_MAGIC:
        if _ENCRYPTED_PACKAGE in path.read_bytes():
            raise DocumentError("encrypted", "password-protected DOCX: save it without a password")
        raise DocumentError("failed", "a legacy Word .doc file, not DOCX: save it as .docx")
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError("failed", f"not a valid DOCX: {exc}") from exc
    title = (document.core_properties.title or "").strip() or path.stem
    sections = list(_offset_sections(_docx_sections(document), 0))
    return ParsedDocument(title=title, pages=0, items=iter(sections))


@dataclass(slots=True)
class _DocxSection:
    heading: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def _docx_sections(document: Any) -> list[_DocxSection]:
    """Walk the body in order (paragraphs and tables); Heading/Title styles start sections."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    sections = [_DocxSection("", [])]
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            text = " ".join(paragraph.text.split())
            if text and _is_docx_heading(paragraph):
                sections.append(_DocxSection(text, []))
            elif text:
                sections[-1].paragraphs.append(text)
        elif tag == "tbl":
            sections[-1].paragraphs.extend(_table_rows(Table(child, document)))
    return [s for s in sections if s.paragraphs]


def _is_docx_heading(paragraph: Any) -> bool:
    try:
        name = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, AttributeError):
        return False
    return name.startswith("Heading") or name == "Title"


def _table_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            yield " | ".join(cells)
