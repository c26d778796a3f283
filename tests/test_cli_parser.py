"""The CLI's shared options: --data-dir and -v work before and after any subcommand."""

from __future__ import annotations

import pytest

from desktop.cli import build_parser

COMMANDS = [
    ["research", "q"],
    ["runs"],
    ["resume", "run-1"],
    ["export", "run-1", "--format", "pdf", "--out", "r.pdf"],
    ["library", "add", "a.pdf"],
    ["library", "list"],
    ["models", "list"],
    ["models", "use", "embedded"],
    ["models", "download", "owner/Repo-GGUF", "--no-activate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_the_data_dir_given_before_the_subcommand_is_kept(command) -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", "/d/before", "-v", *command])
    assert (before.data_dir, before.verbose) == ("/d/before", True)
    after = parser.parse_args([*command, "--data-dir", "/d/after"])
    assert (after.data_dir, after.verbose) == ("/d/after", False)
    neither = parser.parse_args(command)
    assert (neither.data_dir, neither.verbose) == (None, False)
