"""The GGUF header reader and the memory check, on the real embedded model and on written files."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.llm import gguf
from desktop.llm.gguf import GGUFError, check_memory, estimate_memory, kv_cache_bytes, read_metadata

MiB = 1024 * 1024


def test_reads_the_embedded_model(embedded_gguf: Path) -> None:
    meta = read_metadata(embedded_gguf)
    assert meta.version == 3
    assert meta.architecture == "llama"
    assert meta.context_length == 8192
    assert meta.quantization == "Q4_1"
    assert meta.has_chat_template
    assert "im_start" in (meta.chat_template or "")
    assert meta.block_count == 30
    assert meta.embedding_length == 576
    assert meta.head_count == 9
    assert meta.vocab_size == 49152
    # Exact, from the tensor shapes: SmolLM2-135M has 134,515,008 parameters.
    assert meta.parameter_count == 134_515_008
    assert meta.tensor_count == 272
    assert meta.file_size == embedded_gguf.stat().st_size
    assert "135M params" in meta.summary()


def test_reads_values_of_every_kind(tmp_path: Path, gguf_writer, tiny_kv, tiny_tensors) -> None:
    kv = tiny_kv(**{"x.float": 0.5, "x.bool": True, "x.neg": -3, "x.list": [1, 2, 3]})
    path = gguf_writer(tmp_path / "m.gguf", kv, tiny_tensors)
    meta = read_metadata(path)
    assert meta.kv["x.float"] == 0.5
    assert meta.kv["x.bool"] is True
    assert meta.kv["x.neg"] == -3
    assert meta.kv["x.list"] == (1, 2, 3)
    assert meta.kv["tokenizer.ggml.tokens"] == gguf.ArraySummary(8, 100)  # long arrays: summary
    assert meta.vocab_size == 100
    assert meta.name == "Tiny Test"
    assert meta.quantization == "Q4_K_M"
    assert meta.context_length == 4096
    assert meta.parameter_count == 64 * 100 + 64 * 64


def test_reads_version_2_and_big_endian(tmp_path: Path, gguf_writer, tiny_kv, tiny_tensors) -> None:
    v2 = read_metadata(gguf_writer(tmp_path / "v2.gguf", tiny_kv(), tiny_tensors, version=2))
    be = read_metadata(gguf_writer(tmp_path / "be.gguf", tiny_kv(), tiny_tensors, endian=">"))
    assert (v2.version, v2.architecture, v2.context_length) == (2, "llama", 4096)
    assert (be.version, be.architecture, be.context_length) == (3, "llama", 4096)
    assert be.parameter_count == v2.parameter_count


def test_without_file_type_the_dominant_tensor_type_is_the_quantization(
    tmp_path: Path, gguf_writer, tiny_kv
) -> None:
    kv = tiny_kv()
    del kv["general.file_type"]
    tensors = [("a", (256, 64), 12), ("b", (64,), 0)]
    meta = read_metadata(gguf_writer(tmp_path / "m.gguf", kv, tensors))
    assert meta.quantization == "Q4_K"


def test_chat_template_absent(tmp_path: Path, gguf_writer, tiny_kv, tiny_tensors) -> None:
    kv = tiny_kv()
    del kv["tokenizer.chat_template"]
    meta = read_metadata(gguf_writer(tmp_path / "m.gguf", kv, tiny_tensors))
    assert not meta.has_chat_template
    assert "no chat template" in meta.summary()


def _one_line(exc: pytest.ExceptionInfo[GGUFError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_rejects_a_non_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("these are not model weights\n")
    with pytest.raises(GGUFError) as exc:
        read_metadata(path)
    assert "is not a GGUF model file" in _one_line(exc)


def test_rejects_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(GGUFError) as exc:
        read_metadata(path)
    assert "is empty" in _one_line(exc)


def test_rejects_a_missing_file_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as exc:
        read_metadata(tmp_path / "nope.gguf")
    assert "no such file" in _one_line(exc)
    with pytest.raises(GGUFError) as exc:
        read_metadata(tmp_path)
    assert "is a folder" in _one_line(exc)


def test_rejects_a_file_cut_inside_its_header(tmp_path: Path, embedded_gguf: Path) -> None:
    path = tmp_path / "cut.gguf"
    with embedded_gguf.open("rb") as f:
        path.write_bytes(f.read(200_000))  # inside the vocabulary
    with pytest.raises(GGUFError) as exc:
        read_metadata(path)
    assert "is truncated" in _one_line(exc)
    assert "header" in str(exc.value)


def test_rejects_a_file_cut_inside_its_tensor_data(tmp_path: Path, embedded_gguf: Path) -> None:
    path = tmp_path / "half.gguf"
    with embedded_gguf.open("rb") as f:
        path.write_bytes(f.read(embedded_gguf.stat().st_size // 2))  # header complete, data not
    with pytest.raises(GGUFError) as exc:
        read_metadata(path)
    text = _one_line(exc)
    assert "is truncated" in text
    assert "interrupted download" in text


def test_rejects_a_written_file_missing_its_last_byte(
    tmp_path: Path, gguf_writer, tiny_kv, tiny_tensors
) -> None:
    path = gguf_writer(tmp_path / "m.gguf", tiny_kv(), tiny_tensors)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(GGUFError, match="is truncated"):
        read_metadata(path)


def test_rejects_an_unsupported_version(tmp_path: Path) -> None:
    path = tmp_path / "v1.gguf"
    path.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(GGUFError) as exc:
        read_metadata(path)
    assert "version 1" in _one_line(exc)


def test_kv_cache_formula(tmp_path: Path, gguf_writer, tiny_kv, tiny_tensors) -> None:
    meta = read_metadata(gguf_writer(tmp_path / "m.gguf", tiny_kv(), tiny_tensors))
    # 2 (K and V) * n_layers * n_ctx * n_embd_kv * 2 bytes, n_embd_kv = 64 / 4 heads * 2 kv heads
    assert kv_cache_bytes(meta, 1000) == 2 * 2 * 1000 * 32 * 2
    assert estimate_memory(meta, 1000) > meta.file_size + kv_cache_bytes(meta, 1000)


def test_embedded_model_kv_cache(embedded_gguf: Path) -> None:
    meta = read_metadata(embedded_gguf)
    # 30 layers, 3 KV heads of 64: 2 * 30 * 2048 * 192 * 2 bytes
    assert kv_cache_bytes(meta, 2048) == 2 * 30 * 2048 * 192 * 2


def test_check_memory_passes_when_it_fits(embedded_gguf: Path) -> None:
    meta = read_metadata(embedded_gguf)
    assert check_memory(meta, 2048, available=8 * 1024 * MiB) is None
    assert check_memory(meta, 2048) is None  # this machine's real MemAvailable
    assert (gguf.available_memory() or 0) > 0


def test_check_memory_suggests_a_context_that_fits(embedded_gguf: Path) -> None:
    meta = read_metadata(embedded_gguf)
    available = estimate_memory(meta, 3000)
    message = check_memory(meta, 8192, available=available)
    assert message is not None and "\n" not in message
    suggested = int(message.split("use a context of ")[1].split()[0])
    assert 2048 <= suggested < 3000
    assert estimate_memory(meta, suggested) <= available
    assert estimate_memory(meta, suggested + 256) > available
    assert check_memory(meta, suggested, available=available) is None


def test_check_memory_when_nothing_fits(embedded_gguf: Path) -> None:
    meta = read_metadata(embedded_gguf)
    message = check_memory(meta, 4096, available=50 * MiB)
    assert message is not None
    assert "choose a smaller model" in message
