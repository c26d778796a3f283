"""A text browser that loads nothing from the network and follows no link by itself."""

from __future__ import annotations

import logging

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QTextBrowser, QWidget

log = logging.getLogger(__name__)

LOCAL_SCHEMES = ("", "file", "qrc", "data")


class LocalOnlyBrowser(QTextBrowser):
    """A QTextBrowser that never fetches a remote resource and never follows a link itself.

    Shown text (a report's Markdown, a web passage) may name remote images: they are refused
    and listed in `refused`. Links are reported through `anchorClicked`; the owner decides.
    Subclasses serve their own schemes by overriding `local_resource`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.refused: list[str] = []  # remote resources the text asked for (never loaded)

    def local_resource(self, url: QUrl) -> object | None:
        """A resource this browser makes itself (None: not one of its own)."""
        return None

    def loadResource(self, type: int, url: QUrl):  # noqa: A002, N802 - Qt's names
        own = self.local_resource(url)
        if own is not None:
            return own
        if url.scheme() in LOCAL_SCHEMES:
            return super().loadResource(type, url)
        self.refused.append(url.toString())
        log.info("not loading a remote resource: %s", url.host())
        return None
