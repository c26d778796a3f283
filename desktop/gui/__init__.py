"""The desktop window (PySide6): the only package that imports Qt.

`desktop.gui.app.run_gui` opens the main window. Everything slow (the model, the index, PDF
rendering, the run journals) runs on worker threads; the GUI thread only draws.

Importing this package guards against a PySide6 reference-count bug on CPython < 3.12
(see desktop/gui/compat.py) before any Qt call is made.
"""

from desktop.gui.compat import protect_none

protect_none()
