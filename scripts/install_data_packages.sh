#!/usr/bin/env bash
# Install the Debian packages that scripts/build_sample.py and bench/corpus.py read.
# Idempotent: packages already installed are skipped; safe to run repeatedly.
# Needs root (or sudo) and access to the Debian apt mirrors.
#
# Note: Debian 12 (bookworm) has no `fortunes-fr` package, so French text comes from
# the French translation of the Debian Reference and the French man pages instead.
set -euo pipefail

PACKAGES=(
  # quotes / jokes (English + other languages)
  fortune-mod fortunes fortunes-min fortunes-de fortunes-it fortunes-es
  # manuals (HTML)
  python3-doc python3.11-doc debian-reference-en debian-reference-fr
  debian-policy developers-reference
  # dictd dictionaries
  dict-foldoc dict-jargon dict-devil
  # man pages (+ the tools to render them)
  man-db groff-base manpages manpages-dev manpages-fr
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "all ${#PACKAGES[@]} data packages already installed"
  exit 0
fi

echo "installing: ${missing[*]}"
# Refresh the package lists only if they are absent (fresh container).
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]; then
  $SUDO apt-get update
fi
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
  # stale lists: update once and retry
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "done"
