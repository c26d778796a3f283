"""The draft view: the report as rich text, the section being written streaming in live.

`DraftRenderer` turns a `Report` into HTML (Markdown through the `markdown` package, citation
tokens into `cite:N` links, per-section HTML cached). `DraftView` shows it in a QTextBrowser;
while the model writes, only the streaming paragraph changes (a QTextCursor edit, not a
re-render), so long reports stay cheap to update many times a second.

Sentences the citation check flagged (the report's `claims`) are tinted and start with an icon
whose shape tells the verdict (triangle: unsupported, half disc: partly supported, square:
no citation), in the Okabe–Ito colours that stay apart for colour-blind readers; the tint is
mixed with the palette's base colour, so text keeps its contrast in light and dark themes. Each
carries a tooltip with the verdict, the reason and the cited passage. A bar above the draft
shows the run's summary and steps through the flagged sentences (F8 / Shift+F8).
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QShortcut,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.actions import without_partial_cite
from desktop.core.report import (
    CITE_RE,
    TOKEN_RE,
    Report,
    ReportClaim,
    ReportSection,
    split_citations,
)
from desktop.core.verify import MATCH_SKIPPED, SupportSummary, match_key
from desktop.gui.local_browser import LocalOnlyBrowser

log = logging.getLogger(__name__)

STREAM_MARKER = "@@draftwell-stream@@"
MARKDOWN_EXTENSIONS = ["extra", "sane_lists"]
MEASURE = 820  # the widest text column, in pixels, for comfortable reading

SAMPLES_LINK = "draftwell:samples"
MODELS_LINK = "draftwell:models"
SETTINGS_LINK = "draftwell:settings"
# Shown on the first-run page while the embedded model is the active one.
EMBEDDED_NOTE = (
    "<p style='background:#fff4d6; color:#4a3b00; padding:8px;'><b>The embedded model "
    "(SmolLM2-135M) only demonstrates the pipeline</b>: it is small enough to ship inside the "
    "app, and its reports are not worth reading. For real reports "
    f'<a href="{MODELS_LINK}">download AgentCPM-Report</a> (8B parameters, a few GB once; it runs on this '
    f'computer) or <a href="{SETTINGS_LINK}">use a model server</a> by its URL.</p>'
)
EMPTY_TEXT = (
    "<h2>Start a research</h2>"
    "<ol>"
    "<li><b>Drop documents</b>: PDFs, Word files or whole folders onto this window, or use "
    "<b>Add Documents…</b> in the Library panel. They are indexed on this computer; "
    "nothing is uploaded.</li>"
    "<li><b>Ask</b>: type your question in the box above and press <b>Start</b> "
    "(Ctrl+Enter).</li>"
    "<li><b>Watch</b>: the outline grows on the left and the report fills in here, every "
    "citation linking to the page it came from.</li>"
    "<li><b>Steer</b>: rename, re-plan, add, delete, lock, rewrite or deepen sections in the "
    "outline at any time; each change is applied before the model's next step.</li>"
    "<li><b>Export</b>: File → Export… writes the report as DOCX, PDF or Markdown.</li>"
    "</ol>"
    f'<p>New here? <a href="{SAMPLES_LINK}">Try it with the three sample documents</a> '
    "(heat pumps and gas boilers) and a sample question.</p>"
)


def stream_preview(text: str, numbers: dict[str, int]) -> str:
    """Streamed Markdown as plain text: citations as [n] (• for a source not cited yet)."""

    def label(match: re.Match) -> str:
        keys = [k.strip() for k in match.group(1).split(",") if k.strip()]
        return "[" + ", ".join(str(numbers[k]) if k in numbers else "•" for k in keys) + "]"

    text = without_partial_cite(text.lstrip())
    return CITE_RE.sub(label, text).replace("\r", "")


# Okabe–Ito colours: distinguishable with every common colour-vision deficiency.
FLAG_COLORS = {"unsupported": "#D55E00", "partial": "#E69F00", "uncited": "#0072B2"}
FLAG_NAMES = {"unsupported": "Unsupported", "partial": "Partly supported", "uncited": "No citation"}
FLAG_SCHEME = "draftwell-flag"
FLAG_START, FLAG_MID, FLAG_END = "\ue000", "\ue001", "\ue002"
_FLAG_RE = re.compile(f"{FLAG_START}(\\d+){FLAG_MID}")


def _mix(base: QColor, accent: QColor, share: float) -> str:
    return QColor(
        round(base.red() * (1 - share) + accent.red() * share),
        round(base.green() * (1 - share) + accent.green() * share),
        round(base.blue() * (1 - share) + accent.blue() * share),
    ).name()


def flag_tints(base: QColor) -> dict[str, str]:
    """Background tints for flagged sentences: stronger on a dark base, so they show."""
    share = 0.34 if base.lightness() < 128 else 0.22
    return {verdict: _mix(base, QColor(color), share) for verdict, color in FLAG_COLORS.items()}


def flag_icon(verdict: str, size: int = 28) -> QImage:
    """The verdict's icon: a triangle with "!", a half-filled disc, or a square with "?"."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    color = QColor(FLAG_COLORS.get(verdict, "#777777"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor("#1a1a1a"), size / 14)
    painter.setPen(pen)
    m = size * 0.08
    if verdict == "unsupported":
        path = QPainterPath(QPointF(size / 2, m))
        path.lineTo(size - m, size - m)
        path.lineTo(m, size - m)
        path.closeSubpath()
        painter.fillPath(path, color)
        painter.drawPath(path)
        glyph, box = "!", QRectF(0, size * 0.28, size, size * 0.66)
    elif verdict == "partial":
        rect = QRectF(m, m, size - 2 * m, size - 2 * m)
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(rect)
        painter.setBrush(color)
        painter.drawPie(rect, 90 * 16, 180 * 16)
        painter.setBrush(QColor(0, 0, 0, 0))
        painter.drawEllipse(rect)
        glyph, box = "", rect
    else:
        rect = QRectF(m, m, size - 2 * m, size - 2 * m)
        painter.fillRect(rect, color)
        painter.drawRect(rect)
        glyph, box = "?", rect
    if glyph:
        font = QFont()
        font.setBold(True)
        font.setPixelSize(round(size * 0.55))
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(box, 0x0084, glyph)  # AlignHCenter | AlignVCenter
    painter.end()
    return image


