"""Secrets: environment variable first, then the keyring, then the owner-only plaintext file."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail

from desktop import secrets
from desktop.secrets import delete_secret, get_secret, secret_storage_description, set_secret


class _NotViable:
    """A `priority` that raises: keyring registers every backend subclass as a candidate, and
    this keeps the test backends from being picked as the process's default."""

    def __get__(self, obj: object, cls: type) -> float:
        raise RuntimeError("test backend: only installed explicitly")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that keeps passwords in a dict (never the developer's real keyring)."""

    priority = _NotViable()  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError(username)
        del self.store[(service, username)]


class BrokenKeyring(MemoryKeyring):
    """A keyring that exists but fails on use (a locked collection, D-Bus gone)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


@pytest.fixture
def use_keyring() -> Iterator[callable]:
    """Install a test keyring backend; the original one is restored afterwards."""
    original = keyring.get_keyring()

    def use(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield use
    keyring.set_keyring(original)


@pytest.fixture
def no_keyring(use_keyring) -> None:
    use_keyring(fail.Keyring())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_environment_variable_wins(
    tmp_path: Path, use_keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = use_keyring(MemoryKeyring())
    ring.set_password(secrets.SERVICE, "server-api-key", "from-keyring")
    monkeypatch.setenv("MY_KEY", "from-env")
    assert get_secret("server-api-key", tmp_path, env_var="MY_KEY") == "from-env"
    monkeypatch.delenv("MY_KEY")
    assert get_secret("server-api-key", tmp_path, env_var="MY_KEY") == "from-keyring"


def test_keyring_round_trip(tmp_path: Path, use_keyring) -> None:
    ring = use_keyring(MemoryKeyring())
    where = set_secret("server-api-key", "s3cret", tmp_path)
    assert "system keyring" in where
    assert ring.store == {(secrets.SERVICE, "server-api-key"): "s3cret"}
    assert get_secret("server-api-key", tmp_path) == "s3cret"
    assert list(tmp_path.iterdir()) == []  # nothing on disk
    assert "system keyring" in secret_storage_description(tmp_path)
    delete_secret("server-api-key", tmp_path)
    assert get_secret("server-api-key", tmp_path) is None
    delete_secret("server-api-key", tmp_path)  # deleting twice is fine


def test_plaintext_fallback_without_a_keyring(
    tmp_path: Path, no_keyring, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="desktop.secrets"):
        where = set_secret("server-api-key", "s3cret", tmp_path)
    path = tmp_path / secrets.SECRETS_FILENAME
    assert "plaintext" in where and str(path) in where
    assert any("plaintext" in r.getMessage() for r in caplog.records)
    if os.name == "posix":
        assert _mode(path) == 0o600
    assert json.loads(path.read_text())["secrets"] == {"server-api-key": "s3cret"}
    assert get_secret("server-api-key", tmp_path) == "s3cret"
    assert sorted(p.name for p in tmp_path.iterdir()) == [secrets.SECRETS_FILENAME]
    assert not (tmp_path / "settings.json").exists()
    assert "plaintext file" in secret_storage_description(tmp_path)
    set_secret("other", "x", tmp_path)
    delete_secret("server-api-key", tmp_path)
    assert get_secret("server-api-key", tmp_path) is None
    assert get_secret("other", tmp_path) == "x"
    delete_secret("other", tmp_path)
    assert not path.exists()  # no empty file left behind


def test_a_broken_keyring_falls_back_to_the_file(tmp_path: Path, use_keyring) -> None:
    use_keyring(BrokenKeyring())
    where = set_secret("k", "v", tmp_path)
    assert "plaintext" in where
    assert get_secret("k", tmp_path) == "v"


def test_saving_with_a_keyring_removes_the_plaintext_copy(tmp_path: Path, use_keyring) -> None:
    use_keyring(fail.Keyring())
    set_secret("k", "old", tmp_path)
    assert (tmp_path / secrets.SECRETS_FILENAME).exists()
    ring = use_keyring(MemoryKeyring())
    assert get_secret("k", tmp_path) == "old"  # still found in the file
    set_secret("k", "new", tmp_path)
    assert ring.store[(secrets.SERVICE, "k")] == "new"
    assert not (tmp_path / secrets.SECRETS_FILENAME).exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_file_readable_by_others_is_restricted(tmp_path: Path, no_keyring) -> None:
    set_secret("k", "v", tmp_path)
    path = tmp_path / secrets.SECRETS_FILENAME
    path.chmod(0o644)
    assert get_secret("k", tmp_path) == "v"
    assert _mode(path) == 0o600


def test_missing_and_empty(tmp_path: Path, no_keyring) -> None:
    assert get_secret("nothing", tmp_path) is None
    assert get_secret("nothing", tmp_path, env_var="DRAFTWELL_TEST_UNSET_VAR") is None
    with pytest.raises(ValueError):
        set_secret("k", "", tmp_path)
    with pytest.raises(ValueError):
        get_secret("", tmp_path)


def test_the_real_default_keyring_here_has_no_backend(tmp_path: Path) -> None:
    """On this headless machine keyring has no backend: the file fallback is what gets used."""
    if not isinstance(keyring.get_keyring(), fail.Keyring):
        pytest.skip("this machine has a real keyring backend")
    assert "plaintext file" in secret_storage_description(tmp_path)
