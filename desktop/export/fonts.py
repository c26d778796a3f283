"""Find the fonts the PDF writer embeds; all come from PyPI wheels, so nothing is fetched at run
time and a PyInstaller bundle can collect them as package data.

- IBM Plex Serif (Regular, Bold, Italic, Bold Italic): Latin body text and headings.
  PyPI `fontpkg-ibm-plex-serif`, SIL OFL 1.1, static TrueType.
- IBM Plex Mono (Regular, Bold): code. PyPI `fontpkg-ibm-plex-mono`, SIL OFL 1.1.
- Noto Serif SC (Regular): Chinese (and any CJK) text, and the glyph fallback for everything
  Plex lacks. PyPI `pylopdf-fonts-zh-cn`, SIL OFL 1.1, static OpenType/CFF. It has no Bold, so
  bold CJK text is drawn with a thin outline stroke (synthetic bold).

Static faces matter: fpdf2 can instantiate variable fonts, but doing so for a CJK font takes
minutes. `DRAFTWELL_FONT_DIR` may point at a folder holding the same file names (a bundle's
data folder); it is looked at first.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from desktop.export.atomic import ExportError

log = logging.getLogger(__name__)

# (PyPI distribution, import package, folder inside the package, file names by fpdf2 style)
_SERIF = (
    "fontpkg-ibm-plex-serif",
    "fontpkg_ibm_plex_serif",
    "files",
    {
        "": "IBMPlexSerif-Regular.ttf",
        "B": "IBMPlexSerif-Bold.ttf",
        "I": "IBMPlexSerif-Italic.ttf",
        "BI": "IBMPlexSerif-BoldItalic.ttf",
    },
)
_MONO = (
    "fontpkg-ibm-plex-mono",
    "fontpkg_ibm_plex_mono",
    "files",
    {
        "": "IBMPlexMono-Regular.ttf",
        "B": "IBMPlexMono-Bold.ttf",
    },
)
_CJK = ("pylopdf-fonts-zh-cn", "pylopdf_fonts_zh_cn", "", {"": "NotoSerifSC-Regular.otf"})


@dataclass(frozen=True, slots=True)
class FontSet:
    """Font files by fpdf2 style ("", "B", "I", "BI") for each role."""

    serif: dict[str, Path]
    mono: dict[str, Path]
    cjk: dict[str, Path]


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _locate(entry: tuple[str, str, str, dict[str, str]]) -> dict[str, Path]:
    dist, module, folder, files = entry
    candidates: list[Path] = []
    if override := os.environ.get("DRAFTWELL_FONT_DIR"):
        candidates.append(Path(override))
    if (package := _package_dir(module)) is not None:
        candidates.append(package / folder if folder else package)
    for base in candidates:
        paths = {style: base / name for style, name in files.items()}
        if all(path.is_file() for path in paths.values()):
            return paths
    raise ExportError(f"PDF export needs the font package {dist} (pip install {dist})")


@lru_cache(maxsize=1)
def find_fonts() -> FontSet:
    """Locate every font file, or raise ExportError naming the missing package."""
    fonts = FontSet(serif=_locate(_SERIF), mono=_locate(_MONO), cjk=_locate(_CJK))
    log.debug("PDF fonts: %s", fonts)
    return fonts
