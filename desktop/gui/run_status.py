"""The status bar's permanent labels: network mode, run state, model, step, elapsed, time left, speed.

`RunStatusBar` only renders what the presenter decided (`presenter.StatusLine`,
`presenter.network_text`); the model label is a button that opens the models page.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton

from desktop.gui.presenter import StatusLine

ETA_TIP = (
    "Time to finish, from this run's measured speeds and the sections, extensions and "
    "steps left; the range covers how many extensions the model may still make"
)


class RunStatusBar:
    """Adds the labels to a window's QStatusBar and renders them (no signals of its own)."""

    def __init__(self, status: QStatusBar, on_model_clicked: Callable[[], None]) -> None:
        self.network_label = QLabel()
        self.network_label.setObjectName("networkLabel")
        self.state_label = QLabel()
        self.model_label = QToolButton()  # a click opens the models page
        self.model_label.setObjectName("modelLabel")
        self.model_label.setAutoRaise(True)
        self.model_label.clicked.connect(on_model_clicked)
        self.step_label = QLabel()
        self.elapsed_label = QLabel()
        self.eta_label = QLabel()
        self.eta_label.setObjectName("etaLabel")
        self.eta_label.setToolTip(ETA_TIP)
        self.speed_label = QLabel()
        for label in (
            self.network_label,
            self.state_label,
            self.model_label,
            self.step_label,
            self.elapsed_label,
            self.eta_label,
            self.speed_label,
        ):
            label.setContentsMargins(6, 0, 6, 0)
            status.addPermanentWidget(label)

    def show_line(self, line: StatusLine) -> None:
        self.state_label.setText(line.state)
        self.model_label.setText(line.model)
        self.model_label.setToolTip(line.model_tip)
        self.step_label.setText(line.step)
        self.speed_label.setText(line.speed)
        self.eta_label.setText(line.eta)

    def show_elapsed(self, text: str) -> None:
        self.elapsed_label.setText(text)

    def show_network(self, text: str, tip: str) -> None:
        self.network_label.setText(text)
        self.network_label.setToolTip(tip)
