"""The durable log of model downloads: entries survive the process, and a write that fails
(full disk, read-only folder) never breaks the download that made it."""

from __future__ import annotations

import time
from pathlib import Path

from desktop import network


def entry(purpose: str = "model download (a/b)") -> network.NetworkEntry:
    return network.NetworkEntry(time.time(), "huggingface.co", purpose, outcome="allowed once")


def test_kept_entries_are_appended_and_read_back(tmp_path: Path) -> None:
    log = network.DurableLog.in_data_dir(tmp_path, lambda e: e.purpose.startswith("model"))
    log(entry())
    log(entry("web search"))
    log(entry())
    with (tmp_path / network.DURABLE_LOG_FILENAME).open("a") as f:
        f.write('{"cut short')  # a crash mid-line
    read = network.read_durable_log(tmp_path)
    assert [e.purpose for e in read] == ["model download (a/b)"] * 2


def test_a_write_that_fails_is_logged_not_raised(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    log = network.DurableLog.in_data_dir(blocker, lambda e: True)
    log(entry())  # must not raise
    assert "cannot be written" in caplog.text
    assert network.read_durable_log(blocker) == []
