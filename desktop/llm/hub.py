"""The Hugging Face Hub side of the model manager: list a repository's GGUF files, recommend a
quantization for this machine, download one file with resume, progress, pause/cancel and checksum.

Requests go through `desktop.network.client` (offline mode, the network log, every redirect hop
checked), not through huggingface_hub's own HTTP client, for two reasons: that client refuses every
request while ``HF_HUB_OFFLINE`` is set, which the app sets for the whole process so that the
embedder can never reach a hub; and its requests would bypass the app's offline mode and network
log. huggingface_hub still supplies what defines the Hub protocol: the tree API's entries are read
with its `RepoFile` (size, git blob id, LFS sha256), the download URL comes from `hf_hub_url`, and
the request headers (user agent, a stored token) from `build_hf_headers`. A listing first asks
which commit the revision names (``/api/models/{repo}/revision/{rev}``, the request behind
`HfApi.model_info`), lists that commit's tree and keeps it (`RepoListing.commit`); downloads use
the commit, so a repository updated between the listing and the last resumed byte cannot mix two
versions of a file (which would end in a checksum failure). The endpoint is the
``HF_ENDPOINT`` environment variable read at each call (a mirror, or a test's fake Hub on loopback),
else huggingface.co.

A download writes ``<name>.part`` next to its destination and continues it with an HTTP Range
request: after a dropped connection (retried a few times within the call) and after a pause
(`CancelToken`; the part stays) in a later call or a later session. Before the first byte the free
disk space is checked; after the last, the file's sha256 (the Hub's LFS object id; the git blob id
for a small non-LFS file) is verified and the GGUF header read; only then is the part renamed into
place. A file that fails the check is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import httpx

from desktop import network
from desktop.core.cancel import Cancelled, CancelToken
from desktop.llm.gguf import GGUFError, GiB, MiB, format_bytes, read_metadata
from desktop.llm.models import ModelError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
PART_SUFFIX = ".part"
DISK_MARGIN_BYTES = 256 * MiB  # left free after a download (the OS, the journal, Chroma)
RETRIES = 3  # dropped connections resumed within one call
PROGRESS_INTERVAL_S = 0.2  # at most this often a progress report (and always the last one)
SPEED_WINDOW_S = 5.0


class HubError(ModelError):
    """Listing or downloading failed; the message is one clear line."""


class ChecksumMismatch(HubError):
    """The downloaded bytes are not the file the Hub lists (the part was deleted)."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A repository the models page offers by name."""

    repo_id: str
    title: str
    note: str


# openbmb/AgentCPM-Report-GGUF is the GGUF repository linked from the AgentCPM-Report README
# (github.com/OpenBMB/AgentCPM); its file names are always read from the Hub, never assumed.
CATALOGUE = (
    CatalogueEntry(
        "openbmb/AgentCPM-Report-GGUF",
        "AgentCPM-Report 8B (MiniCPM4.1)",
        "The model the WARP research loop was trained for: real reports.",
    ),
)

