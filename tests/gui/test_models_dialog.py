"""The models page against the fake Hub on loopback (tests.fakehub; never the real Hub): it lists
the quantizations, downloads with a progress bar, resumes after a dropped connection and after a
pause, rejects a sha256 mismatch, refuses in Offline mode (with a logged one-time allow); and the
honest first run: the embedded model is called a demo on the first-run page, in the status bar
and once in a run's activity log."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop import network
from desktop.gui.engine_worker import RunOpened
from desktop.gui.main_window import EMBEDDED_RUN_NOTE
from desktop.settings import Settings
from tests.fakehub import Q4, Q8, FakeHub, make_gguf_files


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = FakeHub(make_gguf_files(tmp_path / "hub-files"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    yield server
    server.close()


def _page(make_window, qtbot, fake: FakeHub, *, offline: bool = False):
    window = make_window(settings=Settings.of(max_step=40, max_extend=1, offline=offline))
    window.show_models()
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: dialog.machine is not None and bool(dialog.local), timeout=30_000)
    dialog.tabs.setCurrentIndex(1)
    dialog.repo_edit.setText(fake.repo)
    return window, dialog


def _list(qtbot, dialog) -> None:
    with qtbot.waitSignal(dialog.listed, timeout=10_000):
        dialog.list_button.click()


def _rows(table) -> list[list[str]]:
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def _select(dialog, name: str) -> None:
    names = [f.name for f in dialog.listing.models()]
    dialog.hub_table.selectRow(names.index(name))


def test_lists_the_quantizations_with_sizes_and_a_recommendation(make_window, qtbot, fake):
    _window, dialog = _page(make_window, qtbot, fake)
    assert dialog.repo_edit.text() == fake.repo
    _list(qtbot, dialog)
    rows = _rows(dialog.hub_table)
    assert [(r[0], r[1]) for r in rows] == [("Q4_K_M", Q4), ("Q8_0", Q8)]
    assert rows[0][2] == "2 MiB" and rows[1][2] == "5 MiB"
    assert rows[0][4] == "recommended" and rows[0][3].startswith("yes")
    assert dialog.selected_hub_file().name == Q4
    assert "Q4_K_M" in dialog.recommend_label.text()


def test_downloads_with_a_progress_bar_resumes_after_a_drop_and_activates(make_window, qtbot, fake):
    window, dialog = _page(make_window, qtbot, fake)
    _list(qtbot, dialog)
    fake.drop_once.add(Q4)
    values: list[int] = []
    dialog.progress.valueChanged.connect(values.append)
    with qtbot.waitSignal(dialog.downloadEnded, timeout=20_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["finished"], dialog.status.text()
    assert dialog.progress.value() == 1000 and any(0 < v < 1000 for v in values)
    gets = fake.gets(Q4)
    assert len(gets) == 2 and gets[0] is None and gets[1].startswith("bytes=")
    path = window.data_dir / "models" / Q4
    assert path.read_bytes() == fake.files[Q4]
    assert window.settings.model.model_path == str(path)
    assert Settings.load(window.data_dir).model.model_path == str(path)
    assert "demo only" not in window.run_status.model_label.text()
    qtbot.waitUntil(
        lambda: any(r[0] == "●" and r[1] == "Tiny Report" for r in _rows(dialog.local_table))
    )


def _hold_a_download(qtbot, dialog, fake) -> None:
    """List the repo and start downloading Q8_0, which the fake Hub holds half-way."""
    _list(qtbot, dialog)
    fake.hold = Q8
    _select(dialog, Q8)
    dialog.download_button.click()
    qtbot.waitUntil(fake.holding.is_set, timeout=10_000)


def test_pause_keeps_the_part_and_resume_continues_it(make_window, qtbot, fake):
    _window, dialog = _page(make_window, qtbot, fake)
    _hold_a_download(qtbot, dialog, fake)
    assert dialog.pause_button.isEnabled() and not dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.downloadEnded, timeout=10_000) as ended:
        dialog.pause_button.click()
        fake.release()
    assert ended.args == ["paused"] and "Resume" in dialog.status.text()
    assert 0 < dialog.progress.value() < 1000
    assert dialog.resume_button.isEnabled()
    with qtbot.waitSignal(dialog.downloadEnded, timeout=10_000) as ended:
        dialog.resume_button.click()
    assert ended.args == ["finished"]
    assert fake.gets(Q8)[-1].startswith("bytes=") and fake.gets(Q8)[-1] != "bytes=0-"


def test_a_sha256_mismatch_is_rejected_and_nothing_is_kept(make_window, qtbot, fake):
    window, dialog = _page(make_window, qtbot, fake)
    fake.wrong_sha.add(Q8)
    _list(qtbot, dialog)
    _select(dialog, Q8)
    with qtbot.waitSignal(dialog.downloadEnded, timeout=20_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["failed"]
    assert "does not match the Hub's sha256" in dialog.status.text()
    assert not list((window.data_dir / "models").glob("Tiny-Report-Q8_0*"))
    assert window.settings.model.model_path is None


def test_offline_refuses_in_one_line_and_allows_once_with_a_log_entry(make_window, qtbot, fake):
    _window, dialog = _page(make_window, qtbot, fake, offline=True)
    dialog.list_button.click()
    qtbot.waitUntil(lambda: dialog.offline_label.isVisibleTo(dialog), timeout=10_000)
    text = dialog.offline_label.text()
    assert text.startswith("Offline mode is on") and "Settings" in text and "\n" not in text
    assert dialog.allow_button.isVisibleTo(dialog)
    assert fake.requests == [] and dialog.hub_table.rowCount() == 0
    with qtbot.waitSignal(dialog.listed, timeout=10_000):
        dialog.allow_button.click()
    with qtbot.waitSignal(dialog.downloadEnded, timeout=20_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["finished"]
    outcomes = [(e.purpose, e.outcome) for e in network.recent_entries(20)]
    assert (f"model download ({fake.repo})", "allowed once") in outcomes
    assert network.is_offline()  # the allowance did not switch Offline off


def test_a_dropped_gguf_goes_to_the_models_page_and_a_pdf_to_the_library(
    make_window, qtbot, fake, tmp_path
):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from tests.helpers import make_pdf

    window = make_window()
    model = tmp_path / "hub-files" / Q4
    pdf = make_pdf(tmp_path / "notes.pdf", ["Heat pumps move heat."])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(model)), QUrl.fromLocalFile(str(pdf))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: any(i.path == model for i in dialog.local), timeout=10_000)
    library = window.libraries[0]
    qtbot.waitUntil(lambda: str(pdf.resolve()) in library.documents, timeout=10_000)
    assert list(library.documents) == [str(pdf.resolve())]  # the model was not indexed
    linked = [i for i in dialog.local if i.path == model]
    assert linked[0].source == "linked" and model.is_file()  # added by reference, not moved


def test_the_embedded_model_is_called_a_demo_once_per_run(make_window, qtbot):
    window = make_window()
    assert "only demonstrates the pipeline" in window.draft.empty.toPlainText()
    assert window.run_status.model_label.text().endswith("demo only")
    from desktop.llm.models import embedded_model_path

    name = embedded_model_path().name  # what a run on the embedded model records
    opened = RunOpened("run-1", "q?", name, 40, 0, False, ("a.pdf",), "en")
    window._on_opened(opened)
    window._on_opened(opened)  # resumed or reopened: not again
    assert window.run_status.model_label.text() == f"{name} — demo only"
    rows = window.activity.model.rowCount()
    notes = [
        window.activity.model.item(r, 3).text()
        for r in range(rows)
        if window.activity.model.item(r, 3).text() == EMBEDDED_RUN_NOTE
    ]
    assert len(notes) == 1


def test_make_active_and_remove_which_deletes_a_folder_file_only_after_confirming(
    make_window, qtbot, fake
):
    window = make_window()
    folder = window.data_dir / "models"
    folder.mkdir()
    model = folder / Q8
    model.write_bytes(fake.files[Q8])
    window.show_models()
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: any(i.path == model for i in dialog.local), timeout=10_000)
    row = [i.path for i in dialog.local].index(model)
    assert _rows(dialog.local_table)[row][1:5] == ["Tiny Report", "llama", "1M params", "Q8_0"]

    dialog.local_table.selectRow(row)
    with qtbot.waitSignal(dialog.activated):
        dialog.activate_button.click()
    assert window.settings.model.model_path == str(model)
    assert window.run_status.model_label.text() == Q8  # no "demo only" any more

    window.prompts.confirms[:] = [False]
    dialog.local_table.selectRow(row)
    dialog.remove_button.click()
    assert model.is_file() and window.prompts.asked[-1] == "Remove Model"
    window.prompts.confirms[:] = [True]
    with qtbot.waitSignal(dialog.activated):  # the active model went: back to the embedded one
        dialog.remove_button.click()
    assert not model.exists()
    assert window.settings.model.model_path is None
    qtbot.waitUntil(lambda: all(i.path != model for i in dialog.local), timeout=10_000)


def test_the_first_run_links_open_the_models_page_and_the_settings(make_window, qtbot):
    from PySide6.QtCore import QUrl

    from desktop.gui.draft import MODELS_LINK, SETTINGS_LINK

    window = make_window()
    window.draft.empty.anchorClicked.emit(QUrl(MODELS_LINK))
    assert window.models_dialog is not None and window.models_dialog.isVisible()
    window.models_dialog.reject()
    window.draft.empty.anchorClicked.emit(QUrl(SETTINGS_LINK))
    assert window.settings_dialog is not None and window.settings_dialog.isVisible()
    window.settings_dialog.reject()
    window._on_model_activated(Settings.of(server_url="http://127.0.0.1:8080/v1"))
    assert "only demonstrates" not in window.draft.empty.toPlainText()
    assert "demo only" not in window.run_status.model_label.text()


def test_cancel_stops_the_download_and_deletes_the_part(make_window, qtbot, fake):
    window, dialog = _page(make_window, qtbot, fake)
    _hold_a_download(qtbot, dialog, fake)
    with qtbot.waitSignal(dialog.downloadEnded, timeout=10_000) as ended:
        dialog.cancel_button.click()
        fake.release()
    assert ended.args == ["cancelled"] and "deleted" in dialog.status.text()
    assert list((window.data_dir / "models").iterdir()) == []
    assert not dialog.resume_button.isEnabled() and dialog.download_button.isEnabled()


@pytest.fixture
def catalogue_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake Hub serving its files as the catalogue's AgentCPM-Report repository."""
    from desktop.llm.models import DEFAULT_DOWNLOAD_REPO

    server = FakeHub(make_gguf_files(tmp_path / "hub-files"), repo=DEFAULT_DOWNLOAD_REPO)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("DRAFTWELL_OFFLINE", raising=False)
    yield server
    server.close()


