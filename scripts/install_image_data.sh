#!/usr/bin/env bash
# Fetch the Debian packages with real images that scripts/build_image_sample.py and
# bench/image_corpus.py read, and unpack them without installing anything:
#
#   bench/.data/debs/<package>.deb     the downloaded package (apt-get download)
#   bench/.data/debs/<package>/        its files (dpkg -x), e.g.
#       tuxpaint-stamps-default/usr/share/tuxpaint/stamps/<category>/...png
#       opencv-doc/usr/share/doc/opencv-doc/examples/data/...
#       visp-images-data/usr/share/visp-images-data/...
#
# Idempotent: a package already unpacked is skipped; safe to run repeatedly.
# Needs access to the Debian apt mirrors (apt-get update is run only when the lists are
# absent or a download fails).  Usage: scripts/install_image_data.sh [DEST]
set -euo pipefail

PACKAGES=(tuxpaint-stamps-default opencv-doc visp-images-data)
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$REPO/bench/.data/debs}"
mkdir -p "$DEST"
cd "$DEST"

SUDO=""
if [ "$(id -u)" -ne 0 ] && [ ! -w /var/lib/apt/lists ]; then SUDO="sudo"; fi

fetch() {  # apt-get download, updating the package lists once if that fails
  apt-get download "$1" 2>/dev/null && return 0
  $SUDO apt-get update
  apt-get download "$1"
}

for p in "${PACKAGES[@]}"; do
  if [ -f "$p/.unpacked" ]; then
    echo "$p: already unpacked in $DEST/$p"
    continue
  fi
  if [ ! -f "$p.deb" ]; then
    rm -f "${p}"_*.deb
    fetch "$p"
    mv "${p}"_*.deb "$p.deb"
  fi
  rm -rf "$p.tmp"
  dpkg -x "$p.deb" "$p.tmp"
  rm -rf "$p"
  mv "$p.tmp" "$p"
  dpkg-deb -f "$p.deb" Version > "$p/.unpacked"
  echo "$p: unpacked $(find "$p" -type f | wc -l) files into $DEST/$p"
done
echo "done"
