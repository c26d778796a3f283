"""Screenshots of the citation check: the draft with flagged sentences (light and dark palettes,
with a tooltip open) and the exported PDF's "Citation check" appendix.

Usage: .venv/bin/python scripts/screenshot_checks.py [OUT_DIR] [--root MANUALS]

The section texts cite real passages of Debian's R manual (bench/verify_claims.py finds them;
scripts/fetch_manuals.sh fetches the manual unless --root is given): true paraphrases, one with
a changed number, one cited to the wrong page, one with a negation inserted and one uncited.
They are checked with the real verifier and the library's embedder. Without a display the
script re-runs itself under `xvfb-run -a`; the PDF page is rendered with pdftoppm.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import ensure_display  # noqa: E402

from desktop.core.evidence import EvidenceRegistry, Passage  # noqa: E402
from desktop.core.outline import Outline  # noqa: E402
from desktop.core.report import build_report  # noqa: E402
from desktop.core.support import with_claims  # noqa: E402


def report_from_manual(root: str | None):
    from verify_claims import (
        change_number,
        load_passages,
        locate,
        manuals_root,
        negate,
        read_claims,
    )

    doc = "r-doc-pdf/manual/R-intro.pdf"
    passages = load_passages(manuals_root(root), (doc,))
    claims = [c for c in read_claims() if c["doc"] == doc]
    numbered = [c for c in claims if c["has_number"]]
    plain = [c for c in claims if not c["has_number"]]
    source = str(Path(root or "~") / "usr/share/doc" / doc)
    chosen = [plain[0], numbered[0], plain[1], plain[2], numbered[1], plain[3]]
    found = [locate(c, passages) for c in chosen]
    registry, keys = EvidenceRegistry().with_passages(
        [Passage(p.text, source, page=p.page, chunk_id=f"c{i}") for i, p in enumerate(found)]
    )
    texts = [c["claim"] for c in chosen]
    texts[1] = change_number(texts[1], found[1].text, 0) or texts[1]
    texts[3] = negate(texts[3])
    first = (
        f"{texts[0]} \\cite{{{keys[0]}}} {texts[1].rstrip('.')} \\cite{{{keys[1]}}}.\n\n"
        f"- {texts[2].rstrip('.')} \\cite{{{keys[2]}}};\n"
        f"- {texts[3].rstrip('.')} \\cite{{{keys[3]}}}."
    )
    second = (
        f"{texts[4].rstrip('.')} \\cite{{{keys[5]}}}. {texts[5]} \\cite{{{keys[5]}}} "
        "Every R session also keeps a complete log of all commands in the user's home folder "
        "for at least thirty days."
    )
    outline = Outline.initial(
        "Working with R, as its manual describes it",
        [("Getting started", "basics"), ("Data and files", "data")],
    )
    outline = outline.with_content("s1", first).with_content("s2", second)
    return outline, registry


def checked_report(outline, registry):
    from desktop.core.verify import SectionVerifier
    from desktop.knowledge.claim_similarity import EmbeddingSimilarity
    from desktop.knowledge.embedder import default_embedder

    verifier = SectionVerifier(similarity=EmbeddingSimilarity(default_embedder()))
    checks = [
        verifier.check_section(node.section.content, registry.by_key, section_id=node.section.id)
        for node in outline.walk()
    ]
    report = build_report(
        outline,
        registry,
        question="What does the R manual say about sessions, data and files?",
        created=time.strftime("%Y-%m-%d"),
        model="(screenshot)",
        finished=True,
        language="en",
    )
    return with_claims(report, checks, registry, appendix=True)


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.Base, "#1e1e1e"),
        (QPalette.ColorRole.Text, "#e8e8e8"),
        (QPalette.ColorRole.WindowText, "#e8e8e8"),
        (QPalette.ColorRole.Button, "#303134"),
        (QPalette.ColorRole.ButtonText, "#e8e8e8"),
        (QPalette.ColorRole.Highlight, "#3d6fb6"),
        (QPalette.ColorRole.Link, "#8ab4f8"),
    ):
        palette.setColor(role, QColor(color))
    return palette


def shoot(report, out: Path) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QToolTip

    from desktop.gui.draft import DraftView

    app = QApplication.instance() or QApplication(sys.argv)
    for name, palette in (("light", app.palette()), ("dark", dark_palette())):
        app.setPalette(palette)
        view = DraftView()
        view.setPalette(palette)
        view.resize(1000, 720)
        view.show()
        view.show_report(report)
        view.next_flag()
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        view.grab().save(str(out / f"draft-flags-{name}.png"))
        if name == "light":
            first = next(c for c in report.claims if c.flagged)
            cursor = view.browser.document().find(first.text[10:40])
            rect = view.browser.cursorRect(cursor)
            tip = cursor.charFormat().toolTip()
            point = view.browser.viewport().mapToGlobal(QPoint(rect.left(), rect.bottom() + 6))
            QToolTip.showText(point, tip, view.browser)
            for _ in range(30):
                app.processEvents()
                time.sleep(0.02)
            screen = app.primaryScreen().grabWindow(0)
            screen.save(str(out / "draft-flags-tooltip.png"))
            QToolTip.hideText()
        view.close()


def appendix_png(report, out: Path) -> None:
    from desktop.export import export_report

    pdf = export_report(report, "pdf", out / "citation-check.pdf", force=True)
    md = export_report(report, "md", out / "citation-check.md", force=True)
    docx = export_report(report, "docx", out / "citation-check.docx", force=True)
    pages = int(
        next(
            line.split()[-1]
            for line in subprocess.run(
                ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if line.startswith("Pages:")
        )
    )
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            str(pages),
            "-l",
            str(pages),
            str(pdf),
            str(out / "appendix"),
        ],
        check=True,
    )
    print(f"wrote {pdf}, {md}, {docx} and the appendix page as PNG")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "screenshots"))
    parser.add_argument("--root", help="directory holding usr/share/doc (default: fetch)")
    args = parser.parse_args(argv)
    code = ensure_display([__file__, *argv])
    if code is not None:
        return code
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = checked_report(*report_from_manual(args.root))
    for claim in report.claims:
        print(f"{claim.verdict:<12} {claim.score:.2f} {claim.text[:90]}")
    shoot(report, out)
    appendix_png(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