def test_the_first_run_download_link_opens_agentcpm_report_listed(
    make_window, qtbot, catalogue_hub
):
    from PySide6.QtCore import QUrl

    from desktop.gui.draft import MODELS_LINK
    from desktop.llm.models import DEFAULT_DOWNLOAD_REPO

    window = make_window(settings=Settings.of(max_step=40, max_extend=1, offline=False))
    window.draft.empty.anchorClicked.emit(QUrl(MODELS_LINK))
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: dialog.listing is not None, timeout=10_000)
    assert dialog.tabs.currentIndex() == 1
    assert dialog.catalogue.currentData() == DEFAULT_DOWNLOAD_REPO
    assert dialog.listing.repo_id == DEFAULT_DOWNLOAD_REPO
    assert [r[1] for r in _rows(dialog.hub_table)] == [Q4, Q8]
    assert dialog.download_button.isEnabled()  # the second click downloads


def test_the_demo_model_button_offline_shows_the_refusal_and_allows_once(
    make_window, qtbot, catalogue_hub
):
    from PySide6.QtCore import QCoreApplication

    from desktop.llm.models import DEFAULT_DOWNLOAD_REPO

    window = make_window()  # a fresh install: Offline on, the embedded model
    window.run_status.model_label.click()
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: dialog.offline_label.isVisibleTo(dialog), timeout=10_000)
    assert dialog.tabs.currentIndex() == 1 and dialog.allow_button.isVisibleTo(dialog)
    assert dialog.offline_label.text().startswith("Offline mode is on")
    assert catalogue_hub.requests == []
    with qtbot.waitSignal(dialog.listed, timeout=10_000):
        dialog.allow_button.click()
    with qtbot.waitSignal(dialog.downloadEnded, timeout=20_000) as ended:
        dialog.download_button.click()
    assert ended.args == ["finished"]
    purpose = f"model download ({DEFAULT_DOWNLOAD_REPO})"
    outcomes = [(e.purpose, e.outcome) for e in network.recent_entries(50)]
    assert outcomes.count((purpose, "allowed once")) == 1  # one allowance, logged once
    assert window.settings.model.model_path == str(window.data_dir / "models" / Q4)
    durable = [(e.purpose, e.outcome) for e in network.read_durable_log(window.data_dir)]
    assert durable.count((purpose, "allowed once")) == 1 and (purpose, "ok") in durable
    network.clear_log()  # a later session: the settings' network log view still shows it
    window.show_settings()
    log_text = window.settings_dialog.network_log_text()
    assert window.tasks.wait()  # the settings page's own probes answer before it closes
    QCoreApplication.processEvents()
    window.settings_dialog.reject()
    assert "Model downloads, from every session" in log_text and "allowed once" in log_text
    # used up: a second download from the same repository is refused again
    dialog.tabs.setCurrentIndex(1)  # a finished download shows the local tab
    _select(dialog, Q8)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.offline_label.isVisibleTo(dialog), timeout=10_000)
    assert not (window.data_dir / "models" / Q8).exists()


