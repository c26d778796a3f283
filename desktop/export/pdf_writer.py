"""Render the report model as PDF with fpdf2.

What a reader gets: a title block (question, date, model, number of sources, a red banner for
unfinished drafts), a Contents list with page numbers whose entries link to the headings,
numbered headings that also form the PDF outline (bookmarks), section bodies with real tables,
lists, code blocks, quotes and emphasis, citations `[n]` whose numbers link to their References
entry, and a footer with the page number (and "Unfinished draft" when it is one).

Fonts (see `desktop.export.fonts`): IBM Plex Serif for Latin text, IBM Plex Mono for code,
Noto Serif SC for Chinese and as glyph fallback; all from PyPI wheels, embedded as subsets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import TextMode, XPos, YPos
from fpdf.text_region import Paragraph as TextParagraph

from desktop.core.report import Reference, Report, ReportSection
from desktop.export.blocks import (
    Block,
    Cite,
    CodeBlock,
    Inline,
    ListBlock,
    Paragraph,
    Quote,
    Rule,
    Run,
    Table,
    parse_body,
    plain_text,
)
from desktop.export.common import has_cjk, heading_text, title_block
from desktop.export.fonts import find_fonts
from desktop.export.layout import ReportLayout

log = logging.getLogger(__name__)

PT = 25.4 / 72  # millimetres per point
BODY_PT = 10.5
TEXT = (33, 33, 33)
MUTED = (100, 100, 100)
LINK = (31, 78, 154)
ALERT = (160, 28, 28)
RULE = (190, 190, 190)
CODE_BG = (242, 244, 247)
HEADER_BG = (232, 236, 242)
HEADING_PT = {1: 15.0, 2: 12.5, 3: 11.0}
LIST_INDENT = 6.5
CELL_PAD = 2.2
LINE_FACTOR = 1.45  # line height as a multiple of the font size


def line_height(size_pt: float) -> float:
    return size_pt * PT * LINE_FACTOR


def render_pdf(report: Report, *, page_size: str = "A4") -> bytes:
    """Build the PDF for a report and return its bytes."""
    writer = _PdfWriter(report, page_size)
    writer.build()
    return bytes(writer.pdf.output())


class _ReportPDF(FPDF):
    """An FPDF page with the report's footer: unfinished mark and `page / pages`."""

    def __init__(self, page_size: str, footer_note: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format=page_size.lower())
        self.footer_note = footer_note

    def footer(self) -> None:
        mode = self.text_mode
        self.text_mode = TextMode.FILL
        self.set_y(-14)
        self.set_font("serif", "", 8.5)
        self.set_text_color(*(ALERT if self.footer_note else MUTED))
        if self.footer_note:
            self.cell(0, 5, self.footer_note, align="L")
            self.set_x(self.l_margin)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="R")
        self.text_mode = mode


@dataclass(frozen=True, slots=True)
class _TocEntry:
    level: int
    text: str
    link: int
    page: int