@dataclass(frozen=True, slots=True)
class DraftColors:
    """Palette-derived colours for the HTML (so dark themes work)."""

    highlight: str
    muted: str
    link: str
    flags: dict | None = None  # verdict → background tint (flag_tints), None: light defaults

    def flag(self, verdict: str) -> str:
        tints = self.flags or flag_tints(QColor("#ffffff"))
        return tints.get(verdict, tints["partial"])

    @staticmethod
    def from_palette(palette: QPalette) -> DraftColors:
        base = palette.color(QPalette.ColorRole.Base)
        accent = palette.color(QPalette.ColorRole.Highlight)
        mix = QColor(
            round(base.red() * 0.8 + accent.red() * 0.2),
            round(base.green() * 0.8 + accent.green() * 0.2),
            round(base.blue() * 0.8 + accent.blue() * 0.2),
        )
        text = palette.color(QPalette.ColorRole.Text)
        muted = QColor(
            round(text.red() * 0.6 + base.red() * 0.4),
            round(text.green() * 0.6 + base.green() * 0.4),
            round(text.blue() * 0.6 + base.blue() * 0.4),
        )
        return DraftColors(
            mix.name(),
            muted.name(),
            palette.color(QPalette.ColorRole.Link).name(),
            flag_tints(base),
        )


def _escape_body(text: str) -> str:
    """Keep the model's text from becoming markup (Markdown still works)."""
    return re.sub(r"&(?![a-zA-Z]+;|#\d+;)", "&amp;", text).replace("<", "&lt;")


