"""Render the report model as DOCX with python-docx.

Structure a reviewer gets: Title, unfinished banner, question and facts, a Contents list whose
entries link to bookmarks on the headings, real `Heading 1`–`Heading 3` paragraphs (Word's
navigation pane shows the outline), section bodies as real paragraphs, lists (Word numbering,
restarted per list), tables (`Table Grid`, repeated header row), code blocks (`Code Block`
style, monospace) and quotes, citations `[n]` as internal hyperlinks to `ref_n` bookmarks on
the References entries, a page-number footer, and A4 or Letter pages.

Fonts are not embedded: Latin text uses the template's theme font (Calibri), East Asian text
asks for Microsoft YaHei (Word substitutes its own CJK font when missing), code uses Consolas.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from datetime import datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import _Cell
from docx.text.paragraph import Paragraph as DocxParagraph
from docx.text.run import Run as DocxRun

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
    Table,
    parse_body,
    sentence_ranges,
    split_at_sentences,
)
from desktop.export.common import (
    comment_text,
    flagged_claims,
    has_cjk,
    heading_text,
    title_block,
)
from desktop.export.layout import ReportLayout

log = logging.getLogger(__name__)

PAGE_SIZES_MM = {"A4": (210, 297), "Letter": (215.9, 279.4)}
MARGIN_MM = 25
LATIN_MONO = "Consolas"
EAST_ASIAN = "Microsoft YaHei"
LINK_COLOR = RGBColor(0x1F, 0x4E, 0x9A)
MUTED = RGBColor(0x59, 0x59, 0x59)
ALIGN = {
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}

Container = DocxDocument | _Cell


def section_bookmark(number: str) -> str:
    """Bookmark name of a numbered heading: `sec_1_2` (Word names allow no dots or dashes)."""
    return "sec_" + number.replace(".", "_")


def reference_bookmark(number: int) -> str:
    return f"ref_{number}"


def render_docx(report: Report, *, page_size: str = "A4") -> bytes:
    """Build the DOCX document for a report and return its bytes."""
    writer = _DocxWriter(report, page_size)
    writer.build()
    buffer = io.BytesIO()
    writer.doc.save(buffer)
    return buffer.getvalue()


class _DocxWriter(ReportLayout):
    """Builds one document; keeps the bookmark counter and the set of known references."""

    def __init__(self, report: Report, page_size: str) -> None:
        super().__init__(report)
        self.doc = Document()
        self.known_refs = {ref.number for ref in report.references}
        self.bookmark_id = 0
        self.flagged: list = []  # the flagged claims of the section being written (comments)
        self._setup_page(page_size)
        self._setup_styles()
        self._setup_properties()

    # ---- setup -------------------------------------------------------------------------
    def _setup_page(self, page_size: str) -> None:
        width, height = PAGE_SIZES_MM[page_size]
        for section in self.doc.sections:
            section.page_width, section.page_height = Mm(width), Mm(height)
            for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
                setattr(section, side, Mm(MARGIN_MM))
            self._footer(section)

    def _footer(self, section) -> None:
        paragraph = section.footer.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if not self.report.finished:
            marker = paragraph.add_run(f"{self.text['unfinished']} · ")
            marker.font.color.rgb = RGBColor(0xA0, 0x1C, 0x1C)
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), "PAGE")
        run = OxmlElement("w:r")
        text = OxmlElement("w:t")
        text.text = "1"
        run.append(text)
        field.append(run)
        paragraph._p.append(field)

    def _setup_styles(self) -> None:
        styles = self.doc.styles
        normal = styles["Normal"]
        normal.font.size = Pt(11)
        _set_east_asian(normal.element.get_or_add_rPr(), EAST_ASIAN)
        _set_lang(
            normal.element.get_or_add_rPr(),
            val="zh-CN" if self.report.language == "zh" else "en-US",
            eastAsia="zh-CN",
        )
        normal.paragraph_format.space_after = Pt(6)
        for name in ("Title", "Heading 1", "Heading 2", "Heading 3"):
            _set_east_asian(styles[name].element.get_or_add_rPr(), EAST_ASIAN)
        code = styles.add_style("Code Block", WD_STYLE_TYPE.PARAGRAPH)
        code.base_style = normal
        code.font.name = LATIN_MONO
        code.font.size = Pt(9)
        _set_east_asian(code.element.get_or_add_rPr(), EAST_ASIAN)
        code.paragraph_format.space_after = Pt(8)
        code.paragraph_format.left_indent = Mm(3)
        _shade(code.element.get_or_add_pPr(), "F2F4F7")

    def _setup_properties(self) -> None:
        props = self.doc.core_properties
        props.title = self.report.title
        props.subject = self.report.question
        props.author = "Draftwell"
        props.last_modified_by = "Draftwell"
        props.comments = f"model: {self.report.model}"
        props.language = "zh-CN" if self.report.language == "zh" else "en-US"
        props.revision = 1
        try:
            created = datetime.fromisoformat(self.report.created)
        except ValueError:
            log.debug("report date %r is not ISO; leaving document dates", self.report.created)
        else:
            props.created = props.modified = created

    # ---- document (the order is ReportLayout.build's) ----------------------------------
    def _appendix_heading(self, text: str, anchor: str) -> None:
        self._bookmark(self.doc.add_heading(text, 1), anchor)

    def _body_paragraph(self, text: str) -> None:
        self.doc.add_paragraph(text)

    def _title_block(self) -> None:
        block = title_block(self.report)
        self.doc.add_paragraph(block.title, style="Title")
        if block.unfinished:
            banner = self.doc.add_paragraph().add_run(block.unfinished)
            banner.bold = True
            banner.font.color.rgb = RGBColor(0xA0, 0x1C, 0x1C)
        question = self.doc.add_paragraph()
        question.add_run(f"{block.question_label}: ").bold = True
        question.add_run(block.question)
        meta = self.doc.add_paragraph().add_run(block.meta)
        meta.italic = True
        meta.font.color.rgb = MUTED

    def _contents(self) -> None:
        self.doc.add_paragraph(self.text["contents"], style="TOC Heading")
        entries = [
            (s.level, heading_text(s.number, s.title), section_bookmark(s.number))
            for s in self.report.walk()
        ]
        entries.append((1, self.text["references"], "references"))
        for level, label, anchor in entries:
            paragraph = self.doc.add_paragraph()
            paragraph.paragraph_format.left_indent = Mm(6 * (level - 1))
            paragraph.paragraph_format.space_after = Pt(2)
            run = paragraph.add_run(label)
            if level == 1:
                run.bold = True
            _link(paragraph, run, anchor=anchor)
        self.doc.add_page_break()

    def _section(self, section: ReportSection) -> None:
        heading = self.doc.add_heading(heading_text(section.number, section.title), section.level)
        self._bookmark(heading, section_bookmark(section.number))
        if section.body.strip():
            self.flagged = flagged_claims(self.report, section.section_id)
            self._blocks(self.doc, parse_body(section.body), depth=0)
            self.flagged = []
        elif not section.written:
            note = self.doc.add_paragraph().add_run(self.text["not_written"])
            note.italic = True
            note.font.color.rgb = MUTED
        for child in section.subsections:
            self._section(child)

    def _references(self) -> None:
        heading = self.doc.add_heading(self.text["references"], 1)
        self._bookmark(heading, "references")
        for ref in self.report.references:
            self._reference(ref)

    def _reference(self, ref: Reference) -> None:
        paragraph = self.doc.add_paragraph()
        paragraph.paragraph_format.left_indent = Mm(10)
        paragraph.paragraph_format.first_line_indent = Mm(-10)
        paragraph.add_run(f"[{ref.number}]\t")
        passage = ref.passage
        if passage.kind == "web" and passage.source in ref.label:
            before, _, after = ref.label.partition(passage.source)
            paragraph.add_run(before)
            _link(paragraph, paragraph.add_run(passage.source), url=passage.source)
            paragraph.add_run(after)
        else:
            paragraph.add_run(ref.label)
        paragraph.paragraph_format.tab_stops.add_tab_stop(Mm(10))
        self._bookmark(paragraph, reference_bookmark(ref.number))

    def _bookmark(self, paragraph: DocxParagraph, name: str) -> None:
        self.bookmark_id += 1
        start = OxmlElement("w:bookmarkStart")
        start.set(qn("w:id"), str(self.bookmark_id))
        start.set(qn("w:name"), name)
        end = OxmlElement("w:bookmarkEnd")
        end.set(qn("w:id"), str(self.bookmark_id))
        p = paragraph._p
        p.insert(1 if p.pPr is not None else 0, start)
        p.append(end)

    # ---- blocks ------------------------------------------------------------------------
    def _blocks(self, container: Container, blocks: Iterable[Block], depth: int) -> None:
        for block in blocks:
            self._block(container, block, depth)

    def _block(self, container: Container, block: Block, depth: int) -> None:
        match block:
            case Paragraph(inlines):
                self._inlines(container.add_paragraph(), inlines)
            case ListBlock():
                self._list(container, block, depth)
            case Table():
                self._table(block)
            case CodeBlock(text):
                container.add_paragraph(style="Code Block").add_run(text)
            case Quote(blocks):
                for inner in blocks:
                    if isinstance(inner, Paragraph):
                        self._inlines(container.add_paragraph(style="Quote"), inner.inlines)
                    else:
                        self._block(container, inner, depth)
            case Rule():
                _rule(container.add_paragraph())
            case _:
                raise AssertionError(f"unknown block {block!r}")

    def _list(self, container: Container, block: ListBlock, depth: int) -> None:
        level = min(depth + 1, 3)
        suffix = "" if level == 1 else f" {level}"
        style = ("List Number" if block.ordered else "List Bullet") + suffix
        num_id = self._restart_numbering(style, block.start) if block.ordered else None
        for item in block.items:
            first = True
            for inner in item:
                if isinstance(inner, Paragraph):
                    paragraph = container.add_paragraph(
                        style=style if first else f"List Continue{suffix}"
                    )
                    if first and num_id is not None:
                        _set_num(paragraph, num_id)
                    self._inlines(paragraph, inner.inlines)
                elif isinstance(inner, ListBlock):
                    self._list(container, inner, depth + 1)
                else:
                    self._block(container, inner, depth + 1)
                first = False

    def _restart_numbering(self, style: str, start: int) -> int:
        """Make a new Word list (w:num) on the style's numbering that starts at `start`."""
        style_num = self.doc.styles[style].element.pPr.numPr.numId.val
        numbering = self.doc.part.numbering_part.element
        abstract_id = next(n.abstractNumId.val for n in numbering.num_lst if n.numId == style_num)
        num = numbering.add_num(abstract_id)
        override = num.add_lvlOverride(ilvl=0)
        override.add_startOverride(start)
        return num.numId

    def _table(self, block: Table) -> None:
        columns = (
            max(len(block.header), *(len(row) for row in block.rows))
            if block.rows
            else len(block.header)
        )
        table = self.doc.add_table(rows=1 + len(block.rows), cols=columns)
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for r, row in enumerate((block.header, *block.rows)):
            for c in range(columns):
                cell = table.cell(r, c)
                paragraph = cell.paragraphs[0]
                paragraph.paragraph_format.space_after = Pt(0)
                align = block.aligns[c] if c < len(block.aligns) else ""
                if align in ALIGN:
                    paragraph.alignment = ALIGN[align]
                if c < len(row):
                    self._inlines(paragraph, row[c], bold=r == 0)
                if r == 0:
                    _shade(cell._tc.get_or_add_tcPr(), "E8ECF2")
        header_row = table.rows[0]._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        header_row.append(repeat)
        self.doc.add_paragraph().paragraph_format.space_after = Pt(0)

    # ---- inlines -----------------------------------------------------------------------
    def _inlines(
        self, paragraph: DocxParagraph, inlines: Iterable[Inline], *, bold: bool = False
    ) -> None:
        inlines = tuple(inlines)
        sentences = [claim.text for claim in self.flagged]
        if sentences:
            inlines = split_at_sentences(inlines, sentences)
        spans: list[tuple[DocxRun, DocxRun]] = []  # first and last run of each inline
        for part in inlines:
            runs = self._inline(paragraph, part, bold)
            spans.append((runs[0], runs[-1]))
        for number, first, last in sentence_ranges(inlines, sentences):
            claim = self.flagged[number]
            self.doc.add_comment(
                [spans[first][0], spans[last][1]],
                text=comment_text(self.report, claim),
                author="Draftwell",
                initials="DW",
            )

    def _inline(self, paragraph: DocxParagraph, part: Inline, bold: bool) -> list[DocxRun]:
        """Add one inline; return the runs it made (first to last)."""
        if isinstance(part, Cite):
            return self._cite(paragraph, part.numbers)
        run = paragraph.add_run(part.text)
        run.bold = part.bold or bold or None
        run.italic = part.italic or None
        run.font.strike = part.strike or None
        if part.code:
            run.font.name = LATIN_MONO
            _set_east_asian(run._r.get_or_add_rPr(), EAST_ASIAN)
        if has_cjk(part.text):
            _lang_zh(run)
        if part.href:
            _link(paragraph, run, url=part.href)
        return [run]

    def _cite(self, paragraph: DocxParagraph, numbers: tuple[int, ...]) -> list[DocxRun]:
        runs = [paragraph.add_run("[")]
        for index, number in enumerate(numbers):
            if index:
                runs.append(paragraph.add_run(", "))
            run = paragraph.add_run(str(number))
            runs.append(run)
            if number in self.known_refs:
                _link(paragraph, run, anchor=reference_bookmark(number))
            else:
                log.warning("citation [%d] has no reference entry", number)
        runs.append(paragraph.add_run("]"))
        return runs


