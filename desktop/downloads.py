"""Downloads from the Hub that cross the service layers: an embedding model for the library.

The library (desktop.knowledge) owns where an embedding model lives and what makes a folder one
(`downloaded_path`, `is_downloaded`); the model manager (desktop.llm.hub, .models) owns how
anything is fetched from the Hub (network log, offline gate, free-space check, resume, sha256).
This module joins the two, above both, so neither imports the other.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from desktop.core.cancel import CancelToken
from desktop.knowledge.embedder import (
    INCOMPLETE_MARK,
    EmbedderDownloadRefused,
    EmbedderError,
    check_model_folder,
    downloaded_path,
    looks_like_hub_id,
)
from desktop.llm import hub, models
from desktop.llm.hub import DownloadProgress, HubFile, RepoListing

log = logging.getLogger(__name__)

MODEL_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")  # what sentence-transformers loads


def download_embedder(
    repo_id: str,
    data_dir: Path,
    *,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
    offline: bool | None = None,
    allow_once: bool = False,
    endpoint: str | None = None,
) -> Path:
    """Download a sentence-transformers model from the Hub into the data dir; return its folder.

    The model manager's downloader does the work (`desktop.llm.hub`): every request goes through
    the app's network client and log, the offline gate refuses it (`allow_once`: this one
    download passes, recorded in the network log), free disk space is checked first, each file
    resumes after a break, is checked against the Hub's sha256 and appears under its name only
    then. `progress` receives a `hub.DownloadProgress` over the bytes of all files; `cancel`
    (a CancelToken) stops it with `Cancelled`, the finished files kept for a later call. A
    folder is usable only once every file is in (`is_downloaded`). Raises EmbedderError.
    """
    if not looks_like_hub_id(repo_id):
        raise EmbedderError(f"not a Hub model id (owner/name): {repo_id}")
    try:
        with models.download_gate(
            repo_id, offline=offline, allow_once=allow_once, endpoint=endpoint
        ):
            listing = hub.list_repo(repo_id, endpoint=endpoint)
            files = _model_files(listing)
            target = downloaded_path(data_dir, listing.repo_id)
            where = (endpoint, listing.download_revision)  # the listed commit: one version
            _download_files(listing.repo_id, files, target, progress, cancel, where)
    except models.OfflineRefused as exc:
        raise EmbedderDownloadRefused(str(exc)) from None
    except models.ModelError as exc:  # unknown repo, no network, full disk, checksum
        raise EmbedderError(str(exc)) from None
    except OSError as exc:
        raise EmbedderError(f"the download of {repo_id} failed: {exc}") from exc
    check_model_folder(target)
    return target


def _model_files(listing: RepoListing) -> list[HubFile]:
    """Return the files sentence-transformers loads, or raise EmbedderError if it is no model."""
    files = [
        f
        for f in listing.files
        if any(fnmatch.fnmatch(f.path, pattern) for pattern in MODEL_FILES)
        and ".." not in PurePosixPath(f.path).parts
        and not PurePosixPath(f.path).is_absolute()
    ]
    paths = {f.path for f in files}
    if "config.json" not in paths or not any(p.endswith(".safetensors") for p in paths):
        raise EmbedderError(
            f"{listing.repo_id} is not a sentence-transformers model with safetensors weights "
            "(it needs config.json and a .safetensors file)"
        )
    return files


def _download_files(
    repo_id: str,
    files: list[HubFile],
    target: Path,
    progress: Callable[[DownloadProgress], None] | None,
    cancel: CancelToken | None,
    where: tuple[str | None, str],
) -> None:
    """Fetch the files not yet in `target` (resuming parts) from `where` (endpoint, revision);
    report progress over all of them."""
    endpoint, revision = where
    target.mkdir(parents=True, exist_ok=True)
    (target / INCOMPLETE_MARK).touch()
    missing = []
    for file in files:
        have = target / file.path
        if have.is_file() and have.stat().st_size != file.size:
            have.unlink()  # the repository changed since: fetch the new file
        if not have.is_file():
            missing.append(file)
    total = sum(f.size for f in files)
    done = total - sum(f.size for f in missing)
    hub.check_disk_space(target, sum(f.size for f in missing))
    for file in missing:
        offset = done

        def overall(step: DownloadProgress, offset: int = offset) -> None:
            if progress is not None:
                left = total - offset - step.done
                eta = left / step.speed if step.speed else None
                progress(
                    hub.DownloadProgress(step.phase, offset + step.done, total, step.speed, eta)
                )

        folder = target / PurePosixPath(file.path).parent
        hub.download_file(
            repo_id,
            file,
            folder,
            revision=revision,
            endpoint=endpoint,
            progress=overall,
            cancel=cancel,
            gguf=False,
        )
        done += file.size
    (target / INCOMPLETE_MARK).unlink()
    log.info("downloaded the embedding model %s into %s", repo_id, target)
