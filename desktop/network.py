"""The one gate every outgoing request of the app goes through: offline mode and the network log.

Offline mode means *no internet*: any request to a host that is not on this machine's loopback
(``localhost``, 127.0.0.0/8, ``::1``) raises `OfflineError` before a connection is opened. A
user-configured server on loopback (a local llama.cpp / Ollama server, a local SearXNG) stays
allowed, because nothing leaves the machine. The process starts offline (private by default);
the CLI and the GUI call `configure` with the user's setting. ``DRAFTWELL_OFFLINE=1`` in the
environment forces offline whatever the setting says.

Requests made with `client()` go through `GuardedTransport`, which checks every hop (redirects
included) and records each request in the network log: time, host, purpose, bytes sent and
received. Code that cannot use httpx (a third-party library doing its own requests) calls
`guard(url, purpose)` first, which checks and records the request (bytes unknown: -1).

A one-time exception (`allow_once`, the model manager's "allow this download") lets the requests
of one purpose, made by the calling thread inside the block, through offline mode; the allowance
itself is recorded in the log (outcome "allowed once") before any of them is made.

The log is an in-memory ring (`recent_entries`, for the GUI); listeners (`add_listener`, or
`recording_to(journal)` for a run) receive each entry as it is recorded, e.g. to write it to the
run journal. Model downloads (their listing, allowances and transfers) are also appended to a
durable file in the data dir (`DurableLog`, ``network-downloads.jsonl``), so a one-time
allowance made by a CLI process outlives it; the GUI's network log view shows that file too.
Entries never contain a query string: only the host and a short purpose.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

OFFLINE_ENV = "DRAFTWELL_OFFLINE"
LOG_SIZE = 500
_TRUE = {"1", "true", "yes", "on"}


class OfflineError(RuntimeError):
    """A request was refused because offline mode is on; the message is one clear line."""


class LoopbackBlocked(RuntimeError):
    """A client that must not reach this machine (web pages) was sent to a loopback host."""


@dataclass(frozen=True, slots=True)
class NetworkEntry:
    """One outgoing request: when, to which host, why, and how many bytes went each way."""

    time: float
    host: str
    purpose: str
    method: str = "GET"
    status: int | None = None  # HTTP status; None when refused or failed before an answer
    bytes_sent: int = 0
    bytes_received: int = -1  # -1: unknown (a request made by a third-party library)
    outcome: str = "ok"  # "ok", "refused" (offline) or "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EntrySink(Protocol):
    """Something that stores network entries (the run journal)."""

    def record_network(self, entry: NetworkEntry) -> None: ...


Listener = Callable[[NetworkEntry], None]

_lock = threading.Lock()
_offline = True
_entries: deque[NetworkEntry] = deque(maxlen=LOG_SIZE)
_listeners: list[Listener] = []
# The purpose allowed through offline mode in this thread (see allow_once); None: nothing is.
_allowed_once: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "draftwell_allowed_once", default=None
)


# ---- offline mode ----------------------------------------------------------------------------
def configure(*, offline: bool) -> None:
    """Set offline mode for the whole process (from the settings or a CLI flag)."""
    global _offline
    with _lock:
        _offline = bool(offline)
    log.info("network: %s", "offline (loopback only)" if is_offline() else "online")


def is_offline() -> bool:
    """Whether requests beyond loopback are refused (the setting, or DRAFTWELL_OFFLINE=1)."""
    return _offline or os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface (no name resolution is done)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str:
    """The host of a URL ('' when it has none); never the path or the query."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def check(url: str, purpose: str) -> str:
    """Refuse `url` in offline mode unless it is on loopback; return its host."""
    host = host_of(url)
    if not host:
        raise OfflineError(f"not a network address for {purpose}: the URL has no host")
    if is_offline() and not is_loopback(host) and _allowed_once.get() != purpose:
        raise refusal(url, purpose)
    return host


def refusal(url: str, purpose: str) -> OfflineError:
    """Record that offline mode refused a request to `url`; the error names the setting."""
    host = host_of(url)
    _record(NetworkEntry(time.time(), host, purpose, outcome="refused"))
    return OfflineError(
        f"offline mode is on: the {purpose} would contact {host} "
        '(switch Offline off in Settings, or set "offline": false in settings.json)'
    )


def guard(url: str, purpose: str, method: str = "GET") -> None:
    """Check and log a request that a third-party library makes itself (bytes unknown)."""
    host = check(url, purpose)
    _record(NetworkEntry(time.time(), host, purpose, method=method))


@contextlib.contextmanager
def allow_once(url: str, purpose: str, *, record: bool = True) -> Iterator[None]:
    """Let this thread's requests for `purpose` through offline mode inside the block (every hop,
    redirects to other hosts included); the allowance is recorded in the log first (`record`
    False: it was already, when the same allowance was first used)."""
    if record:
        _record(NetworkEntry(time.time(), host_of(url), purpose, outcome="allowed once"))
    token = _allowed_once.set(purpose)
    try:
        yield
    finally:
        _allowed_once.reset(token)


# ---- the network log ---------------------------------------------------------------------------
def recent_entries(limit: int = 100) -> list[NetworkEntry]:
    """The most recent log entries, oldest first (at most `limit`)."""
    with _lock:
        entries = list(_entries)
    return entries[-limit:] if limit > 0 else []


def clear_log() -> None:
    with _lock:
        _entries.clear()


def add_listener(listener: Listener) -> None:
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock, contextlib.suppress(ValueError):
        _listeners.remove(listener)