def test_the_allowance_is_for_the_refused_repository_only(make_window, qtbot, fake):
    _window, dialog = _page(make_window, qtbot, fake, offline=True)
    dialog.list_button.click()
    qtbot.waitUntil(lambda: dialog.offline_label.isVisibleTo(dialog), timeout=10_000)
    with qtbot.waitSignal(dialog.listed, timeout=10_000):
        dialog.allow_button.click()
    dialog.repo_edit.setText("someone/Other-GGUF")  # typed after the allowance
    dialog.list_button.click()
    qtbot.waitUntil(lambda: dialog.offline_label.isVisibleTo(dialog), timeout=10_000)
    assert not any("Other-GGUF" in path for _, path, _ in fake.requests)


def test_the_model_button_and_the_menu_open_the_page(make_window, qtbot, fake, tmp_path):
    window = make_window()
    window.menu_actions.models.trigger()
    dialog = window.models_dialog
    assert dialog is not None and dialog.isVisible() and dialog.tabs.currentIndex() == 0
    dialog.reject()
    model = tmp_path / "mine" / Q8
    model.parent.mkdir()
    model.write_bytes(fake.files[Q8])
    window._on_model_activated(window.settings.with_(model_path=str(model)))
    window.run_status.model_label.click()  # a real model: the local tab, not the download
    dialog = window.models_dialog
    assert dialog is not None and dialog.isVisible() and dialog.tabs.currentIndex() == 0


