"""`draftwell models hub|download` against the fake Hub on loopback (tests.fakehub), the same code
the models page uses: quantizations listed, download by --quant with progress, resume after a
dropped connection, a sha256 mismatch rejected, Offline refused (and a one-time allow logged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop import network
from desktop.cli import main
from desktop.settings import Settings
from tests.fakehub import Q4, Q8, FakeHub, make_gguf_files


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = FakeHub(make_gguf_files(tmp_path / "hub-files"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the suite sets it; a user would not
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    yield server
    server.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    Settings.of(offline=False).save(folder)
    return folder


def test_hub_lists_the_quantizations_with_sizes(fake: FakeHub, data: Path, capsys) -> None:
    assert main(["models", "hub", fake.repo, "--data-dir", str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(f["quant"], f["size_bytes"]) for f in doc["files"]] == [
        ("Q4_K_M", len(fake.files[Q4])),
        ("Q8_0", len(fake.files[Q8])),
    ]
    assert [f["file"] for f in doc["files"] if f["recommended"]] == [Q4]


def test_download_by_quant_resumes_after_a_drop(fake: FakeHub, data: Path, capsys) -> None:
    fake.drop_once.add(Q4)
    code = main(["models", "download", fake.repo, "--quant", "Q4_K_M", "--data-dir", str(data)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (data / "models" / Q4).read_bytes() == fake.files[Q4]
    assert f"downloading {Q4}" in captured.err and " of " in captured.err
    assert "Tiny Report" in captured.out and "Q4_K_M" in captured.out
    gets = fake.gets(Q4)
    assert len(gets) == 2 and gets[0] is None and gets[1] not in (None, "bytes=0-")


def test_a_sha256_mismatch_is_rejected(fake: FakeHub, data: Path, capsys) -> None:
    fake.wrong_sha.add(Q8)
    code = main(["models", "download", fake.repo, "--quant", "Q8_0", "--data-dir", str(data)])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("draftwell: ") and "does not match the Hub's sha256" in last
    assert not list((data / "models").glob("Tiny*"))


def test_offline_is_refused_and_a_one_time_allow_is_logged(
    fake: FakeHub, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "offline-data"  # a fresh install: Offline is on
    args = ["models", "download", fake.repo, "--quant", "Q4_K_M", "--data-dir", str(data)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline mode is on" in err and "Settings" in err
    assert "--allow-once" in err
    assert fake.requests == []

    assert main([*args, "--allow-once"]) == 0
    assert (data / "models" / Q4).is_file()
    outcomes = [(e.purpose, e.outcome) for e in network.recent_entries(10)]
    purpose = f"model download ({fake.repo})"
    assert (purpose, "allowed once") in outcomes
    assert outcomes.index((purpose, "allowed once")) < outcomes.index((purpose, "ok"))


def test_a_download_becomes_the_active_model_of_research(fake: FakeHub, data: Path, capsys) -> None:
    code = main(["models", "download", fake.repo, "--quant", "Q8_0", "--data-dir", str(data)])
    err = capsys.readouterr().err
    assert code == 0, err
    path = data / "models" / Q8
    assert Settings.load(data).model.model_path == str(path)
    assert f"active model: {Q8}" in err
    from desktop.cli import _model_choice, build_parser

    args = build_parser().parse_args(["research", "q?", "--data-dir", str(data)])
    assert _model_choice(args, Settings.load(data)).path == path  # what research would load
    assert main(["models", "list", "--data-dir", str(data), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["path"] for m in listed if m["active"]] == [str(path)]


def test_no_activate_keeps_the_active_model(fake: FakeHub, data: Path, capsys) -> None:
    args = ["models", "download", fake.repo, "--quant", "Q4_K_M", "--data-dir", str(data)]
    assert main([*args, "--no-activate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is False
    assert Settings.load(data).model.model_path is None
    assert (data / "models" / Q4).is_file()


def test_models_use_takes_a_name_or_a_path_and_list_marks_it(
    fake: FakeHub, data: Path, tmp_path: Path, capsys
) -> None:
    folder = data / "models"
    folder.mkdir()
    (folder / Q8).write_bytes(fake.files[Q8])
    assert main(["models", "use", "Tiny-Report-Q8_0", "--data-dir", str(data)]) == 0
    assert Settings.load(data).model.model_path == str(folder / Q8)
    capsys.readouterr()
    assert main(["models", "list", "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("*")] == [
        next(line for line in lines if Q8 in line)
    ]

    elsewhere = tmp_path / "elsewhere" / Q4
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(fake.files[Q4])
    assert main(["models", "use", str(elsewhere), "--data-dir", str(data)]) == 0
    assert Settings.load(data).model.model_path == str(elsewhere)

    assert main(["models", "use", "embedded", "--data-dir", str(data)]) == 0
    assert Settings.load(data).model.model_path is None
    capsys.readouterr()
    assert main(["models", "use", "No-Such-Model", "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model called No-Such-Model" in err
    assert Settings.load(data).model.model_path is None  # nothing changed


def test_list_shows_a_model_file_chosen_in_settings(
    fake: FakeHub, data: Path, tmp_path: Path, capsys
) -> None:
    chosen = tmp_path / "picked" / Q4
    chosen.parent.mkdir()
    chosen.write_bytes(fake.files[Q4])
    Settings.load(data).with_(model_path=str(chosen)).save(data)  # as Settings → "A GGUF file"
    assert main(["models", "list", "--data-dir", str(data), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["path"], m["source"]) for m in listed if m["active"]] == [(str(chosen), "chosen")]


def test_a_one_time_allowance_outlives_the_process(fake: FakeHub, tmp_path: Path, capsys) -> None:
    data = tmp_path / "offline-data"  # Offline on
    args = ["models", "download", fake.repo, "--quant", "Q4_K_M", "--data-dir", str(data)]
    assert main([*args, "--allow-once"]) == 0
    err = capsys.readouterr().err
    durable = data / network.DURABLE_LOG_FILENAME
    assert f"this one download is allowed (recorded in {durable})" in err
    network.clear_log()  # what a new process starts with
    purpose = f"model download ({fake.repo})"
    outcomes = [(e.purpose, e.outcome) for e in network.read_durable_log(data)]
    assert outcomes[0] == (purpose, "allowed once") and (purpose, "ok") in outcomes
    assert outcomes.count((purpose, "allowed once")) == 1


def test_hf_hub_offline_is_named_as_the_cause(
    fake: FakeHub, data: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set by the user; Offline is off in settings
    args = ["models", "download", fake.repo, "--quant", "Q4_K_M", "--data-dir", str(data)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HF_HUB_OFFLINE=1 is set in the environment" in err
    assert "Settings" not in err and "--allow-once" in err
    assert fake.requests == []
