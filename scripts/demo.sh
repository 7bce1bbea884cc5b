#!/usr/bin/env bash
# The main job on a fresh machine with the embedded defaults, in ./demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$root/demo" && mkdir -p "$root/demo" && cd "$root/demo"
export MAILER_SECRET_KEY="${MAILER_SECRET_KEY:-demo-only-secret-change-me}"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step mailer init
step mailer lists create members --title "Members of the union" --public
step mailer subscribers import "$root/lists/example.csv" --list members --report invalid.csv
step mailer lists show members
step mailer subscribers ls --list members
step mailer letters render "$root/letters/example.md" --to rosa.quispe@example.org -o example-letter.eml
step mailer letters render "$root/letters/example.md" --to rosa.quispe@example.org --format html -o example-letter.html
step mailer letters check "$root/letters/example.md" --list members
printf '\nletter source: %s\ntemplates:     %s\nrendered:      %s, %s\n' \
  "$root/letters/example.md" "$root/templates" "$PWD/example-letter.eml" "$PWD/example-letter.html"
