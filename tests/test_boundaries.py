"""The Qt-free packages never import PySide6 or desktop.gui (AST scan, as napari does)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "desktop"
QT_FREE = ["core", "llm", "knowledge", "store", "export"]
FORBIDDEN = ("PySide6", "desktop.gui", "PyQt5", "PyQt6")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", QT_FREE)
def test_package_is_qt_free(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"desktop/{package} has no modules"
    offenders = [
        f"{path.relative_to(ROOT.parent)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN)
    ]
    assert offenders == []


def test_scan_catches_a_qt_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\n", encoding="utf-8")
    assert any(n.startswith(FORBIDDEN) for n in imported_modules(bad))


def test_every_module_has_a_docstring():
    missing = [
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []
