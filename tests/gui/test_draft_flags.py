"""Flagged sentences in the draft: tint, icon, tooltip, summary, stepping, cited-page clicks."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QPalette, QTextCursor
from PySide6.QtWidgets import QApplication

from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline
from desktop.core.report import build_report
from desktop.core.support import with_claims
from desktop.core.verify import SectionVerifier
from desktop.gui.draft import FLAG_COLORS, DraftView, flag_icon, flag_tints

FLAGGED = "Heat pumps need a gas chimney and burn 40 litres of oil a day"
SUPPORTED = "Heat pumps move heat from the outside air into the house"


def checked_report():
    registry, _ = EvidenceRegistry().with_passages(
        [
            Passage("Heat pumps move heat from the outside air into the house.", "/d/hp.pdf", 2),
            Passage("Heat pumps need no chimney and burn no fuel.", "/d/hp.pdf", 5),
        ]
    )
    text = (
        f"{SUPPORTED} \\cite{{textid1}}. {FLAGGED} \\cite{{textid2}}.\n\n"
        "- A **list item** that restates nothing from its source at all \\cite{textid1}."
    )
    outline = Outline.initial("Heating", [("Pumps", "p")]).with_content("s1", text)
    report = build_report(
        outline,
        registry,
        question="Q?",
        created="2025-01-01",
        model="m",
        finished=True,
        language="en",
    )
    check = SectionVerifier().check_section(text, registry.by_key, section_id="s1")
    return with_claims(report, [check], registry)


def position_of(view: DraftView, text: str) -> QTextCursor:
    found = view.browser.document().find(text)
    assert not found.isNull(), text
    return found


def test_a_flagged_sentence_is_tinted_iconed_and_explained(qtbot):
    report = checked_report()
    assert [c.verdict for c in report.claims] == ["supported", "unsupported", "unsupported"]
    view = DraftView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show_report(report)
    flagged = position_of(view, "burn 40 litres")
    fmt = flagged.charFormat()
    tints = flag_tints(view.browser.palette().color(QPalette.ColorRole.Base))
    assert fmt.background().color().name() == tints["unsupported"]
    tip = fmt.toolTip()
    assert "Unsupported" in tip and "number 40 not in the cited passage" in tip
    assert "hp.pdf, p. 5" in tip and "need no chimney" in tip  # the cited passage
    plain = position_of(view, "move heat from the outside").charFormat()
    assert plain.toolTip() == "" and plain.background().style() == Qt.BrushStyle.NoBrush
    # the icon is an image in the text, right before the sentence
    html = view.browser.toHtml()
    assert html.count("draftwell-flag:unsupported") == 2
    assert view.check_summary.text() == "Citation check: 3 claims · 33% supported · 2 unsupported"


def test_stepping_through_flags_and_clicking_a_citation_inside_one(qtbot):
    view = DraftView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show_report(checked_report())
    assert view.flag_position.text() == "2 flagged"
    view.next_flag()
    assert view.flag_index == 0 and view.flag_position.text() == "flag 1 of 2"
    view.next_flag()
    view.next_flag()  # wraps around
    assert view.flag_index == 0
    view.previous_flag()
    assert view.flag_index == 1
    # the citation inside the flagged sentence is still a link to its cited page
    block = position_of(view, "litres of oil a day").block()
    links = []
    fragments = block.begin()
    while not fragments.atEnd():
        fragment = fragments.fragment()
        fmt = fragment.charFormat()
        if fmt.anchorHref():
            links.append((fragment.text(), fmt.anchorHref(), "Unsupported" in fmt.toolTip()))
        fragments += 1
    assert ("2", "cite:2", True) in links  # inside the flagged (tooltipped) span
    with qtbot.waitSignal(view.citationClicked) as clicked:
        view.browser.anchorClicked.emit(QUrl("cite:2"))
    assert clicked.args == [2]


def test_no_bar_without_checks(qtbot):
    view = DraftView()
    qtbot.addWidget(view)
    view.show_report(replace(checked_report(), claims=()))
    assert view.check_bar.isHidden()


def test_tints_keep_contrast_in_light_and_dark_palettes():
    for base, text in (
        (QColor("#ffffff"), QColor("#000000")),
        (QColor("#1e1e1e"), QColor("#f0f0f0")),
    ):
        for tint in flag_tints(base).values():
            assert _contrast(QColor(tint), text) >= 4.5  # WCAG AA for body text


def test_icons_differ_in_shape_not_only_colour(qtbot):
    QApplication.instance()
    images = {v: flag_icon(v) for v in FLAG_COLORS}
    grey = {v: image.convertToFormat(image.Format.Format_Grayscale8) for v, image in images.items()}
    silhouettes = {v: bytes(g.constBits()) for v, g in grey.items()}
    assert len(set(silhouettes.values())) == 3


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.red())
        + 0.7152 * channel(color.green())
        + 0.0722 * channel(color.blue())
    )


def _contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_window_marks_sentences_of_a_checked_section(make_window, qtbot):
    """A SectionChecked event from the engine reaches the draft and the report to export."""
    from desktop.core.events import SectionChecked

    report = checked_report()
    window = make_window()
    registry, _ = EvidenceRegistry().with_passages(
        [
            Passage("Heat pumps move heat from the outside air into the house.", "/d/hp.pdf", 2),
            Passage("Heat pumps need no chimney and burn no fuel.", "/d/hp.pdf", 5),
        ]
    )
    text = f"{SUPPORTED} \\cite{{textid1}}. {FLAGGED} \\cite{{textid2}}."
    outline = Outline.initial("Heating", [("Pumps", "p")]).with_content("s1", text)
    window.view = replace(window.view, outline=outline, registry=registry, question="Q?")
    check = SectionVerifier().check_section(text, registry.by_key, section_id="s1")
    window._on_event(SectionChecked("s1", "section-1", check, False))
    qtbot.waitUntil(lambda: bool(window.report and window.report.claims), timeout=5000)
    assert [c.verdict for c in window.report.claims] == ["supported", "unsupported"]
    qtbot.waitUntil(lambda: window.draft.check_bar.isVisible(), timeout=5000)
    assert "1 unsupported" in window.draft.check_summary.text()
    assert window.draft.renderer.flag_count == 1
    assert len(report.claims) == 3  # the module's own report is unaffected
