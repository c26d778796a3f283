"""First run: the empty window explains the steps and offers the bundled sample documents."""

from __future__ import annotations

from PySide6.QtCore import QUrl

from desktop.gui.draft import EMPTY_TEXT, SAMPLES_LINK
from desktop.gui.main_window import SAMPLE_QUESTION
from desktop.gui.resources import resource

WAIT = 10_000


def test_empty_page_names_every_step():
    for step in ("Drop documents", "Ask", "Watch", "Steer", "Export"):
        assert f"<b>{step}</b>" in EMPTY_TEXT


def test_sample_offer_indexes_the_samples_and_suggests_a_question(make_window, qtbot):
    window = make_window()
    samples = sorted(str(p) for p in resource("samples").glob("*.pdf"))
    assert len(samples) == 3
    assert window.draft.stack.currentWidget() is window.draft.empty
    window.draft.empty.anchorClicked.emit(QUrl(SAMPLES_LINK))
    panel = window.library_panel
    qtbot.waitUntil(lambda: sorted(panel.checked_sources()) == samples, timeout=WAIT)
    assert window.question_box.question() == SAMPLE_QUESTION
    qtbot.waitUntil(window.menu_actions.start.isEnabled, timeout=WAIT)


def test_sample_offer_keeps_a_question_already_typed(make_window, qtbot):
    window = make_window()
    window.question_box.setPlainText("My own question?")
    window.library_panel.samplesRequested.emit()
    qtbot.waitUntil(lambda: len(window.library_panel.checked_sources()) == 3, timeout=WAIT)
    assert window.question_box.question() == "My own question?"


def test_web_links_in_the_report_ask_first_in_offline_mode(make_window, monkeypatch):
    from desktop import network
    from desktop.gui import citation

    opened: list[str] = []
    monkeypatch.setattr(
        citation.QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True
    )
    window = make_window()
    assert network.is_offline()  # a fresh install is offline
    window.prompts.confirms[:] = [False, True]
    link = QUrl("https://example.org/study")
    window.draft.browser.anchorClicked.emit(link)
    assert opened == [] and window.prompts.asked[-1] == "Open in browser"
    window.draft.browser.anchorClicked.emit(link)
    assert opened == ["https://example.org/study"]


def test_the_idle_window_warms_up_llama_cpp_off_the_gui_thread(make_window, qtbot):
    import sys

    window = make_window()
    qtbot.waitUntil(lambda: window.warmed_up, timeout=30_000)
    assert "llama_cpp" in sys.modules and window.library.warmed_up