class _PdfWriter(ReportLayout):
    """Lays out one report; keeps link ids for references and the entries of the contents."""

    def __init__(self, report: Report, page_size: str) -> None:
        super().__init__(report)
        note = "" if report.finished else self.text["unfinished"]
        self.pdf = _ReportPDF(page_size, note)
        self._setup()
        # named destinations: citations link forward to entries that do not exist yet
        self.ref_links = {ref.number: f"#ref-{ref.number}" for ref in report.references}
        self.toc: list[_TocEntry] = []

    def _setup(self) -> None:
        pdf, fonts = self.pdf, find_fonts()
        for family, files in (("serif", fonts.serif), ("mono", fonts.mono), ("cjk", fonts.cjk)):
            for style, path in files.items():
                pdf.add_font(family, style, str(path))
        pdf.set_fallback_fonts(["cjk", "serif"], exact_match=False)
        pdf.set_margins(22, 20, 22)
        pdf.c_margin = 0  # text, rules and tables all align on the page margin
        pdf.set_auto_page_break(True, margin=20)
        pdf.alias_nb_pages()
        pdf.set_title(self.report.title)
        pdf.set_subject(self.report.question)
        pdf.set_author("Draftwell")
        pdf.set_creator("Draftwell")
        pdf.set_lang("zh-CN" if self.report.language == "zh" else "en")
        try:
            pdf.set_creation_date(datetime.fromisoformat(self.report.created))
        except ValueError:
            log.debug("report date %r is not ISO; PDF gets the current time", self.report.created)

    # ---- document (the order is ReportLayout.build's) ----------------------------------
    def _appendix_heading(self, text: str, anchor: str) -> None:
        self._heading(1, text)

    def _body_paragraph(self, text: str) -> None:
        self.pdf.set_text_color(*TEXT)
        self._flow((Run(text),), BODY_PT)

    def _title_block(self) -> None:
        self.pdf.add_page()
        pdf, block = self.pdf, title_block(self.report)
        pdf.set_text_color(*TEXT)
        self._set_font(22, bold=True, text=block.title)
        pdf.multi_cell(0, line_height(22) * 0.9, block.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._plain_font()
        pdf.ln(3)
        if block.unfinished:
            pdf.set_fill_color(251, 234, 234)
            pdf.set_text_color(*ALERT)
            self._set_font(BODY_PT, bold=True, text=block.unfinished)
            pdf.multi_cell(
                0,
                line_height(BODY_PT),
                block.unfinished,
                fill=True,
                padding=(1.5, 3),
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            self._plain_font()
            pdf.ln(3)
        pdf.set_text_color(*TEXT)
        label = Run(f"{block.question_label}: ", bold=True)
        self._flow((label, Run(block.question)), BODY_PT, gap=1.5)
        pdf.set_text_color(*MUTED)
        self._flow((Run(block.meta, italic=True),), BODY_PT * 0.92, gap=3)
        self._hrule()
        pdf.ln(4)

    def _contents(self) -> None:
        pdf = self.pdf
        entries = [(s.level, heading_text(s.number, s.title)) for s in self.report.walk()]
        entries.append((1, self.text["references"]))
        lh = line_height(BODY_PT) * 1.15
        self._set_font(BODY_PT, bold=True)
        lines = 3  # the "Contents" heading and a safety line
        for level, text in entries:
            width = pdf.epw - 6 * (level - 1) - 20
            lines += len(pdf.multi_cell(width, lh, text, dry_run=True, output="LINES"))
        first = int((pdf.page_break_trigger - pdf.y) / lh)
        per_page = int((pdf.page_break_trigger - pdf.t_margin) / lh)
        pages = 1 + max(0, math.ceil((lines - first) / per_page))
        pdf.insert_toc_placeholder(self._render_contents, pages=pages)

    def _render_contents(self, pdf: FPDF, _outline: object) -> None:
        lh = line_height(BODY_PT) * 1.15
        pdf.set_x(pdf.l_margin)
        pdf.set_text_color(*TEXT)
        self._set_font(13, bold=True, text=self.text["contents"])
        pdf.cell(0, line_height(13), self.text["contents"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._plain_font()
        pdf.ln(1)
        for entry in self.toc:
            self._contents_entry(entry, lh)

    def _contents_entry(self, entry: _TocEntry, lh: float) -> None:
        pdf = self.pdf
        indent = 6 * (entry.level - 1)
        number_width = 12
        pdf.set_text_color(*TEXT)
        self._set_font(BODY_PT, bold=entry.level == 1, text=entry.text)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(
            pdf.epw - indent - number_width - 6,
            lh,
            entry.text,
            link=entry.link,
            new_x=XPos.END,
            new_y=YPos.LAST,
        )
        self._plain_font()
        right = pdf.l_margin + pdf.epw - number_width
        pdf.set_text_color(*MUTED)
        pdf.set_font("serif", "", BODY_PT)
        dot = pdf.get_string_width(" .")
        count = int((right - pdf.get_x() - 2) / dot)
        if count > 0:
            pdf.cell(right - pdf.get_x(), lh, " ." * count, align="R")
        pdf.set_x(right)
        pdf.cell(
            number_width,
            lh,
            str(entry.page),
            align="R",
            link=entry.link,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def _section(self, section: ReportSection) -> None:
        self._heading(section.level, heading_text(section.number, section.title))
        if section.body.strip():
            self._blocks(parse_body(section.body))
        elif not section.written:
            self.pdf.set_text_color(*MUTED)
            self._flow((Run(self.text["not_written"], italic=True),), BODY_PT)
        for child in section.subsections:
            self._section(child)

    def _heading(self, level: int, text: str) -> None:
        pdf = self.pdf
        size = HEADING_PT[level]
        lh = line_height(size)
        if pdf.y + lh * 2 + line_height(BODY_PT) * 3 > pdf.page_break_trigger:
            pdf.add_page()  # keep a heading with the start of its text
        elif pdf.y > pdf.t_margin + 1:
            pdf.ln({1: 5, 2: 3.5, 3: 2.5}[level])
        pdf.set_x(pdf.l_margin)
        pdf.start_section(text, level - 1)
        link = pdf.add_link(y=pdf.y, page=pdf.page)
        self.toc.append(_TocEntry(level, text, link, pdf.page))
        pdf.set_text_color(*TEXT)
        self._set_font(size, bold=True, text=text)
        pdf.multi_cell(0, lh, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._plain_font()
        if level == 1:
            self._hrule()
        pdf.ln(1.5)

    def _references(self) -> None:
        self._heading(1, self.text["references"])
        for ref in self.report.references:
            self._reference(ref)

    def _reference(self, ref: Reference) -> None:
        pdf = self.pdf
        if pdf.y + line_height(BODY_PT) * 2 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.set_link(name=f"ref-{ref.number}", y=pdf.y, page=pdf.page)
        pdf.set_text_color(*TEXT)
        pdf.set_font("serif", "", BODY_PT)
        self._flow(_label_runs(ref), BODY_PT, gap=1.2, bullet=f"[{ref.number}]", indent=10)

    # ---- blocks ------------------------------------------------------------------------
    def _blocks(self, blocks: Iterable[Block], *, tight: bool = False) -> None:
        for block in blocks:
            self.pdf.set_text_color(*TEXT)
            match block:
                case Paragraph(inlines):
                    self._flow(inlines, BODY_PT, gap=1.0 if tight else 2.6)
                case ListBlock():
                    self._list(block)
                case Table():
                    self._table(block)
                case CodeBlock(text):
                    self._code(text)
                case Quote(inner):
                    self._quote(inner)
                case Rule():
                    self._hrule()
                    self.pdf.ln(2)
                case _:
                    raise AssertionError(f"unknown block {block!r}")

    def _list(self, block: ListBlock) -> None:
        pdf = self.pdf
        base = pdf.l_margin
        bullet = "•" if base < pdf.w / 8 else "–"
        for index, item in enumerate(block.items):
            marker = f"{block.start + index}." if block.ordered else bullet
            pdf.set_text_color(*TEXT)
            first, rest = (item[0], item[1:]) if item else (Paragraph(()), ())
            pdf.set_font("serif", "", BODY_PT)
            if isinstance(first, Paragraph):
                self._flow(first.inlines, BODY_PT, gap=1.0, bullet=marker, indent=LIST_INDENT)
            else:
                rest = item
            pdf.set_left_margin(base + LIST_INDENT)
            pdf.set_x(base + LIST_INDENT)
            self._blocks(rest, tight=True)
            pdf.set_left_margin(base)
            pdf.set_x(base)
        pdf.ln(1.6)

    def _code(self, text: str) -> None:
        pdf = self.pdf
        pdf.set_font("mono", "", 8.8)
        pdf.set_fill_color(*CODE_BG)
        pdf.set_text_color(*TEXT)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(
            0,
            line_height(8.8) * 0.95,
            text,
            fill=True,
            padding=(2.2, 3),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(2.6)

    def _quote(self, blocks: tuple[Block, ...]) -> None:
        pdf = self.pdf
        base, top, page = pdf.l_margin, pdf.y, pdf.page
        pdf.set_left_margin(base + 6)
        pdf.set_x(base + 6)
        for block in blocks:
            pdf.set_text_color(*MUTED)
            if isinstance(block, Paragraph):
                italic = tuple(_restyle(p, italic=True) for p in block.inlines)
                self._flow(italic, BODY_PT, gap=1.5)
            else:
                self._blocks((block,))
        pdf.set_left_margin(base)
        pdf.set_x(base)
        if pdf.page == page:
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.8)
            pdf.line(base + 2.5, top + 0.5, base + 2.5, pdf.y - 1.5)
        pdf.ln(1.5)

    def _hrule(self) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.3)
        pdf.line(pdf.l_margin, pdf.y, pdf.l_margin + pdf.epw, pdf.y)

    # ---- tables ------------------------------------------------------------------------
    def _table(self, block: Table) -> None:
        pdf = self.pdf
        size = BODY_PT * 0.9
        columns = max(len(row) for row in (block.header, *block.rows))
        widths = self._column_widths(block, columns, size)
        rows = [(block.header, True), *((row, False) for row in block.rows)]
        pdf.ln(0.5)
        for row, is_header in rows:
            height = self._row_height(row, widths, size, is_header)
            if pdf.y + height > pdf.page_break_trigger:
                pdf.add_page()
                if not is_header:  # repeat the header row on the new page
                    head_height = self._row_height(block.header, widths, size, True)
                    self._row(block.header, widths, block.aligns, size, head_height, True)
            self._row(row, widths, block.aligns, size, height, is_header)
        pdf.set_x(pdf.l_margin)
        pdf.ln(3)

    def _column_widths(self, block: Table, columns: int, size: float) -> list[float]:
        """Share the text width by each column's longest cell, with a floor per column."""
        pdf = self.pdf
        natural = [10.0] * columns
        longest_word = [0.0] * columns
        for row in (block.header, *block.rows):
            for c, cell in enumerate(row):
                text = plain_text(cell)
                self._set_font(size, bold=row is block.header, text=text)
                natural[c] = max(natural[c], pdf.get_string_width(text) + 2 * CELL_PAD + 3)
                for word in text.split():
                    width = pdf.get_string_width(word) + 2 * CELL_PAD + 2
                    longest_word[c] = max(longest_word[c], width)
        self._plain_font()
        available = pdf.w - pdf.r_margin - pdf.l_margin
        floor = min(22.0, available / columns)
        # a column is never narrower than its longest word (so words do not break), if the
        # page allows it; the rest is shared by each column's longest cell
        minimum = [max(floor, min(w, available / 3)) for w in longest_word]
        if sum(minimum) > available:
            minimum = [floor] * columns
        pinned: set[int] = set()
        widths = [available * n / sum(natural) for n in natural]
        for _ in range(columns):
            short = {c for c in range(columns) if widths[c] < minimum[c] - 1e-6}
            if not short:
                break
            pinned |= short
            spare = available - sum(minimum[c] for c in pinned)
            total = sum(natural[c] for c in range(columns) if c not in pinned) or 1.0
            widths = [
                minimum[c] if c in pinned else spare * natural[c] / total for c in range(columns)
            ]
        scale = available / sum(widths)
        return [w * scale for w in widths]

    def _row_height(self, row, widths: list[float], size: float, header: bool) -> float:
        pdf = self.pdf
        lh = size * PT * LINE_FACTOR
        lines = 1
        for c, cell in enumerate(row):
            text = plain_text(cell)
            self._set_font(size, bold=header, text=text)
            # measured 1 mm narrower than drawn, so the estimate never falls short
            width = widths[c] - 2 * CELL_PAD - 1
            lines = max(lines, len(pdf.multi_cell(width, lh, text, dry_run=True, output="LINES")))
        self._plain_font()
        return lines * lh + 2 * CELL_PAD

    def _row(
        self,
        row: tuple[tuple[Inline, ...], ...],
        widths: list[float],
        aligns: tuple[str, ...],
        size: float,
        height: float,
        header: bool,
    ) -> None:
        pdf = self.pdf
        x, y = pdf.l_margin, pdf.y
        pdf.set_auto_page_break(False)
        for c, width in enumerate(widths):
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.25)
            pdf.set_fill_color(*HEADER_BG)
            pdf.rect(x, y, width, height, style="DF" if header else "D")
            if c < len(row):
                pdf.set_xy(x, y + CELL_PAD - pdf.c_margin / 2)
                pdf.set_text_color(*TEXT)
                cell = tuple(_restyle(p, bold=True) for p in row[c]) if header else row[c]
                left, right = x + CELL_PAD - pdf.c_margin, pdf.w - x - width + CELL_PAD
                align = aligns[c].upper() if c < len(aligns) and aligns[c] else "LEFT"
                self._flow(cell, size, gap=0, left=left, right=right, align=align)
            x += width
        pdf.set_auto_page_break(True, margin=20)
        pdf.set_xy(pdf.l_margin, y + height)

    # ---- inline text ---------------------------------------------------------------------
    def _flow(
        self,
        inlines: Iterable[Inline],
        size: float,
        *,
        gap: float = 2.6,
        bullet: str = "",
        indent: float = 0.0,
        left: float | None = None,
        right: float | None = None,
        align: str = "LEFT",
    ) -> None:
        """Lay out one paragraph of styled runs and citations, wrapping across runs."""
        pdf = self.pdf
        color = pdf.text_color
        pdf.set_draw_color(color)  # synthetic bold strokes its outline in the draw colour
        with (
            pdf.text_columns(
                l_margin=left,
                r_margin=right,
                line_height=LINE_FACTOR,
                skip_leading_spaces=True,
                text_align=align,
            ) as columns,
            columns.paragraph(
                indent=indent, bullet_string=bullet, bottom_margin=gap, bullet_r_margin=2
            ) as paragraph,
        ):
            for part in inlines:
                if isinstance(part, Cite):
                    self._cite(paragraph, part.numbers, size)
                else:
                    self._run(paragraph, part, size)
                pdf.text_color = color
        self._plain_font()
        pdf.set_x(pdf.l_margin)

    def _run(self, paragraph: TextParagraph, run: Run, size: float) -> None:
        pdf = self.pdf
        if run.code:
            pdf.set_font("mono", "B" if run.bold else "", size * 0.9)
        else:
            self._set_font(size, bold=run.bold, italic=run.italic, text=run.text)
        if run.href:
            pdf.set_text_color(*LINK)
        paragraph.write(run.text, link=run.href or None)
        self._plain_font()

    def _cite(self, paragraph: TextParagraph, numbers: tuple[int, ...], size: float) -> None:
        pdf = self.pdf
        color = pdf.text_color
        pdf.set_font("serif", "", size)
        paragraph.write("[")
        for index, number in enumerate(numbers):
            if index:
                paragraph.write(", ")
            link = self.ref_links.get(number)
            if link is None:
                log.warning("citation [%d] has no reference entry", number)
                paragraph.write(str(number))
                continue
            pdf.set_text_color(*LINK)
            paragraph.write(str(number), link=link)
            pdf.text_color = color
        paragraph.write("]")

    def _set_font(
        self, size: float, *, bold: bool = False, italic: bool = False, text: str = ""
    ) -> None:
        """Pick the face for a run: Plex Serif, or Noto Serif SC with a synthetic bold for
        bold text that holds CJK (the CJK face has no Bold)."""
        pdf = self.pdf
        if bold and has_cjk(text):
            pdf.set_font("cjk", "", size)
            pdf.set_draw_color(pdf.text_color)
            # fpdf2 writes this width unscaled into the text state: it is in points here
            pdf.set_line_width(size * 0.035)
            pdf.text_mode = TextMode.FILL_STROKE
            return
        pdf.text_mode = TextMode.FILL
        pdf.set_font("serif", ("B" if bold else "") + ("I" if italic else ""), size)

    def _plain_font(self) -> None:
        self.pdf.text_mode = TextMode.FILL


def _restyle(part: Inline, **style: bool) -> Inline:
    return replace(part, **style) if isinstance(part, Run) else part


def _label_runs(ref: Reference) -> tuple[Run, ...]:
    """A reference label as runs, with a web source's URL as a link."""
    passage = ref.passage
    if passage.kind == "web" and passage.source and passage.source in ref.label:
        before, _, after = ref.label.partition(passage.source)
        return Run(before), Run(passage.source, href=passage.source), Run(after)
    return (Run(ref.label),)
