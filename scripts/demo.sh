#!/usr/bin/env bash
# The main job on a fresh machine with the embedded defaults, in ./demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$root/demo" && mkdir -p "$root/demo" && cd "$root/demo"
export MAILER_SECRET_KEY="${MAILER_SECRET_KEY:-demo-only-secret-change-me}"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step mailer init
step mailer lists create members --title "Members of the union" --language es --languages es,en
step mailer lists create press --title "Press and sister unions" --language en --languages en,es
step mailer subscribers import "$root/lists/example.csv" --list members --report invalid.csv
step mailer subscribers import "$root/lists/press.csv" --list press
step mailer lists show members
step mailer subscribers ls --list members
step mailer letters render "$root/letters/example.md" --to rosa.quispe@example.org -o example-letter.eml
step mailer letters render "$root/letters/example.md" --to rosa.quispe@example.org --format html -o example-letter.html
step mailer letters check "$root/letters/example.md" --list members
printf '\nletter source: %s\ntemplates:     %s\nrendered:      %s, %s\n' \
  "$root/letters/example.md" "$root/templates" "$PWD/example-letter.eml" "$PWD/example-letter.html"

# Send the example letter to the list through the real SMTP code path, to a
# local SMTP sink (aiosmtpd) that stores what it receives in a Maildir.
port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$PWD/sink" &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
python - "$port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        break
    except OSError:
        time.sleep(0.1)
PY
export MAILER_SMTP_HOST=127.0.0.1 MAILER_SMTP_PORT="$port" MAILER_SMTP_TLS=none
step mailer send "$root/letters/example.md" --list members --yes
step mailer campaigns show 1

# The circular with a resolution attached, in English and Spanish, to both
# lists at once: each member gets it once, in their language or the list's.
step mailer letters check "$root/letters/solidarity.md" --list members --list press
step mailer send "$root/letters/solidarity.md" --list members --list press --yes
step mailer campaigns show 2
python - "$PWD/sink/new" <<'PY'
import collections, email, email.policy, pathlib, sys
seen = collections.Counter()
for path in pathlib.Path(sys.argv[1]).iterdir():
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    files = [part.get_filename() for part in message.iter_attachments()]
    seen[(str(message["Subject"]), message["Content-Language"] or "-", ", ".join(files) or "-")] += 1
print(f"\nthe sink received {sum(seen.values())} messages, in {sys.argv[1]}:")
for (subject, language, files), count in sorted(seen.items()):
    print(f"  {count:3} x [{language}] {subject}  (attached: {files})")
PY
