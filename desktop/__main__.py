"""`python -m desktop` and a bare `draftwell`: open the GUI (headless commands live in cli)."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from desktop.gui.app import run_gui
    except ImportError as exc:
        print(
            f"draftwell: the desktop window is not available ({exc}); "
            "use `draftwell research --help` for the command line",
            file=sys.stderr,
        )
        return 1
    return run_gui(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
