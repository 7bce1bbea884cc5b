#!/usr/bin/env bash
# Installs the Debian packages some tests use (a browser, an IMAP server, ...),
# listed one per line in .ci/apt-packages. Skips what is already there; off
# Debian or without root it says what is missing and those tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
list=.ci/apt-packages
[ -f "$list" ] || exit 0
missing=()
while read -r pkg; do
  [ -n "$pkg" ] || continue
  case "$pkg" in \#*) continue ;; esac
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not installing ${missing[*]} (needs root and apt-get); the tests that use them skip" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