_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[A-Za-z0-9]+)*|BF16|F16|F32|MXFP4(?:_MOE)?|TQ[12]_0)"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def quant_of(filename: str) -> str | None:
    """The quantization a GGUF file name carries (``...-Q4_K_M.gguf`` → ``Q4_K_M``), or None."""
    stem = PurePosixPath(filename).name
    stem = _SPLIT_RE.sub("", stem)
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = _QUANT_RE.findall(stem)
    return found[-1].upper() if found else None


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a repository as the Hub lists it."""

    path: str
    size: int
    blob_id: str  # git blob id: sha1 of b"blob <size>\\0" + content
    sha256: str | None = None  # the LFS object id (sha256 of the content); None if not in LFS

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def quant(self) -> str | None:
        return quant_of(self.path)

    @property
    def is_model(self) -> bool:
        """A single-file GGUF model (not a vision projector, not one part of a split model)."""
        name = self.name.lower()
        return name.endswith(".gguf") and "mmproj" not in name and not _SPLIT_RE.search(name)


@dataclass(frozen=True, slots=True)
class RepoListing:
    repo_id: str
    revision: str
    files: tuple[HubFile, ...]
    commit: str | None = None  # the commit `revision` named when listed (None: not told)

    @property
    def download_revision(self) -> str:
        """What to download the listed files from: the listed commit, else the revision."""
        return self.commit or self.revision

    def models(self) -> tuple[HubFile, ...]:
        """The downloadable GGUF models, smallest first."""
        return tuple(sorted((f for f in self.files if f.is_model), key=lambda f: f.size))

    def split_models(self) -> tuple[HubFile, ...]:
        """Models split into parts (not offered: llama.cpp needs every part side by side)."""
        return tuple(f for f in self.files if _SPLIT_RE.search(f.name))

    def find(self, *, filename: str | None = None, quant: str | None = None) -> HubFile:
        """The model with this file name or quantization; HubError naming what there is."""
        models = self.models()
        if filename:
            for f in self.files:
                if filename in (f.path, f.name):
                    if not f.is_model:
                        raise HubError(f"{filename} is not a single-file GGUF model")
                    return f
            raise HubError(f"{self.repo_id} has no file {filename}{_offer(models)}")
        if quant:
            matches = [f for f in models if (f.quant or "").upper() == quant.upper()]
            if not matches:
                raise HubError(f"{self.repo_id} has no {quant.upper()} GGUF{_offer(models)}")
            return matches[0]
        raise HubError("name a file or a quantization")


def _offer(models: Iterable[HubFile]) -> str:
    quants = [f.quant or f.name for f in models]
    return f" (it has: {', '.join(quants)})" if quants else " (it has no GGUF model file)"


# --- what fits this machine ---------------------------------------------------------------------

RESERVE_BYTES = 2 * GiB  # the OS, the app, the embedder and Chroma stay resident beside the model
# A quantization of usual quality for its size, best first: Q4_K_M is the common balance of
# quality and CPU speed; larger ones are slower on a CPU for a small gain; smaller ones lose more.
PREFERRED_QUANTS = (
    "Q4_K_M",
    "Q5_K_M",
    "Q4_K_S",
    "IQ4_XS",
    "Q5_K_S",
    "Q6_K",
    "Q4_0",
    "Q8_0",
    "Q3_K_L",
    "Q3_K_M",
    "IQ3_M",
    "Q3_K_S",
    "Q2_K",
)


def memory_needed(file_size: int) -> int:
    """RAM to run a model of this file size: the weights, plus the KV cache and scratch of a
    working context (about a gigabyte for an 8B model at 16k tokens)."""
    return int(file_size * 1.05) + 1 * GiB


def fits(file_size: int, ram_total: int | None) -> bool | None:
    """Whether a model of this size runs in this RAM beside the app (None: RAM unknown)."""
    if ram_total is None:
        return None
    return memory_needed(file_size) + RESERVE_BYTES <= ram_total


@dataclass(frozen=True, slots=True)
class Recommendation:
    file: HubFile | None
    reason: str


def recommend(models: Iterable[HubFile], ram_total: int | None) -> Recommendation:
    """The quantization to download on a machine with `ram_total` bytes of RAM."""
    models = list(models)
    if not models:
        return Recommendation(None, "the repository has no single-file GGUF model")
    ram = format_bytes(ram_total) if ram_total else "unknown"
    fitting = [f for f in models if fits(f.size, ram_total) is not False]
    if not fitting:
        smallest = min(models, key=lambda f: f.size)
        return Recommendation(
            None,
            f"none fits in {ram} of RAM (the smallest needs about "
            f"{format_bytes(memory_needed(smallest.size) + RESERVE_BYTES)}); "
            "use a model server instead",
        )
    for quant in PREFERRED_QUANTS:
        for f in fitting:
            if (f.quant or "") == quant:
                return Recommendation(f, f"{quant}: the best balance that fits {ram} of RAM")
    best = max(fitting, key=lambda f: f.size)
    return Recommendation(best, f"the largest that fits {ram} of RAM")


# --- listing ------------------------------------------------------------------------------------


def endpoint_url(endpoint: str | None = None) -> str:
    """The Hub to talk to: `endpoint`, else HF_ENDPOINT now, else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def purpose_for(repo_id: str) -> str:
    """The network log's purpose for every request of one repository's download."""
    return f"{_PURPOSE_PREFIX}{repo_id})"