def _citation_html(numbers: tuple[int, ...]) -> str:
    links = ", ".join(f'<a href="cite:{n}">{n}</a>' for n in numbers)
    return f"[{links}]"


def mark_flagged(body: str, claims: list[tuple[int, ReportClaim]]) -> str:
    """Wrap each flagged sentence of a body (with citation tokens) in flag sentinels."""
    skip: set[int] = set()
    for token in TOKEN_RE.finditer(body):
        skip.update(range(token.start(), token.end()))
    keyed = [(i, ch) for i, ch in enumerate(body) if i not in skip and ch not in MATCH_SKIPPED]
    flat = "".join(ch for _, ch in keyed)
    inserts: list[tuple[int, str]] = []
    for number, claim in claims:
        key = match_key(claim.text)
        at = flat.find(key) if key else -1
        if at < 0:
            log.debug("flagged sentence not found in its section: %r", claim.text[:60])
            continue
        inserts.append((keyed[at][0], f"{FLAG_START}{number}{FLAG_MID}"))
        inserts.append((keyed[at + len(key) - 1][0] + 1, FLAG_END))
    for position, text in sorted(inserts, key=lambda item: item[0], reverse=True):
        body = body[:position] + text + body[position:]
    return body


def flag_tooltip(claim: ReportClaim, labels: dict[int, str]) -> str:
    """The tooltip of a flagged sentence: verdict, reasons, the cited source and passage."""
    parts = [f"<b>{FLAG_NAMES.get(claim.verdict, claim.verdict)}</b>"]
    if claim.reasons:
        parts[0] += ": " + html.escape("; ".join(claim.reasons))
    cited = [labels[n] for n in claim.references if n in labels]
    if cited:
        parts.append("Cited: " + html.escape("; ".join(cited)))
    if claim.evidence:
        evidence = claim.evidence if len(claim.evidence) <= 280 else claim.evidence[:280] + "…"
        parts.append(f"<i>“{html.escape(evidence)}”</i>")
    return "<br>".join(parts)


