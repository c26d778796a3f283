"""Render the sample documents (resources/samples-src/*.md) to paged PDFs with pymupdf."""

from __future__ import annotations

import sys
from pathlib import Path

import markdown
import pymupdf as fitz

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "resources" / "samples-src"
OUT = ROOT / "resources" / "samples"
CSS = "body { font-family: serif; font-size: 13pt; line-height: 1.5; } h1 { font-size: 20pt; }"


def render(source: Path, target: Path) -> int:
    html = markdown.markdown(source.read_text(encoding="utf-8"))
    story = fitz.Story(html=html, user_css=CSS)
    writer = fitz.DocumentWriter(str(target))
    mediabox = fitz.paper_rect("a5")
    where = mediabox + (50, 50, -50, -50)
    pages = 0
    more = True
    while more:
        device = writer.begin_page(mediabox)
        more, _ = story.place(where)
        story.draw(device)
        writer.end_page()
        pages += 1
    writer.close()
    return pages


def main() -> int:
    for source in sorted(SRC.glob("*.md")):
        target = OUT / f"{source.stem}.pdf"
        pages = render(source, target)
        print(f"{target.relative_to(ROOT)}: {pages} pages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
