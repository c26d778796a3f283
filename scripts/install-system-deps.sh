#!/usr/bin/env bash
# Install the Debian packages in packaging/system-packages.txt that are missing (root only).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/packaging/system-packages.txt"
command -v dpkg >/dev/null 2>&1 || { echo "setup: not a Debian system; install the packages in $list yourself" >&2; exit 0; }
missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing system packages (run as root or: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
