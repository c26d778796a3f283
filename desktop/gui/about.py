"""The About box: version, licence, and the licences of the bundled models."""

from __future__ import annotations

import html
import logging

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.gui import icons

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("draftwell")
    except Exception:
        return "development"


class AboutDialog(QDialog):
    """Shows what Draftwell is and the bundled models' licences (resources/licenses).

    Signals: none beyond QDialog's.
    """

    def __init__(self, models_readme: str, apache_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Draftwell")
        self.resize(640, 520)
        header = QLabel(
            f"<h2>Draftwell {html.escape(_version())}</h2>"
            "<p>Private, local deep research: your documents in, a long cited report out. "
            "Everything runs on this computer.</p>"
            "<p>Draftwell is free software under the GNU AGPL, version 3 or later.</p>"
        )
        header.setWordWrap(True)
        pixmap = icons.app_icon().pixmap(64, 64)
        logo = QLabel()
        logo.setPixmap(pixmap)
        tabs = QTabWidget()
        models = QTextBrowser()
        models.setOpenExternalLinks(True)
        models.setMarkdown(models_readme or "The licence list is missing from this installation.")
        tabs.addTab(models, "Bundled models")
        apache = QTextBrowser()
        apache.setPlainText(apache_text or "The Apache-2.0 text is missing from this installation.")
        tabs.addTab(apache, "Apache License 2.0")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(logo)
        layout.addWidget(header)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
