"""What this machine offers a model: RAM, a GPU (nvidia-smi, Apple Metal) and which llama.cpp
build is installed (CPU only, or with GPU offload and which ggml backends), plus the one line
that tells a user on a CPU build with a GPU how to switch (`make setup GPU=...`).

Probing imports llama_cpp (loads its native library) and may run nvidia-smi: call it on a worker.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from desktop.llm.gguf import KiB, MiB, format_bytes

log = logging.getLogger(__name__)

_BACKEND_RE = re.compile(r"(?:^|\|)\s*([A-Za-z][\w-]*) : ")


@dataclass(frozen=True, slots=True)
class LlamaBuild:
    """The installed llama-cpp-python: whether it offloads to a GPU, and its ggml backends."""

    gpu_offload: bool
    backends: tuple[str, ...]  # e.g. ("CUDA", "CPU"); () when llama_cpp cannot be imported
    version: str = ""

    def describe(self) -> str:
        if not self.backends:
            return "llama.cpp is not installed"
        kind = "GPU build" if self.gpu_offload else "CPU-only build"
        version = f" {self.version}" if self.version else ""
        return f"llama-cpp-python{version}, {kind} (backends: {', '.join(self.backends)})"


@dataclass(frozen=True, slots=True)
class Machine:
    ram_total: int | None
    gpu_name: str | None  # an NVIDIA GPU's name, "Apple Metal", or None
    vram_total: int | None  # a discrete GPU's memory; None for Metal (shared) or no GPU
    build: LlamaBuild

    @property
    def gpu_kind(self) -> str | None:
        """The `make setup GPU=` value for the GPU found, or None."""
        if self.gpu_name is None:
            return None
        return "metal" if self.gpu_name == "Apple Metal" else "cuda"

    def describe(self) -> str:
        ram = format_bytes(self.ram_total) if self.ram_total else "unknown"
        gpu = self.gpu_name or "no GPU found"
        if self.vram_total:
            gpu += f" ({format_bytes(self.vram_total)})"
        return f"{ram} of RAM; {gpu}; {self.build.describe()}"

    def switch_advice(self, *, packaged: bool | None = None) -> str | None:
        """How to get a GPU build, when a GPU is present but the build runs on the CPU only.

        `packaged` (default: whether this is a frozen app bundle): a bundle cannot rebuild its
        llama.cpp, so the advice says where a GPU build comes from instead."""
        kind = self.gpu_kind
        if kind is None or self.build.gpu_offload:
            return None
        found = f"{self.gpu_name} was found but this llama.cpp build runs on the CPU only."
        needs = _BUILD_NEEDS[kind]
        if packaged if packaged is not None else bool(getattr(sys, "frozen", False)):
            return (
                f"{found} This packaged app cannot be rebuilt for the GPU. A GPU build comes from "
                f"the Draftwell source: clone it and run `make setup GPU={kind}` there (it needs "
                f"{needs}), then `make run`, or `make bundle` for an app with that build."
            )
        return (
            f"{found} Rebuild it for the GPU with `make setup GPU={kind}` in the Draftwell source "
            f"folder (it needs {needs}; about 15 minutes) and restart Draftwell."
        )


_BUILD_NEEDS = {"cuda": "the CUDA toolkit", "metal": "the Xcode command-line tools"}


def total_memory() -> int | None:
    """Bytes of physical RAM (MemTotal, else psutil, else sysconf), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional; only needed off Linux
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().total)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def parse_backends(system_info: str) -> tuple[str, ...]:
    """The ggml backend names in llama.cpp's system info (``CUDA : ARCHS = … | CPU : …``)."""
    names = []
    for name in _BACKEND_RE.findall(system_info):
        if name not in names:
            names.append(name)
    return tuple(names)


@functools.cache
def llama_build() -> LlamaBuild:
    try:
        import llama_cpp  # lazily: loads the native library
    except Exception as exc:  # ImportError, or OSError from a broken native library
        log.info("llama_cpp cannot be imported (%s)", exc)
        return LlamaBuild(False, ())
    try:
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:
        log.info("llama_supports_gpu_offload failed (%s)", exc)
        offload = False
    try:
        info = llama_cpp.llama_print_system_info()
        text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    except Exception as exc:
        log.info("llama_print_system_info failed (%s)", exc)
        text = ""
    backends = parse_backends(text) or ("CPU",)
    return LlamaBuild(offload, backends, getattr(llama_cpp, "__version__", ""))


def nvidia_gpu(timeout: float = 5.0) -> tuple[str, int | None] | None:
    """(name, memory in bytes) of the first NVIDIA GPU nvidia-smi reports, or None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvidia-smi failed (%s)", exc)
        return None
    first = out.strip().splitlines()[0] if out.strip() else ""
    name, _, memory = first.partition(",")
    if not name.strip():
        return None
    try:
        vram = int(float(memory.strip()) * MiB)
    except ValueError:
        vram = None
    return name.strip(), vram


def probe_machine() -> Machine:
    """RAM, GPU and llama.cpp build of this machine (slow: run it on a worker)."""
    build = llama_build()
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Machine(total_memory(), "Apple Metal", None, build)
    gpu = nvidia_gpu()
    if gpu is None:
        return Machine(total_memory(), None, None, build)
    return Machine(total_memory(), gpu[0], gpu[1], build)
