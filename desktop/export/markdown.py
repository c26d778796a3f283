"""Render the report model as Markdown: numbered headings, `[n]` citations, a reference list."""

from __future__ import annotations

from desktop.core.report import Report, ReportSection, split_citations

LABELS = {
    "en": {"references": "References", "unfinished": "Unfinished draft", "question": "Question"},
    "zh": {"references": "参考文献", "unfinished": "未完成的草稿", "question": "问题"},
}


def labels(report: Report) -> dict[str, str]:
    return LABELS.get(report.language, LABELS["en"])


def render_body(body: str) -> str:
    """Replace citation tokens by `[n]` links to the reference anchors."""
    out = []
    for part in split_citations(body):
        if isinstance(part, str):
            out.append(part)
        else:
            out.append("".join(f"[[{n}]](#ref-{n})" for n in part))
    return "".join(out)


def _section(section: ReportSection) -> list[str]:
    lines = [f"{'#' * (section.level + 1)} {section.number} {section.title}", ""]
    if section.body:
        lines += [render_body(section.body).strip(), ""]
    for child in section.subsections:
        lines += _section(child)
    return lines


def render_markdown(report: Report) -> str:
    text = labels(report)
    lines = [f"# {report.title}", ""]
    if not report.finished:
        lines += [f"> **{text['unfinished']}**", ""]
    lines += [
        f"*{text['question']}:* {report.question}",
        "",
        f"*{report.created} · {report.model} · {report.sources_cited} sources*",
        "",
    ]
    for section in report.sections:
        lines += _section(section)
    lines += [f"## {text['references']}", ""]
    for ref in report.references:
        lines.append(f'<a id="ref-{ref.number}"></a>[{ref.number}] {ref.label}  ')
    return "\n".join(lines).rstrip() + "\n"
