"""What the models page says about this machine: ggml backends, RAM, and how to switch builds."""

from __future__ import annotations

from desktop.llm.gguf import GiB
from desktop.llm.hardware import LlamaBuild, Machine, llama_build, parse_backends, total_memory

CPU_INFO = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
CUDA_INFO = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | " + CPU_INFO


def test_backends_are_read_from_the_system_info() -> None:
    assert parse_backends(CPU_INFO) == ("CPU",)
    assert parse_backends(CUDA_INFO) == ("CUDA", "CPU")


def test_the_installed_build_is_described() -> None:
    build = llama_build()
    assert "CPU" in build.backends
    assert build.describe().startswith("llama-cpp-python")
    assert ("GPU build" in build.describe()) == build.gpu_offload


def test_a_cpu_build_with_a_gpu_present_says_how_to_switch() -> None:
    cpu = LlamaBuild(False, ("CPU",), "0.3.36")
    nvidia = Machine(32 * GiB, "NVIDIA GeForce RTX 4070", 12 * GiB, cpu)
    assert "make setup GPU=cuda" in (nvidia.switch_advice() or "")
    mac = Machine(16 * GiB, "Apple Metal", None, cpu)
    assert "make setup GPU=metal" in (mac.switch_advice() or "")
    assert Machine(16 * GiB, None, None, cpu).switch_advice() is None
    gpu = LlamaBuild(True, ("CUDA", "CPU"), "0.3.36")
    assert Machine(32 * GiB, "NVIDIA GeForce RTX 4070", 12 * GiB, gpu).switch_advice() is None
    assert "12.0 GiB" in Machine(32 * GiB, "NVIDIA X", 12 * GiB, gpu).describe()


def test_a_packaged_app_says_where_a_gpu_build_comes_from(monkeypatch) -> None:
    cpu = LlamaBuild(False, ("CPU",), "0.3.36")
    nvidia = Machine(32 * GiB, "NVIDIA GeForce RTX 4070", 12 * GiB, cpu)
    source = nvidia.switch_advice(packaged=False) or ""
    assert "in the Draftwell source folder" in source and "CUDA toolkit" in source
    monkeypatch.setattr("sys.frozen", True, raising=False)  # what PyInstaller sets
    bundled = nvidia.switch_advice() or ""
    assert "packaged app cannot be rebuilt" in bundled and "source folder" not in bundled
    assert "clone it and run `make setup GPU=cuda`" in bundled and "make bundle" in bundled


def test_total_memory_is_known_here() -> None:
    ram = total_memory()
    assert ram is not None and ram > 512 * 1024**2