class DraftRenderer:
    """Report → HTML with a per-section cache (see the module docstring)."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}
        self.flag_count = 0  # flagged sentences marked by the last `html` call

    def body_html(self, body: str) -> str:
        cached = self._cache.get(body)
        if cached is not None:
            return cached
        import markdown  # lazily: ~40 ms, not needed before the first draft

        parts = []
        for part in split_citations(body):
            parts.append(_citation_html(part) if isinstance(part, tuple) else _escape_body(part))
        rendered = markdown.markdown("".join(parts), extensions=MARKDOWN_EXTENSIONS)
        if len(self._cache) > 2000:
            self._cache.clear()
        self._cache[body] = rendered
        return rendered

    def flagged_body_html(
        self,
        body: str,
        claims: list[tuple[int, ReportClaim]],
        colors: DraftColors,
        labels: dict[int, str],
    ) -> str:
        """A body with its flagged sentences tinted, iconed and given tooltips."""
        by_number = dict(claims)
        rendered = self.body_html(mark_flagged(body, claims))

        def opening(match: re.Match) -> str:
            claim = by_number[int(match.group(1))]
            tip = html.escape(flag_tooltip(claim, labels), quote=True)
            return (
                f'<a name="flag-{match.group(1)}"></a>'
                f'<span style="background-color:{colors.flag(claim.verdict)}" title="{tip}">'
                f'<img src="{FLAG_SCHEME}:{claim.verdict}" width="14" height="14">&nbsp;'
            )

        return _FLAG_RE.sub(opening, rendered).replace(FLAG_END, "</span>")

    def html(
        self,
        report: Report,
        colors: DraftColors,
        cursor_id: str | None = None,
        phase: str | None = None,
        locked: frozenset[str] = frozenset(),
        plans: dict[str, str] | None = None,
    ) -> str:
        plans = plans or {}
        out = [f"<h1>{html.escape(report.title)}</h1>"]
        out.append(f'<p style="color:{colors.muted}"><i>{html.escape(report.question)}</i></p>')
        flagged: dict[str, list[tuple[int, ReportClaim]]] = {}
        for claim in report.claims:
            if claim.flagged:
                flagged.setdefault(claim.section_id, []).append((0, claim))
        number = 0
        for section in report.walk():  # number the flags in reading order
            marks = flagged.get(section.section_id, [])
            flagged[section.section_id] = [(number + i, c) for i, (_, c) in enumerate(marks)]
            number += len(marks)
        self.flag_count = number
        labels = {ref.number: ref.label for ref in report.references}
        for section in report.walk():
            plan = plans.get(section.section_id, "")
            marks = flagged.get(section.section_id, [])
            out.append(
                self._section(section, colors, cursor_id, phase, locked, plan, marks, labels)
            )
        if report.references:
            out.append("<h2>References</h2>")
            for ref in report.references:
                out.append(
                    f'<p><a name="ref-{ref.number}"></a><a href="cite:{ref.number}">'
                    f"[{ref.number}]</a> {html.escape(ref.label)}</p>"
                )
        return "\n".join(out)

    def _section(
        self,
        section: ReportSection,
        colors: DraftColors,
        cursor_id: str | None,
        phase: str | None,
        locked: frozenset[str],
        plan: str,
        flags: list[tuple[int, ReportClaim]] | None = None,
        labels: dict[int, str] | None = None,
    ) -> str:
        level = min(section.level + 1, 4)
        is_cursor = section.section_id == cursor_id
        title = f"{section.number}&nbsp;&nbsp;{html.escape(section.title)}"
        if section.section_id in locked:
            title += f' <span style="color:{colors.muted}; font-size:small">(locked)</span>'
        style = f' style="background-color:{colors.highlight}"' if is_cursor else ""
        head = f'<h{level}{style}><a name="{section.section_id}"></a>{title}</h{level}>'
        if is_cursor and phase == "write":
            return f'{head}\n<p style="background-color:{colors.highlight}">{STREAM_MARKER}</p>'
        if section.written and flags:
            return f"{head}\n{self.flagged_body_html(section.body, flags, colors, labels or {})}"
        if section.written:
            return f"{head}\n{self.body_html(section.body)}"
        note = "Searching the documents for this section…" if is_cursor else "Planned:"
        shown = "" if is_cursor else f" {html.escape(plan)}"
        return f'{head}\n<p style="color:{colors.muted}"{style}><i>{note}{shown}</i></p>'


class DraftBrowser(LocalOnlyBrowser):
    """The draft's browser: local resources only, plus the citation-check flag icons."""

    def local_resource(self, url: QUrl) -> object | None:
        return flag_icon(url.path()) if url.scheme() == FLAG_SCHEME else None