def _page_with_a_picked_model(make_window, qtbot, fake, tmp_path):
    """A window whose settings name a GGUF outside the models folder, its models page open."""
    model = tmp_path / "picked" / Q4
    model.parent.mkdir()
    model.write_bytes(fake.files[Q4])
    window = make_window(settings=Settings.of(max_step=40, max_extend=1, model_path=str(model)))
    window.show_models()
    dialog = window.models_dialog
    qtbot.waitUntil(lambda: any(i.path == model for i in dialog.local), timeout=10_000)
    return window, dialog, model


def test_a_model_file_chosen_in_settings_is_listed_as_active(make_window, qtbot, fake, tmp_path):
    window, dialog, model = _page_with_a_picked_model(make_window, qtbot, fake, tmp_path)
    row = [i.path for i in dialog.local].index(model)
    assert _rows(dialog.local_table)[row][:2] == ["●", "Tiny Report"]
    assert sum(r[0] == "●" for r in _rows(dialog.local_table)) == 1


def test_the_status_shows_speed_and_time_left(make_window, qtbot, fake):
    _window, dialog = _page(make_window, qtbot, fake)
    _list(qtbot, dialog)
    fake.piece_delay = 0.05  # a slow link: several progress reports with a measured speed
    _select(dialog, Q8)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "/s" in dialog.status.text(), timeout=20_000)
    text = dialog.status.text()
    assert " of 5 MiB" in text and text.endswith(" left") and " · " in text
    with qtbot.waitSignal(dialog.downloadEnded, timeout=20_000):
        dialog.cancel_button.click()


