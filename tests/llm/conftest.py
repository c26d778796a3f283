"""Fixtures for the llm tests: a GGUF writer, a real llama-cpp-python server, a scriptable HTTP stub."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from desktop.core.cancel import CancelToken

# --- a minimal GGUF writer (the inverse of desktop.llm.gguf) ------------------------------------

_TYPE_CODES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7}
_TYPE_CODES |= {"str": 8, "arr": 9, "u64": 10, "i64": 11, "f64": 12}
_FORMATS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
# ggml type → (elements per block, bytes per block); enough for the writer's tensors.
_GGML_SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 12: (256, 144)}


def _auto_type(value: Any) -> int:
    if isinstance(value, bool):
        return 7
    if isinstance(value, int):
        return 4 if 0 <= value < 2**32 else 11
    if isinstance(value, float):
        return 6
    if isinstance(value, str):
        return 8
    if isinstance(value, list | tuple):
        return 9
    raise TypeError(value)


def write_gguf(
    path: Path,
    kv: dict[str, Any],
    tensors: list[tuple[str, tuple[int, ...], int]] = (),  # type: ignore[assignment]
    *,
    version: int = 3,
    endian: str = "<",
    alignment: int = 32,
) -> Path:
    """Write a valid GGUF file: header, key/value pairs, tensor infos, aligned zero-filled data."""
    out = bytearray(b"GGUF")

    def pack(fmt: str, *values: Any) -> None:
        out.extend(struct.pack(endian + fmt, *values))

    def string(s: str) -> None:
        data = s.encode("utf-8")
        pack("Q", len(data))
        out.extend(data)

    def value(v: Any, code: int) -> None:
        if code == 8:
            string(v)
        elif code == 9:
            item = _auto_type(v[0]) if v else 4
            pack("I", item)
            pack("Q", len(v))
            for x in v:
                value(x, item)
        else:
            pack(_FORMATS[code], v)

    pack("I", version)
    pack("Q", len(tensors))
    pack("Q", len(kv))
    for key, v in kv.items():
        code = _auto_type(v)
        string(key)
        pack("I", code)
        value(v, code)
    offset = 0
    sizes = []
    for name, shape, ggml_type in tensors:
        string(name)
        pack("I", len(shape))
        for d in shape:
            pack("Q", d)
        pack("I", ggml_type)
        pack("Q", offset)
        n = 1
        for d in shape:
            n *= d
        block, size = _GGML_SIZES[ggml_type]
        nbytes = n // block * size
        sizes.append(nbytes)
        offset += -(-nbytes // alignment) * alignment
    if tensors:
        pad = -len(out) % alignment
        out.extend(b"\0" * pad)
        out.extend(b"\0" * offset)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def gguf_writer() -> Callable[..., Path]:
    return write_gguf


def tiny_llama_kv(**extra: Any) -> dict[str, Any]:
    kv: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "Tiny Test",
        "general.file_type": 15,
        "llama.block_count": 2,
        "llama.context_length": 4096,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(100)],
        "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    }
    kv.update(extra)
    return kv


TINY_TENSORS = [("token_embd.weight", (64, 100), 0), ("blk.0.attn_q.weight", (64, 64), 1)]


@pytest.fixture
def tiny_kv() -> Callable[..., dict[str, Any]]:
    return tiny_llama_kv


@pytest.fixture
def tiny_tensors() -> list[tuple[str, tuple[int, ...], int]]:
    return list(TINY_TENSORS)


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Path:
    """A small valid llama-architecture GGUF (6,400 + 4,096 parameters)."""
    return write_gguf(tmp_path / "tiny.gguf", tiny_llama_kv(), TINY_TENSORS)


# --- the embedded model and a real OpenAI-compatible server -------------------------------------


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    from desktop.llm.models import embedded_model_path

    return embedded_model_path()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVER_DEPS = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


@pytest.fixture(scope="session")
def llama_server(embedded_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the embedded model on 127.0.0.1; yields its base URL."""
    missing = [m for m in _SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(
            "llama_cpp.server needs its extras; pip install uvicorn fastapi sse-starlette "
            f"starlette-context pydantic-settings (missing: {', '.join(missing)})"
        )
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "tests.llm.run_llama_server",  # llama_cpp.server, AMX-safe
        "--model",
        str(embedded_gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        # One thread: llama.cpp's threads spin while waiting, so on a shared 2-core machine a
        # second one makes every token slower, not faster.
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            _wait_until_up(proc, port, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail("llama_cpp.server did not start within 90 s")


# --- a scriptable HTTP stub ---------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stub:
    """A loopback HTTP server; `handle(req, h)` answers each request, `requests` records them all."""

    url: str
    handle: Callable[[Recorded, http.server.BaseHTTPRequestHandler], None]
    requests: list[Recorded] = field(default_factory=list)

    def posts(self, suffix: str = "/chat/completions") -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]


@pytest.fixture
def stub() -> Iterator[Callable[[Callable[..., None]], Stub]]:
    """Start stubs on demand: `stub(handler)` → Stub with `.url` (ending in /v1)."""
    servers: list[http.server.ThreadingHTTPServer] = []
    threads: list[threading.Thread] = []

    def start(handle: Callable[..., None]) -> Stub:
        state: dict[str, Stub] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, dict(self.headers), body)
                state["stub"].requests.append(rec)
                # The client may go away on purpose (cancel tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    state["stub"].handle(rec, self)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        port = server.server_address[1]
        stub_obj = Stub(url=f"http://127.0.0.1:{port}/v1", handle=handle)
        state["stub"] = stub_obj
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        servers.append(server)
        threads.append(thread)
        return stub_obj

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    return free_port()


class RecordedWaits:
    """A backend's `wait` that records each retry delay instead of sleeping it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float, cancel: CancelToken | None) -> bool:
        self.delays.append(seconds)
        return cancel is not None and cancel.is_set


@pytest.fixture
def waits() -> RecordedWaits:
    return RecordedWaits()