class DraftView(QWidget):
    """The rendered report with live streaming (see the module docstring).

    Signals: citationClicked(int) — a reference number the user clicked; samplesRequested() —
    the first-run page's offer of the sample documents was taken; webLinkClicked(QUrl) — a web
    link in the report (never opened here: the window applies the offline rule);
    modelsRequested() / settingsRequested() — the first-run page's model download or server link.
    """

    citationClicked = Signal(int)
    samplesRequested = Signal()
    webLinkClicked = Signal(QUrl)
    modelsRequested = Signal()
    settingsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer = DraftRenderer()
        self.browser = DraftBrowser()
        self.browser.setObjectName("draftView")
        self.browser.setOpenLinks(False)
        self.browser.setAcceptDrops(False)
        self.browser.anchorClicked.connect(self._on_anchor)
        self.browser.document().setDocumentMargin(18)
        self.empty = QTextBrowser()
        self.empty.setObjectName("draftEmpty")
        self.empty.setAcceptDrops(False)
        self.empty.setOpenLinks(False)
        self.empty.anchorClicked.connect(self._on_empty_anchor)
        self.empty.setHtml(EMPTY_TEXT)
        self.empty.document().setDocumentMargin(28)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.browser)
        self._build_check_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.check_bar)
        layout.addWidget(self.stack)
        self.follow = True
        self._stream_start: int | None = None
        self._stream_len = 0
        self._wanted = ""  # the streamed text the region should show
        self._shown: str | None = None  # what it shows (None: a placeholder)
        self.report: Report | None = None
        self.plans: dict[str, str] = {}

    def _build_check_bar(self) -> None:
        """The citation check's summary and the buttons that step through flagged sentences."""
        self.check_bar = QWidget()
        self.check_bar.setObjectName("checkBar")
        self.check_summary = QLabel()
        self.check_summary.setObjectName("checkSummary")
        self.flag_position = QLabel()
        self.previous_button = QToolButton()
        self.previous_button.setText("◀ Previous flag")
        self.previous_button.setToolTip("Previous flagged sentence (Shift+F8)")
        self.previous_button.clicked.connect(self.previous_flag)
        self.next_button = QToolButton()
        self.next_button.setText("Next flag ▶")
        self.next_button.setToolTip("Next flagged sentence (F8)")
        self.next_button.clicked.connect(self.next_flag)
        row = QHBoxLayout(self.check_bar)
        row.setContentsMargins(8, 2, 8, 2)
        row.addWidget(self.check_summary, 1)
        row.addWidget(self.flag_position)
        row.addWidget(self.previous_button)
        row.addWidget(self.next_button)
        QShortcut(QKeySequence("F8"), self, self.next_flag)
        QShortcut(QKeySequence("Shift+F8"), self, self.previous_flag)
        self.check_bar.hide()
        self.flag_index = -1

    def _show_check_summary(self, report: Report) -> None:
        if not report.claims:
            self.check_bar.hide()
            return
        summary = SupportSummary.of(report.claims)
        self.check_summary.setText(f"Citation check: {summary.label()}")
        count = self.renderer.flag_count
        self.previous_button.setEnabled(count > 0)
        self.next_button.setEnabled(count > 0)
        if self.flag_index >= count:
            self.flag_index = -1
        self._update_flag_position()
        self.check_bar.show()

    def _update_flag_position(self) -> None:
        count = self.renderer.flag_count
        if not count:
            self.flag_position.setText("nothing flagged")
        elif self.flag_index < 0:
            self.flag_position.setText(f"{count} flagged")
        else:
            self.flag_position.setText(f"flag {self.flag_index + 1} of {count}")

    def next_flag(self) -> None:
        self._go_to_flag(+1)

    def previous_flag(self) -> None:
        self._go_to_flag(-1)

    def _go_to_flag(self, step: int) -> None:
        count = self.renderer.flag_count
        if not count or self.report is None:
            return
        start = self.flag_index if self.flag_index >= 0 else (-1 if step > 0 else 0)
        self.flag_index = (start + step) % count
        self.browser.scrollToAnchor(f"flag-{self.flag_index}")
        self._update_flag_position()

    def clear(self) -> None:
        self.report = None
        self.check_bar.hide()
        self._stream_start = None
        self._wanted = ""
        self.browser.clear()
        self.stack.setCurrentWidget(self.empty)

    def show_message(self, message_html: str) -> None:
        """Show a short page instead of a report (a run that has no outline yet)."""
        self.report = None
        self._stream_start = None
        self.browser.setHtml(message_html)
        self._apply_measure()
        self.stack.setCurrentWidget(self.browser)

    def show_report(
        self,
        report: Report | None,
        cursor_id: str | None = None,
        phase: str | None = None,
        locked: frozenset[str] = frozenset(),
    ) -> None:
        """Render the whole report (a few times a minute, not per token)."""
        if report is None:
            self.clear()
            return
        self.report = report
        colors = DraftColors.from_palette(self.browser.palette())
        report_html = self.renderer.html(report, colors, cursor_id, phase, locked, self.plans)
        bar = self.browser.verticalScrollBar()
        position = bar.value()
        self.browser.setHtml(report_html)
        self._apply_measure()
        bar.setValue(position)
        self.stack.setCurrentWidget(self.browser)
        self._show_check_summary(report)
        found = self.browser.document().find(STREAM_MARKER)
        if found.isNull():
            self._stream_start = None
            return
        self._stream_start = found.selectionStart()
        self._stream_len = len(STREAM_MARKER)
        self._shown = None  # the marker is in the region, not text
        self._sync_stream()

    def _apply_measure(self) -> None:
        """Centre a text column of at most MEASURE pixels (long lines are hard to read)."""
        for browser in (self.browser, self.empty):
            side = max(24, (browser.viewport().width() - MEASURE) // 2)
            root = browser.document().rootFrame()
            fmt = root.frameFormat()
            if fmt.leftMargin() != side or fmt.rightMargin() != side:
                fmt.setLeftMargin(side)
                fmt.setRightMargin(side)
                root.setFrameFormat(fmt)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._apply_measure()

    def reset_stream(self) -> None:
        """Forget the streamed text (a new step begins)."""
        self._wanted = ""

    def set_stream(self, text: str) -> None:
        """Show the streaming section text so far (plain text, citations as [n])."""
        self._wanted = text
        if self._stream_start is not None:
            self._sync_stream()
            if self.follow:
                self._reveal_stream()

    def _sync_stream(self) -> None:
        wanted, shown = self._wanted, self._shown
        if wanted == shown:
            return
        cursor = QTextCursor(self.browser.document())
        if shown and wanted.startswith(shown):
            cursor.setPosition(self._stream_start + self._stream_len)
            cursor.insertText(wanted[len(shown) :])
        else:
            cursor.setPosition(self._stream_start)
            cursor.setPosition(
                self._stream_start + self._stream_len, QTextCursor.MoveMode.KeepAnchor
            )
            cursor.insertText(wanted or "Writing…")
        self._stream_len = cursor.position() - self._stream_start
        self._shown = wanted if wanted else None

    @property
    def streamed_text(self) -> str:
        """What the streaming region shows now ("" when there is none)."""
        if self._stream_start is None:
            return ""
        cursor = QTextCursor(self.browser.document())
        cursor.setPosition(self._stream_start)
        cursor.setPosition(self._stream_start + self._stream_len, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText().replace("\u2029", "\n")

    def _reveal_stream(self) -> None:
        cursor = QTextCursor(self.browser.document())
        cursor.setPosition(self._stream_start + self._stream_len)
        rect = self.browser.cursorRect(cursor)
        viewport = self.browser.viewport().height()
        bar = self.browser.verticalScrollBar()
        if rect.bottom() > viewport - 24:
            bar.setValue(bar.value() + rect.bottom() - viewport + 48)
        elif rect.top() < 0:
            bar.setValue(bar.value() + rect.top() - 24)

    def scroll_to_section(self, section_id: str) -> None:
        self.browser.scrollToAnchor(section_id)

    def set_embedded_note(self, shown: bool) -> None:
        """Say on the first-run page that the embedded model only demonstrates the pipeline."""
        self.empty.setHtml((EMBEDDED_NOTE if shown else "") + EMPTY_TEXT)
        self._apply_measure()

    def _on_empty_anchor(self, url: QUrl) -> None:
        link = url.toString()
        if link == SAMPLES_LINK:
            self.samplesRequested.emit()
        elif link == MODELS_LINK:
            self.modelsRequested.emit()
        elif link == SETTINGS_LINK:
            self.settingsRequested.emit()

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            try:
                self.citationClicked.emit(int(url.path()))
            except ValueError:
                log.warning("bad citation link %s", url.toString())
        elif url.scheme() in ("http", "https"):
            self.webLinkClicked.emit(url)  # the window asks first in offline mode
        elif url.scheme() == "file":
            QDesktopServices.openUrl(url)

    def plain_text(self) -> str:
        return self.browser.toPlainText()
