"""The Hub client: listing, quantization names, the recommendation, and downloads from a fake Hub
on loopback (tests.fakehub): resume after a drop and after a pause, checksum, disk space, log."""

from __future__ import annotations

import threading
from collections import namedtuple
from pathlib import Path

import pytest

from desktop import network
from desktop.core.cancel import Cancelled, CancelToken
from desktop.llm import hub
from desktop.llm.gguf import GiB, MiB
from desktop.llm.hub import HubFile, quant_of, recommend
from tests.fakehub import Q4, Q8, FakeHub, make_gguf_files


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = FakeHub(make_gguf_files(tmp_path / "hub-files"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("AgentCPM-Report-Q4_K_M.gguf", "Q4_K_M"),
        ("agentlm-7b.Q5_K_S.gguf", "Q5_K_S"),
        ("model-iq4_xs.gguf", "IQ4_XS"),
        ("sub/dir/Model-8B-Q8_0.gguf", "Q8_0"),
        ("Model-F16.gguf", "F16"),
        ("Model-BF16-00001-of-00002.gguf", "BF16"),
        ("Qwen2-7B.gguf", None),  # "Q" of a model name is not a quantization
    ],
)
def test_quant_names_are_read_from_file_names(name: str, quant: str | None) -> None:
    assert quant_of(name) == quant


def _file(name: str, size: int) -> HubFile:
    return HubFile(name, size, "0" * 40, "0" * 64)


def test_recommendation_follows_the_ram() -> None:
    files = [_file(f"m-{q}.gguf", int(s * GiB)) for q, s in (("Q3_K_M", 4.0), ("Q4_K_M", 4.9))]
    files.append(_file("m-Q8_0.gguf", int(8.7 * GiB)))
    assert recommend(files, 16 * GiB).file.quant == "Q4_K_M"
    small = recommend(files, int(7.5 * GiB))
    assert small.file.quant == "Q3_K_M" and "7.5 GiB" in small.reason
    none = recommend(files, 4 * GiB)
    assert none.file is None and "none fits in 4.0 GiB" in none.reason and "server" in none.reason


def test_listing_reads_sizes_and_lfs_sha256_and_logs_the_request(fake: FakeHub) -> None:
    network.configure(offline=False)
    listing = hub.list_repo(fake.repo)
    by_name = {f.name: f for f in listing.files}
    assert set(by_name) == {"README.md", Q4, Q8}
    assert [f.name for f in listing.models()] == [Q4, Q8]  # smallest first, README left out
    assert by_name[Q4].size == len(fake.files[Q4])
    import hashlib

    assert by_name[Q8].sha256 == hashlib.sha256(fake.files[Q8]).hexdigest()
    assert by_name["README.md"].sha256 is None
    entry = network.recent_entries(1)[0]
    assert (entry.host, entry.purpose, entry.status) == (
        "127.0.0.1",
        f"model download ({fake.repo})",
        200,
    )


def test_a_bad_repo_id_is_one_line() -> None:
    with pytest.raises(hub.HubError, match="not a repository id"):
        hub.list_repo("just-a-name")


def test_pause_keeps_the_part_and_a_later_call_resumes_it(fake: FakeHub, tmp_path: Path) -> None:
    listing = hub.list_repo(fake.repo)
    file = listing.find(quant="Q8_0")
    fake.hold = Q8
    cancel = CancelToken()
    dest = tmp_path / "models"
    errors: list[BaseException] = []
    half_way = threading.Event()

    def seen(p: hub.DownloadProgress) -> None:
        if p.done >= file.size // 2:
            half_way.set()

    def first() -> None:
        try:
            ticks = iter(range(10_000))  # every update a second apart: every one is reported
            hub.download_file(
                fake.repo, file, dest, cancel=cancel, progress=seen, clock=lambda: next(ticks)
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    assert half_way.wait(10)
    cancel.set()  # Pause: the next chunk raises Cancelled
    fake.release()
    worker.join(10)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    kept = hub.partial_bytes(dest, file)
    assert 0 < kept < file.size
    assert not (dest / Q8).exists()

    path = hub.download_file(fake.repo, file, dest)

    assert path.read_bytes() == fake.files[Q8]
    assert fake.gets(Q8)[-1] == f"bytes={kept}-"
    assert hub.partial_bytes(dest, file) == 0


def test_a_sha256_mismatch_deletes_the_file(fake: FakeHub, tmp_path: Path) -> None:
    fake.wrong_sha.add(Q4)
    file = hub.list_repo(fake.repo).find(quant="Q4_K_M")
    with pytest.raises(hub.ChecksumMismatch) as exc:
        hub.download_file(fake.repo, file, tmp_path / "models")
    message = str(exc.value)
    assert "does not match the Hub's sha256" in message and "deleted" in message
    assert "\n" not in message
    assert list((tmp_path / "models").iterdir()) == []


def test_a_non_lfs_file_is_checked_by_its_git_blob_id(fake: FakeHub, tmp_path: Path) -> None:
    file = hub.list_repo(fake.repo).find(quant="Q4_K_M")
    plain = HubFile(file.path, file.size, "f" * 40, None)  # a wrong blob id and no sha256
    with pytest.raises(hub.ChecksumMismatch, match="git blob id"):
        hub.download_file(fake.repo, plain, tmp_path)


def test_too_little_disk_space_is_refused_before_any_byte(
    fake: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = hub.list_repo(fake.repo).find(quant="Q8_0")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(hub.shutil, "disk_usage", lambda _p: usage(10 * GiB, 10 * GiB, 100 * MiB))
    with pytest.raises(hub.HubError) as exc:
        hub.download_file(fake.repo, file, tmp_path)
    assert "not enough disk space" in str(exc.value) and "100 MiB is free" in str(exc.value)
    assert fake.gets(Q8) == []


def test_progress_has_speed_and_time_left_from_the_injected_clock(
    fake: FakeHub, tmp_path: Path
) -> None:
    file = hub.list_repo(fake.repo).find(quant="Q8_0")
    ticks = iter(range(10_000))
    seen: list[hub.DownloadProgress] = []
    hub.download_file(fake.repo, file, tmp_path, progress=seen.append, clock=lambda: next(ticks))
    moving = [p for p in seen if p.phase == "downloading" and p.speed]
    assert moving and all(p.eta is not None and p.eta >= 0 for p in moving)
    assert " of " in moving[0].text() and "/s" in moving[0].text() and "left" in moving[0].text()
