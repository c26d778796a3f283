#!/usr/bin/env bash
# Fetch Debian's PDF manuals (R, gnuplot, LaTeX) into a cache dir for tests and benchmarks.
#
# Usage: scripts/fetch_manuals.sh [CACHE_DIR [PACKAGE...]]   (default: ~/.cache/draftwell-manuals;
#        packages default to $FETCH_PACKAGES, else r-doc-pdf gnuplot-doc texlive-latex-recommended-doc)
#        FETCH_PACKAGES="debian-edu-doc-zh-cn linuxcnc-doc-zh-cn" scripts/fetch_manuals.sh DIR
#        (the Chinese manuals of the multilingual retrieval benchmark and tests)
# Prints the cache dir on stdout. Idempotent: packages already unpacked are skipped.
# The manuals are other people's documents: never commit them.
set -euo pipefail

CACHE_DIR="${1:-${HOME}/.cache/draftwell-manuals}"
PACKAGES=("${@:2}")
[ ${#PACKAGES[@]} -gt 0 ] || read -r -a PACKAGES <<< "${FETCH_PACKAGES:-r-doc-pdf gnuplot-doc texlive-latex-recommended-doc}"

mkdir -p "${CACHE_DIR}/debs" "${CACHE_DIR}/root"
cd "${CACHE_DIR}/debs"

for pkg in "${PACKAGES[@]}"; do
    if [ -e "${CACHE_DIR}/.${pkg}.done" ]; then
        continue
    fi
    if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
        if ! apt-get download "${pkg}" >&2; then
            # The package lists may be missing on a fresh machine; refresh once and retry.
            if [ "$(id -u)" = "0" ]; then
                apt-get update >&2
            else
                echo "fetch_manuals: apt-get download ${pkg} failed (try: sudo apt-get update)" >&2
                exit 1
            fi
            apt-get download "${pkg}" >&2
        fi
    fi
    dpkg-deb -x "$(ls "${pkg}"_*.deb | head -n 1)" "${CACHE_DIR}/root"
    touch "${CACHE_DIR}/.${pkg}.done"
done

echo "${CACHE_DIR}"
