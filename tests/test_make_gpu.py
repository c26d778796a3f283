"""`make setup GPU=...` hands the backend's flag to pip through CMAKE_ARGS (a dry run: nothing is
compiled; a real GPU build cannot be exercised on a machine without the GPU SDKs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), "setup", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("gpu", "flag"),
    [("cuda", "-DGGML_CUDA=on"), ("metal", "-DGGML_METAL=on"), ("vulkan", "-DGGML_VULKAN=on")],
)
def test_the_gpu_flag_reaches_pip_through_cmake_args(gpu: str, flag: str) -> None:
    done = _dry_run(f"GPU={gpu}")
    assert done.returncode == 0, done.stderr
    rebuild = [line for line in done.stdout.splitlines() if "CMAKE_ARGS=" in line]
    assert len(rebuild) == 1
    line = rebuild[0]
    assert f'CMAKE_ARGS="{flag}"' in line
    assert "pip install --force-reinstall --no-cache-dir" in line
    assert "--no-binary llama-cpp-python" in line  # a cached CPU wheel must not be reused


def test_the_default_setup_builds_for_the_cpu() -> None:
    done = _dry_run()
    assert done.returncode == 0, done.stderr
    assert "-DGGML_" not in done.stdout


def test_an_unknown_gpu_is_one_clear_error() -> None:
    done = _dry_run("GPU=rocm")
    assert done.returncode != 0
    assert 'GPU must be one of cpu, cuda, metal, vulkan (got "rocm")' in done.stderr
