"""The research question box: grows with the question, lets dropped files through to the window."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit, QWidget

EXAMPLE_QUESTION = "e.g. How do heat pumps compare with gas boilers on running costs and emissions?"


class QuestionBox(QPlainTextEdit):
    """The research question; file drags pass through to the window (they add documents).

    Signals: none beyond QPlainTextEdit's.
    """

    MIN_LINES = 2
    MAX_LINES = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("questionBox")
        self.setPlaceholderText(
            f"Ask a research question about your documents — {EXAMPLE_QUESTION}"
        )
        self.setTabChangesFocus(True)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def visible_lines(self) -> int:
        """Wrapped lines the question needs at the current width, within MIN..MAX_LINES."""
        lines = int(self.document().documentLayout().documentSize().height())
        return max(self.MIN_LINES, min(self.MAX_LINES, lines))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_height()

    def _fit_height(self, *_args) -> None:
        # Grows with the question (a narrower window wraps it onto more lines) instead of
        # hiding the rest behind a scroll bar; a very long question scrolls past MAX_LINES.
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        height = self.visible_lines() * self.fontMetrics().lineSpacing() + margins + 12
        if height != self.minimumHeight():
            self.setFixedHeight(height)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.ignore()
            return
        super().dragEnterEvent(event)

    def question(self) -> str:
        return " ".join(self.toPlainText().split())
