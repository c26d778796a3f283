"""Chinese (and every other language) documents chunk, index and retrieve like English ones.

The Chinese text is Debian's own: the Debian Edu 12 manual of the `debian-edu-doc-zh-cn`
package, fetched by scripts/fetch_manuals.sh (never committed). The .txt, .docx, .md and PDF
the library ingests here are made from that text.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.cancel import Cancelled, CancelToken
from desktop.downloads import download_embedder
from desktop.knowledge.catalog import MIGRATIONS, Catalog
from desktop.knowledge.chunking import ESTIMATE_ONLY, Section, chunk_section
from desktop.knowledge.embedder import (
    DEFAULT_MODEL_NAME,
    Embedder,
    EmbedderError,
    _bundled_model_path,
    embedder_from_setting,
    is_downloaded,
    model_prefixes,
)
from desktop.knowledge.htmltext import decode_html, extract
from desktop.knowledge.ingest import CHUNKER_VERSION, IngestProgress
from desktop.knowledge.keywords import index_text, query_terms
from desktop.knowledge.language import detect_language
from desktop.knowledge.library import Library, LibraryError
from desktop.knowledge.retrieval import fts_query
from desktop.llm.hub import DownloadProgress
from tests.fakehub import EMBEDDER_REPO, EMBEDDER_WIDTH, FakeHub, tiny_embedder_files

from .knowledge_docs import make_docx

REPO = Path(__file__).resolve().parents[2]
MANUAL = "usr/share/doc/debian-edu-doc-zh-cn/debian-edu-bookworm-manual.html"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="session")
def zh_sections() -> list[tuple[str, str]]:
    """Return (heading, text) of the Chinese Debian Edu manual's sections that are Chinese."""
    cache = Path(os.environ.get("DRAFTWELL_MANUALS", Path.home() / ".cache/draftwell-manuals"))
    if not (cache / "root" / MANUAL).exists():
        if shutil.which("apt-get") is None:
            pytest.skip("needs apt-get to fetch debian-edu-doc-zh-cn")
        subprocess.run(
            ["bash", str(REPO / "scripts" / "fetch_manuals.sh"), str(cache)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "FETCH_PACKAGES": "debian-edu-doc-zh-cn"},
        )
    page = extract(decode_html((cache / "root" / MANUAL).read_bytes()))
    sections = [(s.heading, s.text) for s in page.sections if len(HAN.findall(s.text)) > 30]
    assert sum(len(t) for _, t in sections) > 40_000
    return sections


def _chinese_text(sections: list[tuple[str, str]], chars: int) -> str:
    text = ""
    for _, body in sections:
        text += body + "\n\n"
        if len(text) >= chars:
            break
    return text[:chars]


# --- chunking -----------------------------------------------------------------------------------


def test_no_chunk_exceeds_the_embedders_limit_in_any_language(
    embedder: Embedder, zh_sections: list[tuple[str, str]]
) -> None:
    budget = embedder.chunk_budget()
    assert budget.limit == embedder.max_tokens == 256  # measured: MiniLM's max_seq_length
    code = " ".join(f"obj.method_{i}(arg[{i}], key='v{i}');" for i in range(400))
    texts = {
        "zh": _chinese_text(zh_sections, 20_000),
        "zh without punctuation or breaks": re.sub(r"\W", "", _chinese_text(zh_sections, 6000)),
        "ja": "日本語の文書は句読点で文が終わります。これはテストではなく説明です。" * 120,
        "ru": "Документы на русском языке делятся на предложения. " * 300,
        "ar": "تنقسم الوثائق العربية إلى جمل وفقرات قصيرة. " * 300,
        "en code": code,
    }
    for language, text in texts.items():
        section = Section(text, page=3, heading="第 3 章 网络 / Network")
        chunks = chunk_section(section, budget)
        assert chunks, language
        counts = [embedder.count_tokens(c.embed_text) for c in chunks]
        assert max(counts) <= budget.limit, (language, max(counts))
        assert all(c.page == 3 and c.heading == section.heading for c in chunks)
    # The estimate alone is not enough: without the tokenizer's check code overflows the model.
    estimated = chunk_section(Section(code), ESTIMATE_ONLY)
    assert max(embedder.count_tokens(c.embed_text) for c in estimated) > budget.limit