class EntryBuffer:
    """An EntrySink that keeps entries until the run's journal exists (e.g. a model server's
    probe while the model is opened), then hands them over with `flush_to`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[NetworkEntry] = []

    def record_network(self, entry: NetworkEntry) -> None:
        with self._lock:
            self.entries.append(entry)

    def flush_to(self, sink: EntrySink) -> None:
        with self._lock:
            entries, self.entries = self.entries, []
        for entry in entries:
            sink.record_network(entry)


@contextlib.contextmanager
def recording_to(sink: EntrySink) -> Iterator[None]:
    """Write every entry recorded inside the block to `sink` (a run's journal)."""
    listener: Listener = sink.record_network
    add_listener(listener)
    try:
        yield
    finally:
        remove_listener(listener)


DURABLE_LOG_FILENAME = "network-downloads.jsonl"


class DurableLog:
    """Network entries appended as JSON lines to a file (the model downloads' durable log).

    `keep` chooses the entries to write (e.g. one repository's download); a write that fails is
    logged and never breaks the request."""

    def __init__(self, path: Path, keep: Callable[[NetworkEntry], bool]) -> None:
        self.path, self.keep = Path(path), keep
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path, keep: Callable[[NetworkEntry], bool]) -> DurableLog:
        return cls(Path(data_dir) / DURABLE_LOG_FILENAME, keep)

    def __call__(self, entry: NetworkEntry) -> None:
        if not self.keep(entry):
            return
        line = json.dumps(entry.to_dict(), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as exc:  # a full disk or read-only folder must not fail the download
                log.warning("the network log %s cannot be written: %s", self.path, exc)

    @contextlib.contextmanager
    def recording(self) -> Iterator[DurableLog]:
        """Append the kept entries recorded inside the block."""
        add_listener(self)
        try:
            yield self
        finally:
            remove_listener(self)


def read_durable_log(data_dir: Path, limit: int = 100) -> list[NetworkEntry]:
    """The last `limit` entries of the data dir's durable log, oldest first (bad lines skipped)."""
    path = Path(data_dir) / DURABLE_LOG_FILENAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("the network log %s cannot be read: %s", path, exc)
        return []
    names = {f.name for f in fields(NetworkEntry)}
    entries = []
    for line in lines[-limit:] if limit > 0 else []:
        try:
            doc = json.loads(line)
            entries.append(NetworkEntry(**{k: v for k, v in doc.items() if k in names}))
        except (ValueError, TypeError):
            continue  # a line cut short by a crash
    return entries


def _record(entry: NetworkEntry) -> None:
    with _lock:
        _entries.append(entry)
        listeners = list(_listeners)
    log.info(
        "network: %s %s for %s → %s (%s bytes)",
        entry.method,
        entry.host,
        entry.purpose,
        entry.outcome if entry.status is None else entry.status,
        entry.bytes_received,
    )
    for listener in listeners:
        try:
            listener(entry)
        except Exception as exc:  # a log sink must never break a request
            log.warning("network log listener failed: %s", exc)


# ---- httpx -----------------------------------------------------------------------------------
class _CountingStream(httpx.SyncByteStream):
    """A response body that counts its bytes and records the entry when it is closed."""

    def __init__(self, inner: httpx.SyncByteStream, done: Callable[[int], None]) -> None:
        self._inner = inner
        self._done = done
        self._count = 0
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._count += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._closed:
                self._closed = True
                self._done(self._count)


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that applies offline mode to every hop and logs every request."""

    def __init__(
        self,
        purpose: str,
        inner: httpx.BaseTransport | None = None,
        *,
        block_loopback: bool = False,
    ) -> None:
        self.purpose = purpose
        self.block_loopback = block_loopback
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = check(str(request.url), self.purpose)
        if self.block_loopback and is_loopback(host):
            _record(NetworkEntry(time.time(), host, self.purpose, outcome="refused"))
            raise LoopbackBlocked(f"{self.purpose} must not reach this machine ({host})")
        length = request.headers.get("content-length", "")
        sent = int(length) if length.isdigit() else 0
        started = time.time()
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError:
            _record(
                NetworkEntry(
                    started, host, self.purpose, request.method, None, sent, 0, outcome="error"
                )
            )
            raise

        def done(received: int) -> None:
            _record(
                NetworkEntry(
                    started,
                    host,
                    self.purpose,
                    request.method,
                    response.status_code,
                    sent,
                    received,
                )
            )

        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CountingStream(response.stream, done),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


def client(
    purpose: str,
    *,
    timeout: float = 15.0,
    max_redirects: int = 5,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    block_loopback: bool = False,
) -> httpx.Client:
    """An httpx client whose every request goes through the offline guard and the network log.

    With `block_loopback`, every hop (redirects included) to a loopback host is refused
    (`LoopbackBlocked`). Environment proxies are ignored (``trust_env=False``).
    """
    return httpx.Client(
        transport=GuardedTransport(purpose, transport, block_loopback=block_loopback),
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers=headers,
        trust_env=False,
    )


def format_entry(entry: NetworkEntry) -> str:
    """One line for a log view: local time, method, host, purpose, outcome and bytes."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
    outcome = str(entry.status) if entry.status is not None else entry.outcome
    size = "? bytes" if entry.bytes_received < 0 else f"{entry.bytes_received} bytes"
    return f"{when}  {entry.method} {entry.host}  {entry.purpose}  {outcome}  {size}"
