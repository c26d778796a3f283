"""Text in a model's section that could pass for a citation or a source, made harmless.

The write grammar admits real Markdown, so a section can hold things that look like what they
are not: a bare bracketed number (`[12]`, `[3, 7]`, `\\[12\\]`, `【12】`) reads as a citation in
the report, and a link or image (`[粒度](/_/)`, `<https://…>`, `[site][a]` with its
`[a]: https://…` definition) points a reader somewhere no evidence went. Outside code:

- a bare bracketed number becomes a parenthesised one: `[12]` → `(12)`, `【12】` → `（12）`;
- a link or image is kept only when its target is a web page among this run's evidence;
  otherwise it becomes its label (an image its alt text, an autolink its address as text), and a
  reference definition its plain text.

A last check parses the result as the exporters do (CommonMark with tables, markdown-it): if any
link or image to another target is still there (a form the rewrites did not foresee), every
bracket and `<` of the prose is escaped, so no link of any kind survives.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from markdown_it import MarkdownIt

CODE_RE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
NUMBERS = r"\s*\d+(?:\s*[,;，、–-]\s*\d+)*\s*"
# A label may hold one level of brackets: `[a [12] b](url)`.
LABEL = r"(?:[^\[\]\n]|\[[^\[\]\n]*\])*"
TARGET = r"<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*"
INLINE_LINK_RE = re.compile(
    rf"(!?)\[({LABEL})\]\(\s*({TARGET})(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
REFERENCE_LINK_RE = re.compile(rf"(!?)\[({LABEL})\]\[([^\[\]\n]*)\]")
DEFINITION_RE = re.compile(r"^ {0,3}\[([^\[\]\n]+)\]:[ \t]*(\S+)(.*)$", re.MULTILINE)
AUTOLINK_RE = re.compile(r"<((?:[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*)|(?:[^\s<>@]+@[^\s<>@]+))>")
BARE_NUMBERS_RE = re.compile(rf"(?<![\]\\])\[({NUMBERS})\](?![(\[:])")
ESCAPED_NUMBERS_RE = re.compile(rf"\\\[({NUMBERS})\\\]")
FULL_WIDTH_NUMBERS_RE = re.compile(rf"[【［]({NUMBERS})[】］]")
ESCAPABLE_RE = re.compile(r"(?<!\\)([\[\]<])")


@lru_cache(maxsize=2048)  # the draft re-renders every section often; written ones never change
def neutralize(text: str, web_urls: frozenset[str] = frozenset()) -> str:
    """`text` with bare numbers and links to nowhere made harmless, code left as it is."""
    out = _outside_code(text, lambda prose: _prose(prose, web_urls))
    if _stray_targets(out, web_urls):
        out = _outside_code(out, lambda prose: ESCAPABLE_RE.sub(r"\\\1", prose))
    return out


def _outside_code(text: str, change) -> str:
    out, last = [], 0
    for match in CODE_RE.finditer(text):
        out.append(change(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(change(text[last:]))
    return "".join(out)


def _prose(part: str, web_urls: frozenset[str]) -> str:
    def inline(match: re.Match) -> str:
        image, label, target = match.group(1), match.group(2), match.group(3).strip("<>")
        if target in web_urls:
            return f"[{_prose(label, web_urls) or target}]({_destination(target)})"
        return _prose(label, web_urls) if not image else label

    def autolink(match: re.Match) -> str:
        target = match.group(1)
        return f"[{target}]({target})" if target in web_urls else target

    part = INLINE_LINK_RE.sub(inline, part)
    part = REFERENCE_LINK_RE.sub(lambda m: _prose(m.group(2), web_urls), part)
    part = DEFINITION_RE.sub(lambda m: f"{m.group(1)}: {m.group(2)}{m.group(3)}", part)
    part = AUTOLINK_RE.sub(autolink, part)
    part = ESCAPED_NUMBERS_RE.sub(r"(\1)", part)
    part = FULL_WIDTH_NUMBERS_RE.sub(r"（\1）", part)
    return BARE_NUMBERS_RE.sub(r"(\1)", part)


def _destination(target: str) -> str:
    return f"<{target}>" if any(c in target for c in " ()") else target


@cache
def markdown_parser() -> MarkdownIt:
    """How the exporters read a section: CommonMark with tables and strikethrough, no HTML."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _stray_targets(text: str, web_urls: frozenset[str]) -> list[str]:
    """Link and image targets a CommonMark reader would see that are not evidence pages."""
    parser = markdown_parser()
    allowed = {parser.normalizeLink(url) for url in web_urls} | set(web_urls)
    stray = []
    for token in parser.parse(text):
        for child in token.children or ():
            target = child.attrs.get("href") or child.attrs.get("src")
            if child.type in ("link_open", "image") and str(target) not in allowed:
                stray.append(str(target))
    return stray
