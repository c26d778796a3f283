"""Icons drawn with QPainter in the palette's colours, so they suit light and dark themes.

Section states (planned, searching, writing, written, locked) and edit states (pending,
applied, rejected) get small vector icons; run controls use the platform style's icons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPainterPath, QPen, QPixmap

from desktop.gui.resources import resource

log = logging.getLogger(__name__)

SIZE = 32  # drawn at 32 px; Qt scales down for 16 px rows


class SectionState(Enum):
    """What the engine is doing with a section, as the outline tree shows it."""

    PLANNED = "planned"
    SEARCHING = "searching"
    WRITING = "writing"
    WRITTEN = "written"
    LOCKED = "locked"


ACCENTS = {
    "planned": None,  # the text colour, faded
    "searching": "#d08a00",
    "writing": "#2a7de1",
    "written": "#2e9d4f",
    "locked": "#8a5cc2",
    "pending": "#d08a00",
    "applied": "#2e9d4f",
    "rejected": "#d0342c",
}

_cache: dict[tuple[str, str], QIcon] = {}


def _text_color() -> QColor:
    app = QGuiApplication.instance()
    if app is None:
        return QColor("#404040")
    return QGuiApplication.palette().windowText().color()


def _accent(name: str) -> QColor:
    value = ACCENTS.get(name)
    if value is None:
        color = _text_color()
        color.setAlphaF(0.55)
        return color
    return QColor(value)


def _pen(color: QColor, width: float = 3.0) -> QPen:
    pen = QPen(color, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _planned(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 2.5))
    p.drawEllipse(QRectF(7, 7, 18, 18))


def _searching(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 3.2))
    p.drawEllipse(QRectF(5, 5, 15, 15))
    p.drawLine(QPointF(18, 18), QPointF(27, 27))


def _writing(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(7, 25)
    path.lineTo(9, 18)
    path.lineTo(22, 5)
    path.lineTo(27, 10)
    path.lineTo(14, 23)
    path.closeSubpath()
    p.setPen(_pen(c, 2.2))
    p.setBrush(c)
    p.drawPath(path)
    p.drawLine(QPointF(5, 28), QPointF(27, 28))


def _written(p: QPainter, c: QColor) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    p.drawEllipse(QRectF(4, 4, 24, 24))
    p.setPen(_pen(QColor("white"), 3.2))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPolyline([QPointF(10, 16.5), QPointF(14.5, 21), QPointF(22, 11.5)])


def _locked(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 3.0))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawArc(QRectF(10, 4, 12, 14), 0, 180 * 16)
    p.drawLine(QPointF(10, 11), QPointF(10, 15))
    p.drawLine(QPointF(22, 11), QPointF(22, 15))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    p.drawRoundedRect(QRectF(6, 14, 20, 15), 3, 3)


def _pending(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 2.6))
    p.drawEllipse(QRectF(5, 5, 22, 22))
    p.drawPolyline([QPointF(16, 9.5), QPointF(16, 16), QPointF(21, 19)])


def _applied(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 3.6))
    p.drawPolyline([QPointF(6, 17), QPointF(13, 24), QPointF(26, 8)])


def _rejected(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(16, 4)
    path.lineTo(29, 27)
    path.lineTo(3, 27)
    path.closeSubpath()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    p.drawPath(path)
    p.setPen(_pen(QColor("white"), 3.0))
    p.drawLine(QPointF(16, 11), QPointF(16, 19))
    p.drawPoint(QPointF(16, 23.5))


_PAINTERS: dict[str, Callable[[QPainter, QColor], None]] = {
    "planned": _planned,
    "searching": _searching,
    "writing": _writing,
    "written": _written,
    "locked": _locked,
    "pending": _pending,
    "applied": _applied,
    "rejected": _rejected,
}


def icon(name: str) -> QIcon:
    """A drawn icon by name (see ACCENTS); cached per palette."""
    key = (name, _text_color().name())
    cached = _cache.get(key)
    if cached is not None:
        return cached
    pixmap = QPixmap(SIZE, SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _PAINTERS[name](painter, _accent(name))
    painter.end()
    result = QIcon(pixmap)
    _cache[key] = result
    return result


def app_icon() -> QIcon:
    """The application icon (resources/icons/draftwell.svg), or an empty icon when missing."""
    path = resource("icons", "draftwell.svg")
    if not path.exists():
        log.warning("application icon missing: %s", path)
        return QIcon()
    return QIcon(str(path))


def clear_cache() -> None:
    """Forget drawn icons (the palette changed)."""
    _cache.clear()
