"""The question box grows with the question instead of hiding it behind a scroll bar."""

from __future__ import annotations

from desktop.gui.question_box import QuestionBox

LONG = (
    "How do heat pumps compare with gas boilers for heating an old, poorly insulated "
    "terraced house in a cold climate, counting installation, running costs and emissions?"
)


def test_question_box_shows_every_line_of_a_wrapped_question(qtbot):
    box = QuestionBox()
    qtbot.addWidget(box)
    box.resize(700, box.height())
    box.show()
    two_lines = box.height()
    assert box.visible_lines() == QuestionBox.MIN_LINES
    box.setPlainText(LONG)
    box.resize(380, box.height())  # the citation dock opened: the centre got narrow
    qtbot.waitUntil(lambda: box.visible_lines() > QuestionBox.MIN_LINES)
    qtbot.waitUntil(lambda: box.verticalScrollBar().maximum() == 0)
    assert box.height() > two_lines
    box.resize(900, box.height())
    qtbot.waitUntil(lambda: box.height() == two_lines)


def test_question_box_stops_growing_at_five_lines(qtbot):
    box = QuestionBox()
    qtbot.addWidget(box)
    box.resize(300, box.height())
    box.show()
    box.setPlainText(" ".join([LONG] * 6))
    qtbot.waitUntil(lambda: box.visible_lines() == QuestionBox.MAX_LINES)
    assert box.verticalScrollBar().maximum() > 0