_PURPOSE_PREFIX = "model download ("


def is_download_purpose(purpose: str) -> bool:
    """Whether a network log entry is about a model download (for the durable log)."""
    return purpose.startswith(_PURPOSE_PREFIX)


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    repo_id = repo_id.strip().strip("/")
    if "/" not in repo_id:
        raise HubError(f"{repo_id or 'an empty name'} is not a repository id (owner/name)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(
            f"{repo_id} is not a repository id (owner/name): {_first_line(exc)}"
        ) from exc
    return repo_id


def _headers(token: str | None) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    return build_hf_headers(token=token, library_name="draftwell")


def list_repo(
    repo_id: str,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
) -> RepoListing:
    """Every file of a model repository with its size and checksums (the Hub's tree API)."""
    from huggingface_hub.hf_api import RepoFile

    repo_id = check_repo_id(repo_id)
    hub = endpoint_url(endpoint)
    files: list[HubFile] = []
    with network.client(purpose_for(repo_id), timeout=30, headers=_headers(token)) as http:
        commit = _commit_of(http, hub, repo_id, revision)
        url: str | None = f"{hub}/api/models/{repo_id}/tree/{quote(commit or revision, safe='')}"
        params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
        while url:
            try:
                response = http.get(url, params=params)
            except network.OfflineError as exc:
                raise HubError(str(exc)) from None
            except httpx.HTTPError as exc:
                raise HubError(f"cannot reach {network.host_of(hub)}: {_first_line(exc)}") from exc
            _raise_for_listing(response, repo_id, hub)
            try:
                page = response.json()
            except ValueError as exc:
                raise HubError(f"{network.host_of(hub)} sent a listing that is not JSON") from exc
            for item in page if isinstance(page, list) else []:
                if isinstance(item, dict) and item.get("type") == "file":
                    entry = RepoFile(**item)
                    sha = entry.lfs.sha256 if entry.lfs is not None else None
                    files.append(HubFile(entry.path, int(entry.size), entry.blob_id, sha))
            url, params = response.links.get("next", {}).get("url"), None
    log.info(
        "%s lists %d files (%d GGUF models)", repo_id, len(files), sum(f.is_model for f in files)
    )
    return RepoListing(repo_id, revision, tuple(files), commit)


_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def _commit_of(http: httpx.Client, hub: str, repo_id: str, revision: str) -> str | None:
    """The commit `revision` names now, or None when the Hub does not say (the listing then goes
    by the revision, and the tree request reports a missing repository)."""
    url = f"{hub}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
    try:
        response = http.get(url, params={"expand": "sha"})
    except network.OfflineError as exc:
        raise HubError(str(exc)) from None
    except httpx.HTTPError as exc:
        raise HubError(f"cannot reach {network.host_of(hub)}: {_first_line(exc)}") from exc
    if response.status_code != 200:
        return None
    try:
        sha = response.json().get("sha")
    except (ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) and _COMMIT_RE.fullmatch(sha) else None


def _raise_for_listing(response: httpx.Response, repo_id: str, hub: str) -> None:
    if response.status_code in (401, 403, 404):
        raise HubError(
            f"{network.host_of(hub)} has no repository {repo_id} (or it is private or gated)"
        )
    if response.status_code >= 400:
        raise HubError(f"listing {repo_id} failed: HTTP {response.status_code}")


