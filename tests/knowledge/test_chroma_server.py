"""Scale-out: the same library code against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.knowledge.embedder import Embedder
from desktop.knowledge.index import VectorStoreError
from desktop.knowledge.library import Library

from .knowledge_docs import FILLER, make_pdf

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "chroma run exited"
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("chroma server did not come up")


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    server = subprocess.Popen(
        [
            str(CHROMA if CHROMA.exists() else "chroma"),
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_ingest_and_retrieve_through_a_chroma_server(
    tmp_path: Path, embedder: Embedder, chroma_url: str
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "survey.pdf", [FILLER, FILLER + "The tallest dune stands 380 metres high."])
    (docs / "notes.md").write_text("# Camels\n\nCamels store fat, not water, in their humps.\n")

    library = Library(tmp_path / "data", embedder=embedder, chroma_url=chroma_url)
    statuses = library.add([docs])
    assert [s.status for s in statuses] == ["indexed", "indexed"]
    assert not (tmp_path / "data" / "library" / "chroma").exists()  # vectors live on the server

    hit = library.retriever().search("how high is the tallest dune", 1)[0]
    assert hit.source == str(docs / "survey.pdf") and hit.page == 2
    camel = library.retriever([docs / "notes.md"]).search("dune height", 3)
    assert {p.locator for p in camel} == {"Camels"}
    assert library.verify() == []

    library.remove([docs / "survey.pdf"])
    assert library.verify() == []
    library.close()

    reopened = Library(tmp_path / "data", embedder=embedder, chroma_url=chroma_url)
    assert "humps" in reopened.retriever().search("camel humps", 1)[0].text
    reopened.close()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Anything at all.")
    library = Library(
        tmp_path / "data", embedder=embedder, chroma_url=f"http://127.0.0.1:{_free_port()}"
    )
    with pytest.raises(VectorStoreError, match="cannot reach the Chroma server"):
        library.add([docs])
    library.close()