def test_chinese_sentences_end_at_full_width_punctuation() -> None:
    sentence = "主服务器提供网络服务，并且管理用户帐号。"
    text = "".join(f"第{i}句：{sentence}" for i in range(200))  # no space anywhere
    chunks = chunk_section(Section(text))
    assert len(chunks) > 5
    assert all(c.text.endswith("。") for c in chunks)
    assert max(len(c.text) for c in chunks) < 400


@pytest.fixture(scope="module")
def zh_txt_library(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    zh_sections: list[tuple[str, str]],
) -> Iterator[tuple[Library, str]]:
    """A library holding one .txt of the manual's first 20,000 characters (built once)."""
    folder = tmp_path_factory.mktemp("zh-txt")
    text = _chinese_text(zh_sections, 20_000)
    (folder / "manual.txt").write_text(text, encoding="utf-8")
    library = Library(folder / "data", embedder=embedder)
    library.add([folder / "manual.txt"])
    yield library, text
    library.close()


def test_a_chinese_txt_of_20000_characters_gives_40_chunks_or_more(
    zh_txt_library: tuple[Library, str],
) -> None:
    library, text = zh_txt_library
    (status,) = library.list()
    assert status.status == "indexed" and status.language == "zh"
    assert status.chunks >= 40, status.chunks
    rows = library._catalog._db().execute("SELECT text, page, heading FROM chunks").fetchall()
    assert all(page is None and heading == "" for _, page, heading in rows)
    squashed = re.sub(r"\s", "", text)
    assert all(re.sub(r"\s", "", chunk) in squashed for chunk, _, _ in rows)  # spans are exact


def test_chinese_docx_and_markdown_chunks_keep_their_heading(
    library: Library, docs: Path, zh_sections: list[tuple[str, str]]
) -> None:
    chosen = [(h, t) for h, t in zh_sections if len(t) > 700][:3]
    blocks = [
        b for h, t in chosen for b in (("heading", h), *(("para", p) for p in t.split("\n\n")))
    ]
    make_docx(docs / "manual.docx", blocks)
    markdown = "\n\n".join(f"## {h}\n\n{t}" for h, t in chosen)
    (docs / "manual.md").write_text(markdown, encoding="utf-8")
    statuses = library.add([docs / "manual.docx", docs / "manual.md"])
    assert [s.language for s in statuses] == ["zh", "zh"]
    rows = library._catalog._db().execute("SELECT heading, text FROM chunks").fetchall()
    bodies = {" ".join(h.split()): re.sub(r"\s", "", t) for h, t in chosen}
    assert len(rows) >= 2 * len(chosen)
    for heading, text in rows:
        assert re.sub(r"\s", "", text) in bodies[heading]  # each chunk sits under its heading


def test_chinese_pdf_chunks_keep_their_page(
    library: Library, docs: Path, zh_sections: list[tuple[str, str]]
) -> None:
    import pymupdf

    # (the china-s font has no "²": leave it out so the page holds exactly this text)
    texts = [" ".join(t[:600].replace("²", "").split()) for _, t in zh_sections[1:]]
    pages = [t for t in texts if len(t) >= 500][:4]
    pdf = pymupdf.open()
    for text in pages:
        page = pdf.new_page()
        spare = page.insert_textbox(
            page.rect + (50, 50, -50, -50), text, fontsize=10, fontname="china-s"
        )
        assert spare >= 0, "the text does not fit on the page"
    pdf.save(docs / "manual.pdf")
    pdf.close()
    (status,) = library.add([docs / "manual.pdf"])
    assert status.status == "indexed" and status.language == "zh" and status.pages == 4
    rows = library._catalog._db().execute("SELECT page, text FROM chunks").fetchall()
    assert {page for page, _ in rows} == {1, 2, 3, 4}
    for page, text in rows:
        assert re.sub(r"\s", "", text) in re.sub(r"\s", "", pages[page - 1])


# --- keyword search -----------------------------------------------------------------------------


def test_bm25_finds_a_two_character_chinese_word(zh_txt_library: tuple[Library, str]) -> None:
    library, _ = zh_txt_library
    rows = library._catalog._db().execute("SELECT id, text FROM chunks").fetchall()
    with_word = {i for i, t in rows if "网卡" in re.sub(r"\s", "", t)}
    assert 0 < len(with_word) < len(rows) // 2
    found = library.retriever(hybrid=True).keyword_ids("网卡", 100)  # type: ignore[attr-defined]
    assert set(found) == with_word
    # A question finds it too: its bigrams include 网卡; the stop bigrams (几块…) are dropped.
    top = library.retriever(hybrid=True).keyword_ids("LTSP 服务器需要几块网卡", 5)  # type: ignore[attr-defined]
    assert set(top) & with_word