def test_a_paused_part_resumes_in_a_new_page(make_window, qtbot, fake):
    window, dialog = _page(make_window, qtbot, fake)
    _hold_a_download(qtbot, dialog, fake)
    with qtbot.waitSignal(dialog.downloadEnded, timeout=10_000):
        dialog.pause_button.click()
        fake.release()
    dialog.reject()  # the page closes; the part stays
    qtbot.waitUntil(lambda: window.models_dialog is None)
    _window, dialog = _page(lambda **kw: window, qtbot, fake)
    _list(qtbot, dialog)
    row = [f.name for f in dialog.listing.models()].index(Q8)
    mark = _rows(dialog.hub_table)[row][4]
    assert mark.startswith("paused, ") and mark.endswith("% — Resume")
    assert dialog.resume_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert "paused at" in dialog.status.text() and 0 < dialog.progress.value() < 1000
    with qtbot.waitSignal(dialog.downloadEnded, timeout=10_000) as ended:
        dialog.resume_button.click()
    assert ended.args == ["finished"]
    assert fake.gets(Q8)[-1].startswith("bytes=") and fake.gets(Q8)[-1] != "bytes=0-"
    assert (window.data_dir / "models" / Q8).read_bytes() == fake.files[Q8]


def test_download_on_a_downloaded_row_makes_it_active(make_window, qtbot, fake):
    window, dialog = _page(make_window, qtbot, fake)
    folder = window.data_dir / "models"
    folder.mkdir()
    (folder / Q8).write_bytes(fake.files[Q8])
    _list(qtbot, dialog)
    _select(dialog, Q8)
    assert dialog.download_button.text() == "Make Active"
    with qtbot.waitSignal(dialog.activated, timeout=10_000):
        dialog.download_button.click()
    assert window.settings.model.model_path == str(folder / Q8)
    assert "now the active model" in dialog.status.text()
    assert fake.gets(Q8) == []  # nothing downloaded again


def test_removing_a_file_chosen_in_settings_stops_using_it_and_keeps_the_file(
    make_window, qtbot, fake, tmp_path
):
    window, dialog, model = _page_with_a_picked_model(make_window, qtbot, fake, tmp_path)
    dialog.local_table.selectRow([i.path for i in dialog.local].index(model))
    window.prompts.confirms[:] = [True]
    with qtbot.waitSignal(dialog.activated):
        dialog.remove_button.click()
    assert window.prompts.asked[-1] == "Remove Model"
    assert window.settings.model.model_path is None and model.is_file()
    qtbot.waitUntil(lambda: all(i.path != model for i in dialog.local), timeout=10_000)
