"""API keys and other secrets: environment variable, then the system keyring, then an owner-only file.

Lookup order in `get_secret`:

1. an environment variable the caller names (the CLI's ``--api-key-env VAR``), so scripts and CI
   never have to store anything;
2. the system keyring (macOS Keychain, Windows Credential Locker, Secret Service / KWallet), under
   the service name ``Draftwell``;
3. ``<data dir>/secrets.json``, written only when no keyring backend works (a headless Linux box,
   a minimal container). That file is PLAINTEXT AT REST: it is created owner-only (mode 0600,
   written to a temp file and renamed into place), and every write to it logs a warning. Its only
   protection is the file permission (on Windows, the user profile's ACL).

Secrets never go into settings.json. `set_secret` writes to the keyring when one works and then
removes any plaintext copy, so installing a keyring later migrates a key on its next save.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVICE = "Draftwell"
SERVER_API_KEY = "server-api-key"  # the name the GUI and the CLI use for the --server API key
SECRETS_FILENAME = "secrets.json"
_FILE_FORMAT_VERSION = 1


def get_secret(
    name: str, data_dir: str | os.PathLike[str], *, env_var: str | None = None
) -> str | None:
    """The secret called `name`: from `env_var` if set, else the keyring, else the fallback file."""
    _check_name(name)
    if env_var:
        value = os.environ.get(env_var)
        if value:
            return value
        log.info("environment variable %s is not set; looking for %r elsewhere", env_var, name)
    backend = _keyring_backend()
    if backend is not None:
        try:
            value = backend.get_password(SERVICE, name)
        except Exception as exc:  # a keyring that exists but fails (locked, D-Bus gone …)
            log.warning("the system keyring could not be read (%s); trying the fallback file", exc)
        else:
            if value:
                return value
    return _read_file(Path(data_dir)).get(name)


class PlaintextConsentRequired(Exception):
    """No keyring works and the caller did not agree to the owner-only plaintext file."""


def keyring_available() -> bool:
    """Whether a usable system keyring backend exists (else secrets fall back to a file)."""
    return _keyring_backend() is not None


def set_secret(
    name: str, value: str, data_dir: str | os.PathLike[str], *, allow_file: bool = True
) -> str:
    """Store a secret in the keyring, or (without one) in the owner-only file; say where it went.

    With ``allow_file=False`` (the web search key: the user must agree to the plaintext file
    first, after seeing a warning) a missing keyring raises `PlaintextConsentRequired` instead.
    """
    _check_name(name)
    if not value:
        raise ValueError("an empty secret cannot be stored; use delete_secret to remove one")
    data = Path(data_dir)
    backend = _keyring_backend()
    if backend is not None:
        try:
            backend.set_password(SERVICE, name, value)
        except Exception as exc:
            log.warning("the system keyring refused the secret (%s); using the fallback file", exc)
        else:
            _remove_from_file(data, name)  # a plaintext copy from before the keyring worked
            return _keyring_description(backend)
    if not allow_file:
        raise PlaintextConsentRequired(
            f"no system keyring is available: storing {name!r} needs your agreement to keep it "
            f"in a plaintext file readable only by you ({data / SECRETS_FILENAME})"
        )
    secrets = _read_file(data)
    secrets[name] = value
    _write_file(data, secrets)
    path = data / SECRETS_FILENAME
    log.warning(
        "no system keyring is available: %r is stored in plaintext in %s (readable only by you)",
        name,
        path,
    )
    return _file_description(path)


def delete_secret(name: str, data_dir: str | os.PathLike[str]) -> None:
    """Remove a secret from the keyring and the fallback file (an environment variable stays)."""
    _check_name(name)
    backend = _keyring_backend()
    if backend is not None:
        try:
            backend.delete_password(SERVICE, name)
        except Exception as exc:  # PasswordDeleteError when absent; nothing to do then
            log.debug("keyring delete of %r: %s", name, exc)
    _remove_from_file(Path(data_dir), name)


def secret_storage_description(data_dir: str | os.PathLike[str]) -> str:
    """Where `set_secret` would keep a secret now, in words for the settings dialog."""
    backend = _keyring_backend()
    if backend is not None:
        return _keyring_description(backend)
    return _file_description(Path(data_dir) / SECRETS_FILENAME)


# --- keyring ------------------------------------------------------------------------------------


def _keyring_backend() -> Any | None:
    """The active keyring backend, or None when keyring has no usable one (fail/null/empty chain)."""
    try:
        import keyring  # lazily: backend discovery loads entry points
        from keyring.backends import chainer, fail, null
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        log.warning("the system keyring could not be initialised: %s", exc)
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _keyring_description(backend: Any) -> str:
    return f"the system keyring ({getattr(backend, 'name', type(backend).__name__)})"


# --- plaintext fallback file --------------------------------------------------------------------


def _file_description(path: Path) -> str:
    return f"a plaintext file readable only by you: {path} (no system keyring is available)"


def _read_file(data_dir: Path) -> dict[str, str]:
    path = data_dir / SECRETS_FILENAME
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s was readable by others; restricting it to its owner", path)
        with contextlib.suppress(OSError):
            path.chmod(0o600)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("the secrets file %s cannot be read (%s); ignoring it", path, exc)
        return {}
    secrets = doc.get("secrets") if isinstance(doc, dict) else None
    if not isinstance(secrets, dict):
        return {}
    return {str(k): str(v) for k, v in secrets.items() if isinstance(v, str)}


def _write_file(data_dir: Path, secrets: dict[str, str]) -> None:
    """Write the whole file owner-only to a temp file and rename it into place."""
    path = data_dir / SECRETS_FILENAME
    if not secrets:
        path.unlink(missing_ok=True)
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(
        {"version": _FILE_FORMAT_VERSION, "secrets": secrets}, indent=2, sort_keys=True
    )
    # mkstemp creates the file with mode 0600 from the start: no moment where others could read.
    fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _remove_from_file(data_dir: Path, name: str) -> None:
    secrets = _read_file(data_dir)
    if name in secrets:
        del secrets[name]
        _write_file(data_dir, secrets)


def _check_name(name: str) -> None:
    if not name or not name.strip():
        raise ValueError("a secret needs a name")
