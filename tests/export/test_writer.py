"""export_report: formats, atomic writes, overwrite protection, one-line errors, boundaries."""

from __future__ import annotations

import ast
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core.report import Report
from desktop.export import (
    FORMATS,
    ExportError,
    atomic,
    export_report,
    write_atomically,
    write_text_atomically,
)
from desktop.locks import ProcessLock

EXPORT_DIR = Path(__file__).resolve().parents[2] / "desktop" / "export"


@pytest.mark.parametrize("fmt", FORMATS)
def test_refuses_to_overwrite_without_force(tmp_path: Path, report: Report, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    out.write_text("keep me")
    with pytest.raises(ExportError, match="already exists"):
        export_report(report, fmt, out)
    assert out.read_text() == "keep me"
    assert export_report(report, fmt, out, force=True) == out.resolve()
    assert out.stat().st_size > 1000
    assert list(tmp_path.iterdir()) == [out]


def test_new_file_gets_normal_permissions(tmp_path: Path, report: Report) -> None:
    out = export_report(report, "md", tmp_path / "r.md")
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable by others, unlike mkstemp's 0600


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing/report.md", "folder does not exist"),
        ("afile/report.md", "folder does not exist"),
        ("adir", "is a folder"),
    ],
)
def test_unwritable_paths_give_one_line(
    tmp_path: Path, report: Report, target: str, message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    with pytest.raises(ExportError, match=message) as info:
        export_report(report, "md", tmp_path / target)
    assert "\n" not in str(info.value)


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    def explode(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="No space left on device"):
        write_atomically(tmp_path / "out.pdf", explode)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("fmt", "size"), [("rtf", "A4"), ("pdf", "A5")])
def test_rejects_unknown_format_and_page_size(
    tmp_path: Path, report: Report, fmt: str, size: str
) -> None:
    with pytest.raises(ExportError, match="unknown"):
        export_report(report, fmt, tmp_path / "x", page_size=size)


def test_format_and_page_size_are_forgiving(tmp_path: Path, report: Report) -> None:
    assert export_report(report, ".PDF", tmp_path / "x.pdf", page_size="letter").exists()
    assert export_report(report, "markdown", tmp_path / "x.md").read_text().startswith("# ")


def test_export_package_never_imports_qt() -> None:
    for path in EXPORT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("PySide6", "desktop.gui")), f"{path.name}: {name}"


def test_every_module_has_a_docstring_and_a_logger() -> None:
    for path in EXPORT_DIR.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert ast.get_docstring(ast.parse(source)), path.name
        if path.name != "__init__.py":
            assert "log = logging.getLogger(__name__)" in source, path.name
        assert "print(" not in source, path.name


def test_no_stray_temp_files_after_success(tmp_path: Path, report: Report) -> None:
    for fmt in FORMATS:
        export_report(report, fmt, tmp_path / f"r.{fmt}")
    assert sorted(os.listdir(tmp_path)) == ["r.docx", "r.md", "r.pdf"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_and_odd_reports_still_export(tmp_path: Path, report: Report, fmt: str) -> None:
    empty = Report("Empty", "Why?", "not-a-date", "m", False, "zh")
    export_report(empty, fmt, tmp_path / f"empty.{fmt}")
    odd_section = replace(
        report.sections[0],
        body="# stray heading\n\n<b>html</b> and a dangling cite ⟦99⟧\n\n| a |\n|---|\n| ⟦1⟧ |",
        subsections=(),
    )
    odd = replace(report, sections=(odd_section,))
    assert export_report(odd, fmt, tmp_path / f"odd.{fmt}").stat().st_size > 0


def test_an_export_removes_the_temp_files_a_killed_export_of_it_left(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    leftover = tmp_path / ".report.md.k1ll3d00.tmp"  # what mkstemp made before the kill
    leftover.write_text("half a report")
    other = tmp_path / ".notes.md.k1ll3d00.tmp"  # another target's: not this export's business
    other.write_text("x")
    write_text_atomically(out, "# Report\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, out.name]


def test_an_export_of_a_file_another_export_is_writing_waits_then_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.md"
    in_progress = tmp_path / ".report.md.b3ing0n3.tmp"  # the other writer's: must survive
    in_progress.write_text("being written")
    monkeypatch.setattr(atomic, "EXPORT_LOCK_TIMEOUT_S", 0.05)
    busy = rf"report.md is in use by pid {os.getpid()} on "
    with (
        ProcessLock(atomic._lock_path(out.resolve()), "held"),
        pytest.raises(ExportError, match=busy),
    ):
        write_text_atomically(out, "# Report\n")
    assert in_progress.exists() and not out.exists()
