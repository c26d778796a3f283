"""Turn HTML (a web page or an EPUB chapter) into headed sections of plain paragraphs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "nav", "math", "button"}
_BLOCK = {
    "p", "div", "li", "br", "tr", "section", "article", "blockquote", "pre", "table", "ul",
    "ol", "dd", "dt", "dl", "header", "footer", "figcaption", "figure", "aside", "main",
    "hr", "td", "th", "caption", "address", "details", "summary", "body",
}  # fmt: skip
_HEADING = {"h1", "h2", "h3", "h4", "h5", "h6"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "source", "wbr"}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)


@dataclass(slots=True)
class HtmlSection:
    """The paragraphs that follow one heading (heading "" before the first one)."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


class _Extractor(HTMLParser):
    """Collect visible text into paragraphs, starting a new section at each h1..h6."""

    def __init__(self, heading: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections = [HtmlSection(heading)]
        self._buffer: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._in_heading = False
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HEADING:
            self._flush()
            self._in_heading = True
        elif tag in _BLOCK:
            self._flush()
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag not in _VOID:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HEADING and self._in_heading:
            heading = " ".join("".join(self._buffer).split())
            self._buffer = []
            self._in_heading = False
            if heading:
                self.sections.append(HtmlSection(heading))
        elif tag in _BLOCK:
            self._flush()
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        if self._in_heading:
            return  # a block inside a heading (<h2><span>…) stays part of the heading
        raw = "".join(self._buffer)
        self._buffer = []
        if self._pre_depth:
            text = "\n".join(line.rstrip() for line in raw.strip("\n").splitlines())
        else:
            text = " ".join(raw.split())
        if text.strip():
            self.sections[-1].paragraphs.append(text)


def decode_html(data: bytes) -> str:
    """Decode HTML bytes using the BOM, then a <meta charset>, then UTF-8 (lenient)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    match = _CHARSET.search(data[:4096])
    if match:
        try:
            return data.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class HtmlDocument:
    """A page's title, its non-empty sections, and the heading in force at its end."""

    title: str
    sections: list[HtmlSection]
    last_heading: str


def extract(html: str, heading: str = "") -> HtmlDocument:
    """Extract an HTML page; `heading` is the heading in force at its start (EPUB chapters)."""
    parser = _Extractor(heading)
    parser.feed(html)
    parser.close()
    return HtmlDocument(
        title=" ".join(parser.title.split()),
        sections=[s for s in parser.sections if s.paragraphs],
        last_heading=parser.sections[-1].heading,
    )
