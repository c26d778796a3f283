"""The memory check before llama.cpp loads a model: a context that fits, or one clear line.

Fake numbers go in through `available=` and by monkeypatching `gguf.available_memory`; one test
really loads the embedded model with an explicit n_ctx, KV cache type and flash attention.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat import BackendError
from desktop.llm import gguf
from desktop.llm.llamacpp import (
    DEFAULT_MAX_CONTEXT,
    MIN_CONTEXT,
    LlamaCppBackend,
    choose_context,
    kv_cache_types,
)
from desktop.session import ModelChoice, open_backend
from desktop.settings import Settings

MiB = 1024 * 1024


def test_the_ggufs_own_context_is_used_when_it_fits(tiny_gguf: Path) -> None:
    assert choose_context(tiny_gguf, None, available=64 * 1024 * MiB) == 4096


def test_a_long_trained_context_is_capped_for_a_laptop(
    gguf_writer, tiny_kv, tiny_tensors, tmp_path: Path
) -> None:
    path = gguf_writer(
        tmp_path / "long.gguf", tiny_kv(**{"llama.context_length": 131072}), tiny_tensors
    )
    assert choose_context(path, None, available=64 * 1024 * MiB) == DEFAULT_MAX_CONTEXT
    assert choose_context(path, 32768, available=64 * 1024 * MiB) == 32768  # settings win


def test_the_largest_fitting_context_is_chosen_and_logged(
    embedded_gguf: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meta = gguf.read_metadata(embedded_gguf)
    available = gguf.estimate_memory(meta, 5000)
    with caplog.at_level("WARNING", logger="desktop.llm.llamacpp"):
        n_ctx = choose_context(embedded_gguf, None, available=available)
    assert MIN_CONTEXT <= n_ctx < meta.context_length
    assert n_ctx % 256 == 0
    assert gguf.estimate_memory(meta, n_ctx) <= available < gguf.estimate_memory(meta, n_ctx + 256)
    assert f"using n_ctx={n_ctx}" in caplog.text


def test_too_little_memory_is_one_clear_line_before_llama_cpp_loads(
    embedded_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp

    def never(*args, **kwargs):
        raise AssertionError("llama.cpp must not be asked to load the model")

    monkeypatch.setattr(gguf, "available_memory", lambda: 200 * MiB)
    monkeypatch.setattr(llama_cpp, "Llama", never)
    with pytest.raises(BackendError) as info:
        LlamaCppBackend(embedded_gguf)
    message = str(info.value)
    assert "\n" not in message
    needed = gguf.estimate_memory(gguf.read_metadata(embedded_gguf), MIN_CONTEXT)
    assert f"needs {needed / 1024**3:.2f} GB" in message and "0.20 GB available" in message
    assert "choose a smaller model or context" in message


def test_a_quantized_kv_cache_and_flash_attention_make_more_context_fit(
    embedded_gguf: Path,
) -> None:
    meta = gguf.read_metadata(embedded_gguf)
    available = gguf.estimate_memory(meta, 4096)
    plain = choose_context(embedded_gguf, 8192, available=available)
    small = choose_context(
        embedded_gguf, 8192, available=available, kv_bytes=34 / 32, flash_attn=True
    )
    assert plain < small <= 8192


def test_kv_cache_type_names_map_to_ggml_types() -> None:
    import llama_cpp

    assert kv_cache_types(None, False) == (None, None)
    assert kv_cache_types("f16", False) == (llama_cpp.GGML_TYPE_F16, llama_cpp.GGML_TYPE_F16)
    assert kv_cache_types("q8_0", True) == (llama_cpp.GGML_TYPE_Q8_0, llama_cpp.GGML_TYPE_Q8_0)
    assert kv_cache_types("Q4_0", True) == (llama_cpp.GGML_TYPE_Q4_0, llama_cpp.GGML_TYPE_Q4_0)
    # Without flash attention llama.cpp cannot quantize V: K only.
    assert kv_cache_types("q8_0", False) == (llama_cpp.GGML_TYPE_Q8_0, None)
    with pytest.raises(BackendError, match="unknown KV cache type"):
        kv_cache_types("q3_k", True)


def test_settings_reach_a_real_load(embedded_gguf: Path, tmp_path: Path) -> None:
    settings = Settings.of(
        n_ctx=1024, n_threads=1, flash_attn=True, kv_cache_type="q8_0", reuse_moved_text=True
    )
    backend = open_backend(ModelChoice(path=embedded_gguf), settings.runtime, tmp_path)
    try:
        assert isinstance(backend, LlamaCppBackend)
        assert backend.context_length == 1024
        assert backend.count_tokens("hello world") > 0
        assert backend.moves_text
    finally:
        backend.close()


def test_layers_on_a_discrete_gpu_leave_system_ram(embedded_gguf: Path) -> None:
    meta = gguf.read_metadata(embedded_gguf)
    layers = meta.block_count
    assert gguf.offloaded_share(meta, -1, discrete_gpu=True) == 1.0
    assert gguf.offloaded_share(meta, layers // 2, discrete_gpu=True) == (layers // 2) / layers
    assert gguf.offloaded_share(meta, -1, discrete_gpu=False) == 0.0  # CPU build, or Metal
    assert gguf.offloaded_share(meta, 0, discrete_gpu=True) == 0.0
    available = gguf.estimate_memory(meta, 4096)
    on_cpu = choose_context(embedded_gguf, 8192, available=available, discrete_gpu=False)
    on_gpu = choose_context(
        embedded_gguf, 8192, available=available, n_gpu_layers=-1, discrete_gpu=True
    )
    assert on_cpu < 8192 and on_gpu == 8192
