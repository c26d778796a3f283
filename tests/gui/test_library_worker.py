"""The library worker's busy work: busy raised and lowered, Stop honoured, failures one line."""

from __future__ import annotations

from pathlib import Path

from desktop.core.cancel import Cancelled
from desktop.gui.library import LibraryWorker
from desktop.settings import Settings


class _Library:
    """Records calls; `add` and `reindex` do what the test sets."""

    def __init__(self, add=None, reindex=None) -> None:
        self._add, self._reindex = add, reindex
        self.calls: list[str] = []

    def add(self, paths, progress=None, cancel=None):
        self.calls.append(f"add {len(paths)}")
        if self._add:
            raise self._add

    def reindex(self, progress=None, cancel=None):
        self.calls.append("reindex")
        if self._reindex:
            raise self._reindex

    def list(self):
        self.calls.append("list")
        return []

    def close(self) -> None:
        pass


def _worker(library: _Library, tmp_path: Path):
    worker = LibraryWorker(lambda _data, _settings: library)
    seen: dict[str, list] = {"failed": [], "busy": []}
    worker.failed.connect(seen["failed"].append)
    worker.busyChanged.connect(seen["busy"].append)
    worker.open(tmp_path, Settings())
    library.calls.clear()
    return worker, seen


def test_a_failed_indexing_is_one_message_and_the_list_is_read_again(qtbot, tmp_path) -> None:
    library = _Library(add=OSError("No space left on device"))
    worker, seen = _worker(library, tmp_path)
    worker.add(["/a.pdf", "/b.pdf"])
    assert seen["failed"] == ["Indexing failed: No space left on device"]
    assert seen["busy"] == [True, False] and library.calls == ["add 2", "list"]


def test_a_stopped_reindex_is_not_a_failure_and_a_broken_one_is(qtbot, tmp_path) -> None:
    worker, seen = _worker(_Library(reindex=Cancelled()), tmp_path)
    worker.reindex()
    assert seen == {"failed": [], "busy": [True, False]}
    worker, seen = _worker(_Library(reindex=RuntimeError("model gone")), tmp_path)
    worker.reindex()
    assert seen["failed"] == ["Re-indexing failed: model gone"]
