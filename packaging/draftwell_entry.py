"""Entry point of the frozen app (PyInstaller): one executable for the window and the command line.

`draftwell` with no command (or with document paths, as a file manager passes them) opens the
window; `draftwell research …`, `draftwell runs …` and the other commands of `desktop.cli` run
headless. On Windows the bundle also has `draftwell-cli.exe`, a console build of this same
script, because a windowed .exe has no stdout/stderr.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

_GLOBAL_OPTIONS_WITH_VALUE = ("--data-dir",)
_GLOBAL_FLAGS = ("-v", "--verbose")
_HELP = ("-h", "--help")


def _wants_cli(argv: list[str]) -> bool:
    """True when the first word after the global options is a CLI command (or --help)."""
    from desktop.cli import build_parser

    commands: set[str] = set()
    for action in build_parser()._actions:  # the subparsers action holds the command names
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            commands.update(choices)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            i += 2
            continue
        if word.startswith("--data-dir=") or word in _GLOBAL_FLAGS:
            i += 1
            continue
        return word in commands or word in _HELP
    return False


def main() -> int:
    multiprocessing.freeze_support()
    # No telemetry from the libraries inside; hub access is switched off by desktop.cli and the
    # GUI themselves (only `models download` may reach the Hugging Face hub).
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if _wants_cli(sys.argv[1:]):
        from desktop.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from desktop.__main__ import main as gui_main

    return gui_main()


if __name__ == "__main__":
    sys.exit(main())
