"""Generate the documents the knowledge tests ingest: every format, and every kind of bad file."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import make_pdf

FILLER = (
    "Quarterly figures were reviewed by the committee and filed with the annual summary. "
    "Nothing unusual was noted in the ledger, and the auditors signed off without comment. "
)


def make_scanned_pdf(path: Path, pages: int = 2) -> Path:
    """Write an image-only PDF (what a scanner without OCR produces)."""
    import pymupdf

    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page()
        pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), 0)
        pixmap.clear_with(180)
        page.insert_image(page.rect, pixmap=pixmap)
    doc.save(path)
    doc.close()
    return path


def make_image_pdf(path: Path, pages: Sequence[str], *, dpi: int = 150, font: str = "helv") -> Path:
    """Write an image-only PDF: each text is typeset on a page, rendered at `dpi` and inserted
    as the page's only content (a scan with no text layer). `font` "china-s" for Chinese."""
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        source = pymupdf.open()
        typeset = source.new_page()
        spare = typeset.insert_textbox(
            typeset.rect + (50, 50, -50, -50), text, fontsize=12, fontname=font
        )
        assert spare >= 0, "the text does not fit on one page"
        pixmap = typeset.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        page = doc.new_page(width=typeset.rect.width, height=typeset.rect.height)
        page.insert_image(page.rect, pixmap=pixmap)
        source.close()
    doc.save(path)
    doc.close()
    return path


def make_garbage_text_pdf(path: Path, text: str) -> Path:
    """Write a PDF whose visible text has a garbage text layer: its font's ToUnicode map sends
    every glyph to the private use area (what broken subset fonts produce)."""
    import pymupdf

    make_pdf(path, [text])
    doc = pymupdf.open(path)
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Garbage def "
        b"1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfrange <00> <FF> <E000> "
        b"endbfrange endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    for font in doc[0].get_fonts():
        stream = doc.get_new_xref()
        doc.update_object(stream, "<<>>")
        doc.update_stream(stream, cmap)
        doc.xref_set_key(font[0], "ToUnicode", f"{stream} 0 R")
    doc.save(path, incremental=True, encryption=pymupdf.PDF_ENCRYPT_KEEP)
    doc.close()
    return path


def make_truncated_pdf(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_docx(path: Path, blocks: Sequence[tuple[str, str]], *, title: str = "") -> Path:
    """Write a DOCX from (kind, text) blocks: kind is "heading", "para" or "table" (a|b;c|d)."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for kind, text in blocks:
        if kind == "heading":
            document.add_heading(text, level=1)
        elif kind == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def make_html(path: Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    body = "".join(f"<h2>{heading}</h2>\n<p>{text}</p>\n" for heading, text in sections)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>p {{ color: red }}</style><script>var hidden = 'script text';</script></head>"
        f"<body><nav>Home | About</nav>\n{body}</body></html>",
        encoding="utf-8",
    )
    return path


def make_epub(
    path: Path, title: str, chapters: Sequence[tuple[str, str]], *, drm: bool = False
) -> Path:
    """Write a minimal EPUB 3 with one XHTML file per (heading, text) chapter."""
    manifest = "".join(
        f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        book.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f"</metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>",
        )
        for i, (heading, text) in enumerate(chapters):
            book.writestr(
                f"OEBPS/text/ch{i}.xhtml",
                '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>{heading}</title></head><body><h1>{heading}</h1><p>{text}</p>"
                "</body></html>",
            )
        if drm:
            book.writestr(
                "META-INF/encryption.xml",
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                '<enc:CipherData><enc:CipherReference URI="OEBPS/text/ch0.xhtml"/>'
                "</enc:CipherData></enc:EncryptedData></encryption>",
            )
    return path


def make_encrypted_docx(path: Path) -> Path:
    """Write what Word saves for a password-protected file: an OLE2 box with EncryptedPackage."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    directory = "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64
    path.write_bytes(header + directory + b"\x00" * 1024)
    return path
