"""Render the report model as Markdown (the canonical export) and read such Markdown back.

Layout: `# Title`, an optional unfinished banner, the question and a facts line, a linked
table of contents, `##`–`####` headings numbered from the outline (each preceded by an
`<a id="sec-1-2"></a>` anchor), the section bodies as written, `[n]` citations linking to
`#ref-n`, and a References list with one anchored paragraph per entry.
`read_markdown` parses that layout back (the round trip the tests check).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from desktop.core.report import Report, ReportSection, split_citations
from desktop.export.common import (
    LABELS,
    check_rows,
    check_summary,
    heading_text,
    labels,
    title_block,
)

log = logging.getLogger(__name__)

__all__ = [
    "LABELS",
    "MarkdownDocument",
    "labels",
    "read_markdown",
    "render_body",
    "render_markdown",
    "section_anchor",
]

_ESCAPE_RE = re.compile(r"([\\`*_\[\]<>#|])")
_UNESCAPE_RE = re.compile(r"\\([\\`*_\[\]<>#|])")
_CITE_GROUP_RE = re.compile(r"(?:\[\[(\d+)\]\]\(#ref-\1\))+")
_CITE_ONE_RE = re.compile(r"\[\[(\d+)\]\]\(#ref-\1\)")
_HEADING_RE = re.compile(r"^(#{2,4}) (\d+(?:\.\d+)*) (.*)$")
_REF_RE = re.compile(r'^<a id="ref-(\d+)"></a>\[(\d+)\] (.*)$')
_FENCE_RE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def escape(text: str) -> str:
    """Escape the characters that would turn a title or label into markup."""
    return _ESCAPE_RE.sub(r"\\\1", text)


def unescape(text: str) -> str:
    return _UNESCAPE_RE.sub(r"\1", text)


def section_anchor(number: str) -> str:
    """The anchor id of a numbered section: `sec-1-2` for 1.2."""
    return "sec-" + number.replace(".", "-")


def render_body(body: str) -> str:
    """Replace citation tokens by `[n]` links to the reference anchors.

    Inside fenced code the tokens become plain `[n]` text, since links do not work there.
    """
    out: list[str] = []
    in_fence = False
    for line in body.splitlines(keepends=True):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        for part in split_citations(line):
            if isinstance(part, str):
                out.append(part)
            elif in_fence:
                out.append("[" + ", ".join(map(str, part)) + "]")
            else:
                out.append("".join(f"[[{n}]](#ref-{n})" for n in part))
    return "".join(out)


def _toc(report: Report) -> list[str]:
    text = labels(report)
    lines = [f"**{text['contents']}**", ""]
    for section in report.walk():
        indent = "  " * (section.level - 1)
        label = escape(heading_text(section.number, section.title))
        lines.append(f"{indent}- [{label}](#{section_anchor(section.number)})")
    lines += [f"- [{text['references']}](#references)", ""]
    return lines


def _section(section: ReportSection, not_written: str) -> list[str]:
    hashes = "#" * (section.level + 1)
    lines = [
        f'<a id="{section_anchor(section.number)}"></a>',
        "",
        f"{hashes} {section.number} {escape(section.title)}",
        "",
    ]
    if section.body.strip():
        lines += [render_body(section.body).strip(), ""]
    elif not section.written:
        lines += [f"*{not_written}*", ""]
    for child in section.subsections:
        lines += _section(child, not_written)
    return lines


def render_markdown(report: Report) -> str:
    """Render the whole report as one Markdown document."""
    text = labels(report)
    block = title_block(report)
    lines = [f"# {escape(report.title)}", ""]
    if block.unfinished:
        lines += [f"> **{block.unfinished}**", ""]
    lines += [f"**{block.question_label}:** {report.question}", "", f"*{block.meta}*", ""]
    lines += _toc(report)
    for section in report.sections:
        lines += _section(section, text["not_written"])
    lines += ['<a id="references"></a>', "", f"## {text['references']}", ""]
    for ref in report.references:
        lines += [f'<a id="ref-{ref.number}"></a>[{ref.number}] {escape(ref.label)}', ""]
    if report.check_appendix and report.claims:
        lines += _check_appendix(report)
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return escape(" ".join(text.split()))


def _check_appendix(report: Report) -> list[str]:
    """The "Citation check" table: one row per claim, sources linked to the references."""
    text = labels(report)
    columns = text["check_columns"].split("|")
    lines = [
        '<a id="citation-check"></a>',
        "",
        f"## {text['check']}",
        "",
        text["check_intro"].format(summary=check_summary(report)),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in check_rows(report):
        sources = "; ".join(f"[[{n}]](#ref-{n}) {_cell(name)}" for n, name, _ in row.sources)
        pages = "; ".join(_cell(page) for _, _, page in row.sources)
        verdict = f"**{row.verdict}**" if row.flagged else row.verdict
        cells = [row.section, _cell(row.claim), verdict, sources or "–", pages or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


# ---- reading back ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkdownDocument:
    """What `read_markdown` recovers: the title, the finished flag, sections and references."""

    title: str
    finished: bool
    sections: tuple[ReportSection, ...]
    references: tuple[tuple[int, str], ...]  # (number, label)


def _restore_cites(text: str) -> str:
    def group(match: re.Match[str]) -> str:
        numbers = _CITE_ONE_RE.findall(match.group(0))
        return "⟦" + ",".join(numbers) + "⟧"

    return _CITE_GROUP_RE.sub(group, text)


@dataclass(slots=True)
class _Open:
    number: str
    level: int
    title: str
    lines: list[str]
    children: list[ReportSection]


def _close(node: _Open, not_written: str) -> ReportSection:
    body = "\n".join(node.lines).strip()
    # drop the anchor line that introduces the next heading
    body = re.sub(r'\n*<a id="(?:sec-[\d-]+|references)"></a>$', "", body).strip()
    written = body != f"*{not_written}*"
    body = _restore_cites(body) if written else ""
    return ReportSection(
        node.number, node.level, node.title, body, written, tuple(node.children), ""
    )


def read_markdown(text: str) -> MarkdownDocument:
    """Parse Markdown written by `render_markdown` back into sections and references."""
    lines = text.splitlines()
    title = unescape(lines[0].removeprefix("# ")) if lines else ""
    language = "zh" if any(LABELS["zh"]["references"] in line for line in lines) else "en"
    text_labels = LABELS[language]
    finished = not any(line.startswith("> **") for line in lines[:4])
    stack: list[_Open] = []
    roots: list[ReportSection] = []
    references: list[tuple[int, str]] = []
    in_refs = False

    def close_to(level: int) -> None:
        while stack and stack[-1].level >= level:
            done = _close(stack.pop(), text_labels["not_written"])
            (stack[-1].children if stack else roots).append(done)

    for line in lines:
        heading = _HEADING_RE.match(line)
        if heading and not in_refs:
            level = len(heading.group(1)) - 1
            close_to(level)
            stack.append(_Open(heading.group(2), level, unescape(heading.group(3)), [], []))
        elif line == f"## {text_labels['references']}":
            close_to(1)
            in_refs = True
        elif in_refs and (ref := _REF_RE.match(line)):
            references.append((int(ref.group(2)), unescape(ref.group(3))))
        elif stack and not in_refs:
            stack[-1].lines.append(line)
    close_to(1)
    return MarkdownDocument(title, finished, tuple(roots), tuple(references))
