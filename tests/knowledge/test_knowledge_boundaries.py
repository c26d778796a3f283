"""desktop.knowledge stays Qt-free and cheap to import (heavy libraries load lazily)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "desktop" / "knowledge"
HEAVY = ("torch", "sentence_transformers", "chromadb", "pymupdf", "fitz", "docx", "transformers")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_imports_qt_or_the_gui() -> None:
    offenders = {
        path.name: sorted(name for name in _imported_modules(path) if name.startswith(bad))
        for path in PACKAGE.glob("*.py")
        for bad in ("PySide6", "PyQt", "desktop.gui")
        if any(name.startswith(bad) for name in _imported_modules(path))
    }
    assert offenders == {}


def test_every_module_has_a_docstring() -> None:
    missing = [
        p.name for p in PACKAGE.glob("*.py") if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, desktop.knowledge, desktop.knowledge.library;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
