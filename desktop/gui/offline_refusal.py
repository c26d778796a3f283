"""The line a download dialog shows when Offline mode refuses it, with "Allow This Download".

The models page and the embedding-model download both show it the same way: the refusal in
red, and the one-time allowance beside it unless DRAFTWELL_OFFLINE=1 forces offline mode
(then nothing can allow it).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

WARNING_STYLE = "color: #b00020;"


class OfflineRefusal:
    """A label and an Allow button in one row (`row`), hidden until `show_message`."""

    def __init__(
        self, label_name: str, tooltip: str, on_allow: Callable[[], None], button_name: str = ""
    ) -> None:
        self.label = QLabel()
        self.label.setObjectName(label_name)
        self.label.setWordWrap(True)
        self.label.setStyleSheet(WARNING_STYLE)
        self.button = QPushButton("Allow This Download")
        if button_name:
            self.button.setObjectName(button_name)
        self.button.setToolTip(tooltip)
        self.button.clicked.connect(on_allow)
        self.row = QHBoxLayout()
        self.row.addWidget(self.label, 1)
        self.row.addWidget(self.button)
        self.hide()

    def show_message(self, message: str) -> None:
        self.label.setText(message[:1].upper() + message[1:])
        self.label.show()
        self.button.setVisible("DRAFTWELL_OFFLINE" not in message)

    def hide(self) -> None:
        self.label.hide()
        self.button.hide()
