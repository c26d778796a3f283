#!/usr/bin/env bash
# Render the golden sample report to PDF and DOCX, then their first pages to PNG for a look.
# Usage: scripts/render_export_previews.sh [OUT_DIR] [PAGES]   (default: build/export-previews, 2)
# Needs poppler-utils (pdftoppm) and LibreOffice (soffice) for the DOCX; Debian:
#   apt-get install -y poppler-utils libreoffice-writer-nogui fonts-noto-cjk
# (fonts-noto-cjk only so LibreOffice has a CJK font to show the DOCX with; the PDF embeds its own.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/build/export-previews}"
pages="${2:-2}"
python="${PYTHON:-$here/.venv/bin/python}"
mkdir -p "$out"

for tool in pdftoppm soffice; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see the header of $0)" >&2; exit 1; }
done

cd "$here"
"$python" - "$out" <<'PY'
import sys
from pathlib import Path

from desktop.export import export_report
from tests.export.sample_report import sample_report

out = Path(sys.argv[1])
for finished, stem in ((True, "sample"), (False, "sample-unfinished")):
    report = sample_report(finished=finished)
    for fmt in ("md", "docx", "pdf"):
        export_report(report, fmt, out / f"{stem}.{fmt}", force=True)
export_report(sample_report(), "pdf", out / "sample-letter.pdf", force=True, page_size="Letter")
PY

# LibreOffice needs a writable profile; keep it inside OUT_DIR so runs do not interfere.
soffice -env:UserInstallation="file://$out/.lo-profile" --headless --convert-to pdf \
    --outdir "$out/docx-as-pdf" "$out/sample.docx" "$out/sample-unfinished.docx" >/dev/null

for pdf in "$out/sample.pdf" "$out/sample-unfinished.pdf" "$out/sample-letter.pdf"; do
    pdftoppm -png -r 80 -l "$pages" "$pdf" "${pdf%.pdf}-pdf"
done
for pdf in "$out"/docx-as-pdf/*.pdf; do
    name="$(basename "${pdf%.pdf}")"
    pdftoppm -png -r 80 -l "$pages" "$pdf" "$out/$name-docx"
done
ls "$out"/*.png