# --- downloading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Where a download is: `phase` is "downloading" or "verifying"."""

    phase: str
    done: int
    total: int
    speed: float | None = None  # bytes per second over the last few seconds
    eta: float | None = None  # seconds left at that speed

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def text(self) -> str:
        """``1.2 GiB of 4.9 GiB · 35 MiB/s · 2 min left`` (or the checksum phase)."""
        if self.phase == "verifying":
            return f"Checking the sha256 … {self.fraction:.0%}"
        parts = [f"{format_bytes(self.done)} of {format_bytes(self.total)}"]
        if self.speed:
            parts.append(f"{format_bytes(self.speed)}/s")
        if self.eta is not None:
            parts.append(f"{format_duration(self.eta)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


ProgressCallback = Callable[[DownloadProgress], None]
Clock = Callable[[], float]


class _Meter:
    """Speed over a sliding window and throttled reports (the clock is injectable)."""

    def __init__(self, total: int, progress: ProgressCallback | None, clock: Clock) -> None:
        self.total, self._progress, self._clock = total, progress, clock
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = float("-inf")

    def update(self, done: int, *, phase: str = "downloading", force: bool = False) -> None:
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        if self._progress is None or (not force and now - self._last_report < PROGRESS_INTERVAL_S):
            return
        self._last_report = now
        speed = eta = None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if phase == "downloading" and t1 > t0 and d1 > d0:
            speed = (d1 - d0) / (t1 - t0)
            eta = (self.total - done) / speed
        self._progress(DownloadProgress(phase, done, self.total, speed, eta))


def part_path(dest_dir: Path, file: HubFile) -> Path:
    return Path(dest_dir) / f"{file.name}{PART_SUFFIX}"


def partial_bytes(dest_dir: Path, file: HubFile) -> int:
    """Bytes of an earlier, unfinished download of `file` (0 when there is none)."""
    part = part_path(dest_dir, file)
    return part.stat().st_size if part.is_file() else 0


def discard_partial(dest_dir: Path, file: HubFile) -> None:
    """Forget an unfinished download (Cancel, as opposed to Pause)."""
    part_path(dest_dir, file).unlink(missing_ok=True)


def check_disk_space(dest_dir: Path, needed: int) -> None:
    """Raise HubError when the disk of `dest_dir` cannot take `needed` more bytes (plus a margin)."""
    free = shutil.disk_usage(dest_dir).free
    if free < needed + DISK_MARGIN_BYTES:
        raise HubError(
            f"not enough disk space in {dest_dir}: the download needs {format_bytes(needed)} "
            f"more and {format_bytes(DISK_MARGIN_BYTES)} to spare, but only "
            f"{format_bytes(free)} is free"
        )


def download_file(
    repo_id: str,
    file: HubFile,
    dest_dir: Path,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Clock = time.monotonic,
    retry_delay: float = 0.5,
    gguf: bool = True,
) -> Path:
    """Download one file of a repository into `dest_dir` (see the module docstring).

    With `gguf` False the file is any file (an embedding model's config or safetensors): size and
    checksum are verified, the GGUF header is not read. Raises `Cancelled` when `cancel` is set (the part stays, to be resumed), `ChecksumMismatch`
    when the bytes are not the listed file, `HubError` for everything else.
    """
    from huggingface_hub import hf_hub_url

    cancel = cancel or CancelToken()
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / file.name
    if dest.exists():
        raise HubError(f"the models folder already has a file named {file.name}")
    part = part_path(dest_dir, file)
    done = partial_bytes(dest_dir, file)
    if done > file.size:
        part.unlink()
        done = 0
    check_disk_space(dest_dir, file.size - done)
    url = hf_hub_url(repo_id, file.path, revision=revision, endpoint=endpoint_url(endpoint))
    meter = _Meter(file.size, progress, clock)
    meter.update(done, force=True)
    log.info(
        "downloading %s/%s (%s, from byte %d)", repo_id, file.path, format_bytes(file.size), done
    )
    failures = 0
    with network.client(purpose_for(repo_id), timeout=60, headers=_headers(token)) as http:
        while done < file.size:
            try:
                done = _transfer(http, url, part, done, file, meter, cancel)
            except httpx.TransportError as exc:  # dropped, reset, timed out: resume from `done`
                done = partial_bytes(dest_dir, file)
                failures += 1
                if failures > RETRIES:
                    raise HubError(
                        f"the download of {file.name} broke off at {done / file.size:.0%} "
                        f"({_first_line(exc)}); start it again to resume"
                    ) from exc
                log.warning("download interrupted at byte %d (%s); resuming", done, exc)
                cancel.raise_if_set()
                time.sleep(retry_delay * failures)
            except network.OfflineError as exc:
                raise HubError(str(exc)) from None
            except Cancelled:
                meter.update(partial_bytes(dest_dir, file), force=True)  # where it paused
                raise
    meter.update(done, force=True)
    _verify(part, file, meter, cancel, gguf=gguf)
    os.replace(part, dest)
    log.info("downloaded %s", dest)
    return dest


def _transfer(
    http: httpx.Client,
    url: str,
    part: Path,
    done: int,
    file: HubFile,
    meter: _Meter,
    cancel: CancelToken,
) -> int:
    """One GET from byte `done` on, appended to the part; returns the bytes the part has."""
    headers = {"Range": f"bytes={done}-"} if done else {}
    with http.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and done == file.size:
            return done
        if response.status_code >= 400:
            raise HubError(_download_failure(response.status_code, file))
        if done and response.status_code != 206:
            log.info("the server ignored the range request; starting %s over", file.name)
            done = 0
        with part.open("ab" if done else "wb") as out:
            for chunk in response.iter_bytes():  # as received: a drop loses nothing read
                out.write(chunk)
                done += len(chunk)
                meter.update(done)
                cancel.raise_if_set()
    return done


def _download_failure(status: int, file: HubFile) -> str:
    if status in (401, 403):
        return f"{file.name} needs a login on the Hub (HTTP {status}): the repository is gated"
    if status == 404:
        return f"{file.name} is no longer on the Hub (HTTP 404); list the repository again"
    return f"the download of {file.name} failed: HTTP {status}"


def _verify(
    part: Path, file: HubFile, meter: _Meter, cancel: CancelToken, *, gguf: bool = True
) -> None:
    """Check size, checksum and (for a GGUF) its header; delete the part if any check fails."""
    size = part.stat().st_size
    if size != file.size:
        part.unlink()
        raise ChecksumMismatch(
            f"{file.name} arrived with {size} bytes instead of {file.size}; the file was deleted"
        )
    if file.sha256:
        digest, expected, kind = hashlib.sha256(), file.sha256.lower(), "sha256"
    else:
        digest, expected, kind = (
            hashlib.sha1(f"blob {size}\0".encode()),
            file.blob_id,
            "git blob id",
        )
    read = 0
    with part.open("rb") as f:
        while chunk := f.read(8 * MiB):
            cancel.raise_if_set()
            digest.update(chunk)
            read += len(chunk)
            meter.update(read, phase="verifying")
    meter.update(read, phase="verifying", force=True)
    got = digest.hexdigest()
    if got != expected:
        part.unlink()
        raise ChecksumMismatch(
            f"{file.name} does not match the Hub's {kind} (expected {expected[:12]}…, "
            f"got {got[:12]}…); the file was deleted"
        )
    if not gguf:
        return
    try:
        read_metadata(part)
    except GGUFError as exc:
        part.unlink()
        raise HubError(f"{file.name} is not a usable GGUF model ({exc}); it was deleted") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