# ---- XML helpers -------------------------------------------------------------------------


def _link(paragraph: DocxParagraph, run: DocxRun, *, anchor: str = "", url: str = "") -> None:
    """Wrap an existing run in a hyperlink: internal to a bookmark, or external to a URL."""
    link = OxmlElement("w:hyperlink")
    if anchor:
        link.set(qn("w:anchor"), anchor)
    else:
        rel = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        link.set(qn("r:id"), rel)
        run.font.underline = True
    link.set(qn("w:history"), "1")
    run.font.color.rgb = LINK_COLOR
    run._r.addprevious(link)
    link.append(run._r)


def _set_num(paragraph: DocxParagraph, num_id: int) -> None:
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id


# Child order inside w:pPr, w:rPr and w:tcPr (ECMA-376); Word rejects out-of-order children.
_PPR_ORDER = [
    "pStyle",
    "keepNext",
    "keepLines",
    "pageBreakBefore",
    "framePr",
    "widowControl",
    "numPr",
    "suppressLineNumbers",
    "pBdr",
    "shd",
    "tabs",
    "suppressAutoHyphens",
    "kinsoku",
    "wordWrap",
    "overflowPunct",
    "topLinePunct",
    "autoSpaceDE",
    "autoSpaceDN",
    "bidi",
    "adjustRightInd",
    "snapToGrid",
    "spacing",
    "ind",
    "contextualSpacing",
    "mirrorIndents",
    "suppressOverlap",
    "jc",
    "textDirection",
    "textAlignment",
    "textboxTightWrap",
    "outlineLvl",
    "divId",
    "cnfStyle",
    "rPr",
    "sectPr",
    "pPrChange",
]
_RPR_ORDER = [
    "rStyle",
    "rFonts",
    "b",
    "bCs",
    "i",
    "iCs",
    "caps",
    "smallCaps",
    "strike",
    "dstrike",
    "outline",
    "shadow",
    "emboss",
    "imprint",
    "noProof",
    "snapToGrid",
    "vanish",
    "webHidden",
    "color",
    "spacing",
    "w",
    "kern",
    "position",
    "sz",
    "szCs",
    "highlight",
    "u",
    "effect",
    "bdr",
    "shd",
    "fitText",
    "vertAlign",
    "rtl",
    "cs",
    "em",
    "lang",
    "eastAsianLayout",
    "specVanish",
    "oMath",
]
_TCPR_ORDER = [
    "cnfStyle",
    "tcW",
    "gridSpan",
    "hMerge",
    "vMerge",
    "tcBorders",
    "shd",
    "noWrap",
    "tcMar",
    "textDirection",
    "tcFitText",
    "vAlign",
    "hideMark",
]
_ORDERS = {"pPr": _PPR_ORDER, "rPr": _RPR_ORDER, "tcPr": _TCPR_ORDER}


def _insert_ordered(parent, child) -> None:
    """Insert `child` into a property element at the place the schema requires."""
    order = _ORDERS[parent.tag.rpartition("}")[2]]
    name = child.tag.rpartition("}")[2]
    successors = [f"w:{tag}" for tag in order[order.index(name) + 1 :]]
    parent.insert_element_before(child, *successors)


def _set_east_asian(rpr, font: str) -> None:
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), font)


def _set_lang(rpr, **values: str) -> None:
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        _insert_ordered(rpr, lang)
    for key, value in values.items():
        lang.set(qn(f"w:{key}"), value)


def _lang_zh(run: DocxRun) -> None:
    _set_lang(run._r.get_or_add_rPr(), eastAsia="zh-CN")


def _shade(parent, fill: str) -> None:
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    _insert_ordered(parent, shading)


def _rule(paragraph: DocxParagraph) -> None:
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "A0A0A0")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    _insert_ordered(paragraph._p.get_or_add_pPr(), borders)