def test_keyword_terms_are_bigrams_on_both_sides() -> None:
    assert index_text("配置网络服务 on Debian") == " 配置 置网 网络 络服 服务  on Debian"
    assert query_terms("Debian教育的网卡") == ["debian", "教育", "育的", "的网", "网卡"]
    assert query_terms("库") == ["库"]
    assert fts_query("如何配置网卡") == '"何配" OR "配置" OR "置网" OR "网卡"'
    assert fts_query("the printer") == '"printer"'


def test_migration_3_rebuilds_the_keyword_index_of_an_existing_library(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        migration(db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO meta(key, value) VALUES ('library_id', 'abc')")
    db.execute(
        "INSERT INTO documents(hash, path, status, updated) VALUES ('d1', '/x.txt', 'indexed', 0)"
    )
    db.execute(
        "INSERT INTO chunks(id, doc, seq, page, heading, start, end, text, vec) "
        "VALUES ('c1', 'd1', 0, NULL, '', 0, 9, 'LTSP 服务器需要两个网卡', 'c1')"
    )
    assert (
        db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '网卡'").fetchone()[0]
        == 0
    )
    db.close()
    catalog = Catalog(path)
    try:
        assert catalog.bm25('"网卡"', 5, None) == ["c1"]
        assert catalog.document("d1").language == ""  # type: ignore[union-attr]
        assert catalog.meta("collection") == "draftwell-abc"  # the old collection is kept
    finally:
        catalog.close()


# --- language -----------------------------------------------------------------------------------


def test_languages_are_told_apart(zh_sections: list[tuple[str, str]]) -> None:
    assert detect_language(_chinese_text(zh_sections, 3000)) == "zh"
    assert detect_language("これは日本語の文章です。漢字とひらがなが混ざっています。" * 3) == "ja"
    assert detect_language("한국어 문서는 한글로 쓰여 있습니다. " * 5) == "ko"
    assert detect_language("Это документ на русском языке, и он довольно короткий. " * 3) == "ru"
    assert detect_language("The server provides the network services for the school. " * 3) == "en"
    assert (
        detect_language("Der Server stellt die Dienste für die Schule und das Netz bereit. " * 3)
        == "de"
    )
    assert detect_language("12 34 56") == ""
    # An English manual that quotes some Chinese stays English.
    assert detect_language("The manual is translated as " + "手册" + " in Chinese. " * 20) == "en"


# --- the embedder -------------------------------------------------------------------------------


def test_query_and_passage_prefixes_follow_the_model_family() -> None:
    assert model_prefixes("multilingual-e5-small", {}) == ("query: ", "passage: ")
    assert model_prefixes("bge-small-zh-v1.5", {})[0].startswith("为这个句子")
    assert model_prefixes("bge-small-en-v1.5", {})[0].startswith("Represent this sentence")
    assert model_prefixes("all-MiniLM-L6-v2", {}) == ("", "")
    assert model_prefixes("custom", {"query": "q: ", "document": "d: "}) == ("q: ", "d: ")


def test_embedder_settings_name_folders_and_refuse_what_is_not_a_model(tmp_path: Path) -> None:
    assert embedder_from_setting(None).name == DEFAULT_MODEL_NAME
    folder = tmp_path / "my-model"
    folder.symlink_to(_bundled_model_path(), target_is_directory=True)
    assert embedder_from_setting(str(folder)).name == "my-model"
    with pytest.raises(EmbedderError, match="not a sentence-transformers model"):
        embedder_from_setting(str(tmp_path))
    with pytest.raises(EmbedderError, match="not downloaded"):
        embedder_from_setting("intfloat/multilingual-e5-small", tmp_path)


def test_a_hub_download_is_refused_offline(tmp_path: Path) -> None:
    from desktop import network

    network.configure(offline=True)
    with pytest.raises(EmbedderError, match="offline mode is on"):
        download_embedder("intfloat/multilingual-e5-small", tmp_path)
    assert network.recent_entries(1)[-1].outcome == "refused"
    assert not (tmp_path / "embedders").exists()
    with pytest.raises(EmbedderError, match="offline mode is on"):  # even from this computer
        download_embedder("intfloat/multilingual-e5-small", tmp_path, endpoint="http://127.0.0.1:9")


def test_a_library_refuses_another_models_vectors_and_reindexes_on_request(
    tmp_path: Path, embedder: Embedder, zh_sections: list[tuple[str, str]]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(_chinese_text(zh_sections, 3000), encoding="utf-8")
    (docs / "b.txt").write_text("The main server hands out addresses with DHCP. " * 20)
    data = tmp_path / "data"
    with Library(data, embedder=embedder) as first:
        first.add([docs])
        old_collection = first._collection_name()
    other_folder = tmp_path / "other-model"
    other_folder.symlink_to(_bundled_model_path(), target_is_directory=True)
    other = Embedder(other_folder)
    (docs / "c.txt").write_text("A third document arrives later. " * 10)
    library = Library(data, embedder=other)
    try:
        assert library.embedder_state().needs_reindex
        with pytest.raises(LibraryError, match="re-index"):
            library.add([docs / "c.txt"])
        with pytest.raises(LibraryError, match="re-index"):
            library.retriever()
        cancel = CancelToken()
        seen: list[IngestProgress] = []

        def stop_at_once(progress: IngestProgress) -> None:
            seen.append(progress)
            cancel.set()  # Stop pressed as soon as the first file starts

        with pytest.raises(Cancelled):
            library.reindex(progress=stop_at_once, cancel=cancel)
        assert seen and not any(p.done for p in seen)
        assert {s.status for s in library.list()} == {"indexing"}  # all of it waits
        assert {s.error for s in library.list()} == {"interrupted: add it again to resume"}
        statuses = library.reindex(progress=seen.append)
        assert sum(p.done for p in seen) == 2
        assert [s.status for s in statuses] == ["indexed", "indexed"]
        assert library.embedder_state().built_with == f"other-model/{other.dimension}"
        assert library._collection_name() != old_collection
        assert library.verify() == []
        passages = library.retriever(hybrid=False).search("主服务器", 3)
        assert passages and passages[0].source.endswith("a.txt")
        assert library.add([docs / "c.txt"])[0].status == "indexed"
        names = {c.name for c in library._vector_index()._client.list_collections()}
        assert old_collection not in names  # the first model's vectors are gone
    finally:
        library.close()
    with Library(data, embedder=embedder) as back, pytest.raises(LibraryError):
        back.retriever()


def test_the_cli_lists_languages_switches_the_embedder_and_reindexes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], zh_sections: list[tuple[str, str]]
) -> None:
    import json

    from desktop.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zh.txt").write_text(_chinese_text(zh_sections, 2000), encoding="utf-8")
    (docs / "en.txt").write_text("The server gives the clients their addresses. " * 10)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["library", "add", str(docs), "--json", *data]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {Path(d["path"]).name: d["language"] for d in listed} == {"en.txt": "en", "zh.txt": "zh"}
    folder = tmp_path / "other-model"
    folder.symlink_to(_bundled_model_path(), target_is_directory=True)
    assert main(["library", "embedder", str(folder), "--json", *data]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["configured"] == str(folder) and state["needs_reindex"] is True
    assert main(["library", "add", str(docs), *data]) == 1
    assert "re-index it (`draftwell library reindex`" in capsys.readouterr().err
    assert main(["library", "reindex", "--json", *data]) == 0
    assert [d["status"] for d in json.loads(capsys.readouterr().out)] == ["indexed", "indexed"]
    assert main(["library", "embedder", "--json", *data]) == 0
    assert json.loads(capsys.readouterr().out)["needs_reindex"] is False
    assert main(["library", "embedder", str(tmp_path), *data]) == 1  # not a model folder
    assert "not a sentence-transformers model" in capsys.readouterr().err


@pytest.fixture
def fake_embedder_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    files = tiny_embedder_files(tmp_path_factory.getbasetemp() / "tiny-embedder")
    server = FakeHub(files, repo=EMBEDDER_REPO)
    yield server
    server.close()


def test_a_hub_model_id_downloads_with_progress_and_becomes_the_embedder(
    tmp_path: Path, fake_embedder_hub: FakeHub
) -> None:
    from desktop import network

    network.configure(offline=False)
    seen: list[DownloadProgress] = []
    folder = download_embedder(
        EMBEDDER_REPO, tmp_path, progress=seen.append, endpoint=fake_embedder_hub.url
    )
    served = fake_embedder_hub.files
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(
        served
    )
    assert (folder / "1_Pooling" / "config.json").read_bytes() == served["1_Pooling/config.json"]
    total = sum(len(data) for data in served.values())
    assert seen and {p.total for p in seen} == {total} and seen[-1].done == total
    assert [p.done for p in seen if p.phase == "downloading"] == sorted(
        p.done for p in seen if p.phase == "downloading"
    )  # bytes over all files, never going back
    purposes = {e.purpose for e in network.recent_entries(50)}
    assert f"model download ({EMBEDDER_REPO})" in purposes  # each request is in the log
    assert is_downloaded(tmp_path, EMBEDDER_REPO)
    chosen = embedder_from_setting(EMBEDDER_REPO, tmp_path)
    assert chosen.name == "tiny-embedder"
    assert chosen.embed_query("网络").shape == (EMBEDDER_WIDTH,)


def test_a_cancelled_hub_download_is_not_an_embedder_and_resumes(
    tmp_path: Path, fake_embedder_hub: FakeHub
) -> None:
    from desktop import network

    network.configure(offline=False)
    cancel = CancelToken()

    def stop_in_the_weights(step: DownloadProgress) -> None:
        if step.done > len(fake_embedder_hub.files["model.safetensors"]) // 2:
            cancel.set()

    with pytest.raises(Cancelled):
        download_embedder(
            EMBEDDER_REPO, tmp_path, progress=stop_in_the_weights, cancel=cancel,
            endpoint=fake_embedder_hub.url,
        )  # fmt: skip
    assert not is_downloaded(tmp_path, EMBEDDER_REPO)
    with pytest.raises(EmbedderError, match="not downloaded"):
        embedder_from_setting(EMBEDDER_REPO, tmp_path)
    before = len(fake_embedder_hub.requests)
    download_embedder(EMBEDDER_REPO, tmp_path, endpoint=fake_embedder_hub.url)
    assert is_downloaded(tmp_path, EMBEDDER_REPO)
    again = [path for _, path, _ in fake_embedder_hub.requests[before:] if "/resolve/" in path]
    assert len(again) < len(fake_embedder_hub.files)  # the finished files were not fetched again


def test_hub_download_failures_are_one_line(
    tmp_path: Path, fake_embedder_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil as disk

    from desktop import network

    network.configure(offline=False)
    with pytest.raises(EmbedderError, match="has no repository testorg/nothing-here") as unknown:
        download_embedder("testorg/nothing-here", tmp_path, endpoint=fake_embedder_hub.url)
    dead = FakeHub({}, repo=EMBEDDER_REPO)
    dead_url = dead.url
    dead.close()
    with pytest.raises(EmbedderError, match="cannot reach 127.0.0.1") as unreachable:
        download_embedder(EMBEDDER_REPO, tmp_path, endpoint=dead_url)
    full = disk._ntuple_diskusage(10 * 2**30, 10 * 2**30 - 2**20, 2**20)
    monkeypatch.setattr("desktop.llm.hub.shutil.disk_usage", lambda _path: full)
    with pytest.raises(EmbedderError, match="not enough disk space") as no_room:
        download_embedder(EMBEDDER_REPO, tmp_path, endpoint=fake_embedder_hub.url)
    for failure in (unknown, unreachable, no_room):
        assert "\n" not in str(failure.value)
    assert not is_downloaded(tmp_path, EMBEDDER_REPO)


def test_reindex_recuts_documents_an_older_chunker_cut(library: Library, docs: Path) -> None:
    code = " ".join(f"obj.method_{i}(arg[{i}], key='v{i}');" for i in range(120))
    (docs / "code.txt").write_text(code)
    (docs / "prose.txt").write_text("The clients boot from the network. " * 30)
    library.add([docs])
    db = library._catalog._db()
    before = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    # What an old library looks like: one document cut by chunker 1, into one oversized chunk.
    (digest,) = db.execute("SELECT hash FROM documents WHERE path LIKE '%code.txt'").fetchone()
    with library._catalog.transaction() as tx:
        tx.execute("DELETE FROM chunks WHERE doc = ? AND seq > 0", (digest,))
        tx.execute(
            "UPDATE documents SET chunker = 1, chunks = 1, next_chunk = 1 WHERE hash = ?", (digest,)
        )
    statuses = library.reindex()
    assert [s.status for s in statuses] == ["indexed", "indexed"]
    assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == before
    assert {row[0] for row in db.execute("SELECT chunker FROM documents")} == {CHUNKER_VERSION}
    assert library.verify() == []
