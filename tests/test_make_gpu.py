"""`make setup GPU=...` hands the backend's flag to pip through CMAKE_ARGS, and later targets keep
the backend built last (dry runs against a .venv of stamps in a temporary folder: nothing is
compiled; a real GPU build cannot be exercised on a machine without the GPU SDKs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

FLAGS = {"cuda": "-DGGML_CUDA=on", "metal": "-DGGML_METAL=on", "vulkan": "-DGGML_VULKAN=on"}


def _venv(tmp_path: Path, built: str | None) -> Path:
    """A .venv as `make setup GPU=<built>` leaves it (its stamps only); None: a fresh one."""
    venv = tmp_path / ".venv"
    venv.mkdir()
    if built is not None:
        (venv / ".draftwell-installed").touch()  # newer than pyproject.toml: up to date
        (venv / f".draftwell-llama-{built}").touch()
    return venv


def _dry_run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _llama_builds(stdout: str) -> list[str]:
    """The pip lines that compile llama-cpp-python."""
    return [line for line in stdout.splitlines() if "--no-binary llama-cpp-python" in line]


@pytest.mark.parametrize("gpu", sorted(FLAGS))
def test_switching_to_a_gpu_rebuilds_with_its_flag_in_cmake_args(tmp_path: Path, gpu: str) -> None:
    done = _dry_run(_venv(tmp_path, "cpu"), "setup", f"GPU={gpu}")
    assert done.returncode == 0, done.stderr
    builds = _llama_builds(done.stdout)
    assert len(builds) == 1
    assert builds[0].startswith(f'CMAKE_ARGS="{FLAGS[gpu]}" ')
    assert "pip install --force-reinstall --no-cache-dir" in builds[0]  # no cached CPU wheel
    assert '-e ".[dev' not in done.stdout  # only llama-cpp-python is rebuilt


def test_a_fresh_gpu_setup_compiles_llama_cpp_once_for_that_gpu(tmp_path: Path) -> None:
    done = _dry_run(_venv(tmp_path, None), "setup", "GPU=cuda")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    builds = _llama_builds(done.stdout)
    assert len(builds) == 1 and builds[0].startswith('CMAKE_ARGS="-DGGML_CUDA=on" ')
    assert "--no-cache-dir" in builds[0] and '"llama-cpp-python>=' in builds[0]
    editable = next(i for i, line in enumerate(lines) if '-e ".[dev' in line)
    assert lines.index(builds[0]) < editable  # built before the rest could build it for the CPU
    assert lines[-1].endswith(".draftwell-llama-cuda")


def test_later_targets_keep_a_gpu_build(tmp_path: Path) -> None:
    venv = _venv(tmp_path, "cuda")
    for target in ("run", "test", "demo", "setup"):
        done = _dry_run(venv, target)
        assert done.returncode == 0, done.stderr
        assert "pip" not in done.stdout and "CMAKE_ARGS" not in done.stdout, target
    assert f"{venv}/bin/python -m desktop" in _dry_run(venv, "run").stdout
    assert "pip" not in _dry_run(venv, "setup", "GPU=cuda").stdout  # the same backend again


def test_going_back_to_the_cpu_rebuilds_without_gpu_flags(tmp_path: Path) -> None:
    done = _dry_run(_venv(tmp_path, "cuda"), "setup", "GPU=cpu")
    assert done.returncode == 0, done.stderr
    builds = _llama_builds(done.stdout)
    assert len(builds) == 1 and 'CMAKE_ARGS=""' in builds[0]
    assert "Going back to the CPU build" in done.stdout
    assert "-DGGML_" not in done.stdout


def test_the_default_setup_builds_for_the_cpu(tmp_path: Path) -> None:
    fresh = _dry_run(_venv(tmp_path, None), "setup")
    assert fresh.returncode == 0, fresh.stderr
    assert "-DGGML_" not in fresh.stdout and '-e ".[dev' in fresh.stdout
    assert fresh.stdout.splitlines()[-1].endswith(".draftwell-llama-cpu")


def test_an_unknown_gpu_is_one_clear_error(tmp_path: Path) -> None:
    done = _dry_run(_venv(tmp_path, "cpu"), "setup", "GPU=rocm")
    assert done.returncode != 0
    assert 'GPU must be one of cpu, cuda, metal, vulkan (got "rocm")' in done.stderr
